//! Matrix (plain body and HTML) -> Slack mrkdwn.

use super::escape_mrkdwn;
use crate::html::{self, Node};
use crate::{room_from_matrix_to, user_from_matrix_to};

type UserLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The largest list number written (an `<ol start>` beyond it is clamped).
const MAX_LIST_NUMBER: i64 = 1_000_000_000;

/// Converts a Matrix message (plain body, optional HTML `formatted_body`) to Slack mrkdwn.
///
/// `user` maps the target of a `matrix.to` link to a Slack id: a Matrix user id to a Slack
/// user id (a mention), a room id to a Slack channel id (a channel mention, for bridged
/// rooms); targets it does not know are written as their link text. `@room` becomes `<!channel>`. Reply
/// fallbacks (`<mx-reply>`) are dropped. Without HTML the body is only escaped.
pub fn matrix_to_mrkdwn(
    body: &str,
    html: Option<&str>,
    user: &dyn Fn(&str) -> Option<String>,
) -> String {
    match html {
        Some(html) => {
            let nodes = html::parse(html);
            let mut out = Out::default();
            render_nodes(&nodes, user, &mut out);
            out.finish()
        }
        None => room_mentions(&escape_mrkdwn(body)),
    }
}

/// Replaces a standalone `@room` with Slack's `<!channel>`; not `@room:server` (a user).
fn room_mentions(text: &str) -> String {
    const ROOM: &str = "@room";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(ROOM) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = rest[at + ROOM.len()..].chars().next();
        let standalone = !before.is_some_and(|c| c.is_alphanumeric() || "_-.@:/".contains(c))
            && !after.is_some_and(|c| c.is_alphanumeric() || "_-:".contains(c));
        out.push_str(&rest[..at]);
        out.push_str(if standalone { "<!channel>" } else { ROOM });
        rest = &rest[at + ROOM.len()..];
    }
    out.push_str(rest);
    out
}

/// Collapses HTML whitespace in text (non-breaking spaces become plain ones, uncollapsed).
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_ascii_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(if c == '\u{a0}' { ' ' } else { c });
            space = false;
        }
    }
    out
}

/// mrkdwn being written, with block breaks held back until more content comes.
#[derive(Default)]
struct Out {
    s: String,
    /// Newlines wanted before the next content.
    pending: usize,
    /// Whether the start of this output is not the start of a line.
    mid_line: bool,
}

impl Out {
    /// Output for the inside of an inline element, which starts mid-line.
    fn mid_line() -> Self {
        Out {
            mid_line: true,
            ..Out::default()
        }
    }

    fn at_line_start(&self) -> bool {
        (self.s.is_empty() && !self.mid_line) || self.s.ends_with('\n') || self.pending > 0
    }

    /// Asks for a block break of `n` newlines before whatever comes next.
    fn block(&mut self, n: usize) {
        if !self.s.is_empty() {
            self.pending = self.pending.max(n);
        }
    }

    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        let trimmed = self.s.trim_end_matches(' ').len();
        self.s.truncate(trimmed);
        // Only the newlines that count: scanning a long trailing run at every block would be
        // quadratic.
        let have = self
            .s
            .bytes()
            .rev()
            .take(self.pending)
            .take_while(|&b| b == b'\n')
            .count();
        for _ in have..self.pending {
            self.s.push('\n');
        }
        self.pending = 0;
    }

    /// Adds flowing (already escaped) text: spaces at a line start are dropped.
    fn text(&mut self, t: &str) {
        let t = if self.at_line_start() {
            t.trim_start_matches(' ')
        } else {
            t
        };
        if t.is_empty() {
            return;
        }
        self.flush();
        self.s.push_str(t);
    }

    /// Adds text exactly as given.
    fn raw(&mut self, t: &str) {
        if t.is_empty() {
            return;
        }
        self.flush();
        self.s.push_str(t);
    }

    fn line_break(&mut self) {
        self.flush();
        let trimmed = self.s.trim_end_matches(' ').len();
        self.s.truncate(trimmed);
        self.s.push('\n');
    }

    /// The text written, without trailing whitespace.
    fn finish(self) -> String {
        self.s.trim_end().to_owned()
    }

    /// The text written, with surrounding spaces kept (for inline wrappers).
    fn inline(self) -> String {
        self.s
    }
}

fn render_nodes(nodes: &[Node], user: UserLookup<'_>, out: &mut Out) {
    for node in nodes {
        render(node, user, out);
    }
}

fn render_children(node: &Node, user: UserLookup<'_>, out: Out) -> Out {
    let mut out = out;
    if let Node::Element { children, .. } = node {
        render_nodes(children, user, &mut out);
    }
    out
}

/// Wraps each line of `inner` in `marker`, moving surrounding spaces outside the markers.
fn wrap(inner: &str, marker: &str) -> String {
    inner
        .split('\n')
        .map(|line| {
            let core = line.trim();
            if core.is_empty() {
                return line.to_owned();
            }
            let lead = &line[..line.len() - line.trim_start().len()];
            let trail = &line[line.trim_end().len()..];
            format!("{lead}{marker}{core}{marker}{trail}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prefixes every line of `block` with `first` on the first line and `rest` after.
fn prefix_lines(block: &str, first: &str, rest: &str) -> String {
    block
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            let prefix = if i == 0 { first } else { rest };
            if line.is_empty() {
                prefix.trim_end().to_owned()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render(node: &Node, user: UserLookup<'_>, out: &mut Out) {
    let (name, children) = match node {
        Node::Text(t) => {
            out.text(&room_mentions(&escape_mrkdwn(&collapse(t))));
            return;
        }
        Node::Element { name, children, .. } => (name.as_str(), children),
    };
    match name {
        "mx-reply" | "script" | "style" | "head" | "title" => {}
        "br" => out.line_break(),
        "strong" | "b" | "em" | "i" | "del" | "s" | "strike" => {
            let marker = match name {
                "strong" | "b" => "*",
                "em" | "i" => "_",
                _ => "~",
            };
            let inner = render_children(node, user, Out::mid_line()).inline();
            out.text(&wrap(&inner, marker));
        }
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let inner = render_children(node, user, Out::default()).finish();
            out.block(1);
            out.raw(&wrap(&inner, "*"));
            out.block(1);
        }
        "code" => {
            let code = escape_mrkdwn(&node.text().replace('\n', " "));
            if !code.trim().is_empty() {
                out.raw(&format!("`{code}`"));
            }
        }
        "pre" => {
            let text = node.text();
            let code = escape_mrkdwn(text.strip_suffix('\n').unwrap_or(&text));
            out.block(1);
            out.raw(&format!("```{code}```"));
            out.block(1);
        }
        "a" => render_link(node, user, out),
        "img" => {
            if let Some(alt) = node.attr("alt").or(node.attr("title")) {
                out.text(&escape_mrkdwn(&collapse(alt)));
            }
        }
        "blockquote" => {
            let inner = render_children(node, user, Out::default()).finish();
            out.block(1);
            if !inner.is_empty() {
                out.raw(&prefix_lines(&inner, "> ", "> "));
            }
            out.block(1);
        }
        "ul" | "ol" => {
            // Any number a sender writes: clamped, and counted up without overflow.
            let mut number: i64 = node
                .attr("start")
                .and_then(|s| s.trim().parse::<i64>().ok())
                .unwrap_or(1)
                .clamp(-MAX_LIST_NUMBER, MAX_LIST_NUMBER);
            out.block(1);
            for child in children {
                if matches!(child, Node::Text(t) if t.trim().is_empty()) {
                    continue;
                }
                let item = match child {
                    Node::Element { name, .. } if name == "li" => {
                        render_children(child, user, Out::default()).finish()
                    }
                    other => {
                        let mut item = Out::default();
                        render(other, user, &mut item);
                        item.finish()
                    }
                };
                let bullet = if name == "ol" {
                    let bullet = format!("{number}. ");
                    number = number.saturating_add(1);
                    bullet
                } else {
                    "• ".to_owned()
                };
                out.block(1);
                out.raw(&prefix_lines(&item, &bullet, "    "));
            }
            out.block(1);
        }
        "li" => {
            // Outside a list.
            let item = render_children(node, user, Out::default()).finish();
            out.block(1);
            out.raw(&prefix_lines(&item, "• ", "    "));
            out.block(1);
        }
        "p" => {
            out.block(2);
            render_nodes(children, user, out);
            out.block(2);
        }
        "div" | "tr" | "table" | "thead" | "tbody" | "hr" | "details" | "summary" => {
            out.block(1);
            render_nodes(children, user, out);
            out.block(1);
        }
        _ => render_nodes(children, user, out),
    }
}

fn render_link(node: &Node, user: UserLookup<'_>, out: &mut Out) {
    let label = collapse(&node.text()).trim().to_owned();
    let Some(href) = node.attr("href").map(str::trim).filter(|h| !h.is_empty()) else {
        out.text(&escape_mrkdwn(&label));
        return;
    };
    if let Some(room) = room_from_matrix_to(href)
        && let Some(channel) = user(&room)
    {
        out.text(&format!("<#{channel}>"));
        return;
    }
    if let Some(mxid) = user_from_matrix_to(href) {
        match user(mxid) {
            Some(slack_id) => out.text(&format!("<@{slack_id}>")),
            None => out.text(&escape_mrkdwn(if label.is_empty() { mxid } else { &label })),
        }
        return;
    }
    let target = escape_mrkdwn(&href.replace('|', "%7C"));
    let bare = ["https://", "http://", "mailto:"]
        .iter()
        .find_map(|scheme| href.strip_prefix(scheme))
        .unwrap_or(href);
    if label.is_empty() || label == href || (href.starts_with("mailto:") && label == bare) {
        if label == bare && href.starts_with("mailto:") {
            out.text(&format!("<{target}|{}>", escape_mrkdwn(&label)));
        } else {
            out.text(&format!("<{target}>"));
        }
    } else {
        out.text(&format!("<{target}|{}>", escape_mrkdwn(&label)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(mxid: &str) -> Option<String> {
        (mxid == "@alice:example.org").then(|| "U1".into())
    }

    fn md(html: &str) -> String {
        matrix_to_mrkdwn("unused", Some(html), &users)
    }

    #[test]
    fn plain_body_is_escaped_only() {
        assert_eq!(
            matrix_to_mrkdwn("a < b && *c* > d", None, &users),
            "a &lt; b &amp;&amp; *c* &gt; d"
        );
        assert_eq!(matrix_to_mrkdwn("", None, &users), "");
        assert_eq!(matrix_to_mrkdwn("", Some(""), &users), "");
    }

    #[test]
    fn room_mention() {
        assert_eq!(
            matrix_to_mrkdwn("@room look", None, &users),
            "<!channel> look"
        );
        assert_eq!(md("hey @room!"), "hey <!channel>!");
        assert_eq!(
            matrix_to_mrkdwn("@room:example.org and me@room.org and @roomy", None, &users),
            "@room:example.org and me@room.org and @roomy"
        );
        assert_eq!(md("<code>@room</code>"), "`@room`");
    }

    #[test]
    fn inline_formatting() {
        assert_eq!(md("<strong>b</strong> <b>b</b>"), "*b* *b*");
        assert_eq!(md("<em>i</em> <i>i</i>"), "_i_ _i_");
        assert_eq!(
            md("<del>d</del> <s>s</s> <strike>x</strike>"),
            "~d~ ~s~ ~x~"
        );
        assert_eq!(md("<code>a *b* &lt;c&gt;</code>"), "`a *b* &lt;c&gt;`");
        assert_eq!(md("<em>it <strong>bold</strong></em>"), "_it *bold*_");
        assert_eq!(md("a<strong> spaced </strong>b"), "a *spaced* b");
        assert_eq!(md("<strong></strong>x"), "x");
        assert_eq!(md("<u>under</u>line"), "underline");
    }

    #[test]
    fn escaping_and_entities() {
        assert_eq!(
            md("1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;q&quot; &#39;s&#39; &#x1F600; a&nbsp;b"),
            "1 &lt; 2 &amp;&amp; 3 &gt; 2 \"q\" 's' 😀 a b"
        );
    }

    #[test]
    fn whitespace_and_breaks() {
        assert_eq!(md("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(md("a\n  b"), "a b");
        assert_eq!(md("<p>one</p>\n<p>two</p>\n"), "one\n\ntwo");
        assert_eq!(md("<div>one</div><div>two</div>"), "one\ntwo");
        assert_eq!(md("<strong>a<br>b</strong>"), "*a*\n*b*");
    }

    #[test]
    fn preformatted() {
        assert_eq!(
            md(
                "<p>see</p><pre><code class=\"language-rust\">fn a() {\n    *x &lt; y*\n}\n</code></pre><p>ok</p>"
            ),
            "see\n\n```fn a() {\n    *x &lt; y*\n}```\n\nok"
        );
    }

    #[test]
    fn links() {
        assert_eq!(
            md("<a href=\"https://x.com/a?b=1&amp;c=2\">the docs</a>"),
            "<https://x.com/a?b=1&amp;c=2|the docs>"
        );
        assert_eq!(
            md("<a href=\"https://x.com\">https://x.com</a>"),
            "<https://x.com>"
        );
        assert_eq!(md("<a href=\"https://x.com\"></a>"), "<https://x.com>");
        assert_eq!(
            md("<a href=\"mailto:a@b.c\">a@b.c</a>"),
            "<mailto:a@b.c|a@b.c>"
        );
        assert_eq!(
            md("<a href=\"https://x.com/a|b\">l</a>"),
            "<https://x.com/a%7Cb|l>"
        );
        assert_eq!(md("<a>no href</a>"), "no href");
        assert_eq!(
            md("<strong><a href=\"https://x.com\">bold <em>link</em></a></strong>"),
            "*<https://x.com|bold link>*"
        );
    }

    #[test]
    fn links_to_bridged_rooms_become_channel_mentions() {
        let lookup = |target: &str| match target {
            "!r:example.org" => Some("C9".to_owned()),
            _ => None,
        };
        let html = r#"see <a href="https://matrix.to/#/!r:example.org">#bridged</a> and <a href="https://matrix.to/#/!other:example.org">#other</a>"#;
        assert_eq!(
            matrix_to_mrkdwn("", Some(html), &lookup),
            "see <#C9> and <https://matrix.to/#/!other:example.org|#other>"
        );
    }

    #[test]
    fn user_mentions() {
        assert_eq!(
            md("<a href=\"https://matrix.to/#/@alice:example.org\">Alice</a>: hi"),
            "<@U1>: hi"
        );
        assert_eq!(
            md("<a href=\"https://matrix.to/#/@carol:example.org\">Carol &lt;C&gt;</a>: hi"),
            "Carol &lt;C&gt;: hi"
        );
        assert_eq!(
            md(&crate::mention_html("@alice:example.org", "Alice")),
            "<@U1>"
        );
    }

    #[test]
    fn quotes() {
        assert_eq!(
            md("<blockquote><p>first</p><p>second &gt; x</p></blockquote><p>reply</p>"),
            "> first\n>\n> second &gt; x\n\nreply"
        );
        assert_eq!(md("<blockquote>a<br>b</blockquote>c"), "> a\n> b\nc");
    }

    #[test]
    fn lists() {
        assert_eq!(
            md("<p>todo:</p>\n<ul>\n<li>one</li>\n<li><strong>two</strong></li>\n</ul>\n"),
            "todo:\n\n• one\n• *two*"
        );
        assert_eq!(
            md("<ol start=\"3\"><li>c</li><li>d<ul><li>nested</li></ul></li></ol>after"),
            "3. c\n4. d\n    • nested\nafter"
        );
    }

    #[test]
    fn reply_fallback_removed() {
        assert_eq!(
            md(
                "<mx-reply><blockquote><a href=\"https://matrix.to/#/!r:x/$e\">In reply to</a> \
                <a href=\"https://matrix.to/#/@bob:x\">@bob:x</a><br>original</blockquote></mx-reply>answer"
            ),
            "answer"
        );
    }

    #[test]
    fn unknown_tags_and_images() {
        assert_eq!(
            md(
                "<span data-mx-spoiler>secret</span> <font color=red>red</font> <img src=\"mxc://x/y\" alt=\":party:\">"
            ),
            "secret red :party:"
        );
        assert_eq!(md("<h1>Title</h1><p>text</p>"), "*Title*\n\ntext");
    }

    #[test]
    fn emoji_and_snake_case_untouched() {
        assert_eq!(md("snake_case_name 🎉 :tada:"), "snake_case_name 🎉 :tada:");
        assert_eq!(
            matrix_to_mrkdwn("snake_case_name 🎉 :tada:", None, &users),
            "snake_case_name 🎉 :tada:"
        );
    }
}
