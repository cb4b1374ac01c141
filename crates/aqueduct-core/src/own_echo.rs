//! The homeserver sends every event the bridge sends back to it in an appservice transaction.
//! The engine does nothing with these echoes (the echo check in `route_matrix_event`, and
//! `decrypt_envelope` for encrypted ones), so they are dropped before the durable inbox write:
//! each one would otherwise cost a synced commit to store, a slot in its portal's ordered
//! queue (between that portal's next sends), a parse, and a synced commit to acknowledge.
//! Encryption reads the whole transaction before this (`observe_transaction`), so it still
//! sees the bridge's own member and encryption events.
//!
//! Hub rooms are the exception: there an event of a ghost (a message from one chat) must
//! still reach the room's other chats, so it is kept and goes through the inbox like any
//! user's event, which makes its fan-out as durable as a Matrix user's message. Only the
//! bot's own events are dropped there.

use crate::ghost_ids::GhostNamer;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The two fields that decide, read without building the rest of the event.
#[derive(Deserialize)]
struct Head {
    /// Room events have one; EDUs (typing, receipts), which are never dropped, do not.
    #[serde(default)]
    event_id: Option<IgnoredAny>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    room_id: Option<String>,
}

/// Whether `json` is a room event sent by the bridge itself that the engine has no use for:
/// by `bot`, or by a ghost `namer` recognises outside a room `is_hub` names. Anything
/// unreadable is kept, so the engine reports it as before.
pub(crate) fn is_own_echo(
    json: &str,
    bot: &str,
    namer: &GhostNamer,
    is_hub: &dyn Fn(&str) -> bool,
) -> bool {
    let Ok(head) = serde_json::from_str::<Head>(json) else {
        return false;
    };
    match (head.event_id, head.sender) {
        (Some(_), Some(sender)) if sender == bot => true,
        (Some(_), Some(sender)) if namer.is_ghost(&sender) => {
            !head.room_id.as_deref().is_some_and(is_hub)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_own_echo;
    use crate::ghost_ids::GhostNamer;

    fn echo(json: &str) -> bool {
        let namer = GhostNamer::new("aqueduct_", "hs");
        is_own_echo(json, "@aqueduct:hs", &namer, &|room| room == "!hub:hs")
    }

    #[test]
    fn keeps_ghost_events_in_hub_rooms_but_not_the_bots() {
        assert!(!echo(
            r#"{"event_id":"$1","room_id":"!hub:hs","type":"m.room.message","sender":"@aqueduct_testnet_bob:hs","content":{"body":"hi"}}"#
        ));
        assert!(echo(
            r#"{"event_id":"$2","room_id":"!hub:hs","type":"m.room.message","sender":"@aqueduct:hs","content":{"body":"notice"}}"#
        ));
    }

    #[test]
    fn drops_room_events_of_the_bot_and_its_ghosts() {
        assert!(echo(
            r#"{"event_id":"$1","room_id":"!r:hs","type":"m.room.message","sender":"@aqueduct_testnet_bob:hs","content":{"body":"hi"}}"#
        ));
        assert!(echo(
            r#"{"type":"m.room.encryption","sender":"@aqueduct:hs","event_id":"$2","room_id":"!r:hs","state_key":"","content":{}}"#
        ));
    }

    #[test]
    fn keeps_users_edus_other_servers_and_unreadable_events() {
        // A real user, even one whose content carries the double-puppet marker (that check
        // needs the content and stays in the engine).
        assert!(!echo(
            r#"{"event_id":"$3","room_id":"!r:hs","type":"m.room.message","sender":"@alice:hs","content":{}}"#
        ));
        // Ghost-looking ids of another homeserver are not ours.
        assert!(!echo(
            r#"{"event_id":"$4","room_id":"!r:hs","type":"m.room.message","sender":"@aqueduct_testnet_bob:elsewhere","content":{}}"#
        ));
        // Typing and receipts have no event id; the engine bridges them whoever they name.
        assert!(!echo(
            r#"{"type":"m.typing","room_id":"!r:hs","content":{"user_ids":["@aqueduct_testnet_bob:hs"]}}"#
        ));
        assert!(!echo("not json"));
        assert!(!echo(r#"{"event_id":"$5","content":{}}"#));
    }
}
