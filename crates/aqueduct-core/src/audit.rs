//! The record: one hash-chained entry for every message, edit, delete and reaction that
//! crosses the bridge, in either direction (`docs/record.md`).
//!
//! The engine describes what crossed ([`AuditDraft`]) and hands it to the store together with
//! the message-map change it makes ([`Crossing`]); the store appends the entry in the same
//! transaction, giving it its sequence number and chaining it to the entry before
//! ([`entry_hash`]). Verification ([`ChainCheck`]) needs nothing but the entries.

use crate::ids::{PortalKey, RemoteMessageId};
use crate::records::{MessageRecord, ReactionRecord};
use sha2::{Digest, Sha256};

/// The hash an entry with sequence number 1 chains to: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Which way something crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditDirection {
    /// From the platform into Matrix.
    ToMatrix,
    /// From Matrix out to the platform.
    ToRemote,
}

impl AuditDirection {
    /// The stored and exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToMatrix => "to_matrix",
            Self::ToRemote => "to_remote",
        }
    }

    /// The direction a stored name stands for.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "to_matrix" => Some(Self::ToMatrix),
            "to_remote" => Some(Self::ToRemote),
            _ => None,
        }
    }
}

/// What crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A new message (one entry per Matrix event: a message with files has several).
    Message,
    /// A change to a message's text.
    Edit,
    /// A message taken back.
    Delete,
    /// A reaction added.
    Reaction,
    /// A reaction taken back.
    Unreaction,
}

impl AuditAction {
    /// The stored and exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Reaction => "reaction",
            Self::Unreaction => "unreaction",
        }
    }

    /// The action a stored name stands for.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Message,
            Self::Edit,
            Self::Delete,
            Self::Reaction,
            Self::Unreaction,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// What the engine knows of one crossing; the store adds the sequence number and the hashes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditDraft {
    /// When it crossed (ms since the Unix epoch, the bridge's clock).
    pub at_ms: i64,
    /// Which way.
    pub direction: AuditDirection,
    /// What.
    pub action: AuditAction,
    /// The remote chat (platform, chat, receiving login).
    pub portal: PortalKey,
    /// The Matrix room.
    pub room_id: String,
    /// The Matrix event that crossed: the one the bridge sent (to Matrix) or received (to the
    /// platform). With `direction` and `portal` it names the entry: a second draft with the
    /// same three (a replay after a crash) appends nothing.
    pub matrix_event_id: String,
    /// The platform's message: the new one, or the one edited, deleted or reacted to.
    pub remote_message_id: Option<RemoteMessageId>,
    /// The Matrix side's sender (a ghost for messages from the platform).
    pub matrix_sender: String,
    /// The platform side's sender (the login or relay that posted, for messages from Matrix).
    pub remote_sender: String,
    /// SHA-256 (hex) of the Matrix event's content in Matrix canonical JSON; `None` for deletes.
    pub content_digest: Option<String>,
    /// That content in canonical JSON, for a store that keeps content (sealed with its
    /// content key; see `record.keep_content`); dropped otherwise. Not part of the entry's
    /// hash (`content_digest` is, and the content matches it). `None` when read back.
    pub content: Option<String>,
}

/// An entry as stored: a draft with its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    /// What crossed.
    pub draft: AuditDraft,
    /// The previous entry's `entry_hash` ([`GENESIS_HASH`] for entry 1).
    pub prev_hash: String,
    /// [`entry_hash`] of this entry.
    pub entry_hash: String,
}

/// A signature over the record up to one entry, by a key the operator holds: whoever has the
/// public key can tell that entries up to `seq` are the ones there were at `sealed_at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSeal {
    /// The last entry sealed.
    pub seq: i64,
    /// That entry's hash.
    pub entry_hash: String,
    /// When the seal was made (ms since the Unix epoch).
    pub sealed_at_ms: i64,
    /// The signing key's public half (Ed25519, unpadded base64).
    pub public_key: String,
    /// Ed25519 signature (unpadded base64) over [`seal_message`].
    pub signature: String,
}

/// The bytes a seal signs: a domain tag, the entry's number, its hash and the sealing time.
pub fn seal_message(seq: i64, entry_hash: &str, sealed_at_ms: i64) -> Vec<u8> {
    format!("aqueduct-record-seal-v1\n{seq}\n{entry_hash}\n{sealed_at_ms}").into_bytes()
}

/// The message-map change a crossing makes, written with its entry.
#[derive(Clone, Debug, PartialEq)]
pub enum MappingChange {
    /// No change (an edit).
    None,
    /// A message part's mapping (kept if one exists already, as `Store::insert_message`).
    InsertMessage(MessageRecord),
    /// A reaction's mapping.
    InsertReaction(ReactionRecord),
    /// Every part of a remote message forgotten.
    DeleteMessage {
        /// The portal.
        portal: PortalKey,
        /// The message.
        remote_id: RemoteMessageId,
    },
    /// A reaction forgotten in one portal.
    DeleteReaction {
        /// The portal.
        portal: PortalKey,
        /// The reaction's Matrix event.
        event_id: String,
    },
}

/// Something that crossed the bridge: its mapping change and its record entry, kept together.
#[derive(Clone, Debug, PartialEq)]
pub struct Crossing {
    /// The message map's change.
    pub mapping: MappingChange,
    /// The record's entry.
    pub audit: AuditDraft,
}

/// SHA-256 (hex) of a Matrix event content in Matrix canonical JSON (sorted keys, no
/// whitespace), so an auditor can recompute it from the event the homeserver holds.
pub fn content_digest(content: &serde_json::Value) -> String {
    digest_of(&canonical_content(content))
}

/// A Matrix event content in Matrix canonical JSON (sorted keys, no whitespace).
pub fn canonical_content(content: &serde_json::Value) -> String {
    match ruma::CanonicalJsonValue::try_from(content.clone()) {
        Ok(canonical) => canonical.to_string(),
        // Floats or out-of-range integers have no canonical form: plain JSON instead, which
        // is still stable for one bridge version.
        Err(_) => content.to_string(),
    }
}

/// SHA-256 (hex) of content already in canonical JSON: [`content_digest`] of its value.
pub fn digest_of(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The hash that chains entry `seq` to `prev_hash`: SHA-256 over a domain tag and every field,
/// each preceded by its length as 8 big-endian bytes (absent fields as the empty string), so
/// no two different entries encode alike. `docs/record.md` spells out the order.
pub fn entry_hash(seq: i64, prev_hash: &str, draft: &AuditDraft) -> String {
    let mut hash = Sha256::new();
    let seq_text = seq.to_string();
    let at_text = draft.at_ms.to_string();
    let fields: [&str; 14] = [
        "aqueduct-record-v1",
        prev_hash,
        &seq_text,
        &at_text,
        draft.direction.as_str(),
        draft.action.as_str(),
        draft.portal.connector.as_str(),
        draft.portal.chat.as_str(),
        draft.portal.receiver.as_ref().map_or("", |l| l.as_str()),
        &draft.room_id,
        &draft.matrix_event_id,
        draft.remote_message_id.as_ref().map_or("", |r| r.as_str()),
        &draft.matrix_sender,
        &draft.remote_sender,
    ];
    for field in fields
        .iter()
        .copied()
        .chain([draft.content_digest.as_deref().unwrap_or("")])
    {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The first thing wrong with a chain, with the sequence number where it shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// An entry's fields no longer give its stored hash: it was altered.
    #[error("entry {seq} was altered: its content does not give its recorded hash")]
    Altered {
        /// The entry.
        seq: i64,
    },
    /// An entry does not chain to the one before it: one was inserted, replaced or reordered.
    #[error(
        "entry {seq} does not follow entry {prev_seq}: an entry was inserted, replaced or moved"
    )]
    Unlinked {
        /// The entry.
        seq: i64,
        /// The entry before it.
        prev_seq: i64,
    },
    /// Sequence numbers jump: entries are missing.
    #[error("entries {from} to {to} are missing")]
    Missing {
        /// First missing.
        from: i64,
        /// Last missing.
        to: i64,
    },
    /// The first entry is neither entry 1 nor after a sealed checkpoint.
    #[error("the record starts at entry {seq}, and no trusted seal vouches for entry {}", seq - 1)]
    NoStart {
        /// The first entry present.
        seq: i64,
    },
}

/// Checks entries one at a time, in the order given.
#[derive(Debug)]
pub struct ChainCheck {
    last: Option<(i64, String)>,
    /// Whether a gap is a break (a full record) or expected (one room's export).
    gaps_allowed: bool,
    checked: u64,
}

impl ChainCheck {
    /// A check of a whole record (or a time range of it): every entry must follow the one
    /// before. `start` is where the first entry must chain to: (0, [`GENESIS_HASH`]) for a
    /// record kept from its beginning, or a sealed checkpoint's (seq, hash) after pruning.
    pub fn contiguous(start: Option<(i64, String)>) -> Self {
        Self {
            last: start,
            gaps_allowed: false,
            checked: 0,
        }
    }

    /// A check of a selection (one room's entries): each entry's own hash is checked, and
    /// links only between entries whose numbers follow each other.
    pub fn selection() -> Self {
        Self {
            last: None,
            gaps_allowed: true,
            checked: 0,
        }
    }

    /// Entries checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last entry checked: (seq, hash).
    pub fn last(&self) -> Option<&(i64, String)> {
        self.last.as_ref()
    }

    /// Checks the next entry.
    pub fn next(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let seq = entry.seq;
        if entry_hash(seq, &entry.prev_hash, &entry.draft) != entry.entry_hash {
            return Err(ChainBreak::Altered { seq });
        }
        match &self.last {
            Some((prev_seq, prev_hash)) => {
                if seq == prev_seq + 1 {
                    if &entry.prev_hash != prev_hash {
                        return Err(ChainBreak::Unlinked {
                            seq,
                            prev_seq: *prev_seq,
                        });
                    }
                } else if seq > prev_seq + 1 {
                    if !self.gaps_allowed {
                        return Err(ChainBreak::Missing {
                            from: prev_seq + 1,
                            to: seq - 1,
                        });
                    }
                } else {
                    return Err(ChainBreak::Unlinked {
                        seq,
                        prev_seq: *prev_seq,
                    });
                }
            }
            None if !self.gaps_allowed && seq != 1 => return Err(ChainBreak::NoStart { seq }),
            None if !self.gaps_allowed && entry.prev_hash != GENESIS_HASH => {
                return Err(ChainBreak::Unlinked { seq, prev_seq: 0 });
            }
            None => {}
        }
        self.last = Some((seq, entry.entry_hash.clone()));
        self.checked += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectorId, RemoteChatId};

    fn draft(n: i64) -> AuditDraft {
        AuditDraft {
            at_ms: 1_700_000_000_000 + n,
            direction: AuditDirection::ToMatrix,
            action: AuditAction::Message,
            portal: PortalKey::shared(ConnectorId::new("slack"), RemoteChatId::new("C1")),
            room_id: "!r:x".into(),
            matrix_event_id: format!("$e{n}"),
            remote_message_id: Some(RemoteMessageId::new(format!("m{n}"))),
            matrix_sender: "@g:x".into(),
            remote_sender: "U1".into(),
            content_digest: Some(content_digest(&serde_json::json!({"body": n}))),
            content: None,
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let d = draft(seq);
                let h = entry_hash(seq, &prev, &d);
                let e = AuditEntry {
                    seq,
                    draft: d,
                    prev_hash: prev.clone(),
                    entry_hash: h.clone(),
                };
                prev = h;
                e
            })
            .collect()
    }

    fn check(entries: &[AuditEntry]) -> Result<u64, ChainBreak> {
        let mut c = ChainCheck::contiguous(None);
        for e in entries {
            c.next(e)?;
        }
        Ok(c.checked())
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(check(&chain(5)), Ok(5));
    }

    #[test]
    fn an_altered_field_is_caught() {
        let mut c = chain(5);
        c[2].draft.remote_sender = "U2".into();
        assert_eq!(check(&c), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn a_missing_entry_is_caught() {
        let mut c = chain(5);
        c.remove(2);
        assert_eq!(check(&c), Err(ChainBreak::Missing { from: 3, to: 3 }));
    }

    #[test]
    fn swapped_entries_are_caught_even_with_renumbering() {
        let mut c = chain(5);
        c.swap(1, 2);
        assert!(check(&c).is_err());
        // Renumbered to look contiguous: the hashes cover the numbers, so it is altered.
        c[1].seq = 2;
        c[2].seq = 3;
        assert_eq!(check(&c), Err(ChainBreak::Altered { seq: 2 }));
    }

    #[test]
    fn a_dropped_head_needs_a_checkpoint() {
        let c = chain(5);
        assert_eq!(check(&c[2..]), Err(ChainBreak::NoStart { seq: 3 }));
        let mut from_checkpoint = ChainCheck::contiguous(Some((2, c[1].entry_hash.clone())));
        for e in &c[2..] {
            from_checkpoint.next(e).unwrap();
        }
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = draft(1);
        let mut b = a.clone();
        b.room_id = "!r:xU".into();
        b.remote_sender = "1".into();
        assert_ne!(
            entry_hash(1, GENESIS_HASH, &a),
            entry_hash(1, GENESIS_HASH, &b)
        );
    }

    #[test]
    fn the_content_digest_ignores_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":"x"}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":"x","a":1}"#).unwrap();
        assert_eq!(content_digest(&a), content_digest(&b));
        assert_ne!(
            content_digest(&a),
            content_digest(&serde_json::json!({"a": 2}))
        );
    }
}
