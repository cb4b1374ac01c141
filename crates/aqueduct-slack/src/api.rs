//! One logged-in Slack workspace app: receiving through Socket Mode, sending through the Web API.

use crate::calls::Calls;
use crate::checkpoints::Checkpoints;
use crate::config::SlackConfig;
use crate::convert::{self, Context, ts_millis};
use crate::seen_events::Claim;
use crate::web::SlackWeb;
use aqueduct_core::connector::{
    BackfillHandler, BridgeHandle, ChatInfo, ChatInfoHandler, ConnectorError, ConnectorResult,
    DeleteHandler, EditHandler, MembershipHandler, NetworkApi, ReactionHandler, RemoteState,
    ReplyHandler, ThreadHandler, UserInfo,
};
use aqueduct_core::event::{
    Attachment, AttachmentKind, MatrixMessage, MessageContent, RelayedSender, RemoteEvent,
    RemoteEventKind, SentMessage,
};
use aqueduct_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::Portal;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A workspace app login.
pub struct SlackLogin {
    pub(crate) bot: SlackWeb,
    pub(crate) app: SlackWeb,
    pub(crate) team: String,
    pub(crate) bot_user: String,
    pub(crate) bot_id: Option<String>,
    pub(crate) login: LoginId,
    pub(crate) bridge: Arc<dyn BridgeHandle>,
    pub(crate) config: SlackConfig,
    /// Where each channel's catch-up starts, persisted as the login's state.
    pub(crate) checkpoints: Mutex<Checkpoints>,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The connector's personal logins, to route their owners' events through them.
    pub(crate) puppets: crate::puppets::Puppets,
    /// Itself, for spawning tasks that outlive a call.
    pub(crate) me: std::sync::Weak<SlackLogin>,
    /// The connector's registry of app logins when events arrive over HTTP; `None` for
    /// Socket Mode.
    pub(crate) http_events: Option<Arc<crate::app_logins::AppLogins>>,
    /// The workspace's custom emoji.
    pub(crate) emoji: crate::custom_emoji::EmojiCache,
    /// Socket Mode deliveries by event id, so that Slack's second delivery of an event still
    /// being bridged is not queued again (see [`crate::acks`]).
    pub(crate) socket_deliveries: Arc<crate::seen_events::SeenEvents>,
    /// Names of mentioned users, for the text of their mention pills.
    pub(crate) mention_names: crate::mention_names::MentionNames,
    /// The bound on live events on their way to Matrix (`realtime_backlog`).
    pub(crate) backlog: crate::backlog::Backlog,
    /// The workspace, for the rooms' bridge info.
    pub(crate) workspace: crate::workspace::Workspace,
}

impl SlackLogin {
    fn context<'a>(
        &'a self,
        matrix_id: &'a dyn Fn(&RemoteUserId) -> String,
        channel_rooms: &'a HashMap<String, String>,
        user_names: &'a HashMap<String, String>,
    ) -> Context<'a> {
        Context {
            team: &self.team,
            bot_user: &self.bot_user,
            bot_id: self.bot_id.as_deref(),
            login: &self.login,
            matrix_id,
            channel_rooms,
            user_names,
        }
    }

    /// The Matrix rooms of the bridged channels an event's text mentions.
    async fn channel_rooms(&self, ev: &Value) -> HashMap<String, String> {
        let text = [&ev["text"], &ev["message"]["text"]]
            .iter()
            .filter_map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut channels = convert::mentioned_channels(&text);
        for blocks in [&ev["blocks"], &ev["message"]["blocks"]] {
            convert::block_channels(blocks, &mut channels);
        }
        let mut rooms = HashMap::new();
        for channel in channels {
            if let Some(room) = self
                .bridge
                .matrix_room_for(&RemoteChatId::new(channel.as_str()))
                .await
            {
                rooms.insert(channel, room);
            }
        }
        rooms
    }

    /// Converts an event and downloads its files with the bot token.
    pub(crate) async fn to_remote(&self, ev: &Value) -> Option<RemoteEvent> {
        self.to_remote_reading(ev, &self.bot).await
    }

    /// Converts an event and downloads its files with `files`' token (a user's, for their
    /// own conversations the bot cannot see).
    pub(crate) async fn to_remote_reading(
        &self,
        ev: &Value,
        files: &SlackWeb,
    ) -> Option<RemoteEvent> {
        let bridge = self.bridge.clone();
        let matrix_id = move |u: &RemoteUserId| bridge.matrix_id_for(u);
        let channel_rooms = self.channel_rooms(ev).await;
        let user_names = self.mention_names.of_event(&self.bot, ev).await;
        let mut event = convert::event(ev, &self.context(&matrix_id, &channel_rooms, &user_names))?;
        self.resolve_custom_emoji(&mut event).await;
        if let RemoteEventKind::Message { content, .. } = &mut event.kind {
            for (i, (name, mime, url)) in convert::files(ev).into_iter().enumerate() {
                let fetched = if i < aqueduct_connector::MAX_FILES_PER_MESSAGE {
                    files.download(&url, self.config.max_file_bytes).await
                } else {
                    Err(ConnectorError::Refused(format!(
                        "the message has more than {} files",
                        aqueduct_connector::MAX_FILES_PER_MESSAGE
                    )))
                };
                match fetched {
                    Ok(data) => {
                        let kind = if mime.starts_with("image/") {
                            AttachmentKind::Image
                        } else if mime.starts_with("video/") {
                            AttachmentKind::Video
                        } else if mime.starts_with("audio/") {
                            AttachmentKind::Audio
                        } else {
                            AttachmentKind::File
                        };
                        content.attachments.push(Attachment {
                            kind,
                            name,
                            mime,
                            data,
                            width: None,
                            height: None,
                        });
                    }
                    Err(e) => {
                        // Say so in the message rather than dropping the file silently.
                        content
                            .body
                            .push_str(&format!("\n[{name} was not bridged: {e}]"));
                    }
                }
            }
        }
        Some(event)
    }

    /// Converts and queues one Events API event (in arrival order: callers await this before
    /// taking the next event), given with its `event_callback` wrapper. The returned future
    /// resolves once the event is in Matrix and its channel's checkpoint has advanced, or with
    /// the reason it is not; both transports (Socket Mode and HTTP) acknowledge through it. An
    /// event that is not bridged at all resolves `Ok` at once.
    pub(crate) async fn deliver(
        &self,
        ev: &Value,
        wrapper: &Value,
    ) -> futures_util::future::BoxFuture<'static, Result<(), aqueduct_core::Error>> {
        if let Some(reason) = self.lost_access(ev) {
            self.bridge
                .report_state(&self.login, RemoteState::BadCredentials(reason));
            return Box::pin(async { Ok(()) });
        }
        match ev["type"].as_str() {
            Some("tokens_revoked") => self.revoke_puppets(ev),
            Some("emoji_changed") => self.emoji.changed(ev).await,
            _ => {}
        }
        let users = self.authorized_users(wrapper).await;
        // Files of a user's own conversation are read with their token.
        let reader = users
            .iter()
            .find_map(|(team, user)| self.puppets.web_of(team, user));
        let converted = self
            .to_remote_reading(ev, reader.as_ref().unwrap_or(&self.bot))
            .await;
        // A conversation the bot is not in belongs to the users it came through: its
        // checkpoint names the one whose token reads it back.
        let owner = users
            .iter()
            .find(|(team, user)| self.puppets.login_of(team, user).is_some())
            .cloned();
        let me = self.me.upgrade();
        let routed: Vec<(LoginId, RemoteEvent)> = match converted {
            None => Vec::new(),
            Some(event) if users.is_empty() => self.route(ev, event, None).into_iter().collect(),
            Some(event) => users
                .iter()
                .filter_map(|(team, user)| self.route(ev, event.clone(), Some((team, user))))
                .collect(),
        };
        let Some((_, event)) = routed.first() else {
            // Not bridged (the echo of the bridge's own action): still what Slack holds now.
            if let Some(me) = me {
                me.observe(ev).await;
            }
            return Box::pin(async { Ok(()) });
        };
        let channel = event.chat.to_string();
        // Only new messages move the checkpoint; a thread reply also marks its thread active.
        let (ts, root) = match &event.kind {
            RemoteEventKind::Message { thread_root, .. } => (
                ev["ts"].as_str().map(str::to_owned),
                thread_root.as_ref().map(|r| r.to_string()),
            ),
            _ => (None, None),
        };
        // A new message is remembered as soon as it is queued, so that the changes to it
        // that follow (each recorded once it is in Matrix, in a task of its own) find it.
        let is_new = ts.is_some();
        if let (true, Some(me)) = (is_new, &me) {
            me.observe(ev).await;
        }
        let receipts: Vec<_> = routed
            .into_iter()
            .map(|(login, event)| self.bridge.queue_remote_event(&login, event))
            .collect();
        let raw = ev.clone();
        Box::pin(async move {
            for receipt in receipts {
                receipt.await?;
            }
            if let Some(me) = me {
                if let Some(ts) = ts {
                    if let Some((team, user)) = &owner {
                        me.set_owner(&channel, (team, user)).await;
                    }
                    me.advance_checkpoint(&channel, &ts, root.as_deref()).await;
                }
                if !is_new {
                    me.observe(&raw).await;
                }
            }
            Ok(())
        })
    }

    /// Takes one Socket Mode envelope, in the socket's read loop and without waiting on
    /// anything: recognises a second delivery of an event already bridged or in flight, and
    /// starts the clock for its answer at once, by the rules of [`crate::acks`] (acknowledged
    /// through `acks` once it is in Matrix, or within Slack's 3 s when the catch-up would
    /// find it). Returns the bridging itself ([`Self::deliver`]: converting, downloading
    /// files, queueing), which the caller runs off the read loop in the order of the event's
    /// conversation; `None` when an earlier delivery is already doing it. `place` is the
    /// event's place in the login's backlog ([`crate::backlog`]), held until it is settled.
    pub(crate) fn accept_envelope(
        self: &Arc<Self>,
        envelope_id: String,
        frame: &Value,
        acks: mpsc::UnboundedSender<String>,
        place: tokio::sync::OwnedSemaphorePermit,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        let payload = frame["payload"].clone();
        let event = payload["event"].clone();
        // The bot's catch-up cannot read a user's own conversations.
        let covered = crate::acks::covered_by_catch_up(&event)
            && crate::routing::authorized_user(&payload["authorizations"]).is_none();
        let event_id = payload["event_id"].as_str().map(str::to_owned);
        let me = self.clone();
        let (outcome, work): (_, Option<futures_util::future::BoxFuture<'static, ()>>) =
            match event_id {
                Some(event_id) => {
                    let key = format!("{}:{event_id}", self.team);
                    match self.socket_deliveries.claim(&key) {
                        Claim::Seen(outcome) => {
                            tracing::debug!(
                                event_id,
                                retry = frame["retry_attempt"].as_u64(),
                                "Slack delivered an event again; not bridging it twice"
                            );
                            (outcome, None)
                        }
                        Claim::New(report) => {
                            let outcome = report.subscribe();
                            let work = Box::pin(async move {
                                let receipt = me.deliver(&event, &payload).await;
                                crate::acks::settle_in_background(
                                    me.socket_deliveries.clone(),
                                    key,
                                    report,
                                    Box::pin(async move {
                                        let outcome = crate::acks::outcome_of(receipt.await);
                                        drop(place);
                                        outcome
                                    }),
                                );
                            });
                            (outcome, Some(work))
                        }
                    }
                }
                // Not an Events API wrapper with an id: nothing to recognise a second
                // delivery by.
                None => {
                    let (report, outcome) = tokio::sync::watch::channel(None);
                    let work = Box::pin(async move {
                        let receipt = me.deliver(&event, &payload).await;
                        tokio::spawn(async move {
                            let _ = report.send(Some(crate::acks::outcome_of(receipt.await)));
                            drop(place);
                        });
                    });
                    (outcome, Some(work))
                }
            };
        tokio::spawn(async move {
            if crate::acks::answer(outcome, covered).await == crate::acks::Answer::Acknowledge {
                let _ = acks.send(envelope_id);
            }
        });
        work
    }

    /// Why the workspace app can no longer work, when `ev` says it was uninstalled or its
    /// bot token revoked.
    fn lost_access(&self, ev: &Value) -> Option<String> {
        match ev["type"].as_str() {
            Some("app_uninstalled") => {
                Some("the Slack app was uninstalled from the workspace".into())
            }
            Some("tokens_revoked")
                if ev["tokens"]["bot"]
                    .as_array()
                    .is_some_and(|b| b.iter().any(|u| u == self.bot_user.as_str())) =>
            {
                Some("the Slack app's bot token was revoked".into())
            }
            _ => None,
        }
    }

    /// Records that `channel` is the own conversation of Slack user `owner` (team, user).
    pub(crate) async fn set_owner(&self, channel: &str, owner: (&str, &str)) {
        let state = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .set_owner(channel, owner);
        if let Some(state) = state
            && let Err(e) = self.bridge.save_login_state(&self.login, state).await
        {
            tracing::warn!(error = %e, "cannot save the Slack checkpoint");
        }
    }

    /// Records that message `ts` of `channel` is in Matrix and saves the checkpoints now
    /// and then.
    pub(crate) async fn advance_checkpoint(
        &self,
        channel: &str,
        ts: &str,
        thread_root: Option<&str>,
    ) {
        let state = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .advance(channel, ts, thread_root);
        if let Some(state) = state
            && let Err(e) = self.bridge.save_login_state(&self.login, state).await
        {
            tracing::warn!(error = %e, "cannot save the Slack checkpoint");
        }
    }

    /// The Web API with the bot token.
    pub(crate) fn calls(&self) -> Calls<'_> {
        Calls {
            web: &self.bot,
            team: &self.team,
            max_file_bytes: self.config.max_file_bytes,
        }
    }
}

#[async_trait]
impl NetworkApi for SlackLogin {
    async fn connect(&self) -> ConnectorResult<()> {
        self.bot.call("auth.test", &[]).await?;
        self.puppets.set_bot(&self.team, &self.bot_user);
        self.puppets.set_app(&self.team, self.me.clone());
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| ConnectorError::Temporary("login dropped".into()))?;
        let handle = match &self.http_events {
            Some(logins) => tokio::spawn(crate::events_login::run(me, logins.clone())),
            None => tokio::spawn(crate::socket::run(me)),
        };
        if let Some(old) = self.task.lock().expect("task").replace(handle) {
            old.abort();
        }
        Ok(())
    }

    async fn network_info(&self) -> Option<aqueduct_core::connector::NetworkInfo> {
        self.workspace.info(&self.bot).await
    }

    async fn disconnect(&self) {
        if let Some(h) = self.task.lock().expect("task").take() {
            h.abort();
        }
        let unsaved = self.checkpoints.lock().expect("checkpoints").take_unsaved();
        if let Some(state) = unsaved
            && let Err(e) = self.bridge.save_login_state(&self.login, state).await
        {
            tracing::warn!(error = %e, "cannot save the Slack checkpoint");
        }
        if let Some(logins) = &self.http_events {
            logins.unregister(self);
        }
    }

    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        self.calls().chat_info(chat, &[&self.bot_user]).await
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        self.calls().user_info(user).await
    }

    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        if !message.content.attachments.is_empty() {
            return self.calls().send_files(portal, message).await;
        }
        let identity = message
            .relayed_for
            .iter()
            .flat_map(crate::relay_identity::params)
            .collect();
        let ts = self.calls().post_text(portal, message, identity).await?;
        // A channel that so far only had outgoing messages gets a checkpoint, so a catch-up
        // covers it. An existing checkpoint is not moved: a Slack message older than this one
        // may still be on its way to Matrix.
        let state = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .start(portal.key.chat.as_str(), &ts);
        if let Some(state) = state
            && let Err(e) = self.bridge.save_login_state(&self.login, state).await
        {
            tracing::warn!(error = %e, "cannot save the Slack checkpoint");
        }
        Ok(SentMessage {
            timestamp_ms: Some(ts_millis(&ts)),
            id: RemoteMessageId::new(ts),
        })
    }

    fn sends_as_owner(&self) -> bool {
        false
    }

    fn as_edits(&self) -> Option<&dyn EditHandler> {
        Some(self)
    }
    fn as_deletes(&self) -> Option<&dyn DeleteHandler> {
        Some(self)
    }
    fn as_reactions(&self) -> Option<&dyn ReactionHandler> {
        Some(self)
    }
    fn as_replies(&self) -> Option<&dyn ReplyHandler> {
        Some(self)
    }
    fn as_threads(&self) -> Option<&dyn ThreadHandler> {
        Some(self)
    }
    fn as_chat_info_changes(&self) -> Option<&dyn ChatInfoHandler> {
        Some(self)
    }
    fn as_membership(&self) -> Option<&dyn MembershipHandler> {
        Some(self)
    }
    fn as_backfill(&self) -> Option<&dyn BackfillHandler> {
        Some(self)
    }
    fn as_custom_emoji(&self) -> Option<&dyn aqueduct_core::connector::CustomEmojiHandler> {
        Some(self)
    }
}

impl ReplyHandler for SlackLogin {}
impl ThreadHandler for SlackLogin {}

#[async_trait]
impl EditHandler for SlackLogin {
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        _relayed_for: Option<&RelayedSender>,
    ) -> ConnectorResult<()> {
        self.calls().edit(portal, target, content).await?;
        Ok(())
    }
}

crate::channel_handlers::delegate_channel_handlers!(SlackLogin);
