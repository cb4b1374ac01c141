//! Matrix event content, built and read with ruma's types: neutral content to
//! `m.room.message` and back, relations, and the envelope of incoming events.

use crate::event::{Attachment, AttachmentKind, MessageContent, TextKind};
use ruma::events::Mentions as RumaMentions;
use ruma::events::reaction::ReactionEventContent;
use ruma::events::relation::{Annotation, InReplyTo, Reply, Thread};
use ruma::events::room::message::{
    AudioInfo, AudioMessageEventContent, EmoteMessageEventContent, FileInfo,
    FileMessageEventContent, FormattedBody, ImageMessageEventContent, MessageFormat, MessageType,
    NoticeMessageEventContent, Relation, ReplacementMetadata, RoomMessageEventContent,
    RoomMessageEventContentWithoutRelation, TextMessageEventContent, VideoInfo,
    VideoMessageEventContent,
};
use ruma::events::room::{ImageInfo, MediaSource};
use ruma::{OwnedEventId, OwnedUserId, UInt};
use serde::Deserialize;
use serde_json::Value;

fn formatted(html: &Option<String>) -> Option<FormattedBody> {
    html.as_ref().map(|h| FormattedBody::html(h.clone()))
}

fn mentions(content: &MessageContent) -> RumaMentions {
    let mut m = RumaMentions::new();
    m.user_ids = content
        .mentions
        .users
        .iter()
        .filter_map(|u| OwnedUserId::try_from(u.matrix_id.as_str()).ok())
        .collect();
    m.room = content.mentions.room;
    m
}

/// The text part of a message as `m.room.message` content, without relations.
pub(crate) fn text_message(content: &MessageContent) -> RoomMessageEventContentWithoutRelation {
    let msgtype = match content.kind {
        TextKind::Text => {
            let mut t = TextMessageEventContent::plain(content.body.clone());
            t.formatted = formatted(&content.html);
            MessageType::Text(t)
        }
        TextKind::Notice => {
            let mut t = NoticeMessageEventContent::plain(content.body.clone());
            t.formatted = formatted(&content.html);
            MessageType::Notice(t)
        }
        TextKind::Emote => {
            let mut t = EmoteMessageEventContent::plain(content.body.clone());
            t.formatted = formatted(&content.html);
            MessageType::Emote(t)
        }
    };
    RoomMessageEventContentWithoutRelation::new(msgtype).add_mentions(mentions(content))
}

fn uint(v: Option<u32>) -> Option<UInt> {
    v.map(UInt::from)
}

/// An uploaded attachment as `m.room.message` content.
pub(crate) fn attachment_message(
    att: &Attachment,
    source: MediaSource,
) -> RoomMessageEventContentWithoutRelation {
    let size = UInt::try_from(att.data.len() as u64).ok();
    let name = att.name.clone();
    let msgtype = match att.kind {
        AttachmentKind::Image => {
            let mut info = ImageInfo::new();
            info.mimetype = Some(att.mime.clone());
            info.size = size;
            info.width = uint(att.width);
            info.height = uint(att.height);
            MessageType::Image(
                ImageMessageEventContent::new(name, source).info(Some(Box::new(info))),
            )
        }
        AttachmentKind::Video => {
            let mut info = VideoInfo::new();
            info.mimetype = Some(att.mime.clone());
            info.size = size;
            info.width = uint(att.width);
            info.height = uint(att.height);
            MessageType::Video(
                VideoMessageEventContent::new(name, source).info(Some(Box::new(info))),
            )
        }
        AttachmentKind::Audio => {
            let mut info = AudioInfo::new();
            info.mimetype = Some(att.mime.clone());
            info.size = size;
            MessageType::Audio(
                AudioMessageEventContent::new(name, source).info(Some(Box::new(info))),
            )
        }
        AttachmentKind::File => {
            let mut info = FileInfo::new();
            info.mimetype = Some(att.mime.clone());
            info.size = size;
            MessageType::File(FileMessageEventContent::new(name, source).info(Some(Box::new(info))))
        }
    };
    RoomMessageEventContentWithoutRelation::new(msgtype)
}

/// Where a new message sits: in reply to an event, in a thread, or neither.
pub(crate) struct Placement {
    pub reply_to: Option<OwnedEventId>,
    pub thread_root: Option<OwnedEventId>,
}

/// Adds reply/thread relations to a message.
pub(crate) fn place(
    content: RoomMessageEventContentWithoutRelation,
    at: &Placement,
) -> RoomMessageEventContent {
    let mut full = content.with_relation(None);
    full.relates_to = match (&at.thread_root, &at.reply_to) {
        (Some(root), Some(reply)) => {
            Some(Relation::Thread(Thread::reply(root.clone(), reply.clone())))
        }
        (Some(root), None) => Some(Relation::Thread(Thread::plain(root.clone(), root.clone()))),
        (None, Some(reply)) => Some(Relation::Reply(Reply::new(InReplyTo::new(reply.clone())))),
        (None, None) => None,
    };
    full
}

/// An edit of `target` to the new content.
pub(crate) fn replacement(
    content: RoomMessageEventContentWithoutRelation,
    target: OwnedEventId,
) -> RoomMessageEventContent {
    let formatted = |m: &MessageType| match m {
        MessageType::Text(t) => t.formatted.is_some(),
        MessageType::Notice(t) => t.formatted.is_some(),
        MessageType::Emote(t) => t.formatted.is_some(),
        _ => true,
    };
    let had_html = formatted(&content.msgtype);
    let mut full = content.make_replacement(ReplacementMetadata::new(target, None));
    // ruma writes a `* ` HTML fallback even for plain text; clients would show it as the
    // edit's whole formatted text where they ignore `m.new_content`.
    if !had_html {
        match &mut full.msgtype {
            MessageType::Text(t) => t.formatted = None,
            MessageType::Notice(t) => t.formatted = None,
            MessageType::Emote(t) => t.formatted = None,
            _ => {}
        }
    }
    full
}

/// A reaction to `target`.
pub(crate) fn reaction(target: OwnedEventId, key: &str) -> ReactionEventContent {
    ReactionEventContent::new(Annotation::new(target, key.to_owned()))
}

/// Serializes content to JSON, adding the double-puppet marker when asked.
pub(crate) fn to_json<T: serde::Serialize>(content: &T, marker: Option<&str>) -> Value {
    let mut v = serde_json::to_value(content).unwrap_or(Value::Null);
    if let (Some(m), Some(obj)) = (marker, v.as_object_mut()) {
        obj.insert(
            crate::bridge::DOUBLE_PUPPET_MARKER.to_owned(),
            Value::String(m.to_owned()),
        );
    }
    v
}

/// The common envelope of every incoming room event.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    #[serde(default)]
    pub origin_server_ts: i64,
    #[serde(default)]
    pub state_key: Option<String>,
    #[serde(default)]
    pub content: Value,
    /// Top-level `redacts` of redactions in room versions before 11.
    #[serde(default)]
    pub redacts: Option<String>,
    /// Whether the event reached the bridge encrypted (set after decryption).
    #[serde(skip)]
    pub was_encrypted: bool,
}

/// A media part of a Matrix message that still has to be downloaded.
#[derive(Debug)]
pub(crate) struct PendingMedia {
    pub kind: AttachmentKind,
    pub name: String,
    pub mime: String,
    pub source: MediaSource,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

fn text_of(body: &str, f: &Option<FormattedBody>) -> (String, Option<String>) {
    let html = f
        .as_ref()
        .filter(|f| f.format == MessageFormat::Html)
        .map(|f| strip_reply_fallback_html(&f.body));
    (strip_reply_fallback_body(body), html)
}

fn small(v: Option<UInt>) -> Option<u32> {
    v.and_then(|v| u32::try_from(u64::from(v)).ok())
}

/// Splits a Matrix message into neutral text content and media still to fetch. `None` for
/// message types the bridge does not carry (locations, verification requests).
pub(crate) fn read_message(
    msgtype: &MessageType,
) -> Option<(MessageContent, Option<PendingMedia>)> {
    let text = |kind, body: &str, f: &Option<FormattedBody>| {
        let (body, html) = text_of(body, f);
        Some((
            MessageContent {
                kind,
                body,
                html,
                ..Default::default()
            },
            None,
        ))
    };
    match msgtype {
        MessageType::Text(t) => text(TextKind::Text, &t.body, &t.formatted),
        MessageType::Notice(t) => text(TextKind::Notice, &t.body, &t.formatted),
        MessageType::Emote(t) => text(TextKind::Emote, &t.body, &t.formatted),
        MessageType::Image(m) => {
            let info = m.info.as_deref();
            Some(media(
                AttachmentKind::Image,
                m.filename.as_deref(),
                &m.body,
                &m.formatted,
                info.and_then(|i| i.mimetype.clone()),
                &m.source,
                info.and_then(|i| small(i.width)),
                info.and_then(|i| small(i.height)),
            ))
        }
        MessageType::Video(m) => {
            let info = m.info.as_deref();
            Some(media(
                AttachmentKind::Video,
                m.filename.as_deref(),
                &m.body,
                &m.formatted,
                info.and_then(|i| i.mimetype.clone()),
                &m.source,
                info.and_then(|i| small(i.width)),
                info.and_then(|i| small(i.height)),
            ))
        }
        MessageType::Audio(m) => {
            let info = m.info.as_deref();
            Some(media(
                AttachmentKind::Audio,
                m.filename.as_deref(),
                &m.body,
                &m.formatted,
                info.and_then(|i| i.mimetype.clone()),
                &m.source,
                None,
                None,
            ))
        }
        MessageType::File(m) => {
            let info = m.info.as_deref();
            Some(media(
                AttachmentKind::File,
                m.filename.as_deref(),
                &m.body,
                &m.formatted,
                info.and_then(|i| i.mimetype.clone()),
                &m.source,
                None,
                None,
            ))
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn media(
    kind: AttachmentKind,
    filename: Option<&str>,
    body: &str,
    formatted: &Option<FormattedBody>,
    mime: Option<String>,
    source: &MediaSource,
    width: Option<u32>,
    height: Option<u32>,
) -> (MessageContent, Option<PendingMedia>) {
    // With a filename the body is a caption (Matrix 1.10); without one the body is the name.
    let (name, caption) = match filename {
        Some(f) if f != body => (f.to_owned(), Some(text_of(body, formatted))),
        _ => (body.to_owned(), None),
    };
    let mut content = MessageContent::default();
    if let Some((body, html)) = caption {
        content.body = body;
        content.html = html;
    }
    let pending = PendingMedia {
        kind,
        name,
        mime: mime.unwrap_or_else(|| "application/octet-stream".into()),
        source: source.clone(),
        width,
        height,
    };
    (content, Some(pending))
}

/// Removes a rich reply's quoted fallback (`<mx-reply>...</mx-reply>`).
pub(crate) fn strip_reply_fallback_html(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &html[..start], &html[end + "</mx-reply>".len()..])
        }
        _ => html.to_owned(),
    }
}

/// Removes a rich reply's quoted fallback lines (`> ...` then a blank line) from a body.
pub(crate) fn strip_reply_fallback_body(body: &str) -> String {
    if !body.starts_with("> ") {
        return body.to_owned();
    }
    let mut lines = body.lines().peekable();
    while lines.peek().is_some_and(|l| l.starts_with('>')) {
        lines.next();
    }
    if lines.peek().is_some_and(|l| l.is_empty()) {
        lines.next();
        lines.collect::<Vec<_>>().join("\n")
    } else {
        body.to_owned()
    }
}

/// Converts neutral attachments back for tests and callers that need the pieces.
pub(crate) fn pending_to_attachment(p: PendingMedia, data: Vec<u8>) -> Attachment {
    Attachment {
        kind: p.kind,
        name: p.name,
        mime: p.mime,
        data,
        width: p.width,
        height: p.height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_reply_fallbacks() {
        assert_eq!(
            strip_reply_fallback_body("> <@a:b> hi\n> there\n\nanswer"),
            "answer"
        );
        assert_eq!(
            strip_reply_fallback_body("> quote without blank"),
            "> quote without blank"
        );
        assert_eq!(
            strip_reply_fallback_html("<mx-reply><blockquote>x</blockquote></mx-reply><b>y</b>"),
            "<b>y</b>"
        );
    }

    #[test]
    fn threads_and_replies_serialize_as_matrix_expects() {
        let root: OwnedEventId = "$root:x".try_into().unwrap();
        let reply: OwnedEventId = "$r:x".try_into().unwrap();
        let c = text_message(&MessageContent::html("hi", "<b>hi</b>"));
        let v = to_json(
            &place(
                c.clone(),
                &Placement {
                    reply_to: None,
                    thread_root: Some(root.clone()),
                },
            ),
            None,
        );
        assert_eq!(v["m.relates_to"]["rel_type"], "m.thread");
        assert_eq!(v["m.relates_to"]["event_id"], "$root:x");
        assert_eq!(v["m.relates_to"]["is_falling_back"], true);
        assert_eq!(v["formatted_body"], "<b>hi</b>");
        let v = to_json(
            &place(
                c.clone(),
                &Placement {
                    reply_to: Some(reply),
                    thread_root: None,
                },
            ),
            Some("b"),
        );
        assert_eq!(v["m.relates_to"]["m.in_reply_to"]["event_id"], "$r:x");
        assert_eq!(v[crate::bridge::DOUBLE_PUPPET_MARKER], "b");
        let v = to_json(&replacement(c, root), None);
        assert_eq!(v["m.relates_to"]["rel_type"], "m.replace");
        assert_eq!(v["m.new_content"]["body"], "hi");
    }
}

#[cfg(test)]
mod edit_fallback_tests {
    use super::*;

    #[test]
    fn an_edit_of_plain_text_has_no_empty_formatted_fallback() {
        let target: OwnedEventId = "$t:x".try_into().unwrap();
        let v = to_json(
            &replacement(text_message(&MessageContent::text("plain")), target),
            None,
        );
        assert_eq!(v["body"], "* plain");
        assert!(v.get("formatted_body").is_none(), "{v}");
        assert!(v["m.new_content"].get("formatted_body").is_none(), "{v}");
    }
}
