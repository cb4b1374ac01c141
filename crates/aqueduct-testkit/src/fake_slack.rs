//! A fake Slack on loopback that speaks Slack's real wire protocol: the Web API under
//! `{base}/api/{method}` (bearer tokens, JSON or form bodies, HTTP 200 `{"ok":false}` errors,
//! HTTP 429 + `Retry-After` rate limits) and Socket Mode (a websocket opened from the URL that
//! `apps.connections.open` returns, `hello`, `events_api` envelopes carrying Events API
//! `event_callback` wrappers, acks, redelivery, `disconnect`), or the Events API over HTTP
//! ([`FakeSlack::deliver_events_over_http`]).
//!
//! Tests act as Slack users through in-process methods ([`FakeSlack::post`], ...); the bot's
//! own writes are echoed back as events, as real Slack does. Only conversations the bot is a
//! member of (its IMs included) produce events for the bot, as with real event subscriptions;
//! DMs and group DMs between people produce `message` events only for a member who authorized
//! the app (user subscriptions `message.im`, `message.mpim`), with `authorizations` naming them.
//!
//! [`check_requests_against_spec`] and [`validate_event_wrapper`] check the traffic against
//! the vendor's OpenAPI file and Events API wrapper schema in `specs/slack/`.

mod api;
mod clock_ids;
mod emoji;
mod events_http;
mod files_http;
mod oauth;
mod render;
mod socket;
mod spec;
mod state;

pub(crate) use clock_ids::*;
pub(crate) use state::*;

pub use events_http::{DeliveryAttempt, EventsHttp, EventsHttpOptions, HttpAnswer};
pub use spec::{
    SpecReport, check_requests_against_spec, check_requests_against_spec_report,
    load_event_wrapper_schema, load_slack_spec, slack_spec_dir, validate_event_wrapper,
    validate_json_schema,
};

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
    /// A user token that was revoked.
    Revoked,
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
    /// When the fake received it.
    pub received_at: std::time::Instant,
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
    /// Message metadata as given to `chat.postMessage` (`{event_type, event_payload}`).
    pub metadata: Option<Value>,
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
                team: None,
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
                answer_faults: HashMap::new(),
                emitted: Vec::new(),
                redelivered: Vec::new(),
                pending: VecDeque::new(),
                connections: 0,
                current_conn: 0,
                control: None,
                tickets: HashSet::new(),
                ack_timeout: Duration::from_secs(3),
                counter: 0,
                id_base: rand::random::<u64>() % 1_000_000_000,
                last_read: HashMap::new(),
                oauth: Default::default(),
                shutdown: false,
                page_cap: None,
                custom_emoji: Default::default(),
                avatar_urls: HashMap::new(),
                download_delay: Duration::ZERO,
                file_url: None,
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

    /// The bridge command that logs the workspace app in with this fake's tokens.
    pub fn app_login_command(&self) -> String {
        format!("login slack app {} {}", self.bot_token(), self.app_token())
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
                team: None,
            },
        );
    }

    /// Adds a Slack Connect user: a member of another workspace, `team`, who can be in
    /// shared channels.
    pub fn add_external_user(&self, id: &str, name: &str, real_name: &str, team: &str) {
        self.shared.lock().users.insert(
            id.to_string(),
            User {
                id: id.into(),
                name: name.into(),
                real_name: real_name.into(),
                is_bot: false,
                team: Some(team.into()),
            },
        );
    }

    /// Forgets the events not yet acknowledged, as Slack does once its retries are used up
    /// (for a bridge that was down): only a catch-up through the history can find them now.
    pub fn give_up_undelivered_events(&self) {
        self.shared.lock().pending.clear();
        self.shared.changed();
    }

    /// Issues a user token (`xoxp-`) for `user` (a new one on each call). From then on `user`
    /// has authorized the app: the app receives the messages of their DMs and group DMs
    /// that the bot is not in, with `authorizations` naming them.
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
                mpim: false,
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
                mpim: false,
                members: vec![BOT_USER_ID.into(), user.into()],
                topic: Topic::default(),
                purpose: Topic::default(),
                messages: Vec::new(),
            },
        );
    }

    /// Adds a direct-message conversation between two workspace users, `a` and `b`, which
    /// the bot is not part of. The app hears of its messages only through a member who
    /// authorized it with user scopes (see [`FakeSlack::user_token`]), and only that user's
    /// token can read it.
    pub fn add_user_im(&self, id: &str, a: &str, b: &str) {
        let created = now_secs();
        self.shared.lock().channels.insert(
            id.to_string(),
            Channel {
                id: id.into(),
                name: b.into(),
                created,
                private: true,
                im_user: Some(b.into()),
                mpim: false,
                members: vec![a.into(), b.into()],
                topic: Topic::default(),
                purpose: Topic::default(),
                messages: Vec::new(),
            },
        );
    }

    /// Adds a group direct message (`mpim`) among `members` (list `UBOT` for the bot to be in
    /// it). Slack names these `mpdm-<user names joined by -->-1`.
    pub fn add_mpim(&self, id: &str, members: &[&str]) {
        let created = now_secs();
        let mut st = self.shared.lock();
        let names: Vec<String> = members
            .iter()
            .map(|m| {
                st.users
                    .get(*m)
                    .map_or_else(|| m.to_lowercase(), |u| u.name.clone())
            })
            .collect();
        st.channels.insert(
            id.to_string(),
            Channel {
                id: id.into(),
                name: format!("mpdm-{}-1", names.join("--")),
                created,
                private: true,
                im_user: None,
                mpim: true,
                members: members.iter().map(|m| m.to_string()).collect(),
                topic: Topic::default(),
                purpose: Topic {
                    value: format!(
                        "Group messaging with: {}",
                        names
                            .iter()
                            .map(|n| format!("@{n}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    creator: members.first().map(|m| m.to_string()).unwrap_or_default(),
                    last_set: created,
                },
                messages: Vec::new(),
            },
        );
    }

    /// Returns at most `cap` items per page of `conversations.history` and
    /// `conversations.replies`, whatever `limit` asks: Slack documents that fewer than the
    /// requested items may come back before the end of the list.
    pub fn cap_pages(&self, cap: usize) {
        self.shared.lock().page_cap = Some(cap);
    }

    /// The image every avatar URL of the fake serves.
    pub fn avatar_image(&self) -> Vec<u8> {
        files_http::PNG_1X1.to_vec()
    }

    /// `user` joins `channel`: a `channel_join` message and a `member_joined_channel` event.
    pub fn join_channel(&self, channel: &str, user: &str) {
        self.shared.lock().member_join(channel, user, None);
        self.shared.changed();
    }

    /// `user` leaves `channel`: a `channel_leave` message and a `member_left_channel` event.
    pub fn leave_channel(&self, channel: &str, user: &str) {
        self.shared.lock().member_leave(channel, user);
        self.shared.changed();
    }

    /// Revokes `token` as a workspace admin or the user would: later calls with it fail with
    /// `token_revoked`, and the app receives a `tokens_revoked` event naming its owner.
    pub fn revoke_token(&self, token: &str) {
        let mut st = self.shared.lock();
        let Some(kind) = st.tokens.get(token).cloned() else {
            return;
        };
        let tokens = match kind {
            TokenKind::Bot => json!({"oauth": [], "bot": [BOT_USER_ID]}),
            TokenKind::User(u) => json!({"oauth": [u], "bot": []}),
            TokenKind::App | TokenKind::Missing | TokenKind::Invalid | TokenKind::Revoked => return,
        };
        st.tokens.insert(token.to_owned(), TokenKind::Revoked);
        st.emit(json!({"type": "tokens_revoked", "tokens": tokens}));
        drop(st);
        self.shared.changed();
    }

    /// Whether file `id` still exists (not deleted with `files.delete`).
    pub fn file_exists(&self, id: &str) -> bool {
        self.shared.lock().files.contains_key(id)
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

    /// `user` posts a message as current Slack clients do: `rich_text` `blocks` carrying the
    /// formatting and `text` as the mrkdwn fallback; returns the ts.
    pub fn post_rich(&self, channel: &str, user: &str, text: &str, blocks: Value) -> String {
        let ts = self.shared.lock().add_message(
            channel,
            Msg {
                user: user.into(),
                text: text.into(),
                blocks: Some(blocks),
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

    /// The next `times` calls of `method` are carried out (a post is posted), but their answer
    /// is lost: its body breaks off and the connection drops, as when a proxy or the network
    /// fails after Slack did the work. The caller sees a passing failure.
    pub fn lose_answers(&self, method: &str, times: u32) {
        self.shared
            .lock()
            .answer_faults
            .insert(method.to_string(), (times, AnswerFault::Lose));
    }

    /// The next `times` calls of `method` are carried out, but no answer ever comes: the
    /// request hangs until the caller gives up (its time-out) or dies.
    pub fn stall_answers(&self, method: &str, times: u32) {
        self.shared
            .lock()
            .answer_faults
            .insert(method.to_string(), (times, AnswerFault::Stall));
    }

    /// Sends `{"type":"disconnect","reason":"refresh_requested"}` on the current socket, then
    /// closes it.
    pub fn send_disconnect(&self) {
        let mut st = self.shared.lock();
        st.control = Some((st.current_conn, Control::Disconnect));
        drop(st);
        self.shared.changed();
    }

    /// Makes the current socket half-open: it stays connected but from now on sends nothing
    /// (no envelopes, no pongs) and reads nothing. Events emitted meanwhile wait for the
    /// next connection.
    pub fn silence_socket(&self) {
        let mut st = self.shared.lock();
        st.control = Some((st.current_conn, Control::Silence));
        drop(st);
        self.shared.changed();
    }

    /// Every profile image of `user` is `url` from now on (instead of the fake's avatars).
    pub fn set_avatar_url(&self, user: &str, url: &str) {
        self.shared
            .lock()
            .avatar_urls
            .insert(user.to_owned(), url.to_owned());
    }

    /// Every file's `url_private` and `url_private_download` is `url` from now on.
    pub fn set_file_url(&self, url: &str) {
        self.shared.lock().file_url = Some(url.to_owned());
    }

    /// Each `url_private` download waits `delay` before its bytes come.
    pub fn slow_downloads(&self, delay: Duration) {
        self.shared.lock().download_delay = delay;
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

    /// The event of every Socket Mode envelope delivered again because it was not
    /// acknowledged within the ack timeout (Slack's 3 s by default), once per redelivery.
    pub fn redelivered_after_timeout(&self) -> Vec<Value> {
        self.shared.lock().redelivered.clone()
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

    /// Waits until `check` gives a value (re-checked after every API call the fake answers
    /// and every change it makes).
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        check: impl Fn() -> Option<T>,
    ) -> anyhow::Result<T> {
        crate::wait_on::until(&self.shared.msg_notify, "fake Slack", timeout, check).await
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
