//! What makes two pushed transactions "the same" for deduplication.
//!
//! The homeserver retries a transaction under its id until it gets a 200, so a repeated id
//! is normally a retry. But Synapse on SQLite numbers transactions from the highest one still
//! pending when it starts (`get_max_as_txn_id`), usually none: after a restart its ids begin
//! again at 1, and a bridge that keyed on the id alone would drop every new transaction as a
//! "retry" of an old one. A retry carries the same room events (Synapse keeps their ids with
//! the pending transaction; ephemeral and to-device data are not resent), so the key is the id
//! and a digest of the room events' ids.

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The key a transaction is recorded under: `<txn id>/<digest>`, the digest over its room
/// events' ids in order, or over its ephemeral events when it has no room event.
pub(crate) fn transaction_key(
    txn_id: &str,
    timeline: &[Box<RawValue>],
    ephemeral: &[Box<RawValue>],
) -> String {
    #[derive(Deserialize)]
    struct WithId<'a> {
        #[serde(borrow)]
        event_id: Option<&'a str>,
    }
    let mut hash = Sha256::new();
    if timeline.is_empty() {
        for raw in ephemeral {
            hash.update(raw.get().as_bytes());
            hash.update([0]);
        }
    } else {
        for raw in timeline {
            let id = serde_json::from_str::<WithId>(raw.get())
                .ok()
                .and_then(|e| e.event_id);
            // An event without an id (never from Synapse) is told by its content instead.
            hash.update(id.unwrap_or(raw.get()).as_bytes());
            hash.update([0]);
        }
    }
    format!("{txn_id}/{}", hex::encode(&hash.finalize()[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn a_retry_has_the_key_of_its_first_delivery() {
        let events = [raw(r#"{"event_id":"$a","type":"m.room.message"}"#)];
        let typing = [raw(r#"{"type":"m.typing","content":{}}"#)];
        // A retry carries the same room events, without the ephemeral data.
        assert_eq!(
            transaction_key("7", &events, &typing),
            transaction_key("7", &events, &[])
        );
    }

    #[test]
    fn an_id_reused_for_other_events_is_a_new_transaction() {
        let a = [raw(r#"{"event_id":"$a"}"#)];
        let b = [raw(r#"{"event_id":"$b"}"#)];
        assert_ne!(transaction_key("1", &a, &[]), transaction_key("1", &b, &[]));
        assert_ne!(transaction_key("1", &a, &[]), transaction_key("2", &a, &[]));
        let t1 = [raw(
            r#"{"type":"m.typing","content":{"user_ids":["@x:h"]}}"#,
        )];
        let t2 = [raw(r#"{"type":"m.typing","content":{"user_ids":[]}}"#)];
        assert_ne!(
            transaction_key("1", &[], &t1),
            transaction_key("1", &[], &t2)
        );
    }
}
