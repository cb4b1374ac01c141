//! The record as JSON Lines: a header line, one line per entry, then one per seal. The same
//! text is what `audit verify --input` reads back.

use super::times::format_ms;
use super::verify::Scope;
use aqueduct_core::audit::{AuditAction, AuditDirection, AuditDraft, AuditEntry, AuditSeal};
use aqueduct_core::ids::{ConnectorId, LoginId, PortalKey, RemoteChatId, RemoteMessageId};
use serde::{Deserialize, Serialize};

/// The format's name, in the header line.
pub const FORMAT: &str = "aqueduct-record-v1";

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// The first line: what the export holds.
    Header {
        /// [`FORMAT`].
        format: String,
        /// What the export covers (see [`Scope`]).
        scope: String,
        /// When it was made.
        exported_at: String,
        /// The time range asked for, if any (ms since the Unix epoch).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_ms: Option<i64>,
        /// End of the range (exclusive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_ms: Option<i64>,
        /// The one room asked for, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room_id: Option<String>,
    },
    /// An entry (boxed: it is most of an export, and much larger than the other lines).
    Entry(Box<EntryLine>),
    /// A seal.
    Seal {
        /// The sealed entry.
        seq: i64,
        /// Its hash.
        entry_hash: String,
        /// When it was sealed.
        sealed_at_ms: i64,
        /// The signing key's public half.
        public_key: String,
        /// The signature.
        signature: String,
    },
}

/// An entry's line: every hashed field, plus a readable time.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntryLine {
    seq: i64,
    /// `at_ms` in UTC, for people; not hashed.
    #[serde(default)]
    at: String,
    at_ms: i64,
    direction: String,
    action: String,
    platform: String,
    chat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiver: Option<String>,
    room_id: String,
    matrix_event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remote_message_id: Option<String>,
    matrix_sender: String,
    remote_sender: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_digest: Option<String>,
    prev_hash: String,
    entry_hash: String,
    /// The content, with `--with-content` where it was kept. Not hashed: its digest is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<serde_json::Value>,
}

impl From<&AuditEntry> for EntryLine {
    fn from(e: &AuditEntry) -> Self {
        let d = &e.draft;
        Self {
            seq: e.seq,
            at: format_ms(d.at_ms),
            at_ms: d.at_ms,
            direction: d.direction.as_str().into(),
            action: d.action.as_str().into(),
            platform: d.portal.connector.to_string(),
            chat: d.portal.chat.to_string(),
            receiver: d.portal.receiver.as_ref().map(ToString::to_string),
            room_id: d.room_id.clone(),
            matrix_event_id: d.matrix_event_id.clone(),
            remote_message_id: d.remote_message_id.as_ref().map(ToString::to_string),
            matrix_sender: d.matrix_sender.clone(),
            remote_sender: d.remote_sender.clone(),
            content_digest: d.content_digest.clone(),
            prev_hash: e.prev_hash.clone(),
            entry_hash: e.entry_hash.clone(),
            content: None,
        }
    }
}

impl EntryLine {
    /// The entry this line stands for; `None` if its direction or action is unknown.
    pub fn entry(&self) -> Option<AuditEntry> {
        Some(AuditEntry {
            seq: self.seq,
            draft: AuditDraft {
                at_ms: self.at_ms,
                direction: AuditDirection::parse(&self.direction)?,
                action: AuditAction::parse(&self.action)?,
                portal: PortalKey {
                    connector: ConnectorId::new(self.platform.clone()),
                    chat: RemoteChatId::new(self.chat.clone()),
                    receiver: self.receiver.clone().map(LoginId::new),
                },
                room_id: self.room_id.clone(),
                matrix_event_id: self.matrix_event_id.clone(),
                remote_message_id: self.remote_message_id.clone().map(RemoteMessageId::new),
                matrix_sender: self.matrix_sender.clone(),
                remote_sender: self.remote_sender.clone(),
                content_digest: self.content_digest.clone(),
                content: None,
            },
            prev_hash: self.prev_hash.clone(),
            entry_hash: self.entry_hash.clone(),
        })
    }
}

impl From<&AuditSeal> for Line {
    fn from(s: &AuditSeal) -> Self {
        Line::Seal {
            seq: s.seq,
            entry_hash: s.entry_hash.clone(),
            sealed_at_ms: s.sealed_at_ms,
            public_key: s.public_key.clone(),
            signature: s.signature.clone(),
        }
    }
}

impl Line {
    /// The seal this line stands for, if it is one.
    pub fn seal(&self) -> Option<AuditSeal> {
        match self {
            Line::Seal {
                seq,
                entry_hash,
                sealed_at_ms,
                public_key,
                signature,
            } => Some(AuditSeal {
                seq: *seq,
                entry_hash: entry_hash.clone(),
                sealed_at_ms: *sealed_at_ms,
                public_key: public_key.clone(),
                signature: signature.clone(),
            }),
            _ => None,
        }
    }
}

/// The scope's name in a header.
pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Whole => "whole",
        Scope::Range => "range",
        Scope::Selection => "selection",
    }
}

/// The scope a header names.
pub fn parse_scope(name: &str) -> Option<Scope> {
    [Scope::Whole, Scope::Range, Scope::Selection]
        .into_iter()
        .find(|s| scope_name(*s) == name)
}
