//! Matrix events out to the remote network, one portal at a time.

use crate::bridge::{DOUBLE_PUPPET_MARKER, Inner, LoadedLogin};
use crate::clock::now_ms;
use crate::connector::ConnectorError;
use crate::event::{
    MatrixMessage, MentionedChat, MentionedUser, Mentions, MessageContent, RelayedSender, TextKind,
};
use crate::matrix_content::{self as mc, Envelope};
use crate::metrics::Direction;
use crate::permissions::Level;
use crate::records::{MessageRecord, Portal, ReactionRecord};
use crate::send_retry::SEND_RETRY;
use crate::text::escape_html;
use crate::{Error, Result};
use ruma::events::reaction::ReactionEventContent;
use ruma::events::room::MediaSource;
use ruma::events::room::message::{Relation, RoomMessageEventContent};
use std::sync::Arc;

/// Who sends a Matrix user's message on the remote side.
struct Sender {
    login: LoadedLogin,
    relayed_for: Option<RelayedSender>,
}

impl Inner {
    /// Handles one Matrix event from the inbox. Never fails: problems become notices in the
    /// room or log lines, so one bad event cannot block its queue.
    pub(crate) async fn handle_matrix_event(self: &Arc<Self>, json: &str) {
        match crate::ephemeral::classify(json) {
            crate::ephemeral::Incoming::Ephemeral(edu) => {
                self.handle_ephemeral(edu).await;
                return;
            }
            crate::ephemeral::Incoming::Ignored(kind) => {
                tracing::debug!(kind, "ignoring ephemeral data the bridge does not use");
                return;
            }
            crate::ephemeral::Incoming::RoomEvent => {}
        }
        let env: Envelope = match serde_json::from_str(json) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed event from the homeserver");
                return;
            }
        };
        let env = if env.kind == "m.room.encrypted" {
            match self.decrypt_envelope(env, json).await {
                Some(env) => env,
                None => return,
            }
        } else {
            env
        };
        if let Err(e) = self.route_matrix_event(env).await {
            tracing::warn!(error = %e, "Matrix event not bridged");
        }
    }

    async fn route_matrix_event(self: &Arc<Self>, env: Envelope) -> Result<()> {
        let bot = self.matrix.bot_user_id().to_owned();
        // Echo suppression: what the bridge sent never comes back as new.
        if env.sender == bot || self.namer.is_ghost(&env.sender) {
            return Ok(());
        }
        if env.content.get(DOUBLE_PUPPET_MARKER).is_some()
            || self.store.message_by_event(&env.event_id).await?.is_some()
        {
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
        self.bridge_to_remote(&env, level, portal).await
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
        let Some(portal) = self.store.portal_by_room(&env.room_id).await? else {
            return Ok(());
        };
        if &portal.key.connector != connector || level < Level::User {
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
            return Ok(Some(Sender { login, relayed_for }));
        }
        let Some(relay_id) = &portal.relay_login else {
            return Ok(None);
        };
        let Some(login) = self.loaded_login(connector, relay_id) else {
            return Ok(None);
        };
        let relayed_for = Some(self.relayed_sender(env).await);
        Ok(Some(Sender { login, relayed_for }))
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
    ) -> Result<()> {
        let handled = matches!(
            env.kind.as_str(),
            "m.room.message" | "m.reaction" | "m.room.redaction" | "m.room.name" | "m.room.topic"
        );
        if !handled {
            return Ok(());
        }
        let Some(sender) = self.sender_for(&portal, env, level).await? else {
            if env.kind == "m.room.message" {
                self.notice(&env.room_id, &format!("{}: your message was not bridged: you are not logged in to {} and this room has no relay. Log in with `login {}` in a chat with me.", env.sender, portal.key.connector, portal.key.connector)).await;
            }
            return Ok(());
        };
        let platform = portal.key.connector.to_string();
        let started = std::time::Instant::now();
        let result = match env.kind.as_str() {
            "m.room.message" => self.bridge_message(env, &portal, &sender).await,
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

    /// Returns `Ok(true)` when something crossed.
    async fn bridge_message(
        &self,
        env: &Envelope,
        portal: &Portal,
        sender: &Sender,
    ) -> Result<bool> {
        let content: RoomMessageEventContent = serde_json::from_value(env.content.clone())
            .map_err(|e| Error::Unknown(format!("malformed message content: {e}")))?;
        let api = &sender.login.api;
        if let Some(Relation::Replacement(r)) = &content.relates_to {
            let Some(target) = self.store.message_by_event(r.event_id.as_str()).await? else {
                return Ok(false);
            };
            if let Some(why) = self.edit_refusal(env, &target) {
                self.refuse(env, "edit", &why).await;
                return Ok(false);
            }
            let Some((new, _)) = mc::read_message(&r.new_content.msgtype) else {
                return Ok(false);
            };
            let mut new = new;
            self.emoticons_to_shortcodes(&portal.key.connector, &mut new)
                .await?;
            let mut new = self.decorate(
                new,
                &r.new_content.mentions,
                &sender.relayed_for,
                portal,
                sender,
            );
            self.gate_room_ping(env, &mut new).await?;
            self.link_chats(&mut new, portal).await;
            let edits = api
                .as_edits()
                .ok_or_else(|| ConnectorError::Unsupported("edits".into()))?;
            let platform = portal.key.connector.as_str();
            self.with_retries(platform, "edit", SEND_RETRY, || {
                edits.edit_message(portal, &target.remote_id, &new, sender.relayed_for.as_ref())
            })
            .await?;
            return Ok(true);
        }
        let Some((text, media)) = mc::read_message(&content.msgtype) else {
            return Err(ConnectorError::Unsupported(format!(
                "messages of type {}",
                content.msgtype.msgtype()
            ))
            .into());
        };
        let mut text = text;
        self.emoticons_to_shortcodes(&portal.key.connector, &mut text)
            .await?;
        let mut text = self.decorate(text, &content.mentions, &sender.relayed_for, portal, sender);
        self.gate_room_ping(env, &mut text).await?;
        self.link_chats(&mut text, portal).await;
        if let Some(media) = media {
            let mxc = match &media.source {
                MediaSource::Plain(mxc) => mxc.clone(),
                MediaSource::Encrypted(file) => file.url.clone(),
            };
            let limit = api_limit(
                self.config.max_attachment_bytes,
                self.connectors
                    .get(&portal.key.connector)
                    .and_then(|c| c.capabilities().max_attachment_bytes),
            );
            let data = self
                .matrix
                .download(mxc.as_str(), limit)
                .await
                .map_err(|e| match e.errcode() {
                    Some("M_TOO_LARGE") => Error::Connector(ConnectorError::Refused(format!(
                        "{} is larger than the {limit} bytes this bridge carries",
                        media.name
                    ))),
                    _ => e.into(),
                })?;
            let data = match &media.source {
                MediaSource::Plain(_) => data,
                MediaSource::Encrypted(file) => self.decrypt_attachment(&data, file)?,
            };
            text.attachments
                .push(mc::pending_to_attachment(media, data));
        }
        let (mut reply_to, mut thread_root) = (None, None);
        match &content.relates_to {
            Some(Relation::Reply(r)) => reply_to = Some(r.in_reply_to.event_id.clone()),
            Some(Relation::Thread(t)) => {
                thread_root = Some(t.event_id.clone());
                if !t.is_falling_back {
                    reply_to = t.in_reply_to.as_ref().map(|r| r.event_id.clone());
                }
            }
            _ => {}
        }
        let mut message = MatrixMessage {
            event_id: env.event_id.clone(),
            sender: env.sender.clone(),
            relayed_for: sender.relayed_for.clone(),
            content: text,
            reply_to: None,
            thread_root: None,
        };
        if let Some(r) = reply_to
            && let Some(m) = self.store.message_by_event(r.as_str()).await?
        {
            if sender.login.api.as_replies().is_some() {
                message.reply_to = Some(m.remote_id);
            } else {
                self.notice(
                    &env.room_id,
                    &format!(
                        "{} has no replies; the message was sent without its reply.",
                        portal.key.connector
                    ),
                )
                .await;
            }
        }
        if let Some(root) = thread_root
            && let Some(m) = self.store.message_by_event(root.as_str()).await?
        {
            if sender.login.api.as_threads().is_some() {
                message.thread_root = Some(m.thread_root.unwrap_or(m.remote_id));
            } else {
                self.notice(
                    &env.room_id,
                    &format!(
                        "{} has no threads; the message was sent to the main chat.",
                        portal.key.connector
                    ),
                )
                .await;
            }
        }
        let platform = portal.key.connector.as_str();
        let sent = self
            .with_retries(platform, "send", SEND_RETRY, || {
                api.send_message(portal, &message)
            })
            .await?;
        let record = MessageRecord {
            portal: portal.key.clone(),
            remote_id: sent.id,
            part: String::new(),
            event_id: env.event_id.clone(),
            room_id: env.room_id.clone(),
            sender_mxid: env.sender.clone(),
            remote_sender: sender.login.login.remote_user.clone(),
            thread_root: message.thread_root,
            timestamp_ms: sent.timestamp_ms.unwrap_or(env.origin_server_ts),
        };
        // The message is out: a store hiccup must not turn into a "not bridged" notice.
        self.with_retries(platform, "record", SEND_RETRY, || {
            self.store.insert_message(&record)
        })
        .await?;
        Ok(true)
    }

    /// Finds the bridged chats of the portal's network that the message links to (room
    /// links), so the connector can name them as its own channel mentions.
    async fn link_chats(&self, content: &mut MessageContent, portal: &Portal) {
        let Some(html) = &content.html else { return };
        for room in crate::text::linked_room_ids(html) {
            match self.store.portal_by_room(&room).await {
                Ok(Some(p)) if p.key.connector == portal.key.connector => {
                    content.mentions.chats.push(MentionedChat {
                        matrix_room: room,
                        chat: p.key.chat,
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, room, "cannot look up a linked room"),
            }
        }
    }

    /// Resolves mentions to remote users and adds the relay prefix.
    fn decorate(
        &self,
        mut content: MessageContent,
        mentions: &Option<ruma::events::Mentions>,
        relayed_for: &Option<RelayedSender>,
        portal: &Portal,
        sender: &Sender,
    ) -> MessageContent {
        if let Some(m) = mentions {
            content.mentions = Mentions {
                users: m
                    .user_ids
                    .iter()
                    .map(|u| MentionedUser {
                        matrix_id: u.to_string(),
                        remote_id: self.remote_id_of(u.as_str(), portal),
                    })
                    .collect(),
                room: m.room,
                chats: Vec::new(),
            };
        }
        let relay_identity = self
            .connectors
            .get(&portal.key.connector)
            .is_some_and(|c| c.capabilities().relay_identity);
        if let Some(r) = relayed_for
            && !relay_identity
            && sender.relayed_for.is_some()
        {
            let html = content
                .html
                .take()
                .unwrap_or_else(|| escape_html(&content.body));
            content.html = Some(format!(
                "<strong>{}</strong>: {html}",
                escape_html(&r.display_name)
            ));
            content.body = format!("{}: {}", r.display_name, content.body);
        }
        content
    }

    fn remote_id_of(&self, mxid: &str, portal: &Portal) -> Option<crate::ids::RemoteUserId> {
        if let Some((c, u)) = self.namer.parse(mxid) {
            return (c == portal.key.connector).then_some(u);
        }
        self.login_of_user(&portal.key.connector, mxid)
            .map(|l| l.login.remote_user.clone())
    }

    async fn bridge_reaction(
        &self,
        env: &Envelope,
        portal: &Portal,
        sender: &Sender,
    ) -> Result<bool> {
        if sender.relayed_for.is_some() && sender.login.login.matrix_user != env.sender {
            return Ok(false); // a relay cannot react on someone's behalf without misattributing it
        }
        let content: ReactionEventContent = serde_json::from_value(env.content.clone())
            .map_err(|e| Error::Unknown(format!("malformed reaction: {e}")))?;
        let target_event = content.relates_to.event_id.to_string();
        let Some(target) = self.store.message_by_event(&target_event).await? else {
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
        self.store
            .insert_reaction(&ReactionRecord {
                portal: portal.key.clone(),
                target: target.remote_id,
                remote_sender: sender.login.login.remote_user.clone(),
                key,
                event_id: env.event_id.clone(),
            })
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
        if let Some(m) = self.store.message_by_event(&redacts).await? {
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
            self.store.delete_message(&portal.key, &m.remote_id).await?;
            return Ok(true);
        }
        if let Some(r) = self.store.reaction_by_event(&redacts).await? {
            if let Some(why) = self
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
            self.store.delete_reaction(&redacts).await?;
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
        Ok(true)
    }
}

fn api_limit(bridge: u64, connector: Option<u64>) -> u64 {
    connector.map_or(bridge, |c| c.min(bridge))
}
