//! One signed-in Teams account: sending as its owner through Graph (messages, edits, deletes,
//! reactions in chats) and receiving by polling (`poll.rs`).

use crate::config::TeamsConfig;
use crate::convert::matrix_to_teams;
use crate::graph::{
    Chat, ChatMessage, Collection, ConversationMember, ItemBody, NewChatMessage, ReactionRequest,
    User,
};
use crate::graph_client::Graph;
use crate::iso_time::parse_ms;
use crate::poll::encode;
use crate::poll_state::{PollState, SeenMessage};
use aqueduct_core::connector::{
    BridgeHandle, ChatInfo, ConnectorError, ConnectorResult, DeleteHandler, EditHandler,
    NetworkApi, ReactionHandler, RemoteState, UserInfo,
};
use aqueduct_core::event::{MatrixMessage, MessageContent, RelayedSender, SentMessage};
use aqueduct_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::{Login, Portal};
use async_trait::async_trait;
use reqwest::Method;
use std::sync::{Arc, Weak};
use tokio::sync::{Mutex, Notify};

/// A Teams login.
pub struct TeamsLogin {
    pub(crate) config: TeamsConfig,
    pub(crate) graph: Graph,
    pub(crate) login: Login,
    pub(crate) bridge: Arc<dyn BridgeHandle>,
    /// The polling memory; also held across a send and its recording, so a round never
    /// mistakes the bridge's own post for someone's new message.
    pub(crate) state: Mutex<PollState>,
    /// Wakes the polling loop early.
    pub(crate) poke: Notify,
    poller: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    me: Weak<TeamsLogin>,
}

impl TeamsLogin {
    pub(crate) fn new(
        config: TeamsConfig,
        graph: Graph,
        login: Login,
        bridge: Arc<dyn BridgeHandle>,
    ) -> Arc<Self> {
        let state = PollState::from_state(&login.state);
        Arc::new_cyclic(|me| Self {
            config,
            graph,
            login,
            bridge,
            state: Mutex::new(state),
            poke: Notify::new(),
            poller: std::sync::Mutex::new(None),
            me: me.clone(),
        })
    }

    pub(crate) fn id(&self) -> &str {
        self.login.id.as_str()
    }

    pub(crate) fn report(&self, state: RemoteState) {
        self.bridge.report_state(&self.login.id, state);
    }

    pub(crate) async fn save_state(&self, state: serde_json::Value) {
        if let Err(e) = self.bridge.save_login_state(&self.login.id, state).await {
            tracing::warn!(login = %self.id(), error = %e, "cannot save the Teams polling state; the next start repeats some work");
        }
    }

    fn message_path(portal: &Portal, target: &RemoteMessageId) -> String {
        format!(
            "/chats/{}/messages/{}",
            encode(portal.key.chat.as_str()),
            encode(target.as_str())
        )
    }

    /// The body Teams gets for `content`, with the relayed sender's name in front.
    fn body(content: &MessageContent, relayed_for: Option<&RelayedSender>) -> NewChatMessage {
        let (mut html, mentions) = matrix_to_teams(content);
        if let Some(sender) = relayed_for {
            html = format!(
                "<b>{}</b>: {html}",
                aqueduct_format::escape_html(&sender.display_name)
            );
        }
        NewChatMessage {
            body: ItemBody {
                content_type: Some("html".into()),
                content: Some(html),
            },
            mentions,
        }
    }
}

#[async_trait]
impl NetworkApi for TeamsLogin {
    async fn connect(&self) -> ConnectorResult<()> {
        self.report(RemoteState::Connecting);
        let _me: User = self.graph.get("/me", &[]).await?;
        let Some(me) = self.me.upgrade() else {
            return Ok(());
        };
        let task = tokio::spawn(crate::poll::run(me));
        if let Some(old) = self.poller.lock().expect("poller").replace(task) {
            old.abort();
        }
        self.report(RemoteState::Connected);
        Ok(())
    }

    async fn disconnect(&self) {
        if let Some(task) = self.poller.lock().expect("poller").take() {
            task.abort();
        }
        let state = self.state.lock().await.to_state();
        self.save_state(state).await;
    }

    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        let path = format!("/chats/{}", encode(chat.as_str()));
        let info: Chat = self.graph.get(&path, &[]).await?;
        let members: Collection<ConversationMember> =
            self.graph.get(&format!("{path}/members"), &[]).await?;
        let is_direct = info.chat_type.as_deref() == Some("oneOnOne");
        Ok(ChatInfo {
            name: if is_direct { None } else { info.topic.clone() },
            topic: None,
            is_direct,
            members: members
                .value
                .into_iter()
                .filter_map(|m| m.user_id.map(RemoteUserId::new))
                .collect(),
            avatar: None,
        })
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        let found: User = self
            .graph
            .get(&format!("/users/{}", encode(user.as_str())), &[])
            .await?;
        Ok(UserInfo {
            display_name: found.display_name.or(found.user_principal_name),
            avatar: None,
        })
    }

    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        if !message.content.attachments.is_empty() {
            return Err(ConnectorError::Unsupported(
                "files to Teams (not yet: the text of the message was not sent either)".into(),
            ));
        }
        let body = Self::body(&message.content, message.relayed_for.as_ref());
        let chat = portal.key.chat.as_str();
        // Held across the post and its recording: see `state`.
        let mut state = self.state.lock().await;
        let sent: ChatMessage = self
            .graph
            .post(&format!("/chats/{}/messages", encode(chat)), &body)
            .await?;
        let created_ms = sent.created_date_time.as_deref().and_then(parse_ms);
        state.chats.entry(chat.to_owned()).or_default().remember(
            &sent.id,
            SeenMessage {
                created_ms: created_ms.unwrap_or(0),
                ..SeenMessage::default()
            },
        );
        Ok(SentMessage {
            id: RemoteMessageId::new(sent.id),
            timestamp_ms: created_ms,
        })
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
}

#[async_trait]
impl EditHandler for TeamsLogin {
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        relayed_for: Option<&RelayedSender>,
    ) -> ConnectorResult<()> {
        let body = Self::body(content, relayed_for);
        let mut state = self.state.lock().await;
        self.graph
            .send(
                Method::PATCH,
                &Self::message_path(portal, target),
                Some(&body),
            )
            .await?;
        // The edit's own echo: remember it as bridged, whenever Graph dates it.
        let mark = state
            .chats
            .entry(portal.key.chat.as_str().to_owned())
            .or_default();
        let updated: Option<ChatMessage> = self
            .graph
            .get(&Self::message_path(portal, target), &[])
            .await
            .ok();
        if let (Some(updated), Some(seen)) = (updated, mark.seen.get_mut(target.as_str())) {
            seen.edited = updated.last_edited_date_time;
        }
        Ok(())
    }
}

#[async_trait]
impl DeleteHandler for TeamsLogin {
    async fn delete_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
    ) -> ConnectorResult<()> {
        let mut state = self.state.lock().await;
        self.graph
            .send::<()>(
                Method::POST,
                &format!("{}/softDelete", Self::message_path(portal, target)),
                None,
            )
            .await?;
        let mark = state
            .chats
            .entry(portal.key.chat.as_str().to_owned())
            .or_default();
        if let Some(seen) = mark.seen.get_mut(target.as_str()) {
            seen.deleted = true;
        }
        Ok(())
    }
}

#[async_trait]
impl ReactionHandler for TeamsLogin {
    async fn add_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        self.react(portal, target, key, true).await
    }

    async fn remove_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        self.react(portal, target, key, false).await
    }
}

impl TeamsLogin {
    async fn react(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
        add: bool,
    ) -> ConnectorResult<()> {
        let mut state = self.state.lock().await;
        let action = if add { "setReaction" } else { "unsetReaction" };
        self.graph
            .send(
                Method::POST,
                &format!("{}/{action}", Self::message_path(portal, target)),
                Some(&ReactionRequest {
                    reaction_type: crate::reactions::to_teams(key),
                }),
            )
            .await?;
        // Remembered as bridged, so the next round does not send it back.
        let me = self.login.remote_user.as_str().to_owned();
        let mark = state
            .chats
            .entry(portal.key.chat.as_str().to_owned())
            .or_default();
        if let Some(seen) = mark.seen.get_mut(target.as_str()) {
            let pair = (me, key.to_owned());
            if add {
                seen.reactions.insert(pair);
            } else {
                seen.reactions.remove(&pair);
            }
        }
        Ok(())
    }
}

/// The id a Teams login is stored under.
pub(crate) fn login_id(user: &User) -> LoginId {
    LoginId::new(user.id.clone())
}
