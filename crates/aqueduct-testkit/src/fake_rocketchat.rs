//! A fake Rocket.Chat on loopback speaking the real wire protocol: REST v1 under `/api/v1/`
//! (`X-User-Id`/`X-Auth-Token`, `{success, error}` answers, HTTP 429 rate limits with
//! `X-RateLimit-Reset` and `error-too-many-requests`) and the realtime API (DDP) at
//! `/websocket`. Tests act as Rocket.Chat users through in-process methods
//! ([`FakeRocketChat::post`], ...); writes made through REST are pushed to realtime
//! subscribers like any other.
//!
//! [`check_rocketchat_requests`] and [`check_rocketchat_responses`] check the traffic against
//! the vendor's OpenAPI files in `specs/rocketchat/`.

mod ddp;
mod files;
mod rest;
mod spec;
mod state;

pub use spec::{
    check_rocketchat_requests, check_rocketchat_responses, load_rocketchat_specs,
    rocketchat_spec_dir,
};
pub use state::{FakeFile, FakeMessage, RcRequest, RcResponse};

use serde_json::json;
use state::{Push, Room, Shared, State, User};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

struct ServerGuard {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.shared.lock().realtime_generation += 1;
        self.shared.changed();
        self.task.abort();
    }
}

/// The fake Rocket.Chat. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeRocketChat {
    shared: Arc<Shared>,
    url: String,
    _guard: Arc<ServerGuard>,
}

impl FakeRocketChat {
    /// Starts the fake on `127.0.0.1:0`, with no users or rooms.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                realtime_open: true,
                rate_limit_ms: 300,
                base_url: url.clone(),
                ..State::default()
            }),
            notify: Notify::new(),
        });
        let app = rest::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            shared: shared.clone(),
            url,
            _guard: Arc::new(ServerGuard { shared, task }),
        })
    }

    /// The server URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Adds a user; returns a personal access token for them.
    pub fn add_user(&self, id: &str, username: &str, name: &str) -> String {
        let mut st = self.shared.lock();
        st.users.insert(
            id.into(),
            User {
                id: id.into(),
                username: username.into(),
                name: name.into(),
                password: None,
                impersonate: false,
                avatar: None,
            },
        );
        let token = format!("pat-{}", st.new_id());
        st.tokens.insert(token.clone(), id.into());
        token
    }

    /// Lets `user` log in with `password`.
    pub fn set_password(&self, user: &str, password: &str) {
        if let Some(u) = self.shared.lock().users.get_mut(user) {
            u.password = Some(password.into());
        }
    }

    /// Sets `user`'s picture.
    pub fn set_avatar(&self, user: &str, mime: &str, bytes: &[u8]) {
        if let Some(u) = self.shared.lock().users.get_mut(user) {
            u.avatar = Some((mime.into(), bytes.to_vec()));
        }
    }

    /// Gives `user` the `message-impersonate` permission (a bot account).
    pub fn allow_impersonation(&self, user: &str) {
        if let Some(u) = self.shared.lock().users.get_mut(user) {
            u.impersonate = true;
        }
    }

    /// Adds a room of type `t` (`c`, `p`, `d`) with `members`; each member's subscription
    /// is announced on their `subscriptions-changed` stream.
    pub fn add_room(&self, id: &str, t: &str, name: &str, members: &[&str]) {
        let mut st = self.shared.lock();
        let room = Room {
            id: id.into(),
            t: t.into(),
            name: name.into(),
            topic: String::new(),
            members: members.iter().map(|m| m.to_string()).collect(),
            created: state::now_ms(),
        };
        for m in members {
            let sub = st.subscription_json(&room, m);
            st.pushes.push(Push {
                collection: "stream-notify-user".into(),
                event: format!("{m}/subscriptions-changed"),
                args: json!(["inserted", sub]),
            });
        }
        st.rooms.insert(id.into(), room);
        drop(st);
        self.shared.changed();
    }

    /// `user` posts `text` in `rid` (in thread `tmid`); returns the message id.
    pub fn post(&self, rid: &str, user: &str, text: &str, tmid: Option<&str>) -> String {
        let mut st = self.shared.lock();
        let i = st.add_message(None, rid, user, text, tmid.map(str::to_owned), None);
        let id = st.messages[i].id.clone();
        drop(st);
        self.shared.changed();
        id
    }

    /// `user` posts `text` in `rid` with `attachments` as given (any JSON, as a client may post
    /// through `chat.postMessage`: a `title_link` pointing anywhere); returns the message id.
    pub fn post_with_attachments(
        &self,
        rid: &str,
        user: &str,
        text: &str,
        attachments: Vec<serde_json::Value>,
    ) -> String {
        let mut st = self.shared.lock();
        let i = st.add_message(None, rid, user, text, None, None);
        let id = st.messages[i].id.clone();
        st.foreign_attachments.insert(id.clone(), attachments);
        // Pushed again with the attachments; subscribers see that one last.
        st.pushes.pop();
        st.push_message(i);
        drop(st);
        self.shared.changed();
        id
    }

    /// A room event, as Rocket.Chat records it (a system message of type `t`): `uj` (`user`
    /// joins), `ul` (`user` leaves), `room_changed_topic` (`text` is the new topic) or `r`
    /// (`text` is the new name). Returns the message id.
    pub fn room_event(&self, rid: &str, user: &str, t: &str, text: &str) -> String {
        let mut st = self.shared.lock();
        if let Some(room) = st.rooms.get_mut(rid) {
            match t {
                "uj" => room.members.push(user.into()),
                "ul" => room.members.retain(|m| m != user),
                "room_changed_topic" => room.topic = text.into(),
                "r" => room.name = text.into(),
                _ => {}
            }
        }
        let ts = st.next_ts();
        let id = st.new_id();
        st.messages.push(FakeMessage {
            id: id.clone(),
            rid: rid.into(),
            user: user.into(),
            text: text.into(),
            ts,
            tmid: None,
            alias: None,
            reactions: Default::default(),
            edited_at: None,
            edited_by: None,
            deleted: false,
            tcount: 0,
            updated_at: ts,
            t: Some(t.into()),
            files: Vec::new(),
            avatar: None,
        });
        let i = st.messages.len() - 1;
        st.push_message(i);
        drop(st);
        self.shared.changed();
        id
    }

    /// `user` posts a file in `rid` with `text` as its caption (`rooms.media` then
    /// `rooms.mediaConfirm`, as Rocket.Chat's clients do); returns the message id.
    pub fn upload_file(
        &self,
        rid: &str,
        user: &str,
        name: &str,
        mime: &str,
        data: Vec<u8>,
        text: &str,
    ) -> String {
        let mut st = self.shared.lock();
        let file = FakeFile {
            id: st.new_id(),
            name: name.into(),
            mime: mime.into(),
            data,
        };
        let i = st.add_message_with(None, rid, user, text, None, None, None, vec![file]);
        let id = st.messages[i].id.clone();
        drop(st);
        self.shared.changed();
        id
    }

    /// Carries out the next call of `endpoint` (a prefix: `rooms.mediaConfirm` for every
    /// room and file) but never answers it, as when the client crashes before the answer
    /// reaches it.
    pub fn leave_unanswered(&self, endpoint: &str) {
        self.shared.lock().unanswered.push(endpoint.into());
    }

    /// Makes every file download take `delay` before its bytes come.
    pub fn slow_downloads(&self, delay: Duration) {
        self.shared.lock().download_delay_ms = delay.as_millis() as u64;
    }

    /// Turns on the server's keepalive as Meteor runs it: a ping after `interval` of
    /// silence from the client, and the connection dropped when no answer comes within
    /// `interval` again.
    pub fn keepalive(&self, interval: Duration) {
        self.shared.lock().keepalive_ms = Some(interval.as_millis() as u64);
    }

    /// Makes the realtime API take `delay` to answer each DDP `connect` (a busy server, a
    /// slow load balancer): what is posted meanwhile is not pushed on that connection, as
    /// with Rocket.Chat, which pushes only to subscriptions in place.
    pub fn slow_realtime(&self, delay: Duration) {
        self.shared.lock().realtime_delay_ms = delay.as_millis() as u64;
    }

    /// Plays a server before 6.8: `rooms.media` and `rooms.mediaConfirm` do not exist (404),
    /// files are sent with `rooms.upload`.
    pub fn before_6_8(&self) {
        self.shared.lock().before_6_8 = true;
    }

    /// Connections dropped because the client did not answer a ping in time.
    pub fn keepalive_drops(&self) -> u32 {
        self.shared.lock().keepalive_drops
    }

    /// File downloads the fake served (`/file-upload/...`).
    pub fn downloads(&self) -> u32 {
        self.shared.lock().downloads
    }

    /// The name of room `rid`.
    pub fn room_name(&self, rid: &str) -> Option<String> {
        self.shared.lock().rooms.get(rid).map(|r| r.name.clone())
    }

    /// The topic of room `rid`.
    pub fn room_topic(&self, rid: &str) -> Option<String> {
        self.shared.lock().rooms.get(rid).map(|r| r.topic.clone())
    }

    /// The members (user ids) of room `rid`.
    pub fn members(&self, rid: &str) -> Vec<String> {
        self.shared
            .lock()
            .rooms
            .get(rid)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }

    /// `user` starts or stops typing in `rid`.
    pub fn typing(&self, rid: &str, user: &str, on: bool) {
        let mut st = self.shared.lock();
        let username = st
            .users
            .get(user)
            .map(|u| u.username.clone())
            .unwrap_or_default();
        let activity: Vec<&str> = if on { vec!["user-typing"] } else { vec![] };
        st.pushes.push(Push {
            collection: "stream-notify-room".into(),
            event: format!("{rid}/user-activity"),
            args: json!([username, activity, {}]),
        });
        drop(st);
        self.shared.changed();
    }

    /// Whether the client said `username` is typing in `rid`.
    pub fn is_typing(&self, rid: &str, username: &str) -> bool {
        self.shared
            .lock()
            .typing
            .get(&(rid.to_owned(), username.to_owned()))
            .copied()
            .unwrap_or(false)
    }

    /// The author edits message `id`.
    pub fn edit(&self, id: &str, text: &str) {
        let mut st = self.shared.lock();
        if let Some(i) = st.find(id) {
            let by = st.messages[i].user.clone();
            st.edit(i, &by, text);
        }
        drop(st);
        self.shared.changed();
    }

    /// Message `id` is deleted.
    pub fn delete(&self, id: &str) {
        let mut st = self.shared.lock();
        if let Some(i) = st.find(id) {
            st.delete(i);
        }
        drop(st);
        self.shared.changed();
    }

    /// `user` adds (`on`) or removes reaction `emoji` (`:tada:`) on message `id`.
    pub fn react(&self, id: &str, user: &str, emoji: &str, on: bool) {
        let mut st = self.shared.lock();
        if let Some(i) = st.find(id) {
            st.react(i, user, emoji, on);
        }
        drop(st);
        self.shared.changed();
    }

    /// Closes every realtime connection and refuses new ones until
    /// [`FakeRocketChat::open_realtime`].
    pub fn close_realtime(&self) {
        let mut st = self.shared.lock();
        st.realtime_open = false;
        st.realtime_generation += 1;
        drop(st);
        self.shared.changed();
    }

    /// Accepts realtime connections again.
    pub fn open_realtime(&self) {
        self.shared.lock().realtime_open = true;
        self.shared.changed();
    }

    /// Realtime logins so far (one per connection).
    pub fn realtime_logins(&self) -> u32 {
        self.shared.lock().realtime_logins
    }

    /// Pongs received in answer to the server's pings.
    pub fn pongs(&self) -> u32 {
        self.shared.lock().pongs
    }

    /// Refuses the next `times` calls of `endpoint` with a rate limit.
    pub fn rate_limit(&self, endpoint: &str, times: u32) {
        self.shared
            .lock()
            .rate_limits
            .insert(endpoint.into(), times);
    }

    /// Answers the next `times` calls of `endpoint` with HTTP 500, as a server having a bad
    /// moment does.
    pub fn fail_with_server_error(&self, endpoint: &str, times: u32) {
        self.shared
            .lock()
            .server_errors
            .insert(endpoint.into(), times);
    }

    /// Rate-limit answers given so far.
    pub fn rate_limited(&self) -> u32 {
        self.shared.lock().rate_limited
    }

    /// Messages of room `rid`, oldest first (deleted ones included, flagged).
    pub fn messages(&self, rid: &str) -> Vec<FakeMessage> {
        self.shared
            .lock()
            .messages
            .iter()
            .filter(|m| m.rid == rid)
            .cloned()
            .collect()
    }

    /// Waits until `pred` holds for the messages of `rid`.
    pub async fn wait_for(
        &self,
        rid: &str,
        timeout: Duration,
        pred: impl Fn(&[FakeMessage]) -> bool,
    ) -> anyhow::Result<Vec<FakeMessage>> {
        self.wait_until(timeout, || {
            let m = self.messages(rid);
            pred(&m).then_some(m)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}; messages of {rid}: {:#?}", self.messages(rid)))
    }

    /// Waits until `check` gives a value (re-checked on every change of the fake).
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        check: impl Fn() -> Option<T>,
    ) -> anyhow::Result<T> {
        crate::wait_on::until(&self.shared.notify, "fake Rocket.Chat", timeout, check).await
    }

    /// The newest message of `rid` when `user` last marked it read (`subscriptions.read`).
    pub fn last_read(&self, rid: &str, user: &str) -> Option<String> {
        self.shared
            .lock()
            .last_read
            .get(&(rid.to_owned(), user.to_owned()))
            .cloned()
    }

    /// Every REST request received so far.
    pub fn requests(&self) -> Vec<RcRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every REST answer given so far.
    pub fn responses(&self) -> Vec<RcResponse> {
        self.shared.lock().responses.clone()
    }
}
