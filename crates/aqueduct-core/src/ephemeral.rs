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

/// Recognises typing and receipt EDUs; `None` for anything else (room events included).
pub(crate) fn parse(json: &str) -> Option<Ephemeral> {
    let v: Value = serde_json::from_str(json).ok()?;
    // Room events have an event id; EDUs never do.
    if v.get("event_id").is_some() {
        return None;
    }
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

    async fn bridge_typing(&self, room: &str, now: HashSet<String>) -> crate::Result<()> {
        let Some(portal) = self.store.portal_by_room(room).await? else {
            return Ok(());
        };
        let before = self
            .typing
            .lock()
            .expect("typing map")
            .insert(room.to_owned(), now.clone())
            .unwrap_or_default();
        let started = now.difference(&before).map(|u| (u, true));
        let stopped = before.difference(&now).map(|u| (u, false));
        for (user, typing) in started.chain(stopped) {
            if let Some(login) = self.login_of_user(&portal.key.connector, user)
                && let Some(handler) = login.api.as_typing()
            {
                handler.set_typing(&portal, typing).await?;
            }
        }
        Ok(())
    }

    async fn bridge_receipts(&self, room: &str, read: Vec<(String, String)>) -> crate::Result<()> {
        let Some(portal) = self.store.portal_by_room(room).await? else {
            return Ok(());
        };
        // A receipt may be for a message whose record is still being committed.
        self.records().caught_up().await;
        for (event_id, user) in read {
            let Some(login) = self.login_of_user(&portal.key.connector, &user) else {
                continue;
            };
            let Some(handler) = login.api.as_read_receipts() else {
                continue;
            };
            if let Some(message) = self.store.message_by_event(&event_id).await? {
                handler.mark_read(&portal, &message.remote_id).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_typing_and_receipts_only() {
        let t = parse(r#"{"type":"m.typing","room_id":"!r:x","content":{"user_ids":["@a:x"]}}"#);
        assert!(
            matches!(t, Some(Ephemeral::Typing { ref user_ids, .. }) if user_ids.contains("@a:x"))
        );
        let r = parse(
            r#"{"type":"m.receipt","room_id":"!r:x","content":{"$e:x":{"m.read":{"@a:x":{"ts":1}}}}}"#,
        );
        assert!(
            matches!(r, Some(Ephemeral::Receipts { ref read, .. }) if read == &vec![("$e:x".to_owned(), "@a:x".to_owned())])
        );
        assert!(
            parse(r#"{"type":"m.room.message","event_id":"$e","room_id":"!r:x","content":{}}"#)
                .is_none()
        );
        assert!(parse(r#"{"type":"m.presence","content":{}}"#).is_none());
    }
}
