//! The fake's state: users, tokens, rooms with their messages, the log of realtime pushes,
//! and what was received, for the tests to inspect.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// A user of the fake server.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub password: Option<String>,
    /// Holds the `message-impersonate` permission (may send `alias`/`avatar`).
    pub impersonate: bool,
    /// A picture set by the user: (MIME type, bytes).
    pub avatar: Option<(String, Vec<u8>)>,
}

/// A room.
#[derive(Clone, Debug)]
pub(crate) struct Room {
    pub id: String,
    /// `c`, `p` or `d`.
    pub t: String,
    pub name: String,
    pub topic: String,
    pub members: Vec<String>,
    /// When the room was made (its members' subscriptions date from then).
    pub created: i64,
}

/// A message as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    /// Message id.
    pub id: String,
    /// Room id.
    pub rid: String,
    /// Author's user id.
    pub user: String,
    /// Text as sent.
    pub text: String,
    /// Time, milliseconds since the epoch.
    pub ts: i64,
    /// Thread root, for thread replies.
    pub tmid: Option<String>,
    /// `alias` given by an impersonating sender.
    pub alias: Option<String>,
    /// Reactions: `:shortcode:` -> usernames.
    pub reactions: BTreeMap<String, Vec<String>>,
    /// When it was last edited.
    pub edited_at: Option<i64>,
    /// Who edited it.
    pub edited_by: Option<String>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// Replies in its thread.
    pub tcount: u32,
    /// Last change, milliseconds.
    pub updated_at: i64,
    /// System message type (`uj` joined, `ul` left, `room_changed_topic`, `r` renamed).
    pub t: Option<String>,
    /// Files shown by the message (uploaded with `rooms.media`, posted with
    /// `rooms.mediaConfirm`).
    pub files: Vec<FakeFile>,
    /// `avatar` given by an impersonating sender.
    pub avatar: Option<String>,
}

/// An uploaded file.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeFile {
    /// File id (in `/file-upload/<id>/<name>`).
    pub id: String,
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A file uploaded with `rooms.media` and not yet posted.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub rid: String,
    pub user: String,
    pub file: FakeFile,
}

/// One realtime push: a collection, the event name (room id, `<rid>/deleteMessage`,
/// `<uid>/subscriptions-changed`) and its arguments.
#[derive(Clone, Debug)]
pub(crate) struct Push {
    pub collection: String,
    pub event: String,
    pub args: Value,
}

/// One REST request as received.
#[derive(Clone, Debug)]
pub struct RcRequest {
    /// Endpoint after `/api/v1/`, e.g. `chat.sendMessage`.
    pub endpoint: String,
    /// `GET` or `POST`.
    pub http_method: String,
    /// Query parameters.
    pub query: Value,
    /// JSON body (`Null` for none).
    pub body: Value,
    /// Whether both `X-User-Id` and `X-Auth-Token` were sent.
    pub auth_headers: bool,
    /// Names of the `multipart/form-data` parts, for a form body (then `body` is `Null`).
    pub form: Vec<String>,
}

/// One REST answer as given.
#[derive(Clone, Debug)]
pub struct RcResponse {
    /// Endpoint after `/api/v1/`.
    pub endpoint: String,
    /// `GET` or `POST`.
    pub http_method: String,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

#[derive(Default)]
pub(crate) struct State {
    pub users: BTreeMap<String, User>,
    /// Token -> user id.
    pub tokens: HashMap<String, String>,
    pub rooms: BTreeMap<String, Room>,
    pub messages: Vec<FakeMessage>,
    pub pushes: Vec<Push>,
    pub requests: Vec<RcRequest>,
    pub responses: Vec<RcResponse>,
    /// Endpoint -> answers still to refuse with a rate limit.
    pub rate_limits: HashMap<String, u32>,
    /// Endpoint -> calls still to answer with HTTP 500.
    pub server_errors: HashMap<String, u32>,
    /// How long a rate limit lasts, milliseconds.
    pub rate_limit_ms: i64,
    /// Rate-limit answers given.
    pub rate_limited: u32,
    /// Whether websocket connections are accepted.
    pub realtime_open: bool,
    /// Bumped to close every open realtime connection.
    pub realtime_generation: u64,
    /// Realtime connections logged in so far.
    pub realtime_logins: u32,
    /// Pongs received.
    pub pongs: u32,
    /// (room, username) -> whether they are typing, as last notified by a client.
    pub typing: HashMap<(String, String), bool>,
    /// (room, user) -> the newest message when the user marked the room read.
    pub last_read: HashMap<(String, String), String>,
    pub last_ts: i64,
    pub ids: HashSet<String>,
    /// Files uploaded and not yet posted, by file id.
    pub uploads: HashMap<String, Upload>,
    /// The server's own URL, which permalinks (quotes) point at.
    pub base_url: String,
    /// File downloads served.
    pub downloads: u32,
    /// Message id -> attachments it carries beyond its own files, as any client may post
    /// them through `chat.postMessage` (a `title_link` to anywhere, for the hostile tests).
    pub foreign_attachments: HashMap<String, Vec<Value>>,
    /// Endpoints (by prefix) whose next call is carried out but never answered.
    pub unanswered: Vec<String>,
    /// How long each file download takes before its bytes come, milliseconds.
    pub download_delay_ms: u64,
    /// The server's keepalive: ping after this much client silence, and drop the
    /// connection when the pong does not come within as long again (milliseconds).
    pub keepalive_ms: Option<u64>,
    /// Connections dropped for not answering a ping in time.
    pub keepalive_drops: u32,
    /// How long the realtime API takes to answer a DDP `connect`, milliseconds.
    pub realtime_delay_ms: u64,
    /// Whether the fake plays a server before 6.8: no `rooms.media` or `rooms.mediaConfirm`.
    pub before_6_8: bool,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub notify: Notify,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes waiters and realtime connections.
    pub fn changed(&self) {
        self.notify.notify_waiters();
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ISO 8601 UTC with milliseconds, as Rocket.Chat's REST answers carry dates.
pub(crate) fn iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Parses the ISO dates the history endpoints take.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    let (date, time) = s.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    let ms: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + h) * 60 + min) * 60 + sec) * 1000 + ms)
}

/// How dates are written: REST answers use ISO strings, realtime pushes `{"$date": ms}`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dates {
    Rest,
    Realtime,
}

impl Dates {
    fn date(self, ms: i64) -> Value {
        match self {
            Dates::Rest => json!(iso(ms)),
            Dates::Realtime => json!({ "$date": ms }),
        }
    }
}

/// A file as messages list it (`file`, `files`).
fn file_json(f: &FakeFile) -> Value {
    json!({ "_id": f.id, "name": f.name, "type": f.mime, "size": f.data.len() })
}

const ID_CHARS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";

impl State {
    /// A fresh 17-character id.
    pub fn new_id(&mut self) -> String {
        loop {
            let id: String = (0..17)
                .map(|_| ID_CHARS[rand::random::<u32>() as usize % ID_CHARS.len()] as char)
                .collect();
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// A strictly increasing time, so messages order by it.
    pub fn next_ts(&mut self) -> i64 {
        self.last_ts = now_ms().max(self.last_ts + 1);
        self.last_ts
    }

    pub fn user_json(&self, id: &str) -> Value {
        let u = self.users.get(id);
        json!({
            "_id": id,
            "username": u.map(|u| u.username.as_str()).unwrap_or(id),
            "name": u.map(|u| u.name.as_str()).unwrap_or(id),
        })
    }

    /// A message as Rocket.Chat renders it.
    pub fn message_json(&self, m: &FakeMessage, dates: Dates) -> Value {
        let mut v = json!({
            "_id": m.id, "rid": m.rid, "msg": m.text, "ts": dates.date(m.ts),
            "u": self.user_json(&m.user), "_updatedAt": dates.date(m.updated_at),
            "mentions": self.mentions(&m.text), "channels": [], "groupable": false,
        });
        if let Some(t) = &m.tmid {
            v["tmid"] = json!(t);
        }
        if let Some(a) = &m.alias {
            v["alias"] = json!(a);
        }
        if let (Some(at), Some(by)) = (m.edited_at, &m.edited_by) {
            v["editedAt"] = dates.date(at);
            let u = self.user_json(by);
            v["editedBy"] = json!({ "_id": u["_id"], "username": u["username"] });
        }
        if !m.reactions.is_empty() {
            v["reactions"] = m
                .reactions
                .iter()
                .map(|(k, users)| (k.clone(), json!({ "usernames": users })))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        if let Some(t) = &m.t {
            v["t"] = json!(t);
        }
        if let Some(a) = &m.avatar {
            v["avatar"] = json!(a);
        }
        let mut attachments = self.quote_attachments(&m.text, dates);
        if let Some(first) = m.files.first() {
            v["file"] = file_json(first);
            v["files"] = m.files.iter().map(file_json).collect();
            for f in &m.files {
                let link = format!("/file-upload/{}/{}", f.id, f.name);
                let mut a = json!({ "title": f.name, "title_link": link, "title_link_download": true, "type": "file" });
                for kind in ["image", "video", "audio"] {
                    if f.mime.starts_with(&format!("{kind}/")) {
                        a[format!("{kind}_url")] = json!(link);
                        a[format!("{kind}_type")] = json!(f.mime);
                        a[format!("{kind}_size")] = json!(f.data.len());
                    }
                }
                attachments.push(a);
            }
        }
        if let Some(foreign) = self.foreign_attachments.get(&m.id) {
            attachments.extend(foreign.iter().cloned());
        }
        if !attachments.is_empty() {
            v["attachments"] = Value::Array(attachments);
        }
        if m.tcount > 0 {
            v["tcount"] = json!(m.tcount);
        }
        v
    }

    /// What Rocket.Chat makes of quote links (`[ ](<server>/channel/x?msg=ID)`) to its own
    /// messages: an attachment showing the quoted message, with its `message_link`.
    fn quote_attachments(&self, text: &str, dates: Dates) -> Vec<Value> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("[ ](") {
            let after = &rest[start + 4..];
            let Some(end) = after.find(')') else { break };
            let link = &after[..end];
            rest = &after[end..];
            if self.base_url.is_empty() || !link.starts_with(&self.base_url) {
                continue;
            }
            let Some(id) = link.split_once("?msg=").map(|(_, id)| id) else {
                continue;
            };
            if let Some(q) = self.messages.iter().find(|m| m.id == id && !m.deleted) {
                let author = self.user_json(&q.user);
                out.push(json!({
                    "text": q.text, "message_link": link, "author_name": author["username"],
                    "author_icon": format!("/avatar/{}", author["username"].as_str().unwrap_or_default()),
                    "ts": dates.date(q.ts), "attachments": [],
                }));
            }
        }
        out
    }

    /// The users a text mentions, as Rocket.Chat lists them.
    fn mentions(&self, text: &str) -> Value {
        let mut out = Vec::new();
        for word in text.split(|c: char| !(c.is_alphanumeric() || "@._-".contains(c))) {
            let Some(name) = word.strip_prefix('@') else {
                continue;
            };
            let name = name.trim_end_matches('.');
            if name == "all" || name == "here" {
                out.push(json!({ "_id": name, "username": name }));
            } else if let Some(u) = self.users.values().find(|u| u.username == name) {
                out.push(json!({ "_id": u.id, "username": u.username, "name": u.name }));
            }
        }
        Value::Array(out)
    }

    /// Records a system message of type `t` by `user` in `rid` and pushes it.
    pub fn system_message(&mut self, rid: &str, user: &str, t: &str, text: &str) -> String {
        let i = self.add_message(None, rid, user, text, None, None);
        self.messages[i].t = Some(t.into());
        // Pushed again now that it is typed; subscribers see the typed one last.
        self.pushes.pop();
        self.push_message(i);
        self.messages[i].id.clone()
    }

    /// Pushes the current state of message `i` to its room's subscribers.
    pub fn push_message(&mut self, i: usize) {
        let m = self.messages[i].clone();
        let args = json!([self.message_json(&m, Dates::Realtime)]);
        self.pushes.push(Push {
            collection: "stream-room-messages".into(),
            event: m.rid.clone(),
            args,
        });
    }

    /// Adds a message and pushes it; returns its index.
    pub fn add_message(
        &mut self,
        id: Option<String>,
        rid: &str,
        user: &str,
        text: &str,
        tmid: Option<String>,
        alias: Option<String>,
    ) -> usize {
        self.add_message_with(id, rid, user, text, tmid, alias, None, Vec::new())
    }

    /// Adds a message with an impersonated avatar and files, and pushes it; returns its index.
    #[allow(clippy::too_many_arguments)]
    pub fn add_message_with(
        &mut self,
        id: Option<String>,
        rid: &str,
        user: &str,
        text: &str,
        tmid: Option<String>,
        alias: Option<String>,
        avatar: Option<String>,
        files: Vec<FakeFile>,
    ) -> usize {
        let id = match id {
            Some(id) => {
                self.ids.insert(id.clone());
                id
            }
            None => self.new_id(),
        };
        let ts = self.next_ts();
        self.messages.push(FakeMessage {
            id,
            rid: rid.into(),
            user: user.into(),
            text: text.into(),
            ts,
            tmid: tmid.clone(),
            alias,
            reactions: BTreeMap::new(),
            edited_at: None,
            edited_by: None,
            deleted: false,
            tcount: 0,
            updated_at: ts,
            t: None,
            files,
            avatar,
        });
        let i = self.messages.len() - 1;
        self.push_message(i);
        // As Rocket.Chat does, the thread root is pushed again with its new reply count.
        if let Some(root) = tmid
            && let Some(r) = self.messages.iter().position(|m| m.id == root)
        {
            self.messages[r].tcount += 1;
            self.messages[r].updated_at = ts;
            self.push_message(r);
        }
        i
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.messages.iter().position(|m| m.id == id && !m.deleted)
    }

    pub fn edit(&mut self, i: usize, by: &str, text: &str) {
        let ts = self.next_ts();
        let m = &mut self.messages[i];
        m.text = text.into();
        m.edited_at = Some(ts);
        m.edited_by = Some(by.into());
        m.updated_at = ts;
        self.push_message(i);
    }

    pub fn delete(&mut self, i: usize) {
        let ts = self.next_ts();
        self.messages[i].deleted = true;
        // When it went to the trash, which `chat.syncMessages` lists deletions by.
        self.messages[i].updated_at = ts;
        let m = &self.messages[i];
        self.pushes.push(Push {
            collection: "stream-notify-room".into(),
            event: format!("{}/deleteMessage", m.rid),
            args: json!([{ "_id": m.id }]),
        });
    }

    /// Sets or clears `user`'s reaction; returns false when the emoji is not a shortcode.
    pub fn react(&mut self, i: usize, user: &str, emoji: &str, on: bool) -> bool {
        let name = emoji.trim_matches(':');
        if name.is_empty() || name.contains(char::is_whitespace) {
            return false;
        }
        let key = format!(":{name}:");
        let username = self
            .users
            .get(user)
            .map(|u| u.username.clone())
            .unwrap_or_else(|| user.into());
        let ts = self.next_ts();
        let m = &mut self.messages[i];
        let users = m.reactions.entry(key.clone()).or_default();
        let had = users.contains(&username);
        if on && !had {
            users.push(username);
        } else if !on && had {
            users.retain(|u| *u != username);
        }
        if users.is_empty() {
            m.reactions.remove(&key);
        }
        if on != had {
            m.updated_at = ts;
            self.push_message(i);
        }
        true
    }

    /// A subscription record for `rid` as `subscriptions.get` lists it.
    pub fn subscription_json(&self, room: &Room, user: &str) -> Value {
        let name = if room.t == "d" {
            room.members
                .iter()
                .find(|m| *m != user)
                .and_then(|m| self.users.get(m))
                .map(|u| u.username.clone())
                .unwrap_or_default()
        } else {
            room.name.clone()
        };
        json!({
            "_id": format!("{}{}", room.id, user), "rid": room.id, "t": room.t, "name": name,
            "fname": name, "open": true, "alert": false, "unread": 0,
            "u": { "_id": user, "username": self.users.get(user).map(|u| u.username.clone()).unwrap_or_default() },
            "ts": iso(room.created), "ls": iso(room.created), "_updatedAt": iso(room.created),
        })
    }
}
