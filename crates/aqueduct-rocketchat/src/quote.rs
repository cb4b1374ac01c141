//! Quotes: Rocket.Chat quotes (replies to) a message by putting the message's permalink in
//! the text as a link with an empty label, `[ ](https://server/channel/general?msg=ID)`; the
//! server then adds an `attachments` entry with `message_link` showing the quoted message,
//! and clients hide the link. Matrix replies become such links, and such quotes become Matrix
//! replies (`m.in_reply_to`) when the quoted message is bridged.

use serde_json::Value;

/// The path segment Rocket.Chat's permalinks use for a room type.
fn room_path(t: &str) -> &'static str {
    match t {
        "p" => "group",
        "d" => "direct",
        _ => "channel",
    }
}

/// The permalink of message `id` in the room of type `t` named `name` (the room id for
/// DMs), on the server at `base`.
pub(crate) fn permalink(base: &str, t: &str, name: &str, id: &str) -> String {
    format!("{base}/{}/{name}?msg={id}", room_path(t))
}

/// The `msg` parameter of a permalink.
fn message_of_link(link: &str) -> Option<&str> {
    let (_, query) = link.split_once('?')?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("msg="))
        .filter(|id| !id.is_empty())
}

/// The message that `m` quotes: its first `attachments` entry with a `message_link`, else
/// the first quote link in its text.
pub(crate) fn quoted_id(m: &Value) -> Option<String> {
    let from_attachment = m["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|a| a["message_link"].as_str().and_then(message_of_link));
    from_attachment
        .or_else(|| {
            quote_links(m["msg"].as_str().unwrap_or_default())
                .first()
                .and_then(|(_, link)| message_of_link(link))
        })
        .map(str::to_owned)
}

/// The quoted message as Rocket.Chat markdown quote lines (`> *author*: text`), from the
/// quote's attachment, for when the quoted message is not known to be in Matrix and a reply
/// relation alone would lose it.
pub(crate) fn quoted_text(m: &Value) -> Option<String> {
    let a = m["attachments"]
        .as_array()?
        .iter()
        .find(|a| a["message_link"].is_string())?;
    let text = a["text"].as_str().filter(|t| !t.trim().is_empty())?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut out = match a["author_name"].as_str() {
        Some(author) => format!("> *{author}*: {first}\n"),
        None => format!("> {first}\n"),
    };
    for line in lines {
        out.push_str(&format!("> {line}\n"));
    }
    Some(out)
}

/// The quote links of a text: (byte range of `[ ](link)`, link).
fn quote_links(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("[ ](").map(|i| i + from) {
        let link_start = start + "[ ](".len();
        let Some(end) = text[link_start..].find(')').map(|i| i + link_start) else {
            break;
        };
        let link = &text[link_start..end];
        if message_of_link(link).is_some() && !link.contains(char::is_whitespace) {
            out.push((start..end + 1, link));
        }
        from = end + 1;
    }
    out
}

/// The text without its quote links (and the space after each), as Rocket.Chat's clients
/// show it.
pub(crate) fn strip_quote_links(text: &str) -> String {
    let links = quote_links(text);
    if links.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, _) in links {
        out.push_str(&text[at..range.start]);
        at = range.end;
        if text[at..].starts_with(' ') || text[at..].starts_with('\n') {
            at += 1;
        }
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_are_found_and_their_links_hidden() {
        let link = permalink("https://chat.example", "c", "general", "ABC");
        assert_eq!(link, "https://chat.example/channel/general?msg=ABC");
        let text = format!("[ ]({link}) I agree");
        assert_eq!(strip_quote_links(&text), "I agree");
        assert_eq!(quoted_id(&json!({ "msg": text })).as_deref(), Some("ABC"));
        let pushed = json!({"msg": "x", "attachments": [{"text": "q", "message_link": "https://chat.example/group/g?msg=QQ"}]});
        assert_eq!(quoted_id(&pushed).as_deref(), Some("QQ"));
        assert_eq!(
            strip_quote_links("see [docs](https://x/y?msg=1) and [ ](nope)"),
            "see [docs](https://x/y?msg=1) and [ ](nope)",
            "a labelled link or a link without a message stays"
        );
        assert_eq!(quoted_id(&json!({"msg": "plain"})), None);
        assert_eq!(
            quoted_text(&json!({"attachments": [{"text": "one\ntwo", "author_name": "bob", "message_link": "https://x/c/g?msg=1"}]})).as_deref(),
            Some("> *bob*: one\n> two\n")
        );
    }
}
