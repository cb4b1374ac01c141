//! Matrix events out to the remote network, one portal at a time: routing (echoes, commands,
//! membership), then messages ([`message_out`]), reactions, redactions and room names and
//! topics.

mod hub_out;
mod hub_unrelayed;
mod mentioned_people;
mod message_out;

use crate::audit::{AuditAction, Crossing, MappingChange};
use crate::bridge::{DOUBLE_PUPPET_MARKER, Inner, LoadedLogin};
use crate::clock::now_ms;
use crate::connector::ConnectorError;
use crate::crossed::Crossed;
use crate::event::{MessageContent, RelayedSender, TextKind};
use crate::matrix_content::{self as mc, Envelope};
use crate::metrics::Direction;
use crate::permissions::Level;
use crate::records::{Portal, ReactionRecord};
use crate::send_retry::SEND_RETRY;
use crate::{Error, Result};
use ruma::events::reaction::ReactionEventContent;
use std::sync::Arc;

/// Who sends a Matrix user's message on the remote side.
struct Sender {
    login: LoadedLogin,
    relayed_for: Option<RelayedSender>,
    /// The portal is one of a hub room's: there the relay also reacts (and takes back its
    /// reactions) for others, the nearest a platform comes to a reaction of someone it does
    /// not know, as a message from another chat always arrives relayed.
    hub_relay: bool,
}

impl Inner {
    /// Handles one Matrix event from the inbox. Problems become notices in the room or log
    /// lines, so one bad event cannot block its queue, with one exception: when the bridge's
    /// own database failed (a restart, a cut connection), the event is not done and `true`
    /// is returned, so the caller keeps it and tries again once the database answers, rather
    /// than dropping it. `maybe_sent_before`: the event is replayed from the inbox and may
    /// already have reached the platform (see
    /// [`crate::event::MatrixMessage::maybe_sent_before`]).
    #[must_use = "a store failure means the event must be tried again"]
    pub(crate) async fn handle_matrix_event(
        self: &Arc<Self>,
        json: &str,
        maybe_sent_before: bool,
    ) -> bool {
        match crate::ephemeral::classify(json) {
            crate::ephemeral::Incoming::Ephemeral(edu) => {
                self.handle_ephemeral(edu).await;
                return false;
            }
            crate::ephemeral::Incoming::Ignored(kind) => {
                tracing::debug!(kind, "ignoring ephemeral data the bridge does not use");
                return false;
            }
            crate::ephemeral::Incoming::RoomEvent => {}
        }
        let env: Envelope = match serde_json::from_str(json) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed event from the homeserver");
                return false;
            }
        };
        let env = if env.kind == "m.room.encrypted" {
            match self.decrypt_envelope(env, json).await {
                Some(env) => env,
                None => return false,
            }
        } else {
            env
        };
        match self.route_matrix_event(env, maybe_sent_before).await {
            Ok(()) => false,
            Err(Error::Store(e)) => {
                tracing::warn!(error = %e, "the bridge's database failed while it handled a Matrix event; it is kept and tried again");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "Matrix event not bridged");
                false
            }
        }
    }

    async fn route_matrix_event(
        self: &Arc<Self>,
        env: Envelope,
        maybe_sent_before: bool,
    ) -> Result<()> {
        let bot = self.matrix.bot_user_id().to_owned();
        // Echo suppression: what the bridge sent never comes back as new. In a hub room the
        // bridge's ghosts and double puppets carry one chat's messages to the others.
        if env.sender == bot {
            return Ok(());
        }
        let hub = self.hub_rooms.contains(&env.room_id);
        if self.namer.is_ghost(&env.sender) || env.content.get(DOUBLE_PUPPET_MARKER).is_some() {
            if hub {
                return self.forward_hub_echo(&env, maybe_sent_before).await;
            }
            return Ok(());
        }
        // In a hub room an event may be bridged to some of its chats already; each is checked
        // on its own (`bridge_to_hub`).
        if !hub && self.store.message_by_event(&env.event_id).await?.is_some() {
            return Ok(());
        }
        let level = self.config.permissions.level(&env.sender);
        if level < Level::Relay {
            return Ok(());
        }
        if env.kind == "m.room.member" {
            self.remember_profile(&env);
            return self.handle_membership(&env, level).await;
        }
        let portal = self.store.portal_by_room(&env.room_id).await?;
        let body = env
            .content
            .get("body")
            .and_then(|b| b.as_str())
            .unwrap_or_default();
        let prefixed = body
            .strip_prefix(self.config.command_prefix.as_str())
            .filter(|r| r.is_empty() || r.starts_with(' '));
        if env.kind == "m.room.message" {
            if let Some(rest) = prefixed {
                return self
                    .run_command(&env, level, rest.trim(), portal.as_ref())
                    .await;
            }
            if portal.is_none()
                && self.store.management_room(&env.sender).await?.as_deref()
                    == Some(env.room_id.as_str())
            {
                return self.run_command(&env, level, body.trim(), None).await;
            }
        }
        let Some(portal) = portal else { return Ok(()) };
        if !env.was_encrypted
            && matches!(
                env.kind.as_str(),
                "m.room.message" | "m.sticker" | "m.reaction"
            )
            && self
                .decryptor
                .get()
                .is_some_and(|d| d.requires_encryption())
        {
            self.notice(
                &env.room_id,
                "This message was sent unencrypted and was not bridged: this bridge carries only encrypted messages. Turn on encryption in the room's settings.",
            )
            .await;
            return Ok(());
        }
        if hub {
            return self
                .bridge_to_hub(&env, level, None, maybe_sent_before)
                .await;
        }
        self.bridge_to_remote(&env, level, portal, maybe_sent_before, false)
            .await
    }

    /// Keeps the profile cache in step with member events (joins and profile changes).
    fn remember_profile(&self, env: &Envelope) {
        let Some(user) = env.state_key.clone() else {
            return;
        };
        let key = (env.room_id.clone(), user);
        let mut profiles = self.profiles.lock().expect("profiles");
        if env.content.get("membership").and_then(|m| m.as_str()) == Some("join") {
            let field = |k: &str| {
                env.content
                    .get(k)
                    .and_then(|v| v.as_str())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            profiles.insert(key, (field("displayname"), field("avatar_url")));
        } else {
            profiles.remove(&key);
        }
    }

    async fn handle_membership(self: &Arc<Self>, env: &Envelope, level: Level) -> Result<()> {
        let membership = env
            .content
            .get("membership")
            .and_then(|m| m.as_str())
            .unwrap_or_default();
        let bot = self.matrix.bot_user_id().to_owned();
        if env.state_key.as_deref() == Some(bot.as_str()) && membership == "invite" {
            if self.store.portal_by_room(&env.room_id).await?.is_some() {
                return Ok(());
            }
            if level < Level::User {
                tracing::info!(sender = %env.sender, "refusing a management room invite from a user without the user level");
                let _ = self.matrix.leave(&env.room_id, &bot).await;
                return Ok(());
            }
            self.retry_matrix("join invited room", || self.matrix.join(&env.room_id, &bot))
                .await?;
            // A direct chat with the bot is the inviter's management room. Any other room is
            // one they may want to link to a remote chat; it must not replace their
            // management room.
            let is_direct = env.content.get("is_direct").and_then(|d| d.as_bool()) == Some(true);
            if !is_direct {
                self.notice(&env.room_id, &format!("Hello! An admin can bridge this room to a remote chat with `{} link <network> <chat id>`.", self.config.command_prefix)).await;
                return Ok(());
            }
            self.store
                .set_management_room(&env.sender, &env.room_id)
                .await?;
            self.notice(&env.room_id, &format!("Hello! I bridge this homeserver to other chat networks. Send `help` for what I can do.\n{}", self.help_text(level))).await;
            return Ok(());
        }
        if let Some(target) = env.state_key.as_deref()
            && target != env.sender
            && let Some((connector, remote_user)) = self.namer.parse(target)
        {
            return self
                .bridge_ghost_membership(env, level, membership, &connector, &remote_user)
                .await;
        }
        Ok(())
    }

    /// A Matrix user invited or removed a ghost: invite or remove the remote user.
    async fn bridge_ghost_membership(
        &self,
        env: &Envelope,
        level: Level,
        membership: &str,
        connector: &crate::ids::ConnectorId,
        remote_user: &crate::ids::RemoteUserId,
    ) -> Result<()> {
        let portal = self
            .store
            .portals_by_room(&env.room_id)
            .await?
            .into_iter()
            .find(|p| &p.key.connector == connector);
        let Some(portal) = portal else {
            return Ok(());
        };
        if level < Level::User {
            return Ok(());
        }
        let Some(login) = self.login_of_user(connector, &env.sender) else {
            self.notice(
                &env.room_id,
                &format!(
                    "{}: log in to {connector} to invite or remove its users.",
                    env.sender
                ),
            )
            .await;
            return Ok(());
        };
        let Some(handler) = login.api.as_membership() else {
            self.notice(&env.room_id, &format!("⚠️ Not bridged to {connector}: it does not take invites or removals from Matrix.")).await;
            return Ok(());
        };
        let result = match membership {
            "invite" => handler.invite(&portal, remote_user).await,
            "leave" | "ban" => handler.kick(&portal, remote_user).await,
            _ => return Ok(()),
        };
        if let Err(e) = result {
            self.notice(&env.room_id, &format!("⚠️ Not bridged to {connector}: {e}"))
                .await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Tells the room why a member's action was not bridged, and counts it.
    async fn refuse(&self, env: &Envelope, action: &str, why: &str) {
        tracing::info!(sender = %env.sender, room = %env.room_id, action, "a member's action was not bridged for lack of power");
        self.metrics.refused_by_room_power(action);
        self.notice(&env.room_id, why).await;
    }

    /// Sends a notice as the bot. Failures are logged, never raised: a notice is the last resort.
    pub(crate) async fn notice(&self, room: &str, text: &str) {
        let content = mc::to_json(
            &mc::text_message(&MessageContent {
                kind: TextKind::Notice,
                ..MessageContent::text(text)
            }),
            None,
        );
        let txn = format!(
            "notice-{}",
            crate::txn_id::derive(&[room, text, &format!("{:?}", std::time::SystemTime::now())])
        );
        let bot = self.matrix.bot_user_id().to_owned();
        if let Err(e) = self
            .matrix
            .send_event(room, &bot, "m.room.message", &content, &txn, None)
            .await
        {
            tracing::warn!(error = %e, room, "cannot send a notice");
        }
    }

    async fn sender_for(
        &self,
        portal: &Portal,
        env: &Envelope,
        level: Level,
    ) -> Result<Option<Sender>> {
        let connector = &portal.key.connector;
        if level >= Level::User
            && let Some(login) = self.login_of_user(connector, &env.sender)
            && portal
                .key
                .receiver
                .as_ref()
                .is_none_or(|r| r == &login.login.id)
        {
            // A login that posts as an app still shows who wrote the message.
            let relayed_for = if login.api.sends_as_owner() {
                None
            } else {
                Some(self.relayed_sender(env).await)
            };
            return Ok(Some(Sender {
                login,
                relayed_for,
                hub_relay: false,
            }));
        }
        let Some(relay_id) = &portal.relay_login else {
            return Ok(None);
        };
        let Some(login) = self.loaded_login(connector, relay_id) else {
            return Ok(None);
        };
        let relayed_for = Some(self.relayed_sender(env).await);
        Ok(Some(Sender {
            login,
            relayed_for,
            hub_relay: false,
        }))
    }

    /// The sender's name and avatar in the room, for messages sent on their behalf.
    async fn relayed_sender(&self, env: &Envelope) -> RelayedSender {
        let key = (env.room_id.clone(), env.sender.clone());
        let cached = self.profiles.lock().expect("profiles").get(&key).cloned();
        let (name, avatar_mxc) = match cached {
            Some(p) => p,
            None => {
                let p = self
                    .matrix
                    .member_profile(&env.room_id, &env.sender)
                    .await
                    .unwrap_or_default();
                self.profiles
                    .lock()
                    .expect("profiles")
                    .insert(key, p.clone());
                p
            }
        };
        let display_name = name.unwrap_or_else(|| {
            env.sender
                .trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        let avatar_url = self
            .config
            .public_media
            .as_ref()
            .zip(avatar_mxc.as_deref())
            .and_then(|(m, mxc)| m.url_for(mxc));
        RelayedSender {
            mxid: env.sender.clone(),
            display_name,
            avatar_mxc,
            avatar_url,
        }
    }

    async fn bridge_to_remote(
        self: &Arc<Self>,
        env: &Envelope,
        level: Level,
        portal: Portal,
        maybe_sent_before: bool,
        hub: bool,
    ) -> Result<()> {
        let handled = matches!(
            env.kind.as_str(),
            "m.room.message" | "m.reaction" | "m.room.redaction" | "m.room.name" | "m.room.topic"
        );
        if !handled {
            return Ok(());
        }
        let Some(mut sender) = self.sender_for(&portal, env, level).await? else {
            if hub && self.carried_from_another_chat(env) {
                self.skip_unrelayed(env, &portal).await;
            } else if env.kind == "m.room.message" {
                self.notice(&env.room_id, &format!("{}: your message was not bridged: you are not logged in to {} and this room has no relay. Log in with `login {}` in a chat with me.", env.sender, portal.key.connector, portal.key.connector)).await;
            }
            return Ok(());
        };
        if hub && sender.relayed_for.is_some() {
            self.unrelayed.relayed(&portal.key);
        }
        sender.hub_relay = hub;
        let platform = portal.key.connector.to_string();
        let started = std::time::Instant::now();
        let result = match env.kind.as_str() {
            "m.room.message" => {
                self.bridge_message(env, &portal, &sender, maybe_sent_before)
                    .await
            }
            "m.reaction" => self.bridge_reaction(env, &portal, &sender).await,
            "m.room.redaction" => self.bridge_redaction(env, &portal, &sender).await,
            _ => self.bridge_room_info(env, &portal, &sender).await,
        };
        match result {
            Ok(true) => {
                let latency = (now_ms() - env.origin_server_ts) as f64 / 1000.0;
                self.metrics.bridged(
                    &platform,
                    Direction::ToRemote,
                    Some(latency.max(started.elapsed().as_secs_f64())),
                );
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                let reason = match &e {
                    Error::Connector(ConnectorError::Unsupported(_)) => "unsupported",
                    Error::Connector(ConnectorError::BadCredentials(_)) => "bad_credentials",
                    Error::Connector(ConnectorError::Refused(_)) => "refused",
                    Error::Connector(_) => "connector",
                    Error::Matrix(_) => "matrix",
                    _ => "other",
                };
                self.metrics.failure(&platform, reason);
                if !matches!(e, Error::ShuttingDown) {
                    self.notice(
                        &env.room_id,
                        &format!("⚠️ Not bridged to {}: {e}", portal.key.connector),
                    )
                    .await;
                }
                if let Error::Connector(ConnectorError::BadCredentials(reason)) = &e {
                    self.log_out_for_bad_credentials(
                        &sender.login.login.connector,
                        &sender.login.login.id,
                        reason,
                    )
                    .await;
                }
                Err(e)
            }
        }
    }

    async fn bridge_reaction(
        &self,
        env: &Envelope,
        portal: &Portal,
        sender: &Sender,
    ) -> Result<bool> {
        if sender.relayed_for.is_some()
            && sender.login.login.matrix_user != env.sender
            && !sender.hub_relay
        {
            return Ok(false); // a relay cannot react on someone's behalf without misattributing it
        }
        let content: ReactionEventContent = serde_json::from_value(env.content.clone())
            .map_err(|e| Error::Unknown(format!("malformed reaction: {e}")))?;
        let target_event = content.relates_to.event_id.to_string();
        let Some(target) = self
            .store
            .message_by_event_in(&portal.key, &target_event)
            .await?
        else {
            return Ok(false);
        };
        let reactions = sender
            .login
            .api
            .as_reactions()
            .ok_or_else(|| ConnectorError::Unsupported("reactions".into()))?;
        let key = self
            .reaction_key_for_remote(&portal.key.connector, env, &content.relates_to.key)
            .await?;
        self.with_retries(portal.key.connector.as_str(), "react", SEND_RETRY, || {
            reactions.add_reaction(portal, &target.remote_id, &key)
        })
        .await?;
        let remote_sender = &sender.login.login.remote_user;
        let audit = Crossed::out(
            env,
            &portal.key,
            Some(&target.remote_id),
            remote_sender.as_str(),
        )
        .of_event(AuditAction::Reaction, env);
        self.store
            .record_crossings(&[Crossing {
                mapping: MappingChange::InsertReaction(ReactionRecord {
                    portal: portal.key.clone(),
                    target: target.remote_id,
                    remote_sender: remote_sender.clone(),
                    key,
                    event_id: env.event_id.clone(),
                }),
                audit,
            }])
            .await?;
        Ok(true)
    }

    /// The key a Matrix reaction has on the network: a custom emoji's image (`mxc://`) becomes
    /// its shortcode, known from the bridge's own upload or from the reaction's
    /// `com.beeper.reaction.shortcode`; anything else stays as it is.
    async fn reaction_key_for_remote(
        &self,
        connector: &crate::ids::ConnectorId,
        env: &Envelope,
        key: &str,
    ) -> Result<String> {
        if !key.starts_with("mxc://") {
            return Ok(key.to_owned());
        }
        if let Some(known) = self.known_custom_emoji(connector, key).await? {
            return Ok(known.shortcode);
        }
        let shortcode = env
            .content
            .get(crate::custom_emoji::REACTION_SHORTCODE_KEY)
            .and_then(|s| s.as_str())
            .filter(|s| s.len() > 2 && s.starts_with(':') && s.ends_with(':'));
        match shortcode {
            Some(s) => Ok(s.to_owned()),
            None => Err(ConnectorError::Unsupported(
                "image reactions the bridge does not know as a custom emoji".into(),
            )
            .into()),
        }
    }

    async fn bridge_redaction(
        &self,
        env: &Envelope,
        portal: &Portal,
        sender: &Sender,
    ) -> Result<bool> {
        let redacts = env
            .redacts
            .clone()
            .or_else(|| {
                env.content
                    .get("redacts")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned)
            })
            .ok_or_else(|| Error::Unknown("redaction without a target".into()))?;
        let platform = portal.key.connector.as_str();
        if let Some(m) = self
            .store
            .message_by_event_in(&portal.key, &redacts)
            .await?
        {
            if let Some(why) = self.redaction_refusal(env, &m, &sender.login).await? {
                self.refuse(env, "delete", &why).await;
                return Ok(false);
            }
            let deletes = sender
                .login
                .api
                .as_deletes()
                .ok_or_else(|| ConnectorError::Unsupported("deleting messages".into()))?;
            self.with_retries(platform, "delete", SEND_RETRY, || {
                deletes.delete_message(portal, &m.remote_id)
            })
            .await?;
            let remote_sender = sender.login.login.remote_user.as_str();
            let audit = Crossed::out(env, &portal.key, Some(&m.remote_id), remote_sender)
                .of_event(AuditAction::Delete, env);
            self.store
                .record_crossings(&[Crossing {
                    mapping: MappingChange::DeleteMessage {
                        portal: portal.key.clone(),
                        remote_id: m.remote_id.clone(),
                    },
                    audit,
                }])
                .await?;
            return Ok(true);
        }
        if let Some(r) = self
            .store
            .reaction_by_event_in(&portal.key, &redacts)
            .await?
        {
            // In a hub room the relay takes back a reaction it made for someone else.
            let relays_own = sender.hub_relay && r.remote_sender == sender.login.login.remote_user;
            if !relays_own
                && let Some(why) = self
                    .reaction_redaction_refusal(env, &r, &sender.login)
                    .await?
            {
                self.refuse(env, "unreact", &why).await;
                return Ok(false);
            }
            let reactions = sender
                .login
                .api
                .as_reactions()
                .ok_or_else(|| ConnectorError::Unsupported("reactions".into()))?;
            self.with_retries(platform, "unreact", SEND_RETRY, || {
                reactions.remove_reaction(portal, &r.target, &r.key)
            })
            .await?;
            let remote_sender = sender.login.login.remote_user.as_str();
            let audit = Crossed::out(env, &portal.key, Some(&r.target), remote_sender)
                .of_event(AuditAction::Unreaction, env);
            self.store
                .record_crossings(&[Crossing {
                    mapping: MappingChange::DeleteReaction {
                        portal: portal.key.clone(),
                        event_id: redacts.clone(),
                    },
                    audit,
                }])
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn bridge_room_info(
        &self,
        env: &Envelope,
        portal: &Portal,
        sender: &Sender,
    ) -> Result<bool> {
        let handler = sender
            .login
            .api
            .as_chat_info_changes()
            .ok_or_else(|| ConnectorError::Unsupported("renaming chats".into()))?;
        let mut portal = portal.clone();
        if env.kind == "m.room.name" {
            let name = env
                .content
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_owned();
            handler.set_name(&portal, &name).await?;
            portal.name = Some(name);
        } else {
            let topic = env
                .content
                .get("topic")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_owned();
            handler.set_topic(&portal, &topic).await?;
            portal.topic = Some(topic);
        }
        self.store.upsert_portal(&portal).await?;
        if env.kind == "m.room.name" {
            self.update_bridge_info(&portal, Default::default()).await;
        }
        Ok(true)
    }
}
