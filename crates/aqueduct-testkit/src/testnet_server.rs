//! The "test network": a tiny chat service on loopback HTTP that stands in for a remote
//! platform in engine tests. Tests drive it directly (post as a remote user, read what the
//! bridge sent); the test connector talks to it over HTTP with a bearer token and long-polls
//! its event log from a cursor, as a real platform's catch-up API would.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

mod http;

/// One message on the test network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetMessage {
    /// Message id.
    pub id: String,
    /// Chat id.
    pub chat: String,
    /// Author's user id.
    pub sender: String,
    /// Plain text.
    pub text: String,
    /// HTML rendering, if formatted.
    pub html: Option<String>,
    /// Message replied to.
    pub reply_to: Option<String>,
    /// Thread root.
    pub thread_root: Option<String>,
    /// Attachments: (name, mime, bytes as hex).
    pub attachments: Vec<NetAttachment>,
    /// Reactions: (user, key).
    pub reactions: Vec<(String, String)>,
    /// Whether deleted.
    pub deleted: bool,
    /// How many times edited.
    pub edits: u32,
    /// Mentioned user ids.
    pub mentions: Vec<String>,
    /// Milliseconds since the epoch.
    pub ts: i64,
}

/// A file on the test network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetAttachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Bytes, hex-encoded on the wire.
    pub data_hex: String,
}

#[derive(Default)]
struct NetState {
    users: HashMap<String, String>,
    tokens: HashMap<String, String>,
    chats: HashMap<String, Value>,
    messages: Vec<NetMessage>,
    log: Vec<Value>,
    idempotency: HashMap<String, String>,
    next_id: u64,
    /// Remaining requests to refuse with 500, to exercise retries.
    fail_next: u32,
    /// Remaining message sends to refuse with 500 (other requests pass).
    fail_next_sends: u32,
    /// (chat, user) -> typing, as set through the API.
    typing: HashMap<(String, String), bool>,
    /// (chat, user) -> last message read, as set through the API.
    read: HashMap<(String, String), String>,
}

/// A running test network. Cheap to clone.
#[derive(Clone)]
pub struct TestNet {
    state: Arc<Mutex<NetState>>,
    changed: Arc<Notify>,
    url: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl TestNet {
    /// Starts the network on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let net = TestNet {
            state: Arc::default(),
            changed: Arc::new(Notify::new()),
            url,
        };
        let app = http::router(net.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(net)
    }

    /// Base URL for the connector's config.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds a user and returns a token that logs in as them.
    pub fn add_user(&self, id: &str, name: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.users.insert(id.into(), name.into());
        let token = format!("tok-{id}-{}", s.tokens.len());
        s.tokens.insert(token.clone(), id.into());
        token
    }

    /// Creates a chat with members.
    pub fn add_chat(&self, id: &str, name: Option<&str>, members: &[&str], is_direct: bool) {
        let mut s = self.state.lock().unwrap();
        s.chats.insert(id.into(), json!({ "id": id, "name": name, "topic": null, "members": members, "is_direct": is_direct }));
    }

    /// Gives a chat a picture (`source` names the image; a new one means a new picture).
    pub fn set_chat_avatar(&self, chat: &str, source: &str, mime: &str, data: &[u8]) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.chats.get_mut(chat) {
            c["avatar"] = json!({ "source": source, "mime": mime, "data_hex": hex::encode(data) });
        }
    }

    /// Makes the next `n` connector requests fail with HTTP 500.
    pub fn fail_next_requests(&self, n: u32) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// Makes the next `n` message sends fail with HTTP 500, whatever else the connector asks
    /// meanwhile.
    pub fn fail_next_sends(&self, n: u32) {
        self.state.lock().unwrap().fail_next_sends = n;
    }

    fn push_event(s: &mut NetState, mut event: Value) {
        let seq = s.log.len() as u64 + 1;
        event["seq"] = json!(seq);
        s.log.push(event);
    }

    /// Posts a message as a remote user (from "their own client") and returns its id.
    pub fn post(&self, chat: &str, sender: &str, text: &str) -> String {
        self.post_full(chat, sender, text, None, None, None, vec![])
    }

    /// Posts a message with every option.
    #[allow(clippy::too_many_arguments)]
    pub fn post_full(
        &self,
        chat: &str,
        sender: &str,
        text: &str,
        html: Option<&str>,
        reply_to: Option<&str>,
        thread_root: Option<&str>,
        attachments: Vec<NetAttachment>,
    ) -> String {
        let mut s = self.state.lock().unwrap();
        let msg = Self::insert_message(
            &mut s,
            chat,
            sender,
            text,
            html,
            reply_to,
            thread_root,
            attachments,
            vec![],
        );
        drop(s);
        self.changed.notify_waiters();
        msg.id
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_message(
        s: &mut NetState,
        chat: &str,
        sender: &str,
        text: &str,
        html: Option<&str>,
        reply_to: Option<&str>,
        thread_root: Option<&str>,
        attachments: Vec<NetAttachment>,
        mentions: Vec<String>,
    ) -> NetMessage {
        s.next_id += 1;
        let msg = NetMessage {
            id: format!("m{}", s.next_id),
            chat: chat.into(),
            sender: sender.into(),
            text: text.into(),
            html: html.map(str::to_owned),
            reply_to: reply_to.map(str::to_owned),
            thread_root: thread_root.map(str::to_owned),
            attachments,
            reactions: vec![],
            deleted: false,
            edits: 0,
            mentions,
            ts: now_ms(),
        };
        s.messages.push(msg.clone());
        let sender_name = s.users.get(sender).cloned();
        Self::push_event(
            s,
            json!({ "type": "message", "chat": chat, "sender": sender, "sender_name": sender_name, "ts": msg.ts, "message": msg }),
        );
        msg
    }

    /// Edits a message as its author.
    pub fn edit(&self, chat: &str, id: &str, sender: &str, text: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(m) = s.messages.iter_mut().find(|m| m.id == id) {
            m.text = text.into();
            m.html = None;
            m.edits += 1;
        }
        Self::push_event(
            &mut s,
            json!({ "type": "edit", "chat": chat, "sender": sender, "ts": now_ms(), "target": id, "text": text }),
        );
        drop(s);
        self.changed.notify_waiters();
    }

    /// Deletes a message.
    pub fn delete(&self, chat: &str, id: &str, sender: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(m) = s.messages.iter_mut().find(|m| m.id == id) {
            m.deleted = true;
        }
        Self::push_event(
            &mut s,
            json!({ "type": "delete", "chat": chat, "sender": sender, "ts": now_ms(), "target": id }),
        );
        drop(s);
        self.changed.notify_waiters();
    }

    /// Adds (`add`) or removes a reaction.
    pub fn react(&self, chat: &str, id: &str, sender: &str, key: &str, add: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(m) = s.messages.iter_mut().find(|m| m.id == id) {
            if add {
                m.reactions.push((sender.into(), key.into()));
            } else {
                m.reactions.retain(|(u, k)| !(u == sender && k == key));
            }
        }
        let kind = if add {
            "reaction_add"
        } else {
            "reaction_remove"
        };
        Self::push_event(
            &mut s,
            json!({ "type": kind, "chat": chat, "sender": sender, "ts": now_ms(), "target": id, "key": key }),
        );
        drop(s);
        self.changed.notify_waiters();
    }

    /// Whether `user` is typing in `chat`, as last set through the API.
    pub fn is_typing(&self, chat: &str, user: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .typing
            .get(&(chat.into(), user.into()))
            .copied()
            .unwrap_or(false)
    }

    /// The last message `user` marked read in `chat` through the API.
    pub fn read_marker(&self, chat: &str, user: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .read
            .get(&(chat.into(), user.into()))
            .cloned()
    }

    /// A chat's info (name, topic, members).
    pub fn chat(&self, chat: &str) -> Option<Value> {
        self.state.lock().unwrap().chats.get(chat).cloned()
    }

    /// A remote user starts or stops typing (seen by the bridge).
    pub fn set_typing(&self, chat: &str, user: &str, typing: bool) {
        self.record(json!({ "type": "typing", "chat": chat, "sender": user, "ts": now_ms(), "typing": typing }));
    }

    /// A remote user reads a chat up to a message (seen by the bridge).
    pub fn mark_read(&self, chat: &str, user: &str, up_to: &str) {
        self.record(json!({ "type": "read", "chat": chat, "sender": user, "ts": now_ms(), "target": up_to }));
    }

    /// `by` renames a chat and/or changes its topic.
    pub fn set_chat_info(&self, chat: &str, by: &str, name: Option<&str>, topic: Option<&str>) {
        {
            let mut s = self.state.lock().unwrap();
            if let Some(c) = s.chats.get_mut(chat) {
                if let Some(n) = name {
                    c["name"] = json!(n);
                }
                if let Some(t) = topic {
                    c["topic"] = json!(t);
                }
            }
        }
        self.record(json!({ "type": "chat_info", "chat": chat, "sender": by, "ts": now_ms(), "name": name, "topic": topic }));
    }

    /// Changes a chat's name, topic and members without telling anyone: no event is logged,
    /// as when a platform loses events or the bridge misses them. `None` keeps a field.
    pub fn change_chat_silently(
        &self,
        chat: &str,
        name: Option<&str>,
        topic: Option<&str>,
        members: Option<&[&str]>,
    ) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.chats.get_mut(chat) {
            if let Some(n) = name {
                c["name"] = json!(n);
            }
            if let Some(t) = topic {
                c["topic"] = json!(t);
            }
            if let Some(m) = members {
                c["members"] = json!(m);
            }
        }
    }

    /// Renames a user without telling anyone (no event), as a profile change the network
    /// does not announce.
    pub fn rename_user_silently(&self, user: &str, name: &str) {
        self.state
            .lock()
            .unwrap()
            .users
            .insert(user.into(), name.into());
    }

    /// `user` joins (`true`) or leaves a chat, `by` someone.
    pub fn set_member(&self, chat: &str, by: &str, user: &str, joined: bool) {
        {
            let mut s = self.state.lock().unwrap();
            if let Some(members) = s
                .chats
                .get_mut(chat)
                .and_then(|c| c["members"].as_array_mut())
            {
                members.retain(|m| m != user);
                if joined {
                    members.push(json!(user));
                }
            }
        }
        let kind = if joined {
            "member_join"
        } else {
            "member_leave"
        };
        self.record(
            json!({ "type": kind, "chat": chat, "sender": by, "ts": now_ms(), "user": user }),
        );
    }

    fn record(&self, event: Value) {
        Self::push_event(&mut self.state.lock().unwrap(), event);
        self.changed.notify_waiters();
    }

    /// Waits (up to `timeout`) until `pred` holds for the whole network.
    pub async fn wait_until<F: Fn(&TestNet) -> bool>(
        &self,
        timeout: Duration,
        pred: F,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if pred(self) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!("timed out waiting for the test network");
            }
        }
    }

    /// Every message of a chat, oldest first.
    pub fn messages(&self, chat: &str) -> Vec<NetMessage> {
        self.state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.chat == chat)
            .cloned()
            .collect()
    }

    /// Waits (up to `timeout`) until `pred` holds for the chat's messages; returns them.
    pub async fn wait_for<F: Fn(&[NetMessage]) -> bool>(
        &self,
        chat: &str,
        timeout: Duration,
        pred: F,
    ) -> anyhow::Result<Vec<NetMessage>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let msgs = self.messages(chat);
            if pred(&msgs) {
                return Ok(msgs);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!("timed out waiting on chat {chat}; messages: {msgs:#?}");
            }
        }
    }
}
