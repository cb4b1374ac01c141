//! The fake's internal state: users, channels, messages, files, socket queues, and the
//! operations on them that both the Web API and the test-side API use.

use super::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub real_name: String,
    pub is_bot: bool,
    /// The user's own workspace: another one for Slack Connect users, else `None`.
    pub team: Option<String>,
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
    /// A group direct message (`mpim`).
    pub mpim: bool,
    pub members: Vec<String>,
    pub topic: Topic,
    pub purpose: Topic,
    pub messages: Vec<Msg>,
}

impl Channel {
    pub fn channel_type(&self) -> &'static str {
        if self.im_user.is_some() {
            "im"
        } else if self.mpim {
            "mpim"
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
    pub oauth: super::oauth::OAuthState,
    pub shutdown: bool,
    /// Most items a history or replies page holds (see `FakeSlack::cap_pages`).
    pub page_cap: Option<usize>,
    /// The workspace's custom emoji, for `emoji.list`.
    pub custom_emoji: super::emoji::CustomEmoji,
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
        ch.members.iter().any(|m| m == BOT_USER_ID)
    }

    /// Whether `user` authorized the app with user scopes: holds a user token not revoked.
    pub fn authorized(&self, user: &str) -> bool {
        self.tokens
            .values()
            .any(|k| matches!(k, TokenKind::User(u) if u == user))
    }

    /// Who the app receives an event of `ch` through, if anyone. The bot, in conversations
    /// it is a member of; else, for `message` events (user subscriptions `message.im` and
    /// `message.mpim`) of a DM or group DM, a member who authorized the app, preferring one
    /// who is not `author`. Slack names one such authorization per event.
    pub fn audience(&self, ch: &Channel, author: &str, message_event: bool) -> Option<String> {
        if self.bot_in(ch) {
            return Some(BOT_USER_ID.to_owned());
        }
        if !message_event || !(ch.im_user.is_some() || ch.mpim) {
            return None;
        }
        let authorized: Vec<&String> = ch.members.iter().filter(|m| self.authorized(m)).collect();
        authorized
            .iter()
            .find(|m| **m != author)
            .or(authorized.first())
            .map(|m| (*m).clone())
    }

    /// Resolves a channel parameter: a conversation id, or a user id with whom `caller` has
    /// an IM.
    pub fn resolve_channel(&self, id: &str, caller: &str) -> Option<String> {
        if self.channels.contains_key(id) {
            return Some(id.to_string());
        }
        self.channels
            .values()
            .find(|c| {
                c.im_user.is_some()
                    && c.members.iter().any(|m| m == id)
                    && c.members.iter().any(|m| m == caller)
            })
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
        // Slack Connect: an external author's messages name their own workspace.
        let author_team = self.team_of(&m.user);
        o.insert("team".into(), json!(author_team));
        if m.bot_id.is_none() {
            o.insert("user_team".into(), json!(author_team));
            o.insert("source_team".into(), json!(author_team));
        }
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

    /// Wraps an event in an `event_callback` wrapper authorized for the bot and queues it
    /// for delivery.
    pub fn emit(&mut self, event: Value) {
        self.emit_to(event, BOT_USER_ID);
    }

    /// Wraps an event in an `event_callback` wrapper whose `authorizations` name `audience`
    /// (the bot, or a user who authorized the app) and queues it for delivery.
    pub fn emit_to(&mut self, mut event: Value, audience: &str) {
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
            "authorizations": [{"enterprise_id": null, "team_id": TEAM_ID, "user_id": audience,
                                "is_bot": audience == BOT_USER_ID, "is_enterprise_install": false}],
            "is_ext_shared_channel": false,
            "event_context": event_context,
            // Deprecated by Slack but required by the vendor's wrapper schema.
            "authed_users": [audience],
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
        let author = m.user.clone();
        ch.messages.push(m);
        let ch = &self.channels[ch_id];
        if let Some(to) = self.audience(ch, &author, true) {
            let ev = self.msg_json(ch, ch.messages.last().expect("just pushed"), false);
            self.emit_to(ev, &to);
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
        if let Some(to) = self.audience(ch, by, true) {
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
            self.emit_to(ev, &to);
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
        if let Some(to) = self.audience(ch, &prev.user, true) {
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
            self.emit_to(ev, &to);
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

    /// `user` joins (or is invited by `inviter` to) a channel: a `channel_join` message and a
    /// `member_joined_channel` event. `false` if they were already a member.
    pub fn member_join(&mut self, channel: &str, user: &str, inviter: Option<&str>) -> bool {
        let Some(ch) = self.channels.get_mut(channel) else {
            return false;
        };
        if ch.members.iter().any(|m| m == user) {
            return false;
        }
        ch.members.push(user.to_string());
        let ctype = if ch.private { "G" } else { "C" };
        self.add_message(
            channel,
            Msg {
                user: user.into(),
                text: format!("<@{user}> has joined the channel"),
                subtype: Some("channel_join".into()),
                ..Default::default()
            },
        );
        if self.bot_in(&self.channels[channel]) {
            let mut ev = json!({"type": "member_joined_channel", "user": user, "channel": channel,
                                "channel_type": ctype, "team": TEAM_ID});
            if let Some(by) = inviter {
                ev["inviter"] = json!(by);
            }
            self.emit(ev);
        }
        true
    }

    /// `user` leaves (or is removed from) a channel: a `channel_leave` message and a
    /// `member_left_channel` event. `false` if they were not a member.
    pub fn member_leave(&mut self, channel: &str, user: &str) -> bool {
        let Some(ch) = self.channels.get(channel) else {
            return false;
        };
        if !ch.members.iter().any(|m| m == user) {
            return false;
        }
        let was_visible = self.bot_in(ch);
        let ctype = if ch.private { "G" } else { "C" };
        self.add_message(
            channel,
            Msg {
                user: user.into(),
                text: format!("<@{user}> has left the channel"),
                subtype: Some("channel_leave".into()),
                ..Default::default()
            },
        );
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.members.retain(|m| m != user);
        }
        if was_visible {
            self.emit(
                json!({"type": "member_left_channel", "user": user, "channel": channel,
                             "channel_type": ctype, "team": TEAM_ID}),
            );
        }
        true
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

    /// A conversation as `caller` sees it (an IM names the other party as `user`).
    pub fn channel_json(&self, ch: &Channel, caller: &str) -> Value {
        if let Some(im_user) = &ch.im_user {
            let u = ch.members.iter().find(|m| *m != caller).unwrap_or(im_user);
            return json!({
                "id": ch.id, "created": ch.created, "is_archived": false, "is_im": true,
                "is_org_shared": false, "context_team_id": TEAM_ID, "updated": ch.created * 1000,
                "user": u, "is_user_deleted": false, "priority": 0,
            });
        }
        // Private channels made before March 2021 have `G` ids and `is_group`; group DMs
        // are `is_group` and `is_mpim` whatever their id.
        let legacy_group = (ch.private && ch.id.starts_with('G')) || ch.mpim;
        json!({
            "id": ch.id, "name": ch.name, "name_normalized": ch.name,
            "is_channel": !legacy_group, "is_group": legacy_group, "is_im": false,
            "is_mpim": ch.mpim, "is_private": ch.private, "created": ch.created,
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

    /// The workspace of user `id` (the fake's own for unknown users).
    pub fn team_of(&self, id: &str) -> String {
        self.users
            .get(id)
            .and_then(|u| u.team.clone())
            .unwrap_or_else(|| TEAM_ID.to_string())
    }

    pub fn user_json(&self, u: &User) -> Value {
        let team = u.team.as_deref().unwrap_or(TEAM_ID);
        let root = self.root();
        let img = |n: u32| format!("{root}/avatars/{}_{n}.png", u.id);
        let mut profile = json!({
            "real_name": u.real_name, "real_name_normalized": u.real_name,
            "display_name": u.real_name, "display_name_normalized": u.real_name,
            "avatar_hash": "g0fake", "first_name": u.real_name, "last_name": "",
            "image_24": img(24), "image_32": img(32), "image_48": img(48), "image_72": img(72),
            "image_192": img(192), "image_512": img(512), "team": team, "status_text": "",
            "status_emoji": "",
        });
        if u.is_bot {
            profile["bot_id"] = json!(BOT_ID);
            profile["api_app_id"] = json!(APP_ID);
            profile["always_active"] = json!(false);
        }
        json!({
            "id": u.id, "team_id": team, "name": u.name, "deleted": false, "color": "9f69e7",
            "real_name": u.real_name, "tz": "Europe/London", "tz_label": "Greenwich Mean Time",
            "tz_offset": 0, "profile": profile, "is_admin": false, "is_owner": false,
            "is_primary_owner": false, "is_restricted": false, "is_ultra_restricted": false,
            "is_bot": u.is_bot, "is_app_user": false, "updated": 1_700_000_000u64,
            "is_email_confirmed": !u.is_bot, "who_can_share_contact_card": "EVERYONE",
        })
    }

    pub(crate) fn fake_message(&self, m: &Msg) -> FakeMessage {
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
