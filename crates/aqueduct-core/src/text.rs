//! Small text helpers the engine needs itself (relay prefixes, notices).

/// Escapes text for inclusion in HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The Matrix room ids that `matrix.to` links in `html` point at (`https://matrix.to/#/!id`,
/// escaped or not), in order, each once.
pub fn linked_room_ids(html: &str) -> Vec<String> {
    const PREFIX: &str = "https://matrix.to/#/";
    let mut out: Vec<String> = Vec::new();
    for (at, _) in html.match_indices(PREFIX) {
        let rest = &html[at + PREFIX.len()..];
        let end = rest
            .find(['"', '\'', '?', '/', '<', '>', ' '])
            .unwrap_or(rest.len());
        let id = percent_decode(&rest[..end]);
        // Room version 12 ids carry no server name (`!hash`).
        if id.len() > 1 && id.starts_with('!') && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// Decodes `%XX` escapes; malformed ones are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_linked_rooms_escaped_or_not_once_each() {
        let html = r#"see <a href="https://matrix.to/#/!abc:example.org?via=example.org">#x</a>,
            <a href="https://matrix.to/#/%21def%3Aexample.org">#y</a>,
            <a href="https://matrix.to/#/@bob:example.org">Bob</a>,
            <a href="https://matrix.to/#/!abc:example.org/$event">again</a>,
            <a href="https://matrix.to/#/!v12HashOnly">v12</a>"#;
        assert_eq!(
            super::linked_room_ids(html),
            ["!abc:example.org", "!def:example.org", "!v12HashOnly"]
        );
        assert!(super::linked_room_ids("https://matrix.to/#/%zz").is_empty());
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
