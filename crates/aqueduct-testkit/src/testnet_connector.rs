//! The connector for the test network: proves the engine before any real platform exists.
//! It follows the same rules a real connector must: checkpoint only after the engine's
//! receipt, resume from the checkpoint after a restart, filter its own echoes.

use aqueduct_core::connector::{
    BackfillHandler, BridgeHandle, Capabilities, ChatInfo, ChatInfoHandler, CommandSpec,
    ConnectorError, ConnectorResult, DeleteHandler, EditHandler, LoginFlow, LoginStep,
    MembershipHandler, NetworkApi, NetworkConnector, NewLogin, ReactionHandler, ReadReceiptHandler,
    RemoteAvatar, RemoteState, ReplyHandler, ThreadHandler, TypingHandler, UserInfo,
};
use aqueduct_core::event::{
    Attachment, AttachmentKind, MatrixMessage, MembershipChange, MentionedUser, Mentions,
    MessageContent, RemoteEvent, RemoteEventKind, RemoteSender,
};
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::{Login, Portal};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A Matrix message whose text contains this makes `send_message` panic (tests of the
/// engine's panic supervision and dead letters).
pub const PANIC_TEXT: &str = "aqueduct-test:panic";
/// A Matrix message whose text contains this makes `send_message` never return (tests that
/// stop the bridge in the middle of handling an event, as a crash would).
pub const HANG_TEXT: &str = "aqueduct-test:hang";

/// Config section `platforms.testnet`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestNetConfig {
    /// Base URL of the test network.
    pub url: String,
}

/// The connector.
pub struct TestNetConnector {
    config: TestNetConfig,
    http: reqwest::Client,
}

/// The factory the test bridge binary registers.
pub fn factory() -> aqueduct::ConnectorFactory {
    aqueduct::ConnectorFactory {
        id: "testnet",
        build: |section, _| {
            let config: TestNetConfig =
                serde_norway::from_value(section).map_err(|e| e.to_string())?;
            Ok(Arc::new(TestNetConnector::new(config)) as Arc<dyn NetworkConnector>)
        },
    }
}

fn http_error(e: reqwest::Error) -> ConnectorError {
    ConnectorError::Temporary(e.to_string())
}

async fn check(resp: reqwest::Response) -> ConnectorResult<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let err = body["error"].as_str().unwrap_or("unknown").to_owned();
    match status.as_u16() {
        200..=299 => Ok(body),
        401 => Err(ConnectorError::BadCredentials(err)),
        404 => Err(ConnectorError::Refused(err)),
        _ => Err(ConnectorError::Temporary(format!("HTTP {status}: {err}"))),
    }
}

impl TestNetConnector {
    /// A connector for the network at `config.url`.
    pub fn new(config: TestNetConfig) -> Self {
        Self {
            config,
            http: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl NetworkConnector for TestNetConnector {
    fn id(&self) -> ConnectorId {
        ConnectorId::new("testnet")
    }

    fn display_name(&self) -> &str {
        "Test network"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relay_identity: false,
            max_attachment_bytes: Some(1024 * 1024),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![LoginFlow {
            id: "token".into(),
            description: "paste an access token".into(),
        }]
    }

    async fn start_login(
        &self,
        _matrix_user: &str,
        _flow: &str,
        args: &[String],
    ) -> ConnectorResult<LoginStep> {
        let token = args
            .first()
            .ok_or_else(|| ConnectorError::BadInput("usage: login testnet <token>".into()))?;
        let me = check(
            self.http
                .get(format!("{}/whoami", self.config.url))
                .bearer_auth(token)
                .send()
                .await
                .map_err(http_error)?,
        )
        .await?;
        let user = me["user_id"].as_str().unwrap_or_default().to_owned();
        Ok(LoginStep::Complete(NewLogin {
            id: LoginId::new(user.clone()),
            remote_user: RemoteUserId::new(user.clone()),
            remote_name: me["name"].as_str().unwrap_or(&user).to_owned(),
            secret: json!({ "token": token }),
        }))
    }

    async fn load_login(
        &self,
        login: &Login,
        bridge: Arc<dyn BridgeHandle>,
    ) -> ConnectorResult<Arc<dyn NetworkApi>> {
        let token = login.secret["token"]
            .as_str()
            .ok_or_else(|| ConnectorError::BadCredentials("no token stored".into()))?
            .to_owned();
        Ok(Arc::new(TestNetApi {
            url: self.config.url.clone(),
            token,
            login: login.id.clone(),
            me: login.remote_user.clone(),
            cursor: Mutex::new(login.state.get("cursor").and_then(|c| c.as_u64())),
            http: self.http.clone(),
            bridge,
            own_edits: Arc::new(Mutex::new(HashSet::new())),
            poller: Mutex::new(None),
        }))
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![CommandSpec {
            name: "whoami".into(),
            help: "show your test network account".into(),
            level: aqueduct_core::permissions::Level::User,
        }]
    }

    async fn run_command(
        &self,
        command: &str,
        _args: &[String],
        login: Option<&Login>,
    ) -> ConnectorResult<String> {
        match (command, login) {
            ("whoami", Some(l)) => Ok(format!(
                "You are {} ({}) on the test network.",
                l.remote_name, l.remote_user
            )),
            ("whoami", None) => Ok("You are not logged in to the test network.".into()),
            _ => Err(ConnectorError::Unsupported(command.into())),
        }
    }
}

/// One logged-in test network account.
pub struct TestNetApi {
    url: String,
    token: String,
    login: LoginId,
    me: RemoteUserId,
    cursor: Mutex<Option<u64>>,
    http: reqwest::Client,
    bridge: Arc<dyn BridgeHandle>,
    /// Edits this login made itself, to drop their echo.
    own_edits: Arc<Mutex<HashSet<(String, String)>>>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl TestNetApi {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    fn to_event(&self, e: &Value) -> Option<RemoteEvent> {
        let sender = e["sender"].as_str()?.to_owned();
        let chat = e["chat"].as_str()?.to_owned();
        let target = || RemoteMessageId::new(e["target"].as_str().unwrap_or_default());
        let kind = match e["type"].as_str()? {
            "message" => {
                let m = &e["message"];
                let attachments = m["attachments"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| Attachment {
                                kind: if x["mime"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .starts_with("image/")
                                {
                                    AttachmentKind::Image
                                } else {
                                    AttachmentKind::File
                                },
                                name: x["name"].as_str().unwrap_or("file").into(),
                                mime: x["mime"]
                                    .as_str()
                                    .unwrap_or("application/octet-stream")
                                    .into(),
                                data: hex::decode(x["data_hex"].as_str().unwrap_or_default())
                                    .unwrap_or_default(),
                                width: None,
                                height: None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mentions = Mentions {
                    users: m["mentions"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|u| u.as_str())
                                .map(|u| MentionedUser {
                                    matrix_id: self.bridge.matrix_id_for(&RemoteUserId::new(u)),
                                    remote_id: Some(RemoteUserId::new(u)),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    room: false,
                    chats: Vec::new(),
                };
                RemoteEventKind::Message {
                    id: RemoteMessageId::new(m["id"].as_str()?),
                    content: MessageContent {
                        body: m["text"].as_str().unwrap_or_default().into(),
                        html: m["html"].as_str().map(str::to_owned),
                        mentions,
                        attachments,
                        ..Default::default()
                    },
                    reply_to: m["reply_to"].as_str().map(RemoteMessageId::new),
                    thread_root: m["thread_root"].as_str().map(RemoteMessageId::new),
                }
            }
            "edit" => {
                let text = e["text"].as_str().unwrap_or_default().to_owned();
                if self.own_edits.lock().unwrap().remove(&(
                    e["target"].as_str().unwrap_or_default().to_owned(),
                    text.clone(),
                )) {
                    return None;
                }
                RemoteEventKind::Edit {
                    target: target(),
                    content: MessageContent::text(text),
                }
            }
            "delete" => RemoteEventKind::Delete { target: target() },
            "reaction_add" => RemoteEventKind::ReactionAdd {
                custom: None,
                target: target(),
                key: e["key"].as_str()?.into(),
            },
            "reaction_remove" => RemoteEventKind::ReactionRemove {
                target: target(),
                key: e["key"].as_str()?.into(),
            },
            "typing" => RemoteEventKind::Typing {
                typing: e["typing"].as_bool()?,
            },
            "read" => RemoteEventKind::ReadReceipt { up_to: target() },
            "chat_info" => RemoteEventKind::ChatInfoChange {
                name: e["name"].as_str().map(str::to_owned),
                topic: e["topic"].as_str().map(str::to_owned),
            },
            "member_join" | "member_leave" => RemoteEventKind::Membership {
                user: RemoteUserId::new(e["user"].as_str()?),
                change: if e["type"] == "member_join" {
                    MembershipChange::Join
                } else {
                    MembershipChange::Leave
                },
            },
            _ => return None,
        };
        Some(RemoteEvent {
            chat: RemoteChatId::new(chat),
            receiver: None,
            sender: RemoteSender {
                is_from_me: sender == self.me.as_str(),
                display_name: e["sender_name"].as_str().map(str::to_owned),
                user: RemoteUserId::new(sender),
            },
            timestamp_ms: e["ts"].as_i64().unwrap_or_default(),
            kind,
        })
    }

    /// Long-polls the event log from the checkpoint, bridging each batch before moving it on.
    async fn poll(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let after = self.cursor.lock().unwrap().unwrap_or(0);
            let resp = match self
                .get("/events")
                .query(&[("after", after.to_string()), ("timeout_ms", "20000".into())])
                .send()
                .await
            {
                Ok(r) => check(r).await,
                Err(e) => Err(http_error(e)),
            };
            let body = match resp {
                Ok(b) => b,
                Err(ConnectorError::BadCredentials(reason)) => {
                    self.bridge
                        .report_state(&self.login, RemoteState::BadCredentials(reason));
                    return;
                }
                Err(e) => {
                    self.bridge
                        .report_state(&self.login, RemoteState::TransientDisconnect(e.to_string()));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            self.bridge
                .report_state(&self.login, RemoteState::Connected);
            let events = body["events"].as_array().cloned().unwrap_or_default();
            let Some(last) = events.last().and_then(|e| e["seq"].as_u64()) else {
                continue;
            };
            let receipts: Vec<_> = events
                .iter()
                .filter_map(|e| self.to_event(e))
                .map(|ev| self.bridge.queue_remote_event(&self.login, ev))
                .collect();
            let mut stop = false;
            for r in receipts {
                if let Err(e) = r.await {
                    if matches!(e, aqueduct_core::Error::ShuttingDown) {
                        stop = true;
                    } else {
                        tracing::warn!(error = %e, "test network event not bridged; moving on");
                    }
                }
            }
            if stop {
                return; // not checkpointed: the batch is fetched again after restart
            }
            if self
                .bridge
                .save_login_state(&self.login, json!({ "cursor": last }))
                .await
                .is_err()
            {
                return;
            }
            *self.cursor.lock().unwrap() = Some(last);
        }
    }

    async fn send_json(&self, req: reqwest::RequestBuilder) -> ConnectorResult<Value> {
        check(
            req.bearer_auth(&self.token)
                .send()
                .await
                .map_err(http_error)?,
        )
        .await
    }
}

#[async_trait]
impl NetworkApi for TestNetApi {
    async fn connect(&self) -> ConnectorResult<()> {
        let me = check(self.get("/whoami").send().await.map_err(http_error)?).await?;
        let start_fresh = self.cursor.lock().unwrap().is_none();
        if start_fresh {
            // First connection: start from now, and record it so a crash before the first
            // batch cannot skip what arrives meanwhile.
            let latest = me["latest_seq"].as_u64().unwrap_or(0);
            self.bridge
                .save_login_state(&self.login, json!({ "cursor": latest }))
                .await
                .map_err(|e| ConnectorError::Temporary(e.to_string()))?;
            *self.cursor.lock().unwrap() = Some(latest);
        }
        let this = Arc::new(Self {
            url: self.url.clone(),
            token: self.token.clone(),
            login: self.login.clone(),
            me: self.me.clone(),
            cursor: Mutex::new(*self.cursor.lock().unwrap()),
            http: self.http.clone(),
            bridge: self.bridge.clone(),
            own_edits: self.own_edits.clone(),
            poller: Mutex::new(None),
        });
        let handle = tokio::spawn(this.poll());
        if let Some(old) = self.poller.lock().unwrap().replace(handle) {
            old.abort();
        }
        Ok(())
    }

    async fn disconnect(&self) {
        if let Some(h) = self.poller.lock().unwrap().take() {
            h.abort();
        }
    }

    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        let c = check(
            self.get(&format!("/chats/{chat}"))
                .send()
                .await
                .map_err(http_error)?,
        )
        .await?;
        Ok(ChatInfo {
            name: c["name"].as_str().map(str::to_owned),
            topic: c["topic"].as_str().map(str::to_owned),
            is_direct: c["is_direct"].as_bool().unwrap_or(false),
            members: c["members"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|x| x.as_str())
                        .map(RemoteUserId::new)
                        .collect()
                })
                .unwrap_or_default(),
            avatar: c["avatar"]["data_hex"].as_str().and_then(|h| {
                Some(RemoteAvatar {
                    source: c["avatar"]["source"].as_str()?.to_owned(),
                    mime: c["avatar"]["mime"].as_str()?.to_owned(),
                    data: hex::decode(h).ok()?,
                })
            }),
        })
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        let u = check(
            self.get(&format!("/users/{user}"))
                .send()
                .await
                .map_err(http_error)?,
        )
        .await?;
        Ok(UserInfo {
            display_name: u["name"].as_str().map(str::to_owned),
            avatar: None,
        })
    }

    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<aqueduct_core::event::SentMessage> {
        // Poison messages, for tests of the engine's supervision and dead letters.
        if message.content.body.contains(PANIC_TEXT) {
            panic!("the test network connector was told to panic");
        }
        if message.content.body.contains(HANG_TEXT) {
            std::future::pending::<()>().await;
        }
        let body = json!({
            "text": message.content.body,
            "html": message.content.html,
            "reply_to": message.reply_to,
            "thread_root": message.thread_root,
            "idempotency_key": message.event_id,
            "mentions": message.content.mentions.users.iter().filter_map(|u| u.remote_id.clone()).collect::<Vec<_>>(),
            "attachments": message.content.attachments.iter().map(|a| json!({ "name": a.name, "mime": a.mime, "data_hex": hex::encode(&a.data) })).collect::<Vec<_>>(),
        });
        let r = self
            .send_json(
                self.http
                    .post(format!("{}/chats/{}/messages", self.url, portal.key.chat))
                    .json(&body),
            )
            .await?;
        Ok(aqueduct_core::event::SentMessage {
            id: RemoteMessageId::new(r["id"].as_str().unwrap_or_default()),
            timestamp_ms: r["ts"].as_i64(),
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
    fn as_typing(&self) -> Option<&dyn TypingHandler> {
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
    fn as_backfill(&self) -> Option<&dyn BackfillHandler> {
        Some(self)
    }
}

#[async_trait]
impl TypingHandler for TestNetApi {
    async fn set_typing(&self, portal: &Portal, typing: bool) -> ConnectorResult<()> {
        self.send_json(
            self.http
                .put(format!("{}/chats/{}/typing", self.url, portal.key.chat))
                .json(&json!({ "typing": typing })),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ReadReceiptHandler for TestNetApi {
    async fn mark_read(&self, portal: &Portal, up_to: &RemoteMessageId) -> ConnectorResult<()> {
        self.send_json(
            self.http
                .put(format!("{}/chats/{}/read", self.url, portal.key.chat))
                .json(&json!({ "up_to": up_to })),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ChatInfoHandler for TestNetApi {
    async fn set_name(&self, portal: &Portal, name: &str) -> ConnectorResult<()> {
        self.send_json(
            self.http
                .put(format!("{}/chats/{}/name", self.url, portal.key.chat))
                .json(&json!({ "value": name })),
        )
        .await?;
        Ok(())
    }

    async fn set_topic(&self, portal: &Portal, topic: &str) -> ConnectorResult<()> {
        self.send_json(
            self.http
                .put(format!("{}/chats/{}/topic", self.url, portal.key.chat))
                .json(&json!({ "value": topic })),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl MembershipHandler for TestNetApi {
    async fn invite(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        self.send_json(self.http.put(format!(
            "{}/chats/{}/members/{}",
            self.url, portal.key.chat, user
        )))
        .await?;
        Ok(())
    }

    async fn kick(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        self.send_json(self.http.delete(format!(
            "{}/chats/{}/members/{}",
            self.url, portal.key.chat, user
        )))
        .await?;
        Ok(())
    }
}

#[async_trait]
impl BackfillHandler for TestNetApi {
    async fn fetch_messages(
        &self,
        chat: &RemoteChatId,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<RemoteEvent>> {
        let body = check(
            self.get(&format!("/chats/{chat}/messages"))
                .query(&[("limit", limit.to_string())])
                .query(
                    &before
                        .map(|b| [("before", b.to_string())])
                        .unwrap_or_default(),
                )
                .send()
                .await
                .map_err(http_error)?,
        )
        .await?;
        Ok(body["events"]
            .as_array()
            .map(|events| events.iter().filter_map(|e| self.to_event(e)).collect())
            .unwrap_or_default())
    }
}

impl ReplyHandler for TestNetApi {}
impl ThreadHandler for TestNetApi {}

#[async_trait]
impl EditHandler for TestNetApi {
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        _relayed_for: Option<&aqueduct_core::event::RelayedSender>,
    ) -> ConnectorResult<()> {
        self.own_edits
            .lock()
            .unwrap()
            .insert((target.to_string(), content.body.clone()));
        self.send_json(
            self.http
                .put(format!(
                    "{}/chats/{}/messages/{}",
                    self.url, portal.key.chat, target
                ))
                .json(&json!({ "text": content.body })),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl DeleteHandler for TestNetApi {
    async fn delete_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
    ) -> ConnectorResult<()> {
        self.send_json(self.http.delete(format!(
            "{}/chats/{}/messages/{}",
            self.url, portal.key.chat, target
        )))
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ReactionHandler for TestNetApi {
    async fn add_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        let key: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        self.send_json(self.http.put(format!(
            "{}/chats/{}/messages/{}/reactions/{}",
            self.url, portal.key.chat, target, key
        )))
        .await?;
        Ok(())
    }

    async fn remove_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        let key: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        self.send_json(self.http.delete(format!(
            "{}/chats/{}/messages/{}/reactions/{}",
            self.url, portal.key.chat, target, key
        )))
        .await?;
        Ok(())
    }
}
