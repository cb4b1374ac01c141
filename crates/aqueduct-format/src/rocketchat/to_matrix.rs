//! Rocket.Chat markdown -> Matrix.
//!
//! The text is a stranger's: every search is bounded so conversion stays linear in the text
//! (a `[` finds its `]` and `)` through precomputed positions, not by scanning to the end from
//! each of a long run), formatting nests at most three deep (one level per marker), and a
//! link keeps its `href` only for [`crate::links::is_allowed_link`] schemes.

use super::MatrixText;
use crate::{escape_html, mention_html};

/// Maps a username to (Matrix user id, display name) for mention pills.
type UserLookup<'a> = &'a dyn Fn(&str) -> Option<(String, String)>;

/// Converts a message's `msg` to a plain body and Matrix HTML. `user` resolves `@username`
/// mentions; unknown names stay text.
pub fn markdown_to_matrix(text: &str, user: UserLookup<'_>) -> MatrixText {
    let mut st = State::default();
    let mut html_blocks = Vec::new();
    let mut body_parts = Vec::new();
    // Code blocks first: nothing inside them is markup. An unclosed fence is text.
    let parts: Vec<&str> = text.split("```").collect();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && i + 1 < parts.len() {
            let code = part.strip_prefix('\n').unwrap_or(part);
            html_blocks.push(format!("<pre><code>{}</code></pre>", escape_html(code)));
            body_parts.push(format!("```{part}```"));
            st.formatted = true;
            continue;
        }
        let owned;
        let part = if i % 2 == 1 {
            owned = format!("```{part}");
            owned.as_str()
        } else {
            part
        };
        let (body, html) = lines(part, user, &mut st);
        body_parts.push(body);
        html_blocks.push(html);
    }
    let body = body_parts.concat();
    let html = html_blocks.concat();
    MatrixText {
        html: st.formatted.then_some(html),
        body,
        mentioned_users: st.mentioned,
        room_mention: st.room,
    }
}

#[derive(Default)]
struct State {
    formatted: bool,
    mentioned: Vec<String>,
    room: bool,
}

/// Renders lines outside code blocks, with `>` quotes.
fn lines(text: &str, user: UserLookup<'_>, st: &mut State) -> (String, String) {
    let mut body = Vec::new();
    let mut html = String::new();
    let mut quote: Vec<String> = Vec::new();
    let all: Vec<&str> = text.split('\n').collect();
    for (i, line) in all.iter().enumerate() {
        let last = i + 1 == all.len();
        let (b, h) = inline(
            line.strip_prefix('>').map_or(line, |l| l.trim_start()),
            user,
            st,
        );
        if line.starts_with('>') {
            st.formatted = true;
            body.push(format!("> {b}"));
            quote.push(h);
            continue;
        }
        if !quote.is_empty() {
            html.push_str(&format!("<blockquote>{}</blockquote>", quote.join("<br>")));
            quote.clear();
        }
        body.push(b);
        html.push_str(&h);
        if !last {
            html.push_str("<br>");
        }
    }
    if !quote.is_empty() {
        html.push_str(&format!("<blockquote>{}</blockquote>", quote.join("<br>")));
    }
    (body.join("\n"), html)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Renders one line's inline markup.
fn inline(line: &str, user: UserLookup<'_>, st: &mut State) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let positions =
        |wanted: char| -> Vec<usize> { (0..chars.len()).filter(|&j| chars[j] == wanted).collect() };
    let (brackets, parens) = (positions(']'), positions(')'));
    let mut body = String::new();
    let mut html = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = i.checked_sub(1).map(|p| chars[p]);
        // `code`
        if c == '`'
            && let Some(end) = find(&chars, i + 1, '`')
        {
            let code: String = chars[i + 1..end].iter().collect();
            body.push_str(&format!("`{code}`"));
            html.push_str(&format!("<code>{}</code>", escape_html(&code)));
            st.formatted = true;
            i = end + 1;
            continue;
        }
        // *bold*, _italic_, ~strike~ at word boundaries
        if let Some(tag) = match c {
            '*' => Some("strong"),
            '_' => Some("em"),
            '~' => Some("del"),
            _ => None,
        } && !prev.is_some_and(is_word)
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace())
            && let Some(end) = find(&chars, i + 1, c).filter(|&e| {
                e > i + 1
                    && !chars[e - 1].is_whitespace()
                    && !chars.get(e + 1).copied().is_some_and(is_word)
            })
        {
            let inner: String = chars[i + 1..end].iter().collect();
            let (b, h) = inline(&inner, user, st);
            body.push_str(&format!("{c}{b}{c}"));
            html.push_str(&format!("<{tag}>{h}</{tag}>"));
            st.formatted = true;
            i = end + 1;
            continue;
        }
        // [label](url)
        if c == '['
            && let Some(close) = next_in(&brackets, i + 1)
            && chars.get(close + 1) == Some(&'(')
            && let Some(end) = next_in(&parens, close + 2)
        {
            let label: String = chars[i + 1..close].iter().collect();
            let url: String = chars[close + 2..end].iter().collect();
            // Other schemes stay as the text written.
            if crate::links::is_allowed_link(&url) {
                body.push_str(&format!("{label} ({url})"));
                html.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape_html(&url),
                    escape_html(&label)
                ));
                st.formatted = true;
                i = end + 1;
                continue;
            }
        }
        // A bare URL is kept whole: neither markup, mentions nor shortcodes inside it.
        if c.is_ascii_alphabetic()
            && !prev.is_some_and(is_word)
            && let Some(end) = bare_url_end(&chars, i)
        {
            let url: String = chars[i..end].iter().collect();
            body.push_str(&url);
            html.push_str(&escape_html(&url));
            i = end;
            continue;
        }
        // :shortcode: of a standard emoji -> the emoji; custom and unknown ones stay text.
        if c == ':'
            && let Some(close) = find(&chars, i + 1, ':')
        {
            let name: String = chars[i + 1..close].iter().collect();
            if crate::shortcodes::is_name(&name)
                && let Some(emoji) = super::emoji::unicode_for(&name)
            {
                body.push_str(&emoji);
                html.push_str(&emoji);
                i = close + 1;
                continue;
            }
        }
        // @username, @all, @here
        if c == '@' && !prev.is_some_and(|p| is_word(p) || p == '.') {
            let end = (i + 1..chars.len())
                .find(|&j| !(is_word(chars[j]) || chars[j] == '.' || chars[j] == '-'))
                .unwrap_or(chars.len());
            let name: String = chars[i + 1..end].iter().collect();
            let name = name.trim_end_matches('.').to_owned();
            let end = i + 1 + name.chars().count();
            if name == "all" || name == "here" {
                st.room = true;
                body.push_str("@room");
                html.push_str("@room");
                i = end;
                continue;
            }
            if !name.is_empty()
                && let Some((mxid, display)) = user(&name)
            {
                if !st.mentioned.contains(&name) {
                    st.mentioned.push(name.clone());
                }
                body.push_str(&display);
                html.push_str(&mention_html(&mxid, &display));
                st.formatted = true;
                i = end;
                continue;
            }
        }
        body.push(c);
        html.push_str(&escape_html(&c.to_string()));
        i += 1;
    }
    (body, html)
}

/// Where the bare URL starting at `i` ends (at whitespace), if one starts there.
fn bare_url_end(chars: &[char], i: usize) -> Option<usize> {
    let starts = |prefix: &str| {
        prefix
            .chars()
            .enumerate()
            .all(|(k, p)| chars.get(i + k) == Some(&p))
    };
    if !(starts("http://") || starts("https://") || starts("mailto:")) {
        return None;
    }
    Some(
        (i..chars.len())
            .find(|&j| chars[j].is_whitespace())
            .unwrap_or(chars.len()),
    )
}

/// The first of the sorted `positions` at or after `from`.
fn next_in(positions: &[usize], from: usize) -> Option<usize> {
    positions
        .get(positions.partition_point(|&j| j < from))
        .copied()
}

fn find(chars: &[char], from: usize, c: char) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j] == c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<(String, String)> {
        (name == "bob").then(|| ("@rc_bob:hs".to_owned(), "Bob Rocket".to_owned()))
    }

    #[test]
    fn formatting_links_code_and_quotes_become_html() {
        let t = markdown_to_matrix("hi *bold* _it_ ~no~ `a*b*` [site](https://x.org)", &lookup);
        assert_eq!(
            t.html.as_deref(),
            Some(
                "hi <strong>bold</strong> <em>it</em> <del>no</del> <code>a*b*</code> <a href=\"https://x.org\">site</a>"
            )
        );
        assert_eq!(t.body, "hi *bold* _it_ ~no~ `a*b*` site (https://x.org)");
        let q = markdown_to_matrix("> quoted\nplain <b>", &lookup);
        assert_eq!(
            q.html.as_deref(),
            Some("<blockquote>quoted</blockquote>plain &lt;b&gt;")
        );
        let c = markdown_to_matrix("see\n```\nlet *x* = 1;\n```", &lookup);
        assert_eq!(
            c.html.as_deref(),
            Some("see<br><pre><code>let *x* = 1;\n</code></pre>")
        );
    }

    #[test]
    fn plain_text_stays_plain_and_snake_case_is_not_italic() {
        let t = markdown_to_matrix("a snake_case_name and 2*3*4 <3", &lookup);
        assert_eq!(t.html, None);
        assert_eq!(t.body, "a snake_case_name and 2*3*4 <3");
    }

    #[test]
    fn shortcodes_become_emoji_outside_code_and_urls() {
        let t = markdown_to_matrix(
            "hi :smile: :party_parrot: 10:30: `:smile:` https://x.org/:smile:/a_b_ :thumbsup_tone2:",
            &lookup,
        );
        assert_eq!(
            t.body,
            "hi 😄 :party_parrot: 10:30: `:smile:` https://x.org/:smile:/a_b_ 👍🏼"
        );
        assert_eq!(
            t.html.as_deref(),
            Some("hi 😄 :party_parrot: 10:30: <code>:smile:</code> https://x.org/:smile:/a_b_ 👍🏼")
        );
        let block = markdown_to_matrix("```\n:smile:\n``` :tada: *:tada:*", &lookup);
        assert_eq!(
            block.html.as_deref(),
            Some("<pre><code>:smile:\n</code></pre> 🎉 <strong>🎉</strong>")
        );
        let plain = markdown_to_matrix(":tada: done", &lookup);
        assert_eq!((plain.body.as_str(), plain.html), ("🎉 done", None));
    }

    #[test]
    fn mentions_become_pills_and_all_becomes_room() {
        let t = markdown_to_matrix("@bob look, @all: mail a@b.c, @nobody", &lookup);
        assert_eq!(t.mentioned_users, vec!["bob".to_owned()]);
        assert!(t.room_mention);
        assert_eq!(t.body, "Bob Rocket look, @room: mail a@b.c, @nobody");
        assert!(
            t.html.unwrap().starts_with(
                "<a href=\"https://matrix.to/#/@rc_bob:hs\">Bob Rocket</a> look, @room"
            )
        );
    }
}
