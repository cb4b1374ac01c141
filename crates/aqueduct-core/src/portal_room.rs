//! Creating portal rooms, and making ghosts and users members of them.

use crate::Result;
use crate::bridge::{Inner, LoadedLogin};
use crate::bridge_info::BridgeInfoHints;
use crate::connector::UserInfo;
use crate::ids::{ConnectorId, PortalKey, RemoteMessageId, RemoteUserId};
use crate::matrix::NewRoom;
use crate::records::{Ghost, Portal};
use std::sync::Arc;

impl Inner {
    /// The portal for `key` with its Matrix room, creating the room (named from the chat's
    /// info, inviting the login's owner, backfilling history before `trigger`, the live
    /// message that caused it) if it has none yet.
    pub(crate) async fn ensure_portal_room(
        self: &Arc<Self>,
        key: &PortalKey,
        login: &LoadedLogin,
        trigger: Option<&RemoteMessageId>,
    ) -> Result<Portal> {
        let existing = self.store.portal_by_key(key).await?;
        if let Some(p) = &existing
            && let Some(room) = &p.room_id
        {
            self.ensure_user_invited(room, &login.login.matrix_user)
                .await?;
            return Ok(p.clone());
        }
        let info = login.api.chat_info(&key.chat).await?;
        let bot = self.matrix.bot_user_id().to_owned();
        let owner = login.login.matrix_user.clone();
        let mut initial_state = vec![];
        let mut avatar_mxc = None;
        if let Some(avatar) = &info.avatar {
            // A picture that cannot be uploaded costs the room its avatar, not the room.
            match self.room_avatar_content(avatar).await {
                Ok(content) => {
                    avatar_mxc = content["url"].as_str().map(str::to_owned);
                    initial_state.push(("m.room.avatar".into(), String::new(), content))
                }
                Err(e) => {
                    tracing::warn!(error = %e, portal = %key, "cannot upload the chat's picture")
                }
            }
        }
        let mut portal = existing.unwrap_or_else(|| Portal::new(key.clone()));
        portal.name = info.name.clone();
        portal.topic = info.topic.clone();
        portal.is_direct = info.is_direct;
        initial_state.extend(self.bridge_info_initial_state(
            &portal,
            &BridgeInfoHints {
                creator: Some(owner.clone()),
                channel_avatar: avatar_mxc,
                network: login.api.network_info().await,
            },
        ));
        let new_room = NewRoom {
            name: info.name.clone(),
            topic: info.topic.clone(),
            invite: vec![owner.clone()],
            is_direct: info.is_direct,
            moderators: vec![owner.clone()],
            initial_state,
        };
        let room = self
            .retry_matrix("create portal room", || self.matrix.create_room(&new_room))
            .await?;
        portal.room_id = Some(room.clone());
        self.store.upsert_portal(&portal).await?;
        self.room_portals
            .lock()
            .expect("room map")
            .insert(room.clone(), key.clone());
        self.remember_member(&room, &bot).await?;
        self.remember_member(&room, &owner).await?;
        if self.matrix.can_double_puppet(&owner)
            && let Err(e) = self.matrix.join(&room, &owner).await
        {
            tracing::warn!(error = %e, "double puppet could not join the new portal");
        }
        for member in info.members.iter().take(100) {
            if member == &login.login.remote_user {
                continue;
            }
            if let Err(e) = self
                .ensure_ghost_in_room(&key.connector, member, None, login, &room)
                .await
            {
                tracing::warn!(error = %e, user = %member, "could not add a chat member's ghost to the portal");
            }
        }
        tracing::info!(portal = %key, room = %room, "created portal room");
        self.backfill(key, login, trigger).await;
        Ok(portal)
    }

    /// Bridges the chat's most recent history into a new portal room, oldest first, with
    /// the remote timestamps. A failure is logged; it does not stop the portal.
    async fn backfill(
        self: &Arc<Self>,
        key: &PortalKey,
        login: &LoadedLogin,
        before: Option<&RemoteMessageId>,
    ) {
        let limit = self.config.backfill_limit;
        let Some(handler) = login.api.as_backfill().filter(|_| limit > 0) else {
            return;
        };
        let events = match handler.fetch_messages(&key.chat, before, limit).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(portal = %key, error = %e, "backfill failed");
                return;
            }
        };
        let count = events.len();
        for event in events {
            if !matches!(event.kind, crate::event::RemoteEventKind::Message { .. })
                || event.receiver != key.receiver
            {
                continue;
            }
            // Boxed: bridging an event may create a portal, which backfills (not this time,
            // the room exists now, but the compiler cannot know).
            if let Err(e) = Box::pin(self.bridge_remote_event(login, event, true)).await {
                tracing::warn!(portal = %key, error = %e, "a backfilled message was not bridged");
            }
        }
        tracing::info!(portal = %key, count, "backfilled history");
    }

    pub(crate) async fn remember_member(&self, room: &str, user: &str) -> Result<()> {
        self.store.set_member(room, user, true).await?;
        self.members
            .lock()
            .expect("members")
            .insert((room.to_owned(), user.to_owned()));
        Ok(())
    }

    async fn is_known_member(&self, room: &str, user: &str) -> Result<bool> {
        let key = (room.to_owned(), user.to_owned());
        if self.members.lock().expect("members").contains(&key) {
            return Ok(true);
        }
        let known = self.store.is_member(room, user).await?;
        if known {
            self.members.lock().expect("members").insert(key);
        }
        Ok(known)
    }

    /// Invites a real Matrix user to a portal room once.
    pub(crate) async fn ensure_user_invited(&self, room: &str, user: &str) -> Result<()> {
        if self.is_known_member(room, user).await? {
            return Ok(());
        }
        let bot = self.matrix.bot_user_id().to_owned();
        match self.matrix.invite(room, &bot, user).await {
            Ok(()) => {}
            // Already joined or invited: the goal is met.
            Err(e) if e.errcode() == Some("M_FORBIDDEN") => {
                tracing::debug!(error = %e, "invite refused, assuming member")
            }
            Err(e) => return Err(e.into()),
        }
        if self.matrix.can_double_puppet(user) {
            let _ = self.matrix.join(room, user).await;
        }
        self.remember_member(room, user).await
    }

    /// Makes sure a Matrix user (ghost or double puppet) is joined to a room: invited by the
    /// bot, then joined. Remembered, so a warm message costs no extra request.
    pub(crate) async fn ensure_joined(&self, room: &str, user: &str) -> Result<()> {
        if self.is_known_member(room, user).await? {
            return Ok(());
        }
        let bot = self.matrix.bot_user_id().to_owned();
        if let Err(e) = self
            .retry_matrix("invite", || self.matrix.invite(room, &bot, user))
            .await
        {
            tracing::debug!(error = %e, user, "invite failed (maybe already invited or joined)");
        }
        self.retry_matrix("join", || self.matrix.join(room, user))
            .await?;
        self.remember_member(room, user).await
    }

    /// Registers a remote user's ghost and syncs its profile on first sight (and when the
    /// display name changes); returns its Matrix id.
    pub(crate) async fn ensure_ghost(
        &self,
        connector: &ConnectorId,
        user: &RemoteUserId,
        display_name: Option<&str>,
        login: &LoadedLogin,
    ) -> Result<String> {
        let cache_key = (connector.clone(), user.clone());
        let cached = self.ghosts.lock().expect("ghosts").get(&cache_key).cloned();
        let ghost = match cached {
            Some(g) => g,
            None => match self.store.ghost(connector, user).await? {
                Some(g) => g,
                None => Ghost {
                    connector: connector.clone(),
                    remote_user: user.clone(),
                    mxid: self.namer.user_id(connector, user),
                    display_name: None,
                    avatar_mxc: None,
                    avatar_source: None,
                    registered: false,
                },
            },
        };
        let name_changed =
            matches!(display_name, Some(n) if ghost.display_name.as_deref() != Some(n));
        if ghost.registered && !name_changed {
            self.ghosts
                .lock()
                .expect("ghosts")
                .insert(cache_key, ghost.clone());
            return Ok(ghost.mxid);
        }
        let mut ghost = ghost;
        if !ghost.registered {
            let localpart = self.namer.localpart(connector, user);
            self.retry_matrix("register ghost", || {
                self.matrix.ensure_registered(&localpart)
            })
            .await?;
            ghost.registered = true;
            let info = match login.api.user_info(user).await {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(error = %e, user = %user, "cannot fetch user info; using what the event says");
                    UserInfo::default()
                }
            };
            let info = UserInfo {
                display_name: display_name.map(str::to_owned).or(info.display_name),
                ..info
            };
            self.apply_user_info(&mut ghost, info).await?;
        } else {
            self.set_ghost_name(&mut ghost, display_name.map(str::to_owned))
                .await?;
        }
        self.store.upsert_ghost(&ghost).await?;
        self.ghosts
            .lock()
            .expect("ghosts")
            .insert(cache_key, ghost.clone());
        Ok(ghost.mxid)
    }

    /// Sets a ghost's Matrix profile to what the network says where it differs (an avatar is
    /// re-uploaded only when its source changed). Returns whether anything changed; the
    /// caller stores the ghost.
    async fn apply_user_info(&self, ghost: &mut Ghost, info: UserInfo) -> Result<bool> {
        let mut changed = false;
        if let Some(avatar) = info.avatar
            && ghost.avatar_source.as_deref() != Some(avatar.source.as_str())
        {
            let mxc = self
                .retry_matrix("upload avatar", || {
                    self.matrix
                        .upload(&ghost.mxid, avatar.data.clone(), &avatar.mime, "avatar")
                })
                .await?;
            self.retry_matrix("set avatar", || {
                self.matrix.set_avatar_url(&ghost.mxid, &mxc)
            })
            .await?;
            ghost.avatar_mxc = Some(mxc);
            ghost.avatar_source = Some(avatar.source);
            changed = true;
        }
        changed |= self.set_ghost_name(ghost, info.display_name).await?;
        Ok(changed)
    }

    /// Re-reads a remote user's profile from the network and updates their ghost's. Returns
    /// whether it changed. Registers the ghost first if it never was.
    pub(crate) async fn refresh_ghost_profile(
        &self,
        connector: &ConnectorId,
        user: &RemoteUserId,
        login: &LoadedLogin,
    ) -> Result<bool> {
        self.ensure_ghost(connector, user, None, login).await?;
        let cache_key = (connector.clone(), user.clone());
        let cached = self.ghosts.lock().expect("ghosts").get(&cache_key).cloned();
        let Some(mut ghost) = cached else {
            return Ok(false);
        };
        let info = login.api.user_info(user).await?;
        if !self.apply_user_info(&mut ghost, info).await? {
            return Ok(false);
        }
        self.store.upsert_ghost(&ghost).await?;
        self.ghosts.lock().expect("ghosts").insert(cache_key, ghost);
        Ok(true)
    }

    async fn set_ghost_name(&self, ghost: &mut Ghost, name: Option<String>) -> Result<bool> {
        if let Some(name) = name
            && ghost.display_name.as_deref() != Some(name.as_str())
        {
            self.retry_matrix("set display name", || {
                self.matrix.set_display_name(&ghost.mxid, &name)
            })
            .await?;
            ghost.display_name = Some(name);
            return Ok(true);
        }
        Ok(false)
    }

    /// Forgets that `user` is a member of `room`, after they left or when the homeserver
    /// says they are not, so the next [`Inner::ensure_joined`] joins them again.
    pub(crate) async fn forget_member(&self, room: &str, user: &str) -> Result<()> {
        self.store.set_member(room, user, false).await?;
        self.members
            .lock()
            .expect("members")
            .remove(&(room.to_owned(), user.to_owned()));
        Ok(())
    }

    /// [`Inner::ensure_ghost`] and [`Inner::ensure_joined`] together.
    pub(crate) async fn ensure_ghost_in_room(
        &self,
        connector: &ConnectorId,
        user: &RemoteUserId,
        display_name: Option<&str>,
        login: &LoadedLogin,
        room: &str,
    ) -> Result<String> {
        let mxid = self
            .ensure_ghost(connector, user, display_name, login)
            .await?;
        self.ensure_joined(room, &mxid).await?;
        Ok(mxid)
    }
}
