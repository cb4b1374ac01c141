//! Teams message bodies (Graph's HTML with `<at id>` mentions) to the neutral model and back.
//! Both directions keep a small set of formatting tags, links only with http, https or mailto,
//! and turn mentions into the other side's form; everything else becomes its text.

use crate::graph::{
    ChatMessage, ChatMessageAttachment, ChatMessageMention, ChatMessageMentionedIdentitySet,
    Identity, MessageReference, ReferenceSender,
};
use aqueduct_core::event::{MentionedUser, Mentions, MessageContent};
use aqueduct_core::ids::RemoteUserId;
use aqueduct_format::html::{Node, parse};
use aqueduct_format::{escape_html, links::is_allowed_link, mention_html, user_from_matrix_to};

/// Tags both sides render alike, kept as they are.
const KEPT: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "blockquote",
    "p",
    "br",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// A Teams message's content for Matrix. `ghost_of` gives the Matrix id standing for a Teams
/// user (their ghost).
pub fn teams_to_matrix(
    message: &ChatMessage,
    ghost_of: &dyn Fn(&RemoteUserId) -> String,
) -> MessageContent {
    let content = message.body.content.clone().unwrap_or_default();
    if message.body.content_type.as_deref() != Some("html") {
        return MessageContent::text(content);
    }
    let mut out = Rendered::default();
    for node in parse(&content) {
        inbound(&node, message, ghost_of, &mut out);
    }
    let body = out.text.trim().to_owned();
    let html = out.html.trim().to_owned();
    MessageContent {
        html: (out.formatted && !html.is_empty()).then_some(html),
        body,
        mentions: Mentions {
            users: out.mentioned,
            ..Mentions::default()
        },
        ..MessageContent::default()
    }
}

#[derive(Default)]
struct Rendered {
    text: String,
    html: String,
    formatted: bool,
    mentioned: Vec<MentionedUser>,
}

fn inbound(
    node: &Node,
    message: &ChatMessage,
    ghost_of: &dyn Fn(&RemoteUserId) -> String,
    out: &mut Rendered,
) {
    let (name, children) = match node {
        Node::Text(t) => {
            out.text.push_str(t);
            out.html.push_str(&escape_html(t));
            return;
        }
        Node::Element { name, children, .. } => (name.as_str(), children),
    };
    // A quote written by older Teams clients: the quoted message is in Matrix already and
    // becomes the reply's relation, not text.
    if is_legacy_quote(node) {
        return;
    }
    if name == "at" {
        let shown = node.text();
        let user = node
            .attr("id")
            .and_then(|id| id.parse::<i32>().ok())
            .and_then(|id| message.mentions.iter().find(|m| m.id == id))
            .and_then(|m| m.mentioned.as_ref()?.user.as_ref()?.id.clone());
        out.text.push_str(&shown);
        match user {
            Some(user) => {
                let remote = RemoteUserId::new(user);
                let matrix_id = ghost_of(&remote);
                out.html.push_str(&mention_html(&matrix_id, &shown));
                out.formatted = true;
                out.mentioned.push(MentionedUser {
                    matrix_id,
                    remote_id: Some(remote),
                });
            }
            None => out.html.push_str(&escape_html(&shown)),
        }
        return;
    }
    if name == "a" {
        let href = node.attr("href").filter(|h| is_allowed_link(h));
        if let Some(href) = href {
            out.html
                .push_str(&format!("<a href=\"{}\">", escape_html(href)));
            out.formatted = true;
        }
        for child in children {
            inbound(child, message, ghost_of, out);
        }
        if href.is_some() {
            out.html.push_str("</a>");
        }
        return;
    }
    let kept = KEPT.contains(&name);
    if kept {
        out.html.push_str(&format!("<{name}>"));
        // Paragraphs alone are how Teams wraps any text: not formatting by themselves.
        out.formatted |= !matches!(name, "p" | "br");
    }
    if name == "br" {
        out.text.push('\n');
        return;
    }
    if matches!(name, "p" | "div" | "li") && !out.text.is_empty() && !out.text.ends_with('\n') {
        out.text.push('\n');
    }
    for child in children {
        inbound(child, message, ghost_of, out);
    }
    if kept {
        out.html.push_str(&format!("</{name}>"));
    }
}

/// Whether a node is a quote as older Teams clients write it (`<blockquote
/// itemtype="http://schema.skype.com/Reply" itemid="{message id}">`).
fn is_legacy_quote(node: &Node) -> bool {
    matches!(node, Node::Element { name, .. } if name == "blockquote")
        && node
            .attr("itemtype")
            .is_some_and(|t| t.contains("schema.skype.com/Reply"))
}

/// The message a quote written by older Teams clients names (see [`is_legacy_quote`]).
pub fn legacy_quote(html: &str) -> Option<String> {
    fn walk(nodes: &[Node]) -> Option<String> {
        for node in nodes {
            if is_legacy_quote(node) {
                return node.attr("itemid").map(str::to_owned);
            }
            if let Node::Element { children, .. } = node
                && let Some(found) = walk(children)
            {
                return Some(found);
            }
        }
        None
    }
    walk(&parse(html)).filter(|id| !id.is_empty())
}

/// The `messageReference` attachment quoting `message_id` (with its text's start and author
/// when the quoted message is known), as Graph's own quoted replies carry it.
pub fn quote_attachment(message_id: &str, original: Option<&ChatMessage>) -> ChatMessageAttachment {
    let preview = original.map(|m| {
        let text = teams_to_matrix(m, &|u| u.as_str().to_owned()).body;
        text.chars().take(100).collect::<String>()
    });
    let sender = original
        .and_then(|m| m.from.as_ref()?.user.clone())
        .map(|u| ReferenceSender {
            user: Some(Identity {
                id: u.id,
                display_name: u.display_name,
            }),
        });
    let reference = MessageReference {
        message_id: Some(message_id.to_owned()),
        message_preview: preview,
        message_sender: sender,
    };
    ChatMessageAttachment {
        id: Some(message_id.to_owned()),
        content_type: Some("messageReference".into()),
        content_url: None,
        content: serde_json::to_string(&reference).ok(),
        name: None,
    }
}

/// A Matrix message's content as a Teams HTML body and its mentions. Mentioned Matrix users
/// with a Teams identity (`remote_id`) become `<at id>` mentions; others stay their name.
pub fn matrix_to_teams(content: &MessageContent) -> (String, Vec<ChatMessageMention>) {
    let html = match &content.html {
        Some(html) => html.clone(),
        None => escape_html(&content.body).replace('\n', "<br>"),
    };
    let mut out = String::new();
    let mut mentions = Vec::new();
    for node in parse(&html) {
        outbound(&node, content, &mut out, &mut mentions);
    }
    (out, mentions)
}

fn outbound(
    node: &Node,
    content: &MessageContent,
    out: &mut String,
    mentions: &mut Vec<ChatMessageMention>,
) {
    let (name, children) = match node {
        Node::Text(t) => {
            out.push_str(&escape_html(t));
            return;
        }
        Node::Element { name, children, .. } => (name.as_str(), children),
    };
    match name {
        // The quoted original of a Matrix reply: Teams shows its own reference instead.
        "mx-reply" => {}
        "a" => {
            let href = node.attr("href").unwrap_or_default();
            let teams_user = user_from_matrix_to(href).and_then(|mxid| {
                content
                    .mentions
                    .users
                    .iter()
                    .find(|u| u.matrix_id == mxid)
                    .and_then(|u| u.remote_id.clone())
            });
            if let Some(user) = teams_user {
                let id = mentions.len() as i32;
                let shown = node.text();
                out.push_str(&format!("<at id=\"{id}\">{}</at>", escape_html(&shown)));
                mentions.push(ChatMessageMention {
                    id,
                    mention_text: Some(shown.clone()),
                    mentioned: Some(ChatMessageMentionedIdentitySet {
                        user: Some(Identity {
                            id: Some(user.as_str().to_owned()),
                            display_name: Some(shown),
                        }),
                    }),
                });
                return;
            }
            // Someone with no Teams identity here (a Matrix user, another network's ghost in
            // a hub room): their name as text. A link to their Matrix id would show Teams
            // users an address they cannot open, with another platform's user id in it.
            if user_from_matrix_to(href).is_some() {
                for child in children {
                    outbound(child, content, out, mentions);
                }
                return;
            }
            let allowed = is_allowed_link(href);
            if allowed {
                out.push_str(&format!("<a href=\"{}\">", escape_html(href)));
            }
            for child in children {
                outbound(child, content, out, mentions);
            }
            if allowed {
                out.push_str("</a>");
            }
        }
        "br" => out.push_str("<br>"),
        _ => {
            let kept = KEPT.contains(&name);
            if kept {
                out.push_str(&format!("<{name}>"));
            }
            for child in children {
                outbound(child, content, out, mentions);
            }
            if kept {
                out.push_str(&format!("</{name}>"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ItemBody;

    fn message(html: &str, mentions: Vec<ChatMessageMention>) -> ChatMessage {
        serde_json::from_value::<ChatMessage>(serde_json::json!({"id": "1"}))
            .map(|mut m| {
                m.body = ItemBody {
                    content_type: Some("html".into()),
                    content: Some(html.into()),
                };
                m.mentions = mentions;
                m
            })
            .unwrap()
    }

    fn ghost(user: &RemoteUserId) -> String {
        format!("@teams_{}:localhost", user.as_str())
    }

    #[test]
    fn a_plain_paragraph_is_plain_text() {
        let c = teams_to_matrix(&message("<p>hello there</p>", vec![]), &ghost);
        assert_eq!(c.body, "hello there");
        assert_eq!(c.html, None);
    }

    #[test]
    fn mentions_become_ghost_pills_and_back() {
        let mention = ChatMessageMention {
            id: 0,
            mention_text: Some("Bob".into()),
            mentioned: Some(ChatMessageMentionedIdentitySet {
                user: Some(Identity {
                    id: Some("u-bob".into()),
                    display_name: Some("Bob".into()),
                }),
            }),
        };
        let c = teams_to_matrix(
            &message(
                "<p>hi <at id=\"0\">Bob</at>, <b>look</b></p>",
                vec![mention],
            ),
            &ghost,
        );
        assert_eq!(c.body, "hi Bob, look");
        let html = c.html.clone().unwrap();
        assert!(
            html.contains("https://matrix.to/#/@teams_u-bob:localhost"),
            "{html}"
        );
        assert!(html.contains("<b>look</b>"), "{html}");
        let (back, mentions) = matrix_to_teams(&c);
        assert!(back.contains("<at id=\"0\">Bob</at>"), "{back}");
        assert_eq!(
            mentions[0]
                .mentioned
                .as_ref()
                .unwrap()
                .user
                .as_ref()
                .unwrap()
                .id
                .as_deref(),
            Some("u-bob")
        );
    }

    #[test]
    fn scripts_and_odd_links_do_not_cross() {
        let c = teams_to_matrix(
            &message(
                "<p><script>x()</script><a href=\"javascript:alert(1)\">click</a></p>",
                vec![],
            ),
            &ghost,
        );
        assert!(!c.html.unwrap_or_default().contains("javascript"));
        let (out, _) = matrix_to_teams(&MessageContent::html(
            "x",
            "<img src=x onerror=alert(1)><a href=\"javascript:x\">y</a> &lt;b&gt;",
        ));
        assert!(
            !out.contains("javascript") && !out.contains("<img"),
            "{out}"
        );
        assert!(out.contains("&lt;b&gt;"), "{out}");
    }

    #[test]
    fn a_pill_of_someone_without_a_teams_identity_is_their_name() {
        let (out, mentions) = matrix_to_teams(&MessageContent::html(
            "hi Bob Slack",
            "hi <a href=\"https://matrix.to/#/@aqueduct_slack_UBOB:localhost\">Bob Slack</a>, \
             see <a href=\"https://example.com/x\">this</a>",
        ));
        assert_eq!(
            out,
            "hi Bob Slack, see <a href=\"https://example.com/x\">this</a>"
        );
        assert!(mentions.is_empty());
    }

    #[test]
    fn plain_matrix_text_keeps_its_lines_and_escapes() {
        let (out, mentions) = matrix_to_teams(&MessageContent::text("a < b\nnext"));
        assert_eq!(out, "a &lt; b<br>next");
        assert!(mentions.is_empty());
    }
}
