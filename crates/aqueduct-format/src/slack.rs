//! Slack mrkdwn <-> Matrix bodies and HTML.
//!
//! See <https://api.slack.com/reference/surfaces/formatting>. In a message's `text` Slack
//! escapes `&`, `<` and `>` as entities; everything in `<...>` is a special form (mention,
//! channel, broadcast, link); `*bold*`, `_italic_`, `~strike~`, `` `code` `` and
//! ```` ```pre``` ```` apply only at word boundaries; lines starting with `>` are quotes.

mod from_matrix;
mod rich_text;
mod to_matrix;

pub use from_matrix::matrix_to_mrkdwn;
pub use rich_text::rich_text_to_matrix;
pub use to_matrix::{ChannelRef, mrkdwn_to_matrix};

/// A Slack message's text as Matrix sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixText {
    /// The plain-text body: entities decoded, formatting markers kept, mentions as names,
    /// broadcasts as `@room`.
    pub body: String,
    /// `formatted_body` (`org.matrix.custom.html`), or `None` when the text is plain.
    pub html: Option<String>,
    /// Slack user ids mentioned, in order of first appearance, without repeats.
    pub mentioned_users: Vec<String>,
    /// Whether the text had `<!here>`, `<!channel>` or `<!everyone>`.
    pub room_mention: bool,
}

/// Escapes text for mrkdwn: `&`, `<` and `>` become entities, as Slack requires.
pub fn escape_mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_matrix(text: &str) -> MatrixText {
        mrkdwn_to_matrix(
            text,
            &|id| (id == "U1").then(|| ("@alice:example.org".into(), "Alice".into())),
            &|_| None,
        )
    }

    fn back(t: &MatrixText) -> String {
        matrix_to_mrkdwn(&t.body, t.html.as_deref(), &|mxid| {
            (mxid == "@alice:example.org").then(|| "U1".into())
        })
    }

    #[test]
    fn escape() {
        assert_eq!(escape_mrkdwn("a & <b> \"c\""), "a &amp; &lt;b&gt; \"c\"");
    }

    #[test]
    fn round_trips_through_matrix() {
        for text in [
            "",
            "just text",
            "a &amp; b &lt;c&gt;",
            "*bold* _italic_ ~strike~ `code *x*`",
            "_italic *bold* inside_",
            "see <https://x.com/a?b=1&amp;c=2|the docs> and <https://x.com>",
            "<mailto:a@b.c|a@b.c>",
            "hi <@U1>: snake_case_name 2*3*4 🎉 :tada:",
            "<!channel> look",
            "line one\nline two",
            "```fn main() {\n    x < y\n}```",
            "• one\n• two",
        ] {
            let t = to_matrix(text);
            // Slack sends `<` inside code escaped; compare on the escaped form.
            let expected = text.replace("x < y", "x &lt; y");
            assert_eq!(back(&t), expected, "{text:?} via {t:?}");
        }
    }

    #[test]
    fn quotes_round_trip_with_a_literal_marker() {
        let t = to_matrix("&gt; quoted\n&gt; more\nreply");
        assert_eq!(back(&t), "> quoted\n> more\nreply");
    }
}
