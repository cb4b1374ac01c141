//! Slack `rich_text` blocks -> Matrix. Slack clients send a message's formatting as a
//! `rich_text` block (sections, lists, quotes, preformatted text, each made of styled text,
//! links, mentions and emoji) beside a mrkdwn `text` fallback; the block is the exact form.
//! See <https://api.slack.com/reference/block-kit/blocks#rich_text>.
//!
//! The JSON comes from a platform and is trusted for nothing: numbers (`indent`, `offset`)
//! are clamped before they size anything, and a `link` keeps its `href` only for
//! [`crate::links::is_allowed_link`] schemes. No recursion follows the JSON's nesting.

use super::MatrixText;
use super::to_matrix::{ChannelLookup, UserLookup};
use crate::{escape_html, mention_html};
use serde_json::Value;

/// The deepest list indent rendered; Slack's clients stop at 8, anything above is clamped.
const MAX_INDENT: u64 = 8;

/// The largest list offset honoured (an ordered list's first number minus one).
const MAX_OFFSET: u64 = 1_000_000_000;

/// Converts the `rich_text` blocks of a message's `blocks`, or `None` when it has none (or
/// only elements this converter does not know, so the caller falls back to `text`).
pub fn rich_text_to_matrix(
    blocks: &Value,
    user: UserLookup<'_>,
    channel: ChannelLookup<'_>,
) -> Option<MatrixText> {
    let mut out = Rendering {
        user,
        channel,
        body: String::new(),
        html: String::new(),
        formatted: false,
        users: Vec::new(),
        room: false,
    };
    let mut any = false;
    for block in blocks
        .as_array()?
        .iter()
        .filter(|b| b["type"] == "rich_text")
    {
        for element in block["elements"].as_array().into_iter().flatten() {
            if !out.block(element) {
                return None;
            }
            any = true;
        }
    }
    if !any {
        return None;
    }
    let body = out.body.trim_end_matches('\n').to_owned();
    let html = out.html.trim_end_matches("<br>").to_owned();
    Some(MatrixText {
        html: out.formatted.then_some(html),
        body,
        mentioned_users: out.users,
        room_mention: out.room,
    })
}

struct Rendering<'a> {
    user: UserLookup<'a>,
    channel: ChannelLookup<'a>,
    body: String,
    html: String,
    /// Whether the HTML says more than the body (styles, links, mentions, structure).
    formatted: bool,
    users: Vec<String>,
    room: bool,
}

impl<'a> Rendering<'a> {
    /// Renders one block element; `false` for a kind this converter does not know.
    fn block(&mut self, element: &Value) -> bool {
        match element["type"].as_str() {
            Some("rich_text_section") => {
                self.inline_all(&element["elements"], false);
                self.line_break();
            }
            Some("rich_text_preformatted") => {
                self.formatted = true;
                self.body.push_str("```\n");
                self.html.push_str("<pre><code>");
                self.inline_all(&element["elements"], true);
                self.body.push_str("\n```\n");
                self.html.push_str("</code></pre>");
            }
            Some("rich_text_quote") => {
                self.formatted = true;
                self.body.push_str("> ");
                self.html.push_str("<blockquote>");
                let start = self.body.len();
                self.inline_all(&element["elements"], false);
                let quoted = self.body.split_off(start).replace('\n', "\n> ");
                self.body.push_str(&quoted);
                self.body.push('\n');
                self.html.push_str("</blockquote>");
            }
            Some("rich_text_list") => {
                self.formatted = true;
                let ordered = element["style"] == "ordered";
                let tag = if ordered { "ol" } else { "ul" };
                // Both numbers are the sender's: an `indent` of 1e9 must not size a string.
                let indent = element["indent"].as_u64().unwrap_or(0).min(MAX_INDENT) as usize;
                let offset = element["offset"].as_u64().unwrap_or(0).min(MAX_OFFSET);
                self.html.push_str(&format!("<{tag}>"));
                for (i, item) in element["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let marker = if ordered {
                        format!("{}. ", offset + i as u64 + 1)
                    } else {
                        "• ".to_owned()
                    };
                    self.body.push_str(&"    ".repeat(indent));
                    self.body.push_str(&marker);
                    self.html.push_str("<li>");
                    self.inline_all(&item["elements"], false);
                    self.html.push_str("</li>");
                    self.body.push('\n');
                }
                self.html.push_str(&format!("</{tag}>"));
            }
            _ => return false,
        }
        true
    }

    fn line_break(&mut self) {
        if !self.body.ends_with('\n') {
            self.body.push('\n');
            self.html.push_str("<br>");
        }
    }

    fn inline_all(&mut self, elements: &Value, preformatted: bool) {
        for element in elements.as_array().into_iter().flatten() {
            self.inline(element, preformatted);
        }
    }

    /// Appends text with its HTML, `\n` becoming `<br>` outside preformatted text.
    fn text(&mut self, text: &str, preformatted: bool) {
        self.body.push_str(text);
        let escaped = escape_html(text);
        if preformatted {
            self.html.push_str(&escaped);
        } else {
            self.html.push_str(&escaped.replace('\n', "<br>"));
        }
    }

    fn inline(&mut self, element: &Value, preformatted: bool) {
        let style = &element["style"];
        let styles: Vec<&str> = [
            ("bold", "strong"),
            ("italic", "em"),
            ("strike", "del"),
            ("code", "code"),
        ]
        .iter()
        .filter(|(key, _)| style[*key] == true && !preformatted)
        .map(|(_, tag)| *tag)
        .collect();
        if !styles.is_empty() {
            self.formatted = true;
        }
        for tag in &styles {
            self.html.push_str(&format!("<{tag}>"));
        }
        match element["type"].as_str().unwrap_or_default() {
            "text" => self.text(element["text"].as_str().unwrap_or_default(), preformatted),
            "link" => {
                let url = element["url"].as_str().unwrap_or_default();
                let shown = element["text"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(url);
                if !crate::links::is_allowed_link(url) {
                    // Not a scheme a Matrix client may open: the same words, unlinked.
                    let text = if shown == url {
                        url.to_owned()
                    } else {
                        format!("{shown} ({url})")
                    };
                    self.text(&text, preformatted);
                } else {
                    self.body.push_str(shown);
                    if shown != url {
                        self.body.push_str(&format!(" ({url})"));
                    }
                    self.formatted = true;
                    self.html.push_str(&format!(
                        "<a href=\"{}\">{}</a>",
                        escape_html(url),
                        escape_html(shown)
                    ));
                }
            }
            "emoji" => {
                let name = element["name"].as_str().unwrap_or_default();
                // Unicode where Slack gives it (code points as hex, `-` separated), else the
                // short name, which the standard and custom emoji mapping handle later.
                let unicode: Option<String> = element["unicode"].as_str().and_then(|u| {
                    u.split('-')
                        .map(|h| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
                        .collect()
                });
                let text = unicode
                    .or_else(|| crate::emoji::from_shortcode(name))
                    .unwrap_or_else(|| format!(":{name}:"));
                self.text(&text, preformatted);
            }
            "user" => {
                let id = element["user_id"].as_str().unwrap_or_default();
                match (self.user)(id) {
                    Some((mxid, name)) => {
                        self.formatted = true;
                        self.body.push_str(&name);
                        self.html.push_str(&mention_html(&mxid, &name));
                        if !self.users.iter().any(|u| u == id) {
                            self.users.push(id.to_owned());
                        }
                    }
                    None => self.text(&format!("@{id}"), preformatted),
                }
            }
            "channel" => {
                let id = element["channel_id"].as_str().unwrap_or_default();
                let known = (self.channel)(id).unwrap_or_default();
                let text = format!("#{}", known.name.as_deref().unwrap_or(id));
                match known.matrix_room {
                    Some(room) => {
                        self.formatted = true;
                        self.body.push_str(&text);
                        self.html.push_str(&format!(
                            "<a href=\"{}\">{}</a>",
                            escape_html(&format!("https://matrix.to/#/{room}")),
                            escape_html(&text)
                        ));
                    }
                    None => self.text(&text, preformatted),
                }
            }
            "broadcast" => {
                self.room = true;
                self.text("@room", preformatted);
            }
            "usergroup" => {
                let id = element["usergroup_id"].as_str().unwrap_or_default();
                self.text(&format!("@{id}"), preformatted);
            }
            "date" => {
                let fallback = element["fallback"].as_str().unwrap_or_default();
                self.text(fallback, preformatted);
            }
            "color" => self.text(element["value"].as_str().unwrap_or_default(), preformatted),
            _ => {}
        }
        for tag in styles.iter().rev() {
            self.html.push_str(&format!("</{tag}>"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::ChannelRef;
    use serde_json::json;

    fn users(id: &str) -> Option<(String, String)> {
        (id == "U1").then(|| ("@alice:example.org".into(), "Alice".into()))
    }

    fn channels(id: &str) -> Option<ChannelRef> {
        (id == "C1").then(|| ChannelRef {
            name: Some("general".into()),
            matrix_room: Some("!room".into()),
        })
    }

    fn convert(elements: Value) -> Option<MatrixText> {
        rich_text_to_matrix(
            &json!([{"type": "rich_text", "block_id": "b", "elements": elements}]),
            &users,
            &channels,
        )
    }

    #[test]
    fn styles_mentions_links_and_emoji() {
        let t = convert(json!([{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "hi "},
            {"type": "user", "user_id": "U1"},
            {"type": "text", "text": ", see ", "style": {"bold": true}},
            {"type": "link", "url": "https://example.org/a?b&c", "text": "this"},
            {"type": "text", "text": " in "},
            {"type": "channel", "channel_id": "C1"},
            {"type": "text", "text": " "},
            {"type": "emoji", "name": "tada", "unicode": "1f389"},
            {"type": "text", "text": " "},
            {"type": "broadcast", "range": "here"},
            {"type": "text", "text": " <x>", "style": {"code": true}}
        ]}]))
        .expect("converted");
        assert_eq!(
            t.body,
            "hi Alice, see this (https://example.org/a?b&c) in #general 🎉 @room <x>"
        );
        assert_eq!(
            t.html.as_deref(),
            Some(
                "hi <a href=\"https://matrix.to/#/@alice:example.org\">Alice</a><strong>, see </strong>\
                 <a href=\"https://example.org/a?b&amp;c\">this</a> in \
                 <a href=\"https://matrix.to/#/!room\">#general</a> 🎉 @room<code> &lt;x&gt;</code>"
            )
        );
        assert_eq!(t.mentioned_users, ["U1"]);
        assert!(t.room_mention);
    }

    #[test]
    fn lists_quotes_and_code_blocks() {
        let t = convert(json!([
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "plan:\n"}]},
            {"type": "rich_text_list", "style": "ordered", "indent": 0, "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "two"}]}
            ]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "wise\nwords"}]},
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "let x = 1;\n<y>"}]}
        ]))
        .expect("converted");
        assert_eq!(
            t.body,
            "plan:\n1. one\n2. two\n> wise\n> words\n```\nlet x = 1;\n<y>\n```"
        );
        assert_eq!(
            t.html.as_deref(),
            Some(
                "plan:<br><ol><li>one</li><li>two</li></ol><blockquote>wise<br>words</blockquote>\
                 <pre><code>let x = 1;\n&lt;y&gt;</code></pre>"
            )
        );
    }

    #[test]
    fn plain_text_has_no_html_and_unknown_blocks_fall_back() {
        let t = convert(json!([{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "just words"}
        ]}]))
        .expect("converted");
        assert_eq!(t.body, "just words");
        assert_eq!(t.html, None);
        assert!(convert(json!([{"type": "rich_text_mystery"}])).is_none());
        assert!(rich_text_to_matrix(&json!([{"type": "section"}]), &users, &channels).is_none());
    }
}
