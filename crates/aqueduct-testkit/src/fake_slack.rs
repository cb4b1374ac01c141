//! A fake Slack on loopback that speaks Slack's real wire protocol: the Web API under
//! `{base}/api/{method}` (bearer tokens, JSON or form bodies, HTTP 200 `{"ok":false}` errors,
//! HTTP 429 + `Retry-After` rate limits) and Socket Mode (a websocket opened from the URL that
//! `apps.connections.open` returns, `hello`, `events_api` envelopes carrying Events API
//! `event_callback` wrappers, acks, redelivery, `disconnect`).
//!
//! Tests act as Slack users through in-process methods ([`FakeSlack::post`], ...); the bot's
//! own writes are echoed back as events, as real Slack does. Only channels the bot is a member
//! of (and its IMs) produce message and reaction events, as with real event subscriptions.
//!
//! [`check_requests_against_spec`] and [`validate_event_wrapper`] check the traffic against
//! the vendor's OpenAPI file and Events API wrapper schema in `shared/specs/slack/`.

mod api;
mod socket;
mod spec;

pub use spec::{
    SpecReport, check_requests_against_spec, check_requests_against_spec_report,
    load_event_wrapper_schema, load_slack_spec, slack_spec_dir, validate_event_wrapper,
    validate_json_schema,
};

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Workspace id of the fake.
pub const TEAM_ID: &str = "T0FAKE";
/// Workspace name of the fake.
pub const TEAM_NAME: &str = "Fake Team";
/// The bot's user id.
pub const BOT_USER_ID: &str = "UBOT";
/// The bot's bot id.
pub const BOT_ID: &str = "BBOT";
/// The app id.
pub const APP_ID: &str = "A0FAKE";
/// The bot user's name.
pub const BOT_NAME: &str = "aqueductbot";
/// The (deprecated) verification token carried in event wrappers.
pub const VERIFICATION_TOKEN: &str = "verif";
/// Slack's limit on `text` in `chat.postMessage` / `chat.update`.
pub const MAX_TEXT_LEN: usize = 40_000;

/// What kind of token authenticated a recorded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// The bot token (`xoxb-`).
    Bot,
    /// The app-level token (`xapp-`).
    App,
    /// A user token (`xoxp-`) of this user id.
    User(String),
    /// No token was sent.
    Missing,
    /// A token the fake did not issue.
    Invalid,
}

/// One Web API call as received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Slack method, e.g. `chat.postMessage`.
    pub method: String,
    /// HTTP verb (`GET`/`POST`).
    pub http_method: String,
    /// Parameters with the exact names received: query string merged with the body
    /// (form values are strings; JSON values keep their JSON type).
    pub params: Value,
    /// How the parameters arrived: `"json"`, `"form"`, `"query"` or `"none"`.
    pub encoding: String,
    /// Token kind.
    pub token_kind: TokenKind,
}

/// A message as stored by the fake (test-side view).
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    /// Slack timestamp, also the message id.
    pub ts: String,
    /// Author user id (`UBOT` for the bot).
    pub user: String,
    /// `Some("BBOT")` for messages the bot posted.
    pub bot_id: Option<String>,
    /// Text (mrkdwn as sent).
    pub text: String,
    /// Thread root ts, for thread replies and thread roots that have replies.
    pub thread_ts: Option<String>,
    /// `username` override given to `chat.postMessage`.
    pub username: Option<String>,
    /// `icon_url` override given to `chat.postMessage`.
    pub icon_url: Option<String>,
    /// Reactions: (emoji short name, user ids), in first-use order.
    pub reactions: Vec<(String, Vec<String>)>,
    /// Whether it was edited.
    pub edited: bool,
    /// Whether it was deleted.
    pub deleted: bool,
    /// Files: (name, mime type, bytes).
    pub files: Vec<(String, String, Vec<u8>)>,
    /// Message subtype (`bot_message`, `file_share`, `channel_topic`, `thread_broadcast`, ...).
    pub subtype: Option<String>,
    /// `blocks` as given to `chat.postMessage`/`chat.update`.
    pub blocks: Option<Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub real_name: String,
    pub is_bot: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Topic {
    pub value: String,
    pub creator: String,
    pub last_set: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Channel {
    pub id: String,
    pub name: String,
    pub created: u64,
    pub private: bool,
    pub im_user: Option<String>,
    pub members: Vec<String>,
    pub topic: Topic,
    pub purpose: Topic,
    pub messages: Vec<Msg>,
}

impl Channel {
    pub fn channel_type(&self) -> &'static str {
        if self.im_user.is_some() {
            "im"
        } else if self.private {
            "group"
        } else {
            "channel"
        }
    }
    pub fn find(&self, ts: &str) -> Option<&Msg> {
        self.messages.iter().find(|m| m.ts == ts)
    }
    pub fn find_mut(&mut self, ts: &str) -> Option<&mut Msg> {
        self.messages.iter_mut().find(|m| m.ts == ts)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Msg {
    pub ts: String,
    pub user: String,
    pub bot_id: Option<String>,
    pub text: String,
    pub thread_ts: Option<String>,
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub reactions: Vec<(String, Vec<String>)>,
    pub edited: Option<(String, String)>,
    pub deleted: bool,
    pub files: Vec<String>,
    pub subtype: Option<String>,
    pub client_msg_id: Option<String>,
    pub blocks: Option<Value>,
    /// Extra top-level fields (`topic`, `old_name`, `name`, ...).
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct StoredFile {
    pub id: String,
    pub name: String,
    pub title: String,
    pub mime: String,
    pub length: u64,
    pub bytes: Option<Vec<u8>>,
    pub user: String,
    pub created: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub envelope_id: String,
    pub payload: Value,
    pub retry_attempt: u32,
    pub retry_reason: &'static str,
    /// (connection id, when) of the last delivery.
    pub sent: Option<(u64, Instant)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Disconnect,
    Drop,
}

pub(crate) struct State {
    pub port: u16,
    pub users: BTreeMap<String, User>,
    pub tokens: HashMap<String, TokenKind>,
    pub channels: BTreeMap<String, Channel>,
    pub files: HashMap<String, StoredFile>,
    pub last_ts_micros: u64,
    pub requests: Vec<RecordedRequest>,
    pub rate_limits: HashMap<String, (u32, u64)>,
    pub emitted: Vec<Value>,
    pub pending: VecDeque<Pending>,
    pub connections: usize,
    pub current_conn: u64,
    pub control: Option<(u64, Control)>,
    pub tickets: HashSet<String>,
    pub ack_timeout: Duration,
    pub counter: u64,
    pub id_base: u64,
    pub last_read: HashMap<(String, String), String>,
    pub shutdown: bool,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub msg_notify: Notify,
    pub sock_notify: Notify,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Wake message waiters and socket tasks.
    pub fn changed(&self) {
        self.msg_notify.notify_waiters();
        self.sock_notify.notify_waiters();
    }
}

struct ServerGuard {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed();
        self.task.abort();
    }
}

/// The fake Slack. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeSlack {
    shared: Arc<Shared>,
    _guard: Arc<ServerGuard>,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses a Slack ts ("1700000000.000100") into microseconds, for ordering.
pub(crate) fn ts_key(ts: &str) -> Option<u64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: u64 = secs.parse().ok()?;
    let mut frac: String = frac.chars().take(6).collect();
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while frac.len() < 6 {
        frac.push('0');
    }
    Some(secs * 1_000_000 + frac.parse::<u64>().ok()?)
}

pub(crate) fn ts_secs(ts: &str) -> u64 {
    ts_key(ts).map(|k| k / 1_000_000).unwrap_or(0)
}

fn base36(mut n: u64, width: usize) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::new();
    while n > 0 {
        out.push(A[(n % 36) as usize]);
        n /= 36;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

pub(crate) fn uuid_like() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn guess_mime(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("txt") => "text/plain",
        Some("pdf") => "application/pdf",
        Some("mp4") => "video/mp4",
        Some("ogg") => "audio/ogg",
        Some("mp3") => "audio/mpeg",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

impl State {
    pub fn next_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let t = now.max(self.last_ts_micros + 1);
        self.last_ts_micros = t;
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000)
    }

    pub fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", base36(self.id_base + self.counter, 8))
    }

    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn bot_in(&self, ch: &Channel) -> bool {
        ch.im_user.is_some() || ch.members.iter().any(|m| m == BOT_USER_ID)
    }

    /// Resolves a channel parameter: a conversation id, or a user id with an IM.
    pub fn resolve_channel(&self, id: &str) -> Option<String> {
        if self.channels.contains_key(id) {
            return Some(id.to_string());
        }
        self.channels
            .values()
            .find(|c| c.im_user.as_deref() == Some(id))
            .map(|c| c.id.clone())
    }

    pub fn file_json(&self, f: &StoredFile) -> Value {
        let root = self.root();
        let filetype = f
            .name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_else(|| "binary".into());
        json!({
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.name,
            "title": f.title,
            "mimetype": f.mime,
            "filetype": filetype,
            "pretty_type": filetype.to_uppercase(),
            "user": f.user,
            "user_team": TEAM_ID,
            "editable": false,
            "size": f.bytes.as_ref().map(|b| b.len() as u64).unwrap_or(f.length),
            "mode": "hosted",
            "is_external": false,
            "external_type": "",
            "is_public": false,
            "public_url_shared": false,
            "display_as_bot": false,
            "username": "",
            "url_private": format!("{root}/files-pri/{}/{}", f.id, f.name),
            "url_private_download": format!("{root}/files-pri/{}/download/{}", f.id, f.name),
            "permalink": format!("{root}/files/{}/{}/{}", f.user, f.id, f.name),
        })
    }

    /// Renders a message as Slack does in API responses (`api`) or events.
    pub fn msg_json(&self, ch: &Channel, m: &Msg, api: bool) -> Value {
        let mut o = Map::new();
        o.insert("type".into(), json!("message"));
        if let Some(st) = &m.subtype {
            o.insert("subtype".into(), json!(st));
        }
        o.insert("text".into(), json!(m.text));
        // Messages with username/icon overrides are `bot_message`s without a `user`.
        if m.subtype.as_deref() != Some("bot_message") {
            o.insert("user".into(), json!(m.user));
        }
        o.insert("ts".into(), json!(m.ts));
        o.insert("team".into(), json!(TEAM_ID));
        if let Some(b) = &m.bot_id {
            o.insert("bot_id".into(), json!(b));
            o.insert("app_id".into(), json!(APP_ID));
            o.insert(
                "bot_profile".into(),
                json!({"id": b, "app_id": APP_ID, "name": BOT_NAME, "deleted": false,
                       "team_id": TEAM_ID, "updated": 1_700_000_000u64,
                       "icons": {"image_36": format!("{}/avatars/{BOT_USER_ID}_36.png", self.root()),
                                 "image_48": format!("{}/avatars/{BOT_USER_ID}_48.png", self.root()),
                                 "image_72": format!("{}/avatars/{BOT_USER_ID}_72.png", self.root())}}),
            );
        }
        if let Some(u) = &m.username {
            o.insert("username".into(), json!(u));
        }
        if let Some(i) = &m.icon_url {
            o.insert("icons".into(), json!({"image_48": i}));
        }
        if let Some(c) = &m.client_msg_id {
            o.insert("client_msg_id".into(), json!(c));
        }
        if let Some(b) = &m.blocks {
            o.insert("blocks".into(), b.clone());
        }
        if let Some(t) = &m.thread_ts {
            o.insert("thread_ts".into(), json!(t));
            if t != &m.ts {
                if let Some(parent) = ch.find(t) {
                    o.insert("parent_user_id".into(), json!(parent.user));
                }
            } else if api {
                let replies: Vec<&Msg> = ch
                    .messages
                    .iter()
                    .filter(|r| r.thread_ts.as_deref() == Some(t) && r.ts != *t && !r.deleted)
                    .collect();
                let mut users: Vec<String> = Vec::new();
                for r in &replies {
                    if !users.contains(&r.user) {
                        users.push(r.user.clone());
                    }
                }
                o.insert("reply_count".into(), json!(replies.len()));
                o.insert("reply_users_count".into(), json!(users.len()));
                o.insert("reply_users".into(), json!(users));
                if let Some(l) = replies.last() {
                    o.insert("latest_reply".into(), json!(l.ts));
                }
                o.insert("is_locked".into(), json!(false));
                o.insert("subscribed".into(), json!(false));
            }
        }
        if let Some((u, ts)) = &m.edited {
            o.insert("edited".into(), json!({"user": u, "ts": ts}));
        }
        if !m.files.is_empty() {
            let files: Vec<Value> = m
                .files
                .iter()
                .filter_map(|id| self.files.get(id))
                .map(|f| self.file_json(f))
                .collect();
            o.insert("files".into(), json!(files));
            o.insert("upload".into(), json!(true));
            o.insert("display_as_bot".into(), json!(false));
        }
        if api && !m.reactions.is_empty() {
            let r: Vec<Value> = m
                .reactions
                .iter()
                .map(|(n, us)| json!({"name": n, "users": us, "count": us.len()}))
                .collect();
            o.insert("reactions".into(), json!(r));
        }
        for (k, v) in &m.extra {
            o.insert(k.clone(), v.clone());
        }
        if !api {
            o.insert("channel".into(), json!(ch.id));
            o.insert("event_ts".into(), json!(m.ts));
            o.insert("channel_type".into(), json!(ch.channel_type()));
        }
        Value::Object(o)
    }

    /// Wraps an event in an `event_callback` wrapper and queues it for Socket Mode delivery.
    pub fn emit(&mut self, mut event: Value) {
        if event.get("event_ts").is_none() {
            let ts = self.next_ts();
            event["event_ts"] = json!(ts);
        }
        let event_ts = event["event_ts"].as_str().unwrap_or_default().to_string();
        let event_id = self.next_id("Ev0");
        let ctx_json = json!({"et": event["type"], "tid": TEAM_ID, "aid": APP_ID,
                              "cid": event.get("channel").cloned().unwrap_or(Value::Null)});
        let event_context = format!("4-{}", hex::encode(ctx_json.to_string()));
        let wrapper = json!({
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "context_team_id": TEAM_ID,
            "context_enterprise_id": null,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": ts_secs(&event_ts),
            "authorizations": [{"enterprise_id": null, "team_id": TEAM_ID, "user_id": BOT_USER_ID,
                                "is_bot": true, "is_enterprise_install": false}],
            "is_ext_shared_channel": false,
            "event_context": event_context,
            // Deprecated by Slack but required by the vendor's wrapper schema.
            "authed_users": [BOT_USER_ID],
        });
        self.emitted.push(wrapper.clone());
        self.pending.push_back(Pending {
            envelope_id: uuid_like(),
            payload: wrapper,
            retry_attempt: 0,
            retry_reason: "",
            sent: None,
        });
    }

    /// Appends a message to a channel and emits its `message` event if the bot can see it.
    pub fn add_message(&mut self, ch_id: &str, mut m: Msg) -> String {
        let ts = self.next_ts();
        m.ts = ts.clone();
        if let Some(t) = m.thread_ts.clone() {
            // A reply to a reply goes to the root of the thread.
            let root = self
                .channels
                .get(ch_id)
                .and_then(|c| c.find(&t))
                .and_then(|p| p.thread_ts.clone())
                .unwrap_or(t);
            if let Some(p) = self.channels.get_mut(ch_id).and_then(|c| c.find_mut(&root)) {
                p.thread_ts = Some(root.clone());
            }
            m.thread_ts = Some(root);
        }
        let Some(ch) = self.channels.get_mut(ch_id) else {
            return ts;
        };
        ch.messages.push(m);
        let ch = &self.channels[ch_id];
        if self.bot_in(ch) {
            let ev = self.msg_json(ch, ch.messages.last().expect("just pushed"), false);
            self.emit(ev);
        }
        ts
    }

    pub fn edit_message(&mut self, ch_id: &str, ts: &str, text: &str, by: &str) -> Option<Value> {
        let new_ts = self.next_ts();
        let ch = self.channels.get_mut(ch_id)?;
        let m = ch.find_mut(ts)?;
        let prev = m.clone();
        m.text = text.to_string();
        m.edited = Some((by.to_string(), new_ts.clone()));
        let ch = &self.channels[ch_id];
        let cur = self.msg_json(ch, ch.find(ts)?, true);
        if self.bot_in(ch) {
            let mut prev_json = self.msg_json(ch, &prev, true);
            if let Some(o) = prev_json.as_object_mut() {
                o.remove("reactions");
            }
            let mut msg_json = cur.clone();
            if let Some(o) = msg_json.as_object_mut() {
                o.remove("reactions");
            }
            let ev = json!({
                "type": "message", "subtype": "message_changed", "hidden": true,
                "message": msg_json, "previous_message": prev_json,
                "channel": ch_id, "ts": new_ts, "event_ts": new_ts,
                "channel_type": ch.channel_type(),
            });
            self.emit(ev);
        }
        Some(cur)
    }

    pub fn delete_message(&mut self, ch_id: &str, ts: &str) -> bool {
        let new_ts = self.next_ts();
        let Some(m) = self.channels.get_mut(ch_id).and_then(|c| c.find_mut(ts)) else {
            return false;
        };
        if m.deleted {
            return false;
        }
        m.deleted = true;
        let prev = m.clone();
        let ch = &self.channels[ch_id];
        if self.bot_in(ch) {
            let mut prev_json = self.msg_json(ch, &prev, true);
            if let Some(o) = prev_json.as_object_mut() {
                o.remove("reactions");
            }
            let mut ev = json!({
                "type": "message", "subtype": "message_deleted", "hidden": true,
                "deleted_ts": ts, "previous_message": prev_json,
                "channel": ch_id, "ts": new_ts, "event_ts": new_ts,
                "channel_type": ch.channel_type(),
            });
            if let Some(t) = &prev.thread_ts {
                ev["thread_ts"] = json!(t);
            }
            self.emit(ev);
        }
        true
    }

    /// Adds or removes a reaction. Returns Err(slack error) if it cannot.
    pub fn react(
        &mut self,
        ch_id: &str,
        ts: &str,
        user: &str,
        name: &str,
        add: bool,
    ) -> Result<(), &'static str> {
        let event_ts = self.next_ts();
        let ch = self.channels.get_mut(ch_id).ok_or("channel_not_found")?;
        let m = ch.find_mut(ts).ok_or("message_not_found")?;
        if m.deleted {
            return Err("message_not_found");
        }
        let item_user = m.user.clone();
        let pos = m.reactions.iter().position(|(n, _)| n == name);
        if add {
            match pos {
                Some(i) if m.reactions[i].1.iter().any(|u| u == user) => {
                    return Err("already_reacted");
                }
                Some(i) => m.reactions[i].1.push(user.to_string()),
                None => m.reactions.push((name.to_string(), vec![user.to_string()])),
            }
        } else {
            let i = pos.ok_or("no_reaction")?;
            let before = m.reactions[i].1.len();
            m.reactions[i].1.retain(|u| u != user);
            if m.reactions[i].1.len() == before {
                return Err("no_reaction");
            }
            if m.reactions[i].1.is_empty() {
                m.reactions.remove(i);
            }
        }
        let ch = &self.channels[ch_id];
        if self.bot_in(ch) {
            let ev = json!({
                "type": if add { "reaction_added" } else { "reaction_removed" },
                "user": user, "reaction": name,
                "item": {"type": "message", "channel": ch_id, "ts": ts},
                "item_user": item_user, "event_ts": event_ts,
            });
            self.emit(ev);
        }
        Ok(())
    }

    pub fn set_topic(&mut self, ch_id: &str, user: &str, topic: &str) {
        let Some(ch) = self.channels.get_mut(ch_id) else {
            return;
        };
        ch.topic = Topic {
            value: topic.to_string(),
            creator: user.to_string(),
            last_set: now_secs(),
        };
        let mut extra = Map::new();
        extra.insert("topic".into(), json!(topic));
        self.add_message(
            ch_id,
            Msg {
                user: user.to_string(),
                text: format!("set the channel topic: {topic}"),
                subtype: Some("channel_topic".into()),
                extra,
                ..Default::default()
            },
        );
    }

    pub fn rename(&mut self, ch_id: &str, user: &str, name: &str) {
        let Some(ch) = self.channels.get_mut(ch_id) else {
            return;
        };
        let old = std::mem::replace(&mut ch.name, name.to_string());
        let (private, created) = (ch.private, ch.created);
        let member = self.bot_in(&self.channels[ch_id]);
        if !private || member {
            let ev = json!({
                "type": if private { "group_rename" } else { "channel_rename" },
                "channel": {"id": ch_id, "name": name, "name_normalized": name, "created": created,
                            "is_channel": !private, "is_mpim": false},
            });
            self.emit(ev);
        }
        let mut extra = Map::new();
        extra.insert("old_name".into(), json!(old));
        extra.insert("name".into(), json!(name));
        self.add_message(
            ch_id,
            Msg {
                user: user.to_string(),
                text: format!("has renamed the channel from \"{old}\" to \"{name}\""),
                subtype: Some("channel_name".into()),
                extra,
                ..Default::default()
            },
        );
    }

    pub fn channel_json(&self, ch: &Channel) -> Value {
        if let Some(u) = &ch.im_user {
            return json!({
                "id": ch.id, "created": ch.created, "is_archived": false, "is_im": true,
                "is_org_shared": false, "context_team_id": TEAM_ID, "updated": ch.created * 1000,
                "user": u, "is_user_deleted": false, "priority": 0,
            });
        }
        // Private channels made before March 2021 have `G` ids and `is_group`.
        let legacy_group = ch.private && ch.id.starts_with('G');
        json!({
            "id": ch.id, "name": ch.name, "name_normalized": ch.name,
            "is_channel": !legacy_group, "is_group": legacy_group, "is_im": false,
            "is_mpim": false, "is_private": ch.private, "created": ch.created,
            "is_archived": false, "is_general": false, "unlinked": 0, "is_shared": false,
            "is_org_shared": false, "is_ext_shared": false, "is_pending_ext_shared": false,
            "pending_shared": [], "context_team_id": TEAM_ID, "updated": ch.created * 1000,
            "parent_conversation": null, "creator": ch.members.first().cloned().unwrap_or_default(),
            "is_member": ch.members.iter().any(|m| m == BOT_USER_ID),
            "topic": {"value": ch.topic.value, "creator": ch.topic.creator, "last_set": ch.topic.last_set},
            "purpose": {"value": ch.purpose.value, "creator": ch.purpose.creator, "last_set": ch.purpose.last_set},
            "previous_names": [],
        })
    }

    pub fn user_json(&self, u: &User) -> Value {
        let root = self.root();
        let img = |n: u32| format!("{root}/avatars/{}_{n}.png", u.id);
        let mut profile = json!({
            "real_name": u.real_name, "real_name_normalized": u.real_name,
            "display_name": u.real_name, "display_name_normalized": u.real_name,
            "avatar_hash": "g0fake", "first_name": u.real_name, "last_name": "",
            "image_24": img(24), "image_32": img(32), "image_48": img(48), "image_72": img(72),
            "image_192": img(192), "image_512": img(512), "team": TEAM_ID, "status_text": "",
            "status_emoji": "",
        });
        if u.is_bot {
            profile["bot_id"] = json!(BOT_ID);
            profile["api_app_id"] = json!(APP_ID);
            profile["always_active"] = json!(false);
        }
        json!({
            "id": u.id, "team_id": TEAM_ID, "name": u.name, "deleted": false, "color": "9f69e7",
            "real_name": u.real_name, "tz": "Europe/London", "tz_label": "Greenwich Mean Time",
            "tz_offset": 0, "profile": profile, "is_admin": false, "is_owner": false,
            "is_primary_owner": false, "is_restricted": false, "is_ultra_restricted": false,
            "is_bot": u.is_bot, "is_app_user": false, "updated": 1_700_000_000u64,
            "is_email_confirmed": !u.is_bot, "who_can_share_contact_card": "EVERYONE",
        })
    }

    fn fake_message(&self, m: &Msg) -> FakeMessage {
        FakeMessage {
            ts: m.ts.clone(),
            user: m.user.clone(),
            bot_id: m.bot_id.clone(),
            text: m.text.clone(),
            thread_ts: m.thread_ts.clone(),
            username: m.username.clone(),
            icon_url: m.icon_url.clone(),
            reactions: m.reactions.clone(),
            edited: m.edited.is_some(),
            deleted: m.deleted,
            files: m
                .files
                .iter()
                .filter_map(|id| self.files.get(id))
                .map(|f| {
                    (
                        f.name.clone(),
                        f.mime.clone(),
                        f.bytes.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            subtype: m.subtype.clone(),
            blocks: m.blocks.clone(),
        }
    }
}

impl FakeSlack {
    /// Starts the fake on `127.0.0.1:0`. The bot user `UBOT` exists from the start.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut users = BTreeMap::new();
        users.insert(
            BOT_USER_ID.to_string(),
            User {
                id: BOT_USER_ID.into(),
                name: BOT_NAME.into(),
                real_name: "Aqueduct".into(),
                is_bot: true,
            },
        );
        let mut tokens = HashMap::new();
        let bot_token = format!("xoxb-1-{}", rand::random::<u64>());
        let app_token = format!("xapp-1-{APP_ID}-{}", rand::random::<u64>());
        tokens.insert(bot_token, TokenKind::Bot);
        tokens.insert(app_token, TokenKind::App);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                port,
                users,
                tokens,
                channels: BTreeMap::new(),
                files: HashMap::new(),
                last_ts_micros: 0,
                requests: Vec::new(),
                rate_limits: HashMap::new(),
                emitted: Vec::new(),
                pending: VecDeque::new(),
                connections: 0,
                current_conn: 0,
                control: None,
                tickets: HashSet::new(),
                ack_timeout: Duration::from_secs(3),
                counter: 0,
                id_base: rand::random::<u64>() % 1_000_000_000,
                last_read: HashMap::new(),
                shutdown: false,
            }),
            msg_notify: Notify::new(),
            sock_notify: Notify::new(),
        });
        let app = api::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            shared: shared.clone(),
            _guard: Arc::new(ServerGuard { shared, task }),
        })
    }

    fn token_of(&self, kind: &TokenKind) -> String {
        let st = self.shared.lock();
        st.tokens
            .iter()
            .find(|(_, k)| *k == kind)
            .map(|(t, _)| t.clone())
            .unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT/api`; methods are at `{api_base}/{method}`.
    pub fn api_base(&self) -> String {
        format!("{}/api", self.shared.lock().root())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root_url(&self) -> String {
        self.shared.lock().root()
    }

    /// The bot token (`xoxb-`).
    pub fn bot_token(&self) -> String {
        self.token_of(&TokenKind::Bot)
    }

    /// The app-level token (`xapp-`), valid only for `apps.connections.open`.
    pub fn app_token(&self) -> String {
        self.token_of(&TokenKind::App)
    }

    /// Ack timeout after which unacked envelopes are redelivered (default 3 s).
    pub fn set_ack_timeout(&self, timeout: Duration) {
        self.shared.lock().ack_timeout = timeout;
        self.shared.changed();
    }

    /// Adds a workspace user (display name = real name).
    pub fn add_user(&self, id: &str, name: &str, real_name: &str) {
        self.shared.lock().users.insert(
            id.to_string(),
            User {
                id: id.into(),
                name: name.into(),
                real_name: real_name.into(),
                is_bot: false,
            },
        );
    }

    /// Issues a user token (`xoxp-`) for `user` (a new one on each call).
    pub fn user_token(&self, user: &str) -> String {
        let t = format!("xoxp-1-{user}-{}", rand::random::<u64>());
        self.shared
            .lock()
            .tokens
            .insert(t.clone(), TokenKind::User(user.to_string()));
        t
    }

    /// Adds a channel; the bot is a member iff `UBOT` is listed in `members`.
    pub fn add_channel(&self, id: &str, name: &str, members: &[&str], private: bool) {
        let created = now_secs();
        self.shared.lock().channels.insert(
            id.to_string(),
            Channel {
                id: id.into(),
                name: name.into(),
                created,
                private,
                im_user: None,
                members: members.iter().map(|m| m.to_string()).collect(),
                topic: Topic::default(),
                purpose: Topic::default(),
                messages: Vec::new(),
            },
        );
    }

    /// Adds a direct-message conversation between the bot and `user`.
    pub fn add_im(&self, id: &str, user: &str) {
        let created = now_secs();
        self.shared.lock().channels.insert(
            id.to_string(),
            Channel {
                id: id.into(),
                name: user.into(),
                created,
                private: true,
                im_user: Some(user.into()),
                members: vec![BOT_USER_ID.into(), user.into()],
                topic: Topic::default(),
                purpose: Topic::default(),
                messages: Vec::new(),
            },
        );
    }

    /// `user` joins `channel`: a `channel_join` message and a `member_joined_channel` event.
    pub fn join_channel(&self, channel: &str, user: &str) {
        let mut st = self.shared.lock();
        let Some(ch) = st.channels.get_mut(channel) else {
            return;
        };
        if ch.members.iter().any(|m| m == user) {
            return;
        }
        ch.members.push(user.to_string());
        let ctype = if ch.private { "G" } else { "C" };
        st.add_message(
            channel,
            Msg {
                user: user.into(),
                text: format!("<@{user}> has joined the channel"),
                subtype: Some("channel_join".into()),
                ..Default::default()
            },
        );
        if st.bot_in(&st.channels[channel]) {
            st.emit(
                json!({"type": "member_joined_channel", "user": user, "channel": channel,
                           "channel_type": ctype, "team": TEAM_ID}),
            );
        }
        drop(st);
        self.shared.changed();
    }

    /// `user` leaves `channel`: a `channel_leave` message and a `member_left_channel` event.
    pub fn leave_channel(&self, channel: &str, user: &str) {
        let mut st = self.shared.lock();
        let Some(ch) = st.channels.get(channel) else {
            return;
        };
        if !ch.members.iter().any(|m| m == user) {
            return;
        }
        let was_visible = st.bot_in(ch);
        let ctype = if ch.private { "G" } else { "C" };
        st.add_message(
            channel,
            Msg {
                user: user.into(),
                text: format!("<@{user}> has left the channel"),
                subtype: Some("channel_leave".into()),
                ..Default::default()
            },
        );
        if let Some(ch) = st.channels.get_mut(channel) {
            ch.members.retain(|m| m != user);
        }
        if was_visible {
            st.emit(
                json!({"type": "member_left_channel", "user": user, "channel": channel,
                           "channel_type": ctype, "team": TEAM_ID}),
            );
        }
        drop(st);
        self.shared.changed();
    }

    /// `user` posts `text` (as a Slack client would, with `client_msg_id`); returns the ts.
    pub fn post(&self, channel: &str, user: &str, text: &str, thread_ts: Option<&str>) -> String {
        let ts = self.shared.lock().add_message(
            channel,
            Msg {
                user: user.into(),
                text: text.into(),
                thread_ts: thread_ts.map(str::to_string),
                client_msg_id: Some(uuid_like()),
                ..Default::default()
            },
        );
        self.shared.changed();
        ts
    }

    /// Edits a message as its author (`message_changed`).
    pub fn edit(&self, channel: &str, ts: &str, text: &str) {
        let mut st = self.shared.lock();
        let author = st
            .channels
            .get(channel)
            .and_then(|c| c.find(ts))
            .map(|m| m.user.clone())
            .unwrap_or_default();
        st.edit_message(channel, ts, text, &author);
        drop(st);
        self.shared.changed();
    }

    /// Deletes a message (`message_deleted`).
    pub fn delete(&self, channel: &str, ts: &str) {
        self.shared.lock().delete_message(channel, ts);
        self.shared.changed();
    }

    /// Adds or removes `user`'s reaction `name` (short name without colons).
    pub fn react(&self, channel: &str, ts: &str, user: &str, name: &str, add: bool) {
        let _ = self.shared.lock().react(channel, ts, user, name, add);
        self.shared.changed();
    }

    /// `user` uploads a file to `channel` with `text`: a `file_share` message; returns its ts.
    pub fn upload_file(
        &self,
        channel: &str,
        user: &str,
        name: &str,
        mime: &str,
        bytes: Vec<u8>,
        text: &str,
    ) -> String {
        let mut st = self.shared.lock();
        let id = st.next_id("F");
        let file = StoredFile {
            id: id.clone(),
            name: name.into(),
            title: name.into(),
            mime: mime.into(),
            length: bytes.len() as u64,
            bytes: Some(bytes),
            user: user.into(),
            created: now_secs(),
        };
        st.files.insert(id.clone(), file);
        let ts = st.add_message(
            channel,
            Msg {
                user: user.into(),
                text: text.into(),
                subtype: Some("file_share".into()),
                files: vec![id],
                client_msg_id: Some(uuid_like()),
                ..Default::default()
            },
        );
        drop(st);
        self.shared.changed();
        ts
    }

    /// Renames a channel (`channel_rename`, or `group_rename` for private channels).
    pub fn rename_channel(&self, channel: &str, name: &str) {
        let mut st = self.shared.lock();
        let by = st
            .channels
            .get(channel)
            .and_then(|c| c.members.iter().find(|m| *m != BOT_USER_ID).cloned())
            .unwrap_or_else(|| BOT_USER_ID.to_string());
        st.rename(channel, &by, name);
        drop(st);
        self.shared.changed();
    }

    /// `user` sets the topic (a `message` with subtype `channel_topic`).
    pub fn set_topic(&self, channel: &str, user: &str, topic: &str) {
        self.shared.lock().set_topic(channel, user, topic);
        self.shared.changed();
    }

    /// All messages of a channel, oldest first, including thread replies, system messages
    /// (`subtype` set) and deleted ones (`deleted`).
    pub fn messages(&self, channel: &str) -> Vec<FakeMessage> {
        let st = self.shared.lock();
        st.channels
            .get(channel)
            .map(|c| c.messages.iter().map(|m| st.fake_message(m)).collect())
            .unwrap_or_default()
    }

    /// Waits until `pred(messages(channel))` holds, or fails after `timeout`.
    pub async fn wait_for(
        &self,
        channel: &str,
        timeout: Duration,
        pred: impl Fn(&[FakeMessage]) -> bool,
    ) -> anyhow::Result<Vec<FakeMessage>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.msg_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let msgs = self.messages(channel);
            if pred(&msgs) {
                return Ok(msgs);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let msgs = self.messages(channel);
                if pred(&msgs) {
                    return Ok(msgs);
                }
                anyhow::bail!(
                    "fake slack: condition on {channel} not met within {timeout:?}; messages: {msgs:#?}"
                );
            }
        }
    }

    /// Every Web API request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The next `times` calls of `method` get HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit(&self, method: &str, times: u32, retry_after_secs: u64) {
        self.shared
            .lock()
            .rate_limits
            .insert(method.to_string(), (times, retry_after_secs));
    }

    /// Sends `{"type":"disconnect","reason":"refresh_requested"}` on the current socket, then
    /// closes it.
    pub fn send_disconnect(&self) {
        let mut st = self.shared.lock();
        st.control = Some((st.current_conn, Control::Disconnect));
        drop(st);
        self.shared.changed();
    }

    /// Drops the current socket abruptly (no close frame).
    pub fn drop_socket(&self) {
        let mut st = self.shared.lock();
        st.control = Some((st.current_conn, Control::Drop));
        drop(st);
        self.shared.changed();
    }

    /// How many Socket Mode connections were opened so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Every `event_callback` wrapper emitted so far (each once, redeliveries excluded).
    pub fn emitted_events(&self) -> Vec<Value> {
        self.shared.lock().emitted.clone()
    }

    /// Envelopes not yet acknowledged (delivered or still queued).
    pub fn unacked(&self) -> usize {
        self.shared.lock().pending.len()
    }

    /// `{id, name, is_private, is_im, topic, purpose, members}` of a conversation.
    pub fn channel_info(&self, id: &str) -> Option<Value> {
        let st = self.shared.lock();
        let ch = st.channels.get(id)?;
        Some(json!({
            "id": ch.id, "name": ch.name, "is_private": ch.private, "is_im": ch.im_user.is_some(),
            "topic": ch.topic.value, "purpose": ch.purpose.value, "members": ch.members,
        }))
    }

    /// The last `conversations.mark` ts of `user` in `channel`.
    pub fn last_read(&self, channel: &str, user: &str) -> Option<String> {
        self.shared
            .lock()
            .last_read
            .get(&(channel.to_string(), user.to_string()))
            .cloned()
    }
}
