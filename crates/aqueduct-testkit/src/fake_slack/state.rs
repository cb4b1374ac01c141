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
    /// Message metadata (`{event_type, event_payload}`) given to `chat.postMessage`, returned
    /// by `conversations.history` and `conversations.replies` only with
    /// `include_all_metadata=true`.
    pub metadata: Option<Value>,
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

/// What happens to the answer of a call that Slack carried out (see
/// `FakeSlack::lose_answers`, `FakeSlack::stall_answers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerFault {
    /// The answer's body breaks off and the connection drops.
    Lose,
    /// No answer comes at all (the caller's time-out, or its death, ends the wait).
    Stall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Disconnect,
    Drop,
    /// Half-open: the connection stays up but sends nothing (no envelopes, no pongs) and
    /// reads nothing, as a socket whose far end vanished without a FIN.
    Silence,
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
    /// Method -> how many more of its calls are carried out but their answer faulted.
    pub answer_faults: HashMap<String, (u32, AnswerFault)>,
    pub emitted: Vec<Value>,
    /// The event of every Socket Mode envelope delivered again because its acknowledgement
    /// did not come in time, once per redelivery.
    pub redelivered: Vec<Value>,
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
    /// User id -> the URL their profile gives for every `image_*` size, instead of the
    /// fake's own avatar route (a user may point their picture anywhere, e.g. Gravatar).
    pub avatar_urls: HashMap<String, String>,
    /// How long each `url_private` download waits before its bytes come.
    pub download_delay: Duration,
    /// When set, every file's `url_private` and `url_private_download` (a hostile or broken
    /// Slack, or a proxy rewriting them).
    pub file_url: Option<String>,
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
}
