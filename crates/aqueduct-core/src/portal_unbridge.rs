//! `unbridge`: ending a portal. The room stays as it is for its Matrix users (nothing is
//! deleted or kicked); the bridge's ghosts and bot leave it, and the bridge forgets it, so a
//! later message in the chat opens a fresh room as for any new chat and this one is never
//! reused.

use crate::Result;
use crate::bridge::{Inner, LoadedLogin};
use crate::ids::PortalKey;
use crate::records::Portal;

impl Inner {
    /// Ends `portal`. Must run in the portal's queue (a command typed in the portal room does),
    /// so events already queued for it are bridged first and later ones find no portal.
    ///
    /// The message and reaction mappings go with the portal row: kept, they would make a
    /// fresh portal of the same chat skip its history as "already bridged" and aim edits,
    /// replies and reactions at events in this room, which is no longer bridged. No message
    /// is deleted on either side; only the link between them is.
    ///
    /// Posts its own notice before the bot leaves, as the reply could not be sent after.
    pub(crate) async fn unbridge(&self, portal: &Portal) -> Result<()> {
        let Some(room) = portal.room_id.clone() else {
            return Ok(());
        };
        let key = &portal.key;
        // Forget the portal first: from here nothing is bridged into or out of the room.
        self.store.delete_portal(key).await?;
        self.forget_room_caches(&room);
        self.refresh_hub_room(&room).await?;
        self.tell_logins_unbridged(key).await;
        self.clear_bridge_info(&room, key).await;

        let members = match self.matrix.joined_members(&room).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, room, "cannot list the unbridged room's members; ghosts may stay");
                Vec::new()
            }
        };
        for ghost in members.iter().filter(|m| self.namer.is_ghost(m)) {
            if let Err(e) = self.matrix.leave(&room, ghost).await {
                tracing::warn!(error = %e, room, ghost, "a ghost could not leave the unbridged room");
            }
        }
        self.store.forget_room_members(&room).await?;

        let name = portal.name.as_deref().unwrap_or(key.chat.as_str());
        self.notice(
            &room,
            &format!(
                "This room is no longer bridged to {name} ({} {}). Messages here stay in Matrix; \
                 new messages in the chat will open a new room.",
                key.connector, key.chat
            ),
        )
        .await;
        let bot = self.matrix.bot_user_id().to_owned();
        if let Err(e) = self.matrix.leave(&room, &bot).await {
            tracing::warn!(error = %e, room, "the bot could not leave the unbridged room");
        }
        tracing::info!(portal = %key, room, "unbridged");
        Ok(())
    }

    /// Removes one chat from a hub room: its portal and mappings go, its ghosts leave, and
    /// the room stays bridged to its other chats (the bot stays too). Returns the reply.
    pub(crate) async fn unlink_from_hub(&self, portal: &Portal) -> Result<String> {
        let Some(room) = portal.room_id.clone() else {
            return Ok(String::new());
        };
        let key = &portal.key;
        self.store.delete_portal(key).await?;
        // The room's queue may change with its first portal; later events find it again.
        self.room_portals.lock().expect("room map").remove(&room);
        self.refresh_hub_room(&room).await?;
        self.tell_logins_unbridged(key).await;
        self.clear_bridge_info(&room, key).await;
        let members = match self.matrix.joined_members(&room).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, room, "cannot list the room's members; ghosts may stay");
                Vec::new()
            }
        };
        let ghosts = members.iter().filter(|m| {
            self.namer
                .parse(m)
                .is_some_and(|(connector, _)| connector == key.connector)
        });
        for ghost in ghosts {
            if let Err(e) = self.matrix.leave(&room, ghost).await {
                tracing::warn!(error = %e, room, ghost, "a ghost could not leave the unlinked room");
            }
            self.forget_member(&room, ghost).await?;
        }
        tracing::info!(portal = %key, room, "unlinked from a hub room");
        let name = portal.name.as_deref().unwrap_or(key.chat.as_str());
        Ok(format!(
            "This room is no longer bridged to {name} ({} {}); it stays bridged to its other chats.              New messages in that chat will open a new room.",
            key.connector, key.chat
        ))
    }

    /// Tells the logins of the portal's network that it is gone (`NetworkApi::
    /// portal_unbridged`), so none keeps watching a chat nobody bridges any more. After the
    /// store forgot the portal: a failure here leaves a watch behind, never a half-unbridged
    /// room, so it is logged and the unbridge stands.
    async fn tell_logins_unbridged(&self, key: &PortalKey) {
        let logins: Vec<LoadedLogin> = self
            .logins
            .read()
            .expect("logins lock")
            .iter()
            .filter(|((connector, id), _)| {
                *connector == key.connector && key.receiver.as_ref().is_none_or(|r| r == id)
            })
            .map(|(_, l)| l.clone())
            .collect();
        for l in logins {
            if let Err(e) = l.api.portal_unbridged(key).await {
                tracing::warn!(portal = %key, login = %l.login.id, error = %e, "the connector could not stop watching an unbridged chat");
            }
        }
    }

    /// Drops everything the engine remembers in memory about `room`.
    fn forget_room_caches(&self, room: &str) {
        self.room_portals.lock().expect("room map").remove(room);
        self.members
            .lock()
            .expect("members")
            .retain(|(r, _)| r != room);
        self.typing.lock().expect("typing").remove(room);
        self.profiles
            .lock()
            .expect("profiles")
            .retain(|(r, _), _| r != room);
    }
}
