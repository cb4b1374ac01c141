//! Ephemeral Matrix data (typing, read receipts) for puppeted users: a logged-in user's typing
//! and read markers reach the remote network as theirs.

use crate::bridge::Inner;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// An ephemeral event the engine acts on.
pub(crate) enum Ephemeral {
    /// Everyone now typing in a room.
    Typing {
        room: String,
        user_ids: HashSet<String>,
    },
    /// (event id, user) pairs newly read in a room.
    Receipts {
        room: String,
        read: Vec<(String, String)>,
    },
}

/// What an event from an appservice transaction is, for routing.
pub(crate) enum Incoming {
    /// A typing or receipt EDU the engine acts on.
    Ephemeral(Ephemeral),
    /// Ephemeral data the engine has no use for (presence, an EDU type it does not know, or
    /// a typing/receipt EDU too malformed to read); named by its type, for a debug line.
    Ignored(String),
    /// Anything else: a room event for the room-event parser, which warns when it is
    /// malformed.
    RoomEvent,
}

/// Sorts an event: ephemeral data from room events. Room events carry an `event_id` and an
/// `origin_server_ts`; EDUs (MSC2409) carry neither, so an object with neither is ephemeral
/// and never reaches the room-event parser, whose warnings are then only for room events
/// that really are malformed. Every transaction with presence in it would otherwise warn.
pub(crate) fn classify(json: &str) -> Incoming {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return Incoming::RoomEvent;
    };
    if !v.is_object() || v.get("event_id").is_some() || v.get("origin_server_ts").is_some() {
        return Incoming::RoomEvent;
    }
    match parse_edu(&v) {
        Some(edu) => Incoming::Ephemeral(edu),
        None => Incoming::Ignored(v["type"].as_str().unwrap_or("(no type)").to_owned()),
    }
}

/// Reads a typing or receipt EDU; `None` for anything else.
fn parse_edu(v: &Value) -> Option<Ephemeral> {
    let room = v.get("room_id")?.as_str()?.to_owned();
    match v.get("type")?.as_str()? {
        "m.typing" => {
            let user_ids = v["content"]["user_ids"]
                .as_array()?
                .iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect();
            Some(Ephemeral::Typing { room, user_ids })
        }
        "m.receipt" => {
            let mut read = Vec::new();
            for (event_id, kinds) in v["content"].as_object()? {
                for kind in ["m.read", "m.read.private"] {
                    if let Some(users) = kinds.get(kind).and_then(|u| u.as_object()) {
                        read.extend(users.keys().map(|u| (event_id.clone(), u.clone())));
                    }
                }
            }
            Some(Ephemeral::Receipts { room, read })
        }
        _ => None,
    }
}

impl Inner {
    pub(crate) async fn handle_ephemeral(self: &Arc<Self>, edu: Ephemeral) {
        let result = match edu {
            Ephemeral::Typing { room, user_ids } => self.bridge_typing(&room, user_ids).await,
            Ephemeral::Receipts { room, read } => self.bridge_receipts(&room, read).await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "ephemeral event not bridged");
        }
    }

    /// Typing in `room` goes to each chat the room is bridged to (several in a hub room),
    /// through each typing user's own login on that chat's network.
    async fn bridge_typing(&self, room: &str, now: HashSet<String>) -> crate::Result<()> {
        let portals = self.portals_of_room(room).await?;
        if portals.is_empty() {
            return Ok(());
        }
        let before = self
            .typing
            .lock()
            .expect("typing map")
            .insert(room.to_owned(), now.clone())
            .unwrap_or_default();
        let started = now.difference(&before).map(|u| (u, true));
        let stopped = before.difference(&now).map(|u| (u, false));
        let changes: Vec<(&String, bool)> = started.chain(stopped).collect();
        // One chat's failure (its platform down) does not keep the others from hearing.
        let mut first_error = None;
        for portal in &portals {
            for (user, typing) in &changes {
                if let Some(login) = self.login_of_user(&portal.key.connector, user)
                    && let Some(handler) = login.api.as_typing()
                    && let Err(e) = handler.set_typing(portal, *typing).await
                {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), |e| Err(e.into()))
    }

    /// A read receipt in `room` marks each bridged chat read (several in a hub room) up to
    /// that chat's copy of the event, through the reader's own login on its network.
    async fn bridge_receipts(&self, room: &str, read: Vec<(String, String)>) -> crate::Result<()> {
        let portals = self.portals_of_room(room).await?;
        if portals.is_empty() {
            return Ok(());
        }
        // A receipt may be for a message whose record is still being committed.
        self.records().caught_up().await;
        let mut first_error = None;
        for portal in &portals {
            for (event_id, user) in &read {
                let Some(login) = self.login_of_user(&portal.key.connector, user) else {
                    continue;
                };
                let Some(handler) = login.api.as_read_receipts() else {
                    continue;
                };
                // Each chat has its own copy of a message in a hub room.
                let Some(message) = self
                    .store
                    .message_by_event_in(&portal.key, event_id)
                    .await?
                else {
                    continue;
                };
                if let Err(e) = handler.mark_read(portal, &message.remote_id).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), |e| Err(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_typing_and_receipts_only() {
        let t = classify(r#"{"type":"m.typing","room_id":"!r:x","content":{"user_ids":["@a:x"]}}"#);
        assert!(
            matches!(t, Incoming::Ephemeral(Ephemeral::Typing { ref user_ids, .. }) if user_ids.contains("@a:x"))
        );
        let r = classify(
            r#"{"type":"m.receipt","room_id":"!r:x","content":{"$e:x":{"m.read":{"@a:x":{"ts":1}}}}}"#,
        );
        assert!(
            matches!(r, Incoming::Ephemeral(Ephemeral::Receipts { ref read, .. }) if read == &vec![("$e:x".to_owned(), "@a:x".to_owned())])
        );
        assert!(matches!(
            classify(r#"{"type":"m.room.message","event_id":"$e","room_id":"!r:x","content":{}}"#),
            Incoming::RoomEvent
        ));
    }

    #[test]
    fn presence_and_unknown_edus_are_ignored_not_parsed_as_room_events() {
        for edu in [
            r#"{"type":"m.presence","sender":"@a:x","content":{"presence":"online"}}"#,
            r#"{"type":"org.example.unknown","room_id":"!r:x","content":{}}"#,
            r#"{"type":"m.typing","room_id":"!r:x","content":{"user_ids":"not a list"}}"#,
            r#"{"type":"m.receipt","content":{}}"#,
            r#"{"content":{}}"#,
        ] {
            assert!(matches!(classify(edu), Incoming::Ignored(_)), "{edu}");
        }
        // A room event without its id is malformed, and goes on to be warned about.
        for bad in [
            r#"{"type":"m.room.message","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{}}"#,
            r#"not json"#,
            r#"[1, 2]"#,
        ] {
            assert!(matches!(classify(bad), Incoming::RoomEvent), "{bad}");
        }
    }
}
