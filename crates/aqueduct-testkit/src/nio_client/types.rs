//! Arguments and results of the nio test client's commands.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of a login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoggedIn {
    pub user_id: String,
    pub device_id: String,
}

/// A room to create.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewRoom {
    /// Whether the room starts with `m.room.encryption` (Megolm) in its initial state.
    pub encrypted: bool,
    /// Users invited at creation.
    pub invite: Vec<String>,
    /// Whether the invites are marked as a direct chat.
    pub is_direct: bool,
    pub name: Option<String>,
}

/// A message this client sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sent {
    pub event_id: String,
    /// Whether it went out as `m.room.encrypted`.
    pub encrypted: bool,
    /// The outbound Megolm session it was encrypted with, in an encrypted room.
    #[serde(default)]
    pub session_id: Option<String>,
    /// For images: hex SHA-256 of the file's plaintext bytes.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Which event [`wait_message`](super::NioClient::wait_message) waits for. Every set field
/// must match. Without `sender`, the client's own events are skipped.
#[derive(Debug, Clone, Serialize)]
pub struct MessageFilter {
    /// The (decrypted) event type; `m.room.message` unless changed.
    pub event_type: String,
    pub sender: Option<String>,
    pub body_contains: Option<String>,
    pub msgtype: Option<String>,
}

impl Default for MessageFilter {
    fn default() -> Self {
        Self {
            event_type: "m.room.message".to_owned(),
            sender: None,
            body_contains: None,
            msgtype: None,
        }
    }
}

impl MessageFilter {
    /// Any `m.room.message` from someone else.
    pub fn any() -> Self {
        Self::default()
    }

    /// Events of another (decrypted) type, e.g. `m.reaction` or `m.sticker`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = event_type.into();
        self
    }

    /// Only messages from `user_id`.
    pub fn sender(mut self, user_id: impl Into<String>) -> Self {
        self.sender = Some(user_id.into());
        self
    }

    /// Only messages whose body contains `text`.
    pub fn body_contains(mut self, text: impl Into<String>) -> Self {
        self.body_contains = Some(text.into());
        self
    }

    /// Only messages of this msgtype (`m.text`, `m.image`, ...).
    pub fn msgtype(mut self, msgtype: impl Into<String>) -> Self {
        self.msgtype = Some(msgtype.into());
        self
    }
}

/// A message the client received (decrypted where it was encrypted).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReceivedMessage {
    pub event_id: String,
    pub sender: String,
    /// The (decrypted) event type.
    #[serde(rename = "type")]
    pub event_type: String,
    pub msgtype: Option<String>,
    pub body: Option<String>,
    /// True when the event arrived as `m.room.encrypted` and was decrypted.
    pub encrypted: bool,
    /// The Megolm session that decrypted it.
    pub session_id: Option<String>,
    /// For media (`m.image`, `m.file`, `m.video`, `m.audio`): hex SHA-256 of the downloaded
    /// (and, for an encrypted `file`, decrypted) bytes.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The (decrypted) event content, as sent.
    pub content: Value,
}

/// An event whose encryption the client could not undo.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Undecryptable {
    pub session_id: Option<String>,
    pub reason: Option<String>,
}

/// One timeline event the client has seen, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SeenEvent {
    pub event_id: String,
    pub sender: String,
    /// The decrypted type (`m.room.message`, ...), or `m.room.encrypted` when undecryptable.
    #[serde(rename = "type")]
    pub event_type: String,
    pub msgtype: Option<String>,
    pub body: Option<String>,
    /// True when the event arrived as `m.room.encrypted` and was decrypted.
    pub encrypted: bool,
    pub session_id: Option<String>,
    /// Set while the event stays undecryptable.
    #[serde(default)]
    pub undecryptable: Option<Undecryptable>,
}
