//! `link`: making an existing Matrix room, one people already use, the portal of a remote
//! chat. Unlike a room the bridge creates, the room's own name, topic and history belong to
//! its users, so linking adds to it and overwrites nothing.

use crate::Result;
use crate::bridge::{Inner, LoadedLogin};
use crate::bridge_info::BridgeInfoHints;
use crate::connector::ChatInfo;
use crate::ids::PortalKey;
use crate::matrix::MatrixError;
use crate::records::Portal;
use std::sync::Arc;

/// Whether a state event holds a non-empty string in `field`.
fn has_text(content: Option<serde_json::Value>, field: &str) -> Option<String> {
    content?
        .get(field)?
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

impl Inner {
    /// Links `room` to the chat `key` (run in the portal's queue). Returns the reply for the
    /// admin: what was done, or plainly why not.
    ///
    /// Choices, stated in the reply: the room keeps its own name and topic (the chat's are set
    /// only where the room has none); later renames in the chat do reach the room, as in any
    /// portal. The chat's history is not copied: the room has its own, and backfilled
    /// messages would land after it with older timestamps.
    pub(crate) async fn link_room(
        self: &Arc<Self>,
        key: &PortalKey,
        room: &str,
        login: &LoadedLogin,
        info: ChatInfo,
    ) -> Result<String> {
        let chat_name = info.name.clone().unwrap_or_else(|| key.chat.to_string());
        if let Some(existing) = self.store.portal_by_key(key).await?
            && let Some(other) = existing.room_id
        {
            return Ok(format!(
                "{chat_name} is already bridged to {other}. Run `unbridge` there first to move it here."
            ));
        }
        // Several chats may share a room (a hub room), one per network.
        if let Some(p) = self
            .store
            .portals_by_room(room)
            .await?
            .into_iter()
            .find(|p| p.key.connector == key.connector)
        {
            return Ok(format!(
                "This room is already bridged to {} {}.",
                p.key.connector, p.key.chat
            ));
        }
        let bot = self.matrix.bot_user_id().to_owned();
        let power = match self.matrix.get_state(room, "m.room.power_levels", "").await {
            Ok(content) => crate::power_levels::check(content.as_ref(), &bot),
            Err(e) if is_not_in_room(&e) => {
                return Ok(format!(
                    "I am not in this room, so I cannot bridge it. Invite {bot}, then run `link` again."
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if !power.missing.is_empty() {
            return Ok(format!(
                "I need power level {} in this room to {}; I have {}. Raise my power level, then run `link` again.",
                power.need,
                power.missing.join(", "),
                power.have
            ));
        }
        let room_name = has_text(
            self.matrix.get_state(room, "m.room.name", "").await?,
            "name",
        );
        let room_topic = has_text(
            self.matrix.get_state(room, "m.room.topic", "").await?,
            "topic",
        );
        let mut kept = Vec::new();
        match (&room_name, &info.name) {
            (Some(mine), Some(theirs)) if mine != theirs => {
                kept.push(format!("its name \"{mine}\" (the chat's is \"{theirs}\")"))
            }
            (None, Some(theirs)) => {
                self.set_room_state(room, "m.room.name", "name", theirs)
                    .await?
            }
            _ => {}
        }
        match (&room_topic, &info.topic) {
            (Some(mine), Some(theirs)) if mine != theirs => kept.push("its topic".to_owned()),
            (None, Some(theirs)) => {
                self.set_room_state(room, "m.room.topic", "topic", theirs)
                    .await?
            }
            _ => {}
        }

        // The portal remembers the chat's name and topic, so that a later change in the chat
        // is recognised as one and reaches the room.
        let portal = Portal {
            room_id: Some(room.to_owned()),
            name: info.name.clone(),
            topic: info.topic.clone(),
            is_direct: info.is_direct,
            ..Portal::new(key.clone())
        };
        self.store.upsert_portal(&portal).await?;
        // A room already bridged keeps the queue its Matrix events go to.
        self.room_portals
            .lock()
            .expect("room map")
            .entry(room.to_owned())
            .or_insert_with(|| key.clone());
        self.refresh_hub_room(room).await?;
        self.update_bridge_info(
            &portal,
            BridgeInfoHints {
                creator: Some(login.login.matrix_user.clone()),
                network: login.api.network_info().await,
                ..Default::default()
            },
        )
        .await;
        self.remember_member(room, &bot).await?;
        // The admin who linked is in the room already: no invite for them.
        self.remember_member(room, &login.login.matrix_user).await?;
        let mut joined = 0;
        for member in info.members.iter().take(100) {
            if member == &login.login.remote_user {
                continue;
            }
            match self
                .ensure_ghost_in_room(&key.connector, member, None, login, room)
                .await
            {
                Ok(_) => joined += 1,
                Err(e) => {
                    tracing::warn!(error = %e, user = %member, "could not add a chat member's ghost to the linked room")
                }
            }
        }
        tracing::info!(portal = %key, room, "linked an existing room");
        let kept = if kept.is_empty() {
            String::new()
        } else {
            format!(
                " The room kept {}; renames in the chat from now on will reach it.",
                kept.join(" and ")
            )
        };
        Ok(format!(
            "Linked this room to {chat_name} ({} {}): {joined} of its members joined.{kept} \
             Earlier messages of the chat are not copied here; new ones cross both ways from now on.",
            key.connector, key.chat
        ))
    }

    async fn set_room_state(&self, room: &str, kind: &str, field: &str, value: &str) -> Result<()> {
        let bot = self.matrix.bot_user_id().to_owned();
        let content = serde_json::json!({ field: value });
        self.retry_matrix("set linked room state", || {
            self.matrix.send_state(room, &bot, kind, "", &content)
        })
        .await?;
        Ok(())
    }
}

/// The homeserver refuses to show a room's state to a user who is not in it.
fn is_not_in_room(e: &MatrixError) -> bool {
    e.errcode() == Some("M_FORBIDDEN")
}
