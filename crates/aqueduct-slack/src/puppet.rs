//! A Matrix user's personal Slack login (a user token, `xoxp-`): their Matrix messages,
//! edits, deletes and reactions reach Slack as themselves, and their Matrix read receipts mark
//! Slack conversations read. It receives nothing itself: user tokens cannot open Socket Mode,
//! so the workspace app's login routes their events to it (see `routing.rs`).

use crate::calls::Calls;
use crate::config::SlackConfig;
use crate::convert::ts_millis;
use crate::puppets::Puppets;
use crate::web::SlackWeb;
use aqueduct_core::connector::{
    BridgeHandle, ChatInfo, ChatInfoHandler, ConnectorError, ConnectorResult, DeleteHandler,
    EditHandler, MembershipHandler, NetworkApi, NewLogin, ReactionHandler, ReadReceiptHandler,
    RemoteState, ReplyHandler, ThreadHandler, UserInfo,
};
use aqueduct_core::event::{MatrixMessage, MessageContent, RelayedSender, SentMessage};
use aqueduct_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::Portal;
use async_trait::async_trait;
use serde_json::json;
use std::sync::Arc;

/// Checks a user token with `auth.test` and describes the login it makes: id and remote user
/// `<team>-<user>`, the same form as ghosts, so the engine knows the account is its owner's.
pub(crate) async fn new_login(web: &SlackWeb, token: &str) -> ConnectorResult<NewLogin> {
    let me = web.call("auth.test", &[]).await?;
    let (Some(team), Some(user)) = (me["team_id"].as_str(), me["user_id"].as_str()) else {
        return Err(ConnectorError::Refused(
            "auth.test did not say which team and user the token belongs to".into(),
        ));
    };
    if me["bot_id"].is_string() {
        return Err(ConnectorError::BadInput(
            "that is a bot token; log in with your own user token (xoxp-...)".into(),
        ));
    }
    let id = format!("{team}-{user}");
    Ok(NewLogin {
        id: LoginId::new(id.clone()),
        remote_user: RemoteUserId::new(id),
        remote_name: format!(
            "{} ({})",
            me["user"].as_str().unwrap_or(user),
            me["team"].as_str().unwrap_or(team)
        ),
        secret: json!({ "user_token": token, "team_id": team, "user_id": user }),
    })
}

/// A personal login.
pub struct SlackPuppet {
    pub(crate) web: SlackWeb,
    pub(crate) team: String,
    pub(crate) user: String,
    pub(crate) login: LoginId,
    pub(crate) bridge: Arc<dyn BridgeHandle>,
    pub(crate) config: SlackConfig,
    pub(crate) puppets: Puppets,
    /// The workspace, for the rooms' bridge info.
    pub(crate) workspace: crate::workspace::Workspace,
}

impl SlackPuppet {
    fn calls(&self) -> Calls<'_> {
        Calls {
            web: &self.web,
            team: &self.team,
            max_file_bytes: self.config.max_file_bytes,
        }
    }
}

#[async_trait]
impl NetworkApi for SlackPuppet {
    async fn network_info(&self) -> Option<aqueduct_core::connector::NetworkInfo> {
        self.workspace.info(&self.web).await
    }

    /// Checks the token; a dead one logs the user out (and tells them) through the engine.
    async fn connect(&self) -> ConnectorResult<()> {
        match self.web.call("auth.test", &[]).await {
            Ok(_) => {
                self.puppets
                    .register(&self.team, &self.user, &self.login, &self.web);
                // What the user's own conversations received while the bridge was away; the
                // app login reads it with this login's token.
                if let Some(app) = self.puppets.app_of(&self.team) {
                    let (team, user) = (self.team.clone(), self.user.clone());
                    tokio::spawn(async move { app.catch_up_owned_by(&team, &user).await });
                }
                self.bridge
                    .report_state(&self.login, RemoteState::Connected);
                Ok(())
            }
            Err(ConnectorError::BadCredentials(reason)) => {
                self.bridge
                    .report_state(&self.login, RemoteState::BadCredentials(reason.clone()));
                Err(ConnectorError::BadCredentials(reason))
            }
            Err(e) => {
                // Sending still works once Slack is back: register now so the user's events
                // are theirs meanwhile.
                self.puppets
                    .register(&self.team, &self.user, &self.login, &self.web);
                self.bridge
                    .report_state(&self.login, RemoteState::TransientDisconnect(e.to_string()));
                Ok(())
            }
        }
    }

    async fn disconnect(&self) {
        self.puppets.unregister(&self.team, &self.user, &self.login);
    }

    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        let bot = self.puppets.bot_of(&self.team);
        let hidden: Vec<&str> = bot.as_deref().into_iter().collect();
        self.calls().chat_info(chat, &hidden).await
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        self.calls().user_info(user).await
    }

    /// Posts as the user: no `username` or icon, Slack shows their own name.
    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        if !message.content.attachments.is_empty() {
            return self.calls().send_files(portal, message).await;
        }
        let ts = self.calls().post_text(portal, message, Vec::new()).await?;
        Ok(SentMessage {
            timestamp_ms: Some(ts_millis(&ts)),
            id: RemoteMessageId::new(ts),
        })
    }

    fn sends_as_owner(&self) -> bool {
        true
    }

    fn as_custom_emoji(&self) -> Option<&dyn aqueduct_core::connector::CustomEmojiHandler> {
        Some(self)
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
    fn as_read_receipts(&self) -> Option<&dyn ReadReceiptHandler> {
        Some(self)
    }
    fn as_chat_info_changes(&self) -> Option<&dyn ChatInfoHandler> {
        Some(self)
    }
    fn as_membership(&self) -> Option<&dyn MembershipHandler> {
        Some(self)
    }
}

impl ReplyHandler for SlackPuppet {}
impl ThreadHandler for SlackPuppet {}

#[async_trait]
impl EditHandler for SlackPuppet {
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        _relayed_for: Option<&RelayedSender>,
    ) -> ConnectorResult<()> {
        // The app sees the edit come back as `message_changed` by this user, possibly before
        // Slack's answer arrives here: expect it first, and drop the expectation on failure.
        let (channel, ts) = (portal.key.chat.as_str(), target.as_str());
        let sent = crate::calls::text_for(content);
        self.puppets.expect_edit_echo(channel, ts, &sent);
        match self.calls().edit(portal, target, content).await {
            Ok(stored) => {
                if stored != sent {
                    self.puppets.expect_edit_echo(channel, ts, &stored);
                }
                Ok(())
            }
            Err(e) => {
                self.puppets.take_edit_echo(channel, ts, &sent);
                Err(e)
            }
        }
    }
}

crate::channel_handlers::delegate_channel_handlers!(SlackPuppet);

#[async_trait]
impl ReadReceiptHandler for SlackPuppet {
    /// `conversations.mark`. A file shared without a message has no `ts` to mark up to.
    async fn mark_read(&self, portal: &Portal, up_to: &RemoteMessageId) -> ConnectorResult<()> {
        if up_to.as_str().starts_with("file:") {
            return Ok(());
        }
        self.calls()
            .on_channel("conversations.mark", portal, ("ts", up_to.to_string()))
            .await
    }
}
