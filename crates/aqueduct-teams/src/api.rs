//! One signed-in Teams account: sending as its owner through Graph (messages with their
//! files, quoted replies and channel thread replies, edits, deletes, reactions, read
//! markers) in chats and team channels, and receiving by polling (`poll.rs`, `channels.rs`).
//! Messages relayed for Matrix users without a Teams login carry their name in front, which
//! the engine adds (Graph cannot post under another name).

use crate::config::TeamsConfig;
use crate::convert::matrix_to_teams;
use crate::graph::{
    Chat, ChatMessage, Collection, ConversationMember, ItemBody, MarkChatRead, NewChatMessage,
    ReactionRequest, ReplyWithQuote, TeamworkUserIdentity, User,
};
use crate::graph_client::{Graph, read_answer};
use crate::ids::{Conversation, reply_id, split_reply, thread_root_of};
use crate::iso_time::parse_ms;
use crate::poll::encode;
use crate::poll_state::{PollState, SeenMessage};
use aqueduct_connector::MediaGuard;
use aqueduct_core::connector::{
    BackfillHandler, BridgeHandle, ChatInfo, ConnectorError, ConnectorResult, DeleteHandler,
    EditHandler, NetworkApi, ReactionHandler, ReadReceiptHandler, RemoteState, ReplyHandler,
    ThreadHandler, UserInfo,
};
use aqueduct_core::event::{MatrixMessage, MessageContent, RelayedSender, SentMessage};
use aqueduct_core::ids::{LoginId, PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::{Login, Portal};
use async_trait::async_trait;
use reqwest::Method;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::{Mutex, Notify};

/// A Teams login.
pub struct TeamsLogin {
    pub(crate) config: TeamsConfig,
    pub(crate) graph: Graph,
    pub(crate) login: Login,
    pub(crate) bridge: Arc<dyn BridgeHandle>,
    /// Every download (files, inline images, photos) goes through it.
    pub(crate) media: MediaGuard,
    /// The polling memory; also held across a send and its recording, so a round never
    /// mistakes the bridge's own post for someone's new message.
    pub(crate) state: Mutex<PollState>,
    /// Posts whose outcome is unknown (Graph failed to answer): chat, visible text, when. A
    /// round that meets such a message from the signed-in user leaves it to the retry.
    uncertain_posts: std::sync::Mutex<Vec<(String, String, std::time::Instant)>>,
    /// When this login was loaded (ms since the epoch): the first polling round after a
    /// sign-in bridges what was written after it.
    pub(crate) started_ms: i64,
    /// Wakes the polling loop early.
    pub(crate) poke: Notify,
    /// Change notifications: subscriptions, keys, what they told (`subscriptions.rs`).
    pub(crate) notifications: crate::subscriptions::Notifications,
    /// Files folders' web URLs by item id (a `reference` attachment's `contentUrl` is its
    /// folder's URL and its name).
    pub(crate) folder_urls: Mutex<HashMap<String, String>>,
    /// Chats' tenant ids (for read markers).
    tenants: Mutex<HashMap<String, Option<String>>>,
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
        let media = MediaGuard::new([config.graph_url.as_str()]);
        let notifications =
            crate::subscriptions::Notifications::new(config.notification_settings(), &login.state);
        Arc::new_cyclic(|me| Self {
            config,
            graph,
            login,
            bridge,
            media,
            state: Mutex::new(state),
            poke: Notify::new(),
            started_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            uncertain_posts: std::sync::Mutex::new(Vec::new()),
            notifications,
            folder_urls: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
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
        let state = self.notifications.merged(state);
        if let Err(e) = self.bridge.save_login_state(&self.login.id, state).await {
            tracing::warn!(login = %self.id(), error = %e, "cannot save the Teams polling state; the next start repeats some work");
        }
    }

    /// The body Teams gets for `content` (a relayed sender's name is already in it: the
    /// engine puts it there, as Graph cannot post under another name).
    fn body(content: &MessageContent) -> NewChatMessage {
        let (html, mentions) = matrix_to_teams(content);
        NewChatMessage {
            body: ItemBody {
                content_type: Some("html".into()),
                content: Some(html),
            },
            mentions,
            attachments: Vec::new(),
            hosted_contents: Vec::new(),
        }
    }

    /// Remembers a message the bridge posted, so polling does not bring it back.
    /// Whether a message of `chat` with body `html` may be the bridge's own post whose answer
    /// was lost (within the last five minutes).
    pub(crate) fn is_uncertain_post(&self, chat: &str, html: &str) -> bool {
        let text = crate::earlier_posts::visible_text(html);
        let mut posts = self.uncertain_posts.lock().expect("uncertain posts");
        posts.retain(|(_, _, at)| at.elapsed() < std::time::Duration::from_secs(300));
        posts.iter().any(|(c, t, _)| c == chat && *t == text)
    }

    /// Notes (`unknown`) or forgets the outcome of a post of `html` into `chat`.
    fn note_uncertain_post(&self, chat: &str, html: &str, unknown: bool) {
        let text = crate::earlier_posts::visible_text(html);
        let mut posts = self.uncertain_posts.lock().expect("uncertain posts");
        posts.retain(|(c, t, _)| !(c == chat && *t == text));
        if unknown && posts.len() < 1000 {
            posts.push((chat.to_owned(), text, std::time::Instant::now()));
        }
    }

    fn remember_sent(state: &mut PollState, chat: &str, id: &str, sent: &ChatMessage) {
        let created_ms = sent.created_date_time.as_deref().and_then(parse_ms);
        state.chats.entry(chat.to_owned()).or_default().remember(
            id,
            SeenMessage {
                created_ms: created_ms.unwrap_or(0),
                posted_by_bridge: true,
                ..SeenMessage::default()
            },
        );
    }

    /// Posts a quoted reply in a chat: `replyWithQuote` (Graph v1.0), whose message carries
    /// the `messageReference` attachment. Where that action is missing (404, 405, 501) the
    /// same reply is posted with the attachment written by the bridge.
    async fn post_quote(
        &self,
        conv: Conversation<'_>,
        quoted: &str,
        body: NewChatMessage,
    ) -> ConnectorResult<ChatMessage> {
        let path = format!("{}/replyWithQuote", conv.messages_path());
        let request = ReplyWithQuote {
            message_ids: vec![quoted.to_owned()],
            reply_message: body.clone(),
        };
        let (status, text) = self
            .graph
            .try_call(Method::POST, &path, Some(&request))
            .await?;
        if !matches!(status, 404 | 405 | 501) {
            return read_answer(
                &path,
                reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
                &text,
            );
        }
        // A 404 may also mean the quoted message is gone: then the reply goes unquoted.
        let original = match self
            .graph
            .get::<ChatMessage>(&conv.message_path(quoted), &[])
            .await
        {
            Ok(m) if m.deleted_date_time.is_none() => m,
            Ok(_) | Err(ConnectorError::Refused(_)) => {
                tracing::info!(
                    status,
                    "the quoted Teams message is gone; replying without the quote"
                );
                return self.graph.post(&conv.messages_path(), &body).await;
            }
            Err(e) => return Err(e),
        };
        tracing::info!(
            status,
            "replyWithQuote is not offered here; posting the quote as an attachment"
        );
        let original = Some(original);
        let mut body = body;
        body.attachments.insert(
            0,
            crate::convert::quote_attachment(quoted, original.as_ref()),
        );
        let content = body.body.content.get_or_insert_with(String::new);
        *content = format!(
            "<attachment id=\"{}\"></attachment>{content}",
            aqueduct_format::escape_html(quoted)
        );
        self.graph.post(&conv.messages_path(), &body).await
    }

    /// The chat's tenant, for `markChatReadForUser` (kept per chat).
    async fn tenant_of(&self, chat: &str) -> ConnectorResult<Option<String>> {
        if let Some(t) = self.tenants.lock().await.get(chat) {
            return Ok(t.clone());
        }
        let found: Chat = self
            .graph
            .get(&format!("/chats/{}", encode(chat)), &[])
            .await?;
        self.tenants
            .lock()
            .await
            .insert(chat.to_owned(), found.tenant_id.clone());
        Ok(found.tenant_id)
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
        let task = if self.notifications.enabled() {
            tokio::spawn(crate::notifications::run(me))
        } else {
            tokio::spawn(crate::poll::run(me))
        };
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

    /// Stops receiving first, so no subscription is made again, then deletes the login's
    /// change-notification subscriptions (`DELETE /subscriptions/{id}`).
    async fn log_out(&self) {
        let task = self.poller.lock().expect("poller").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        crate::subscriptions::remove_all(self).await;
    }

    /// A team channel is watched only because it was bridged: unwatching it ends its delta
    /// queries and (through the subscription keeper) deletes its subscription. Chats stay
    /// received, as the user's own chats all are: their next message opens a fresh portal.
    async fn portal_unbridged(&self, portal: &PortalKey) -> ConnectorResult<()> {
        crate::channels::unwatch(self, portal.chat.as_str()).await;
        Ok(())
    }

    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        if let Conversation::Channel { team, channel } = Conversation::of(chat.as_str()) {
            return crate::channels::channel_info(self, team, channel, chat.as_str()).await;
        }
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
            ..ChatInfo::default()
        })
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        let found: User = self
            .graph
            .get(&format!("/users/{}", encode(user.as_str())), &[])
            .await?;
        // A photo that cannot be read leaves the ghost without one; its name still counts.
        let avatar = match crate::files::profile_photo(self, user.as_str()).await {
            Ok(photo) => photo,
            Err(e) => {
                tracing::info!(user = %user, error = %e, "cannot read the user's Teams photo");
                None
            }
        };
        Ok(UserInfo {
            display_name: found.display_name.or(found.user_principal_name),
            avatar,
        })
    }

    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        let chat = portal.key.chat.as_str();
        let conv = Conversation::of(chat);
        let mut body = Self::body(&message.content);
        crate::files::attach_outbound(self, conv, &message.content.attachments, &mut body).await?;
        // Held across the post and its recording: see `state`.
        let mut state = self.state.lock().await;
        // A send that may have reached Teams already is looked for before it is posted again
        // (chats; a channel post is still a duplicate window, see architecture.md).
        if message.maybe_sent_before
            && let Conversation::Chat(_) = conv
            && let Some(earlier) = crate::earlier_posts::find(
                &self.graph,
                &conv.messages_path(),
                self.login.remote_user.as_str(),
                body.body.content.as_deref().unwrap_or_default(),
                |id| {
                    state
                        .chats
                        .get(chat)
                        .and_then(|m| m.seen.get(id))
                        .is_some_and(|s| s.posted_by_bridge)
                },
            )
            .await
        {
            tracing::info!(event = %message.event_id, "found the earlier post of a retried message; not posting again");
            let id = earlier.id.clone();
            Self::remember_sent(&mut state, chat, &id, &earlier);
            return Ok(SentMessage {
                id: RemoteMessageId::new(id),
                timestamp_ms: earlier.created_date_time.as_deref().and_then(parse_ms),
            });
        }
        let html = body.body.content.clone().unwrap_or_default();
        self.graph.wait_post_turn(chat).await;
        let posted: ConnectorResult<(ChatMessage, String)> = async {
            Ok(match conv {
                Conversation::Chat(_) => {
                    // Teams chats have no threads: a Matrix thread message quotes what it answers.
                    let quoted = message
                        .reply_to
                        .as_ref()
                        .or(message.thread_root.as_ref())
                        .map(|q| q.as_str().to_owned());
                    let sent = match quoted {
                        Some(q) => self.post_quote(conv, &q, body).await?,
                        None => self.graph.post(&conv.messages_path(), &body).await?,
                    };
                    let id = sent.id.clone();
                    (sent, id)
                }
                Conversation::Channel { .. } => {
                    // A channel's replies live in threads: a Matrix reply joins its message's.
                    let root = message
                        .thread_root
                        .as_ref()
                        .or(message.reply_to.as_ref())
                        .map(|r| thread_root_of(r.as_str()).to_owned());
                    match root {
                        Some(root) => {
                            let sent: ChatMessage =
                                self.graph.post(&conv.replies_path(&root), &body).await?;
                            let id = reply_id(&root, &sent.id);
                            (sent, id)
                        }
                        None => {
                            let sent: ChatMessage =
                                self.graph.post(&conv.messages_path(), &body).await?;
                            let id = sent.id.clone();
                            (sent, id)
                        }
                    }
                }
            })
        }
        .await;
        // An unanswered post may be in Teams: the polling rounds leave it to the retry.
        self.note_uncertain_post(
            chat,
            &html,
            matches!(posted, Err(ConnectorError::Temporary(_))),
        );
        let (sent, id) = posted?;
        Self::remember_sent(&mut state, chat, &id, &sent);
        Ok(SentMessage {
            id: RemoteMessageId::new(id),
            timestamp_ms: sent.created_date_time.as_deref().and_then(parse_ms),
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

    fn as_replies(&self) -> Option<&dyn ReplyHandler> {
        Some(self)
    }

    fn as_threads(&self) -> Option<&dyn ThreadHandler> {
        Some(self)
    }

    fn as_backfill(&self) -> Option<&dyn BackfillHandler> {
        Some(self)
    }

    fn as_read_receipts(&self) -> Option<&dyn ReadReceiptHandler> {
        Some(self)
    }

    fn as_chat_info_changes(&self) -> Option<&dyn aqueduct_core::connector::ChatInfoHandler> {
        Some(self)
    }

    fn as_membership(&self) -> Option<&dyn aqueduct_core::connector::MembershipHandler> {
        Some(self)
    }
}

impl ReplyHandler for TeamsLogin {}

impl ThreadHandler for TeamsLogin {}

#[async_trait]
impl EditHandler for TeamsLogin {
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        _relayed_for: Option<&RelayedSender>,
    ) -> ConnectorResult<()> {
        let chat = portal.key.chat.as_str();
        let path = Conversation::of(chat).message_path(target.as_str());
        let mut body = Self::body(content);
        // The message keeps its files and its quote: the new body names them again.
        if let Ok(current) = self.graph.get::<ChatMessage>(&path, &[]).await {
            let kept: Vec<_> = current
                .attachments
                .into_iter()
                .filter(|a| {
                    matches!(
                        a.content_type.as_deref(),
                        Some("reference" | "messageReference")
                    ) && a.id.is_some()
                })
                .collect();
            let content = body.body.content.get_or_insert_with(String::new);
            for a in &kept {
                let tag = format!(
                    "<attachment id=\"{}\"></attachment>",
                    aqueduct_format::escape_html(a.id.as_deref().unwrap_or_default())
                );
                if a.content_type.as_deref() == Some("messageReference") {
                    content.insert_str(0, &tag);
                } else {
                    content.push_str(&tag);
                }
            }
            body.attachments = kept;
        }
        let mut state = self.state.lock().await;
        self.graph.send(Method::PATCH, &path, Some(&body)).await?;
        // The edit's own echo: remember it as bridged, whenever Graph dates it.
        let updated: Option<ChatMessage> = self.graph.get(&path, &[]).await.ok();
        let mark = state.chats.entry(chat.to_owned()).or_default();
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
        let chat = portal.key.chat.as_str();
        let conv = Conversation::of(chat);
        // Graph documents a chat message's softDelete under its author:
        // `/users/{user}/chats/{chat}/messages/{id}/softDelete`.
        let path = match conv {
            Conversation::Chat(id) => format!(
                "/users/{}/chats/{}/messages/{}/softDelete",
                encode(self.login.remote_user.as_str()),
                encode(id),
                encode(split_reply(target.as_str()).1)
            ),
            Conversation::Channel { .. } => {
                format!("{}/softDelete", conv.message_path(target.as_str()))
            }
        };
        let mut state = self.state.lock().await;
        self.graph.send::<()>(Method::POST, &path, None).await?;
        let mark = state.chats.entry(chat.to_owned()).or_default();
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

#[async_trait]
impl ReadReceiptHandler for TeamsLogin {
    /// Chats only: Graph's `markChatReadForUser` (delegated `Chat.ReadWrite`) moves the
    /// signed-in user's read marker to the chat's newest message. Channels have no read
    /// markers in Graph.
    async fn mark_read(&self, portal: &Portal, _up_to: &RemoteMessageId) -> ConnectorResult<()> {
        let Conversation::Chat(chat) = Conversation::of(portal.key.chat.as_str()) else {
            return Ok(());
        };
        let tenant_id = self.tenant_of(chat).await?;
        self.graph
            .send(
                Method::POST,
                &format!("/chats/{}/markChatReadForUser", encode(chat)),
                Some(&MarkChatRead {
                    user: TeamworkUserIdentity {
                        id: self.login.remote_user.as_str().to_owned(),
                        tenant_id,
                    },
                }),
            )
            .await
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
        let chat = portal.key.chat.as_str();
        let action = if add { "setReaction" } else { "unsetReaction" };
        let path = format!(
            "{}/{action}",
            Conversation::of(chat).message_path(target.as_str())
        );
        let mut state = self.state.lock().await;
        self.graph
            .send(
                Method::POST,
                &path,
                Some(&ReactionRequest {
                    reaction_type: crate::reactions::to_teams(key),
                }),
            )
            .await?;
        // Remembered as bridged, so the next round does not send it back.
        let me = self.login.remote_user.as_str().to_owned();
        let mark = state.chats.entry(chat.to_owned()).or_default();
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
