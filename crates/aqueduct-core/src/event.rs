//! The neutral event model: what crosses the bridge, in both directions, with no platform's
//! or Matrix's wire format in it.

use crate::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};

/// How a text message is meant to be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextKind {
    /// An ordinary message.
    #[default]
    Text,
    /// A message from a bot or an automated system.
    Notice,
    /// An action ("/me waves").
    Emote,
}

/// What kind of file an attachment is, so each side can show it properly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachmentKind {
    /// A still image.
    Image,
    /// A video.
    Video,
    /// A sound recording.
    Audio,
    /// Any other file.
    #[default]
    File,
}

/// A file carried by a message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attachment {
    /// How to present the file.
    pub kind: AttachmentKind,
    /// File name as the sender gave it.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// The file's bytes.
    pub data: Vec<u8>,
    /// Pixel width, when known (images, videos).
    pub width: Option<u32>,
    /// Pixel height, when known (images, videos).
    pub height: Option<u32>,
}

/// A user named in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MentionedUser {
    /// The user's Matrix id (a ghost, or a Matrix user).
    pub matrix_id: String,
    /// The user's remote id, when the bridge knows one.
    pub remote_id: Option<RemoteUserId>,
}

/// A bridged chat named in a message (a link to its room in Matrix, a channel mention on the
/// remote side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MentionedChat {
    /// The Matrix room of the chat's portal.
    pub matrix_room: String,
    /// The chat on the remote network.
    pub chat: RemoteChatId,
}

/// Who a message names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Named users.
    pub users: Vec<MentionedUser>,
    /// Whether the whole room is notified (`@room`, `@channel`, `@here`, `@all`).
    pub room: bool,
    /// Named chats that are bridged (Matrix -> remote: filled in by the engine from the
    /// message's room links).
    pub chats: Vec<MentionedChat>,
}

/// The content of a message, shared by both directions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MessageContent {
    /// How to read the text.
    pub kind: TextKind,
    /// Plain-text body. Empty when the message is only attachments.
    pub body: String,
    /// Matrix-flavoured HTML rendering of the body, when the text has formatting. Connectors
    /// convert between it and their markup with `aqueduct-format`.
    pub html: Option<String>,
    /// Who the message names.
    pub mentions: Mentions,
    /// Files carried by the message, in order.
    pub attachments: Vec<Attachment>,
    /// The network's own image emoji the text uses. From a connector: `html` shows each one as
    /// [`crate::custom_emoji::emoticon_html`]`(source, shortcode)`, which the engine points at
    /// the image uploaded to Matrix (or turns back into the shortcode when it cannot). To a
    /// connector: the engine has replaced each emoticon image it knows as one of the
    /// connector's emoji with its shortcode text, and lists it here.
    pub custom_emoji: Vec<CustomEmoji>,
}

/// A network's own image emoji (a workspace's custom emoji), named by its shortcode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomEmoji {
    /// The shortcode with its colons, as users type it (`:partyparrot:`).
    pub shortcode: String,
    /// Identifies the image on the network (its URL). The engine uploads each source to Matrix
    /// once and fetches it through [`crate::connector::CustomEmojiHandler`].
    pub source: String,
}

impl MessageContent {
    /// Plain text with no formatting.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// Text with an HTML rendering.
    pub fn html(body: impl Into<String>, html: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            html: Some(html.into()),
            ..Self::default()
        }
    }
}

/// Who sent a remote event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSender {
    /// The remote author.
    pub user: RemoteUserId,
    /// True when the author is the receiving login's own account (sent from their own remote
    /// client): the engine shows it as the Matrix user where double puppeting is set up.
    pub is_from_me: bool,
    /// The author's display name, when the event carries it (saves a user-info call).
    pub display_name: Option<String>,
}

/// One event from the remote network, as a connector hands it to the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteEvent {
    /// The chat the event happened in.
    pub chat: RemoteChatId,
    /// For chats that exist per account (DMs): the login that received the event.
    pub receiver: Option<LoginId>,
    /// Who caused the event.
    pub sender: RemoteSender,
    /// When it happened, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// What happened.
    pub kind: RemoteEventKind,
}

/// What happened on the remote network.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteEventKind {
    /// A new message.
    Message {
        /// The message's remote id.
        id: RemoteMessageId,
        /// Its content.
        content: MessageContent,
        /// The message it answers, if it is a reply.
        reply_to: Option<RemoteMessageId>,
        /// The root of the thread it belongs to, if any.
        thread_root: Option<RemoteMessageId>,
    },
    /// A message's text was changed.
    Edit {
        /// The edited message.
        target: RemoteMessageId,
        /// The new content (text only; attachments are not re-sent).
        content: MessageContent,
    },
    /// A message was deleted.
    Delete {
        /// The deleted message.
        target: RemoteMessageId,
    },
    /// A reaction was added.
    ReactionAdd {
        /// The message reacted to.
        target: RemoteMessageId,
        /// The reaction, as a Unicode emoji where the connector can map it, else as the
        /// network's own key (`:name:` for a custom emoji).
        key: String,
        /// Set when the reaction is a custom emoji: Matrix then gets its image as the key.
        custom: Option<CustomEmoji>,
    },
    /// A reaction was taken back.
    ReactionRemove {
        /// The message reacted to.
        target: RemoteMessageId,
        /// The reaction, as given when it was added.
        key: String,
    },
    /// The sender started or stopped typing.
    Typing {
        /// Whether they are typing now.
        typing: bool,
    },
    /// The sender read the chat up to a message.
    ReadReceipt {
        /// The last message read.
        up_to: RemoteMessageId,
    },
    /// The chat's name or topic changed.
    ChatInfoChange {
        /// The new name, if it changed.
        name: Option<String>,
        /// The new topic, if it changed.
        topic: Option<String>,
    },
    /// Someone joined or left the chat.
    Membership {
        /// Whose membership changed.
        user: RemoteUserId,
        /// What changed.
        change: MembershipChange,
    },
}

impl RemoteEventKind {
    /// Whether bridging it looks up the Matrix events of earlier messages (a reply, a thread,
    /// an edit, a reaction, a receipt); a plain new message, typing, a name or membership
    /// change do not.
    pub(crate) fn reads_records(&self) -> bool {
        match self {
            RemoteEventKind::Message {
                reply_to,
                thread_root,
                ..
            } => reply_to.is_some() || thread_root.is_some(),
            RemoteEventKind::Typing { .. }
            | RemoteEventKind::ChatInfoChange { .. }
            | RemoteEventKind::Membership { .. } => false,
            RemoteEventKind::Edit { .. }
            | RemoteEventKind::Delete { .. }
            | RemoteEventKind::ReactionAdd { .. }
            | RemoteEventKind::ReactionRemove { .. }
            | RemoteEventKind::ReadReceipt { .. } => true,
        }
    }
}

/// A change of membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// Joined (or was added).
    Join,
    /// Left (or was removed).
    Leave,
}

/// A Matrix user on whose behalf a relay login sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayedSender {
    /// The Matrix user id.
    pub mxid: String,
    /// Their display name in the room, or the localpart.
    pub display_name: String,
    /// Their avatar as an `mxc://` URI, if they have one.
    pub avatar_mxc: Option<String>,
    /// Their avatar as a public `http(s)` URL that the bridge serves, when the bridge has a
    /// public URL configured and they have an avatar (for networks that fetch it themselves).
    pub avatar_url: Option<String>,
}

/// A Matrix message bound for the remote network.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixMessage {
    /// The Matrix event id; connectors may use it as an idempotency key.
    pub event_id: String,
    /// The Matrix sender.
    pub sender: String,
    /// Set when a relay login sends for a Matrix user who has none. The engine has already
    /// prefixed the text with the sender's name unless the connector claims
    /// [`crate::connector::Capabilities::relay_identity`].
    pub relayed_for: Option<RelayedSender>,
    /// The content.
    pub content: MessageContent,
    /// The remote message this answers, when it is a reply to a bridged message.
    pub reply_to: Option<RemoteMessageId>,
    /// The remote root of the thread it belongs to, when in a bridged thread.
    pub thread_root: Option<RemoteMessageId>,
    /// Set when this event may already have reached the network: it is replayed from the
    /// inbox after a restart (an event received before this run started, or one whose
    /// handling was already attempted: the bridge may have stopped between the network's
    /// answer and storing the mapping), or this is a retry after a passing failure (a
    /// timeout or dropped connection whose request may have arrived; see `send_retry.rs`).
    /// A connector whose network derives the message id from [`MatrixMessage::event_id`]
    /// can ignore it; one whose network has no idempotency key must look for an earlier
    /// delivery of `event_id` first and return it instead of posting again (see
    /// `docs/connectors.md`). Unset on a first attempt, so the look-up costs nothing then.
    pub maybe_sent_before: bool,
}

/// What the remote network made of a Matrix message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// The remote id of the new message.
    pub id: RemoteMessageId,
    /// The remote timestamp, in milliseconds since the epoch, when the network returns one.
    pub timestamp_ms: Option<i64>,
}
