//! A Matrix event in a hub room (`hub_rooms.rs`) out to each of the room's chats: a Matrix
//! user's event to every one of them, and an event the bridge itself posted for one chat (a
//! ghost's, or a double puppet's) to every other one. Each chat is its own pair: one that
//! fails gets its notice and the others go on, and one that has the event already (its
//! message or reaction mapping holds it: a replay after a restart, or the chat it came
//! from) is skipped, so a replayed event reaches each chat once.

use crate::bridge::{Inner, SOURCE_NETWORK_KEY};
use crate::ids::ConnectorId;
use crate::matrix_content::Envelope;
use crate::permissions::Level;
use crate::{Error, Result};
use std::sync::Arc;

impl Inner {
    /// Bridges `env` to every chat of its hub room but those of network `origin`.
    pub(super) async fn bridge_to_hub(
        self: &Arc<Self>,
        env: &Envelope,
        level: Level,
        origin: Option<&ConnectorId>,
        maybe_sent_before: bool,
    ) -> Result<()> {
        let mut store_failure = None;
        for portal in self.store.portals_by_room(&env.room_id).await? {
            if origin == Some(&portal.key.connector) || self.has_event(&portal, env).await? {
                continue;
            }
            let connector = portal.key.connector.clone();
            match self
                .bridge_to_remote(env, level, portal, maybe_sent_before, true)
                .await
            {
                Ok(()) => {}
                // The bridge's own database: the whole event is tried again, and the chats
                // that have it by then are skipped.
                Err(Error::Store(e)) => store_failure = Some(e),
                // Told in the room already (`bridge_to_remote`); the other chats go on.
                Err(e) => {
                    tracing::warn!(error = %e, network = %connector, "Matrix event not bridged to one chat of a hub room")
                }
            }
        }
        store_failure.map_or(Ok(()), |e| Err(Error::Store(e)))
    }

    /// Whether the event is bridged to `portal` already (as a message or a reaction).
    async fn has_event(&self, portal: &crate::records::Portal, env: &Envelope) -> Result<bool> {
        Ok(self
            .store
            .message_by_event_in(&portal.key, &env.event_id)
            .await?
            .is_some()
            || self
                .store
                .reaction_by_event_in(&portal.key, &env.event_id)
                .await?
                .is_some())
    }

    /// An event the bridge posted in a hub room for one chat: a message, edit, reaction or
    /// deletion, by a ghost or a double puppet. It goes on to the room's other chats: as
    /// the Matrix user's own account where a double-puppeted user has a login there, else
    /// through the chat's relay with the author's name (and avatar where the platform
    /// allows). Anything else the bridge does in the room (ghosts joining, profiles) stays.
    pub(super) async fn forward_hub_echo(
        self: &Arc<Self>,
        env: &Envelope,
        maybe_sent_before: bool,
    ) -> Result<()> {
        if !matches!(
            env.kind.as_str(),
            "m.room.message" | "m.reaction" | "m.room.redaction"
        ) {
            return Ok(());
        }
        let (origin, level) = match self.namer.parse(&env.sender) {
            // A ghost has no login of its own: its messages are relayed.
            Some((connector, _)) => (Some(connector), Level::Relay),
            None => (
                env.content
                    .get(SOURCE_NETWORK_KEY)
                    .and_then(|n| n.as_str())
                    .map(ConnectorId::new),
                self.config.permissions.level(&env.sender),
            ),
        };
        if level < Level::Relay {
            return Ok(());
        }
        self.bridge_to_hub(env, level, origin.as_ref(), maybe_sent_before)
            .await
    }
}
