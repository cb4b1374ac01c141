//! Emoji shortcodes (`:name:`) in text and in Matrix HTML, for networks whose custom emoji
//! travel as shortcodes in message text.

/// Whether `name` can be a shortcode's name: lowercase letters, digits and `_ - + '`, the
/// characters Slack (and most networks) allow in emoji names.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'+' | b'\'')
        })
}

/// Calls `f` with the byte range and name of every `:name:` in `text`, in order.
fn each_shortcode(text: &str, mut f: impl FnMut(std::ops::Range<usize>, &str)) {
    let mut from = 0;
    while let Some(open) = text[from..].find(':').map(|i| from + i) {
        let Some(close) = text[open + 1..].find(':').map(|i| open + 1 + i) else {
            return;
        };
        let name = &text[open + 1..close];
        if is_name(name) {
            f(open..close + 1, name);
            from = close + 1;
        } else {
            // The closing colon may open the next shortcode (`a: :b:`).
            from = close;
        }
    }
}

/// The names of the `:name:` shortcodes in `text`, in order, without repeats.
pub fn shortcode_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    each_shortcode(text, |_, name| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    });
    names
}

/// Replaces `:name:` shortcodes in the text of Matrix HTML with what `replace` returns for the
/// name (raw HTML), leaving tags, attribute values and `<code>`/`<pre>` contents untouched and
/// shortcodes `replace` has nothing for as they are.
pub fn replace_shortcodes_in_html(html: &str, replace: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len());
    let mut code_depth = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..text_end];
        if code_depth == 0 {
            let mut last = 0;
            each_shortcode(text, |range, name| {
                if let Some(r) = replace(name) {
                    out.push_str(&text[last..range.start]);
                    out.push_str(&r);
                    last = range.end;
                }
            });
            out.push_str(&text[last..]);
        } else {
            out.push_str(text);
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            break;
        }
        let tag_end = rest.find('>').map_or(rest.len(), |i| i + 1);
        let tag = rest[..tag_end].to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('<')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
            .collect();
        match name.as_str() {
            "code" | "pre" => code_depth += 1,
            "/code" | "/pre" => code_depth = code_depth.saturating_sub(1),
            _ => {}
        }
        out.push_str(&rest[..tag_end]);
        rest = &rest[tag_end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_in_order_once() {
        assert_eq!(
            shortcode_names("a :party: b: :x-y_1: :party: :Not: 10:30 ::"),
            vec!["party", "x-y_1"]
        );
        assert_eq!(shortcode_names("time 10:30: ok :wave:"), vec!["30", "wave"]);
    }

    #[test]
    fn replaces_only_text_outside_code() {
        let r = |n: &str| (n == "party").then(|| "<img alt=\":party:\">".to_owned());
        assert_eq!(
            replace_shortcodes_in_html(
                "<b>:party:</b> <code>:party:</code> <a href=\"x:party:y\">:other:</a><pre><code>:party:</code></pre>:party:",
                &r
            ),
            "<b><img alt=\":party:\"></b> <code>:party:</code> <a href=\"x:party:y\">:other:</a><pre><code>:party:</code></pre><img alt=\":party:\">"
        );
    }
}
