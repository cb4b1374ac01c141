//! One logged-in Slack workspace app: receiving through Socket Mode, sending through the Web API.

use crate::checkpoints::Checkpoints;
use crate::config::SlackConfig;
use crate::convert::{self, Context, slack_user, ts_millis};
use crate::web::SlackWeb;
use aqueduct_core::connector::{
    BackfillHandler, BridgeHandle, ChatInfo, ChatInfoHandler, ConnectorError, ConnectorResult,
    DeleteHandler, EditHandler, MembershipHandler, NetworkApi, ReactionHandler, RemoteAvatar,
    RemoteState, ReplyHandler, ThreadHandler, UserInfo,
};
use aqueduct_core::event::{
    Attachment, AttachmentKind, MatrixMessage, MessageContent, RelayedSender, RemoteEvent,
    RemoteEventKind, SentMessage,
};
use aqueduct_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::Portal;
use async_trait::async_trait;
use serde_json::{Value, json};
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
    /// Itself, for spawning tasks that outlive a call.
    pub(crate) me: std::sync::Weak<SlackLogin>,
    /// The connector's registry of app logins when events arrive over HTTP; `None` for
    /// Socket Mode.
    pub(crate) http_events: Option<Arc<crate::app_logins::AppLogins>>,
}

impl SlackLogin {
    fn context<'a>(&'a self, matrix_id: &'a dyn Fn(&RemoteUserId) -> String) -> Context<'a> {
        Context {
            team: &self.team,
            bot_user: &self.bot_user,
            bot_id: self.bot_id.as_deref(),
            login: &self.login,
            matrix_id,
        }
    }

    /// Converts an event and downloads its files.
    pub(crate) async fn to_remote(&self, ev: &Value) -> Option<RemoteEvent> {
        let bridge = self.bridge.clone();
        let matrix_id = move |u: &RemoteUserId| bridge.matrix_id_for(u);
        let mut event = convert::event(ev, &self.context(&matrix_id))?;
        if let RemoteEventKind::Message { content, .. } = &mut event.kind {
            for (name, mime, url) in convert::files(ev) {
                match self.bot.download(&url, self.config.max_file_bytes).await {
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
    /// taking the next event). The returned future resolves once the event is in Matrix and
    /// its channel's checkpoint has advanced, or with the reason it is not; both transports
    /// (Socket Mode and HTTP) acknowledge through it. An event that is not bridged at all
    /// resolves `Ok` at once.
    pub(crate) async fn deliver(
        &self,
        ev: &Value,
    ) -> futures_util::future::BoxFuture<'static, Result<(), aqueduct_core::Error>> {
        if let Some(reason) = self.lost_access(ev) {
            self.bridge
                .report_state(&self.login, RemoteState::BadCredentials(reason));
            return Box::pin(async { Ok(()) });
        }
        let Some(event) = self.to_remote(ev).await else {
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
        let receipt = self.bridge.queue_remote_event(&self.login, event);
        let me = self.me.upgrade();
        Box::pin(async move {
            receipt.await?;
            if let (Some(ts), Some(me)) = (ts, me) {
                me.advance_checkpoint(&channel, &ts, root.as_deref()).await;
            }
            Ok(())
        })
    }

    /// Queues the envelope's event (see [`Self::deliver`]) and acknowledges it once the
    /// event is in Matrix.
    pub(crate) async fn handle_envelope(
        &self,
        envelope_id: String,
        frame: &Value,
        acks: mpsc::UnboundedSender<String>,
    ) {
        let delivered = self.deliver(&frame["payload"]["event"]).await;
        tokio::spawn(async move {
            match delivered.await {
                Ok(()) => {
                    let _ = acks.send(envelope_id);
                }
                // Not acknowledged: Slack delivers it again, or the catch-up finds it.
                Err(aqueduct_core::Error::ShuttingDown) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "Slack event not bridged");
                    let _ = acks.send(envelope_id);
                }
            }
        });
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

    fn text_for(&self, content: &MessageContent) -> String {
        let slack_ids: HashMap<&str, String> = content
            .mentions
            .users
            .iter()
            .filter_map(|u| {
                u.remote_id
                    .as_ref()
                    .map(|r| (u.matrix_id.as_str(), slack_user(r).to_owned()))
            })
            .collect();
        let text = aqueduct_format::slack::matrix_to_mrkdwn(
            &content.body,
            content.html.as_deref(),
            &|mxid| slack_ids.get(mxid).cloned(),
        );
        if content.mentions.room && !text.contains("<!channel>") && !text.contains("<!here>") {
            return format!("<!channel> {text}");
        }
        text
    }

    /// Uploads a message's files (`files.getUploadURLExternal`, the upload, then
    /// `files.completeUploadExternal`), with the text as the comment. The message's id is its
    /// `ts` when Slack reports the share, else `file:<id>` (which deletes with `files.delete`).
    async fn send_files(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        let mut files = Vec::new();
        for att in &message.content.attachments {
            if att.data.len() as u64 > self.config.max_file_bytes {
                return Err(ConnectorError::Refused(format!(
                    "{} is larger than the {} bytes this bridge sends to Slack",
                    att.name, self.config.max_file_bytes
                )));
            }
            let slot = self
                .bot
                .call(
                    "files.getUploadURLExternal",
                    &[
                        ("filename", att.name.clone()),
                        ("length", att.data.len().to_string()),
                    ],
                )
                .await?;
            let (Some(url), Some(id)) = (slot["upload_url"].as_str(), slot["file_id"].as_str())
            else {
                return Err(ConnectorError::Temporary(
                    "files.getUploadURLExternal answered without upload_url or file_id".into(),
                ));
            };
            self.bot.upload(url, att.data.clone()).await?;
            files.push(json!({ "id": id, "title": att.name }));
        }
        let mut comment = if message.content.body.is_empty() {
            String::new()
        } else {
            self.text_for(&message.content)
        };
        if let Some(r) = &message.relayed_for {
            // Uploads cannot carry a username: name the sender in the comment.
            comment = if comment.is_empty() {
                format!("*{}* sent a file", r.display_name)
            } else {
                format!("*{}*: {comment}", r.display_name)
            };
        }
        let channel = portal.key.chat.to_string();
        let mut params = vec![
            ("files", Value::Array(files).to_string()),
            ("channel_id", channel.clone()),
        ];
        if !comment.is_empty() {
            params.push(("initial_comment", comment));
        }
        if let Some(root) = message.thread_root.as_ref().or(message.reply_to.as_ref()) {
            params.push(("thread_ts", root.to_string()));
        }
        let done = self
            .bot
            .call("files.completeUploadExternal", &params)
            .await?;
        let file = &done["files"][0];
        let shared_ts = ["public", "private"].iter().find_map(|k| {
            file["shares"][*k][channel.as_str()][0]["ts"]
                .as_str()
                .map(str::to_owned)
        });
        let id = match shared_ts {
            Some(ts) => ts,
            None => format!("file:{}", file["id"].as_str().unwrap_or_default()),
        };
        Ok(SentMessage {
            timestamp_ms: None,
            id: RemoteMessageId::new(id),
        })
    }

    fn identity(params: &mut Vec<(&'static str, String)>, relayed_for: Option<&RelayedSender>) {
        if let Some(r) = relayed_for {
            params.push(("username", r.display_name.clone()));
        }
    }
}

#[async_trait]
impl NetworkApi for SlackLogin {
    async fn connect(&self) -> ConnectorResult<()> {
        self.bot.call("auth.test", &[]).await?;
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
        let info = self
            .bot
            .call("conversations.info", &[("channel", chat.to_string())])
            .await?;
        let c = &info["channel"];
        let is_direct = c["is_im"].as_bool().unwrap_or(false);
        let members = if is_direct {
            c["user"]
                .as_str()
                .map(|u| vec![convert::user_id(&self.team, u)])
                .unwrap_or_default()
        } else {
            let m = self
                .bot
                .call(
                    "conversations.members",
                    &[("channel", chat.to_string()), ("limit", "200".into())],
                )
                .await?;
            m["members"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str())
                        .filter(|u| *u != self.bot_user)
                        .map(|u| convert::user_id(&self.team, u))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(ChatInfo {
            name: (!is_direct)
                .then(|| c["name"].as_str().map(str::to_owned))
                .flatten(),
            topic: c["topic"]["value"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            is_direct,
            members,
        })
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        let info = self
            .bot
            .call("users.info", &[("user", slack_user(user).to_owned())])
            .await?;
        let u = &info["user"];
        let p = &u["profile"];
        let name = [
            &p["display_name"],
            &p["real_name"],
            &u["real_name"],
            &u["name"],
        ]
        .into_iter()
        .filter_map(|v| v.as_str())
        .find(|s| !s.is_empty())
        .map(str::to_owned);
        let avatar = match p["image_72"].as_str() {
            Some(url) => match self.bot.download(url, 5 * 1024 * 1024).await {
                Ok(data) => Some(RemoteAvatar {
                    source: url.to_owned(),
                    mime: "image/png".into(),
                    data,
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "no Slack avatar");
                    None
                }
            },
            None => None,
        };
        Ok(UserInfo {
            display_name: name,
            avatar,
        })
    }

    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        if !message.content.attachments.is_empty() {
            return self.send_files(portal, message).await;
        }
        let mut params = vec![
            ("channel", portal.key.chat.to_string()),
            ("text", self.text_for(&message.content)),
        ];
        // Slack has no replies outside threads: a reply starts (or joins) the thread.
        if let Some(root) = message.thread_root.as_ref().or(message.reply_to.as_ref()) {
            params.push(("thread_ts", root.to_string()));
        }
        Self::identity(&mut params, message.relayed_for.as_ref());
        let sent = self.bot.call("chat.postMessage", &params).await?;
        let ts = sent["ts"].as_str().unwrap_or_default().to_owned();
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
        let params = [
            ("channel", portal.key.chat.to_string()),
            ("ts", target.to_string()),
            ("text", self.text_for(content)),
        ];
        self.bot.call("chat.update", &params).await?;
        Ok(())
    }
}

#[async_trait]
impl DeleteHandler for SlackLogin {
    async fn delete_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
    ) -> ConnectorResult<()> {
        match target.as_str().strip_prefix("file:") {
            Some(file) => {
                self.bot
                    .call("files.delete", &[("file", file.to_owned())])
                    .await?
            }
            None => {
                self.bot
                    .call(
                        "chat.delete",
                        &[
                            ("channel", portal.key.chat.to_string()),
                            ("ts", target.to_string()),
                        ],
                    )
                    .await?
            }
        };
        Ok(())
    }
}

fn reaction_name(key: &str) -> ConnectorResult<String> {
    if let Some(custom) = key.strip_prefix(':').and_then(|k| k.strip_suffix(':')) {
        return Ok(custom.to_owned());
    }
    aqueduct_format::emoji::to_shortcode(key).ok_or_else(|| {
        ConnectorError::Unsupported(format!("the reaction {key} (Slack has no such emoji)"))
    })
}

impl SlackLogin {
    /// Calls `reactions.add` / `reactions.remove`, treating `already_done` as success, so a
    /// repeated action is harmless.
    async fn react(
        &self,
        method: &str,
        already_done: &str,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        let params = [
            ("channel", portal.key.chat.to_string()),
            ("timestamp", target.to_string()),
            ("name", reaction_name(key)?),
        ];
        match self.bot.call(method, &params).await {
            Err(ConnectorError::Refused(e)) if e.ends_with(already_done) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait]
impl ReactionHandler for SlackLogin {
    async fn add_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        self.react("reactions.add", "already_reacted", portal, target, key)
            .await
    }

    async fn remove_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        self.react("reactions.remove", "no_reaction", portal, target, key)
            .await
    }
}

#[async_trait]
impl ChatInfoHandler for SlackLogin {
    async fn set_name(&self, portal: &Portal, name: &str) -> ConnectorResult<()> {
        self.bot
            .call(
                "conversations.rename",
                &[
                    ("channel", portal.key.chat.to_string()),
                    ("name", name.to_owned()),
                ],
            )
            .await?;
        Ok(())
    }

    async fn set_topic(&self, portal: &Portal, topic: &str) -> ConnectorResult<()> {
        self.bot
            .call(
                "conversations.setTopic",
                &[
                    ("channel", portal.key.chat.to_string()),
                    ("topic", topic.to_owned()),
                ],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl MembershipHandler for SlackLogin {
    async fn invite(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        self.bot
            .call(
                "conversations.invite",
                &[
                    ("channel", portal.key.chat.to_string()),
                    ("users", slack_user(user).to_owned()),
                ],
            )
            .await?;
        Ok(())
    }

    async fn kick(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        self.bot
            .call(
                "conversations.kick",
                &[
                    ("channel", portal.key.chat.to_string()),
                    ("user", slack_user(user).to_owned()),
                ],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl BackfillHandler for SlackLogin {
    async fn fetch_messages(
        &self,
        chat: &RemoteChatId,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<RemoteEvent>> {
        let mut params = vec![("channel", chat.to_string()), ("limit", limit.to_string())];
        if let Some(b) = before {
            params.push(("latest", b.to_string()));
            params.push(("inclusive", "false".into()));
        }
        let history = self.bot.call("conversations.history", &params).await?;
        let mut messages: Vec<Value> = history["messages"].as_array().cloned().unwrap_or_default();
        messages.reverse();
        let mut out = Vec::new();
        for mut m in messages {
            m["type"] = json!("message");
            m["channel"] = json!(chat.as_str());
            if let Some(ev) = self.to_remote(&m).await {
                out.push(ev);
            }
        }
        if let Some(newest) = out.last().and_then(|e| match &e.kind {
            RemoteEventKind::Message { id, .. } => Some(id.to_string()),
            _ => None,
        }) {
            self.advance_checkpoint(chat.as_str(), &newest, None).await;
        }
        Ok(out)
    }
}
