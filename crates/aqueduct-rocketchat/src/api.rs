//! One logged-in Rocket.Chat account: receiving through the realtime API, sending through REST.

use crate::checkpoints::Checkpoints;
use crate::config::RocketChatConfig;
use crate::convert::{self, Change, Who};
use crate::rest::Rest;
use crate::seen::{Seen, SeenMessage};
use aqueduct_core::connector::{
    BridgeHandle, ChatInfo, ConnectorError, ConnectorResult, DeleteHandler, EditHandler,
    NetworkApi, ReactionHandler, ReadReceiptHandler, RemoteAvatar, ReplyHandler, ThreadHandler,
    TypingHandler, UserInfo,
};
use aqueduct_core::event::{
    MatrixMessage, MentionedUser, Mentions, MessageContent, RelayedSender, RemoteEvent,
    RemoteEventKind, RemoteSender, SentMessage, TextKind,
};
use aqueduct_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::Portal;
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde_json::Value;
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A logged-in Rocket.Chat account.
pub struct RocketLogin {
    pub(crate) rest: Rest,
    pub(crate) username: String,
    pub(crate) login: LoginId,
    pub(crate) bridge: Arc<dyn BridgeHandle>,
    pub(crate) config: RocketChatConfig,
    /// Where each room's catch-up starts, persisted as the login's state.
    pub(crate) checkpoints: Mutex<Checkpoints>,
    /// Recent messages as last seen, to tell edits and reactions apart and drop echoes.
    pub(crate) seen: Mutex<Seen>,
    /// Files uploaded for Matrix messages whose Rocket.Chat message may not be known yet.
    pub(crate) uploads: Mutex<crate::uploads::Uploads>,
    /// Whether the server answered 404 to `rooms.media` (before 6.8): files then go
    /// through `rooms.upload`.
    pub(crate) without_media: std::sync::atomic::AtomicBool,
    /// Rooms the account is in: room id -> type (`c`, `p`, `d`).
    pub(crate) rooms: Mutex<HashMap<String, String>>,
    /// Room id -> name (channels and groups), for permalinks.
    pub(crate) room_names: Mutex<HashMap<String, String>>,
    /// Usernames -> user ids, learned from messages and `users.info`.
    pub(crate) user_ids: Mutex<HashMap<String, String>>,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Live changes for the worker that handles them off the realtime loop.
    pub(crate) inbound: Mutex<crate::inbound::InboundQueue>,
    /// Method calls for the current realtime connection; `None` while there is none.
    pub(crate) outgoing: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Value>>>,
    /// When the realtime connection was lost, until a new one has caught up.
    /// Turns true once a realtime connection has its subscriptions confirmed. `connect` of
    /// a login with nothing saved yet waits for it (see `NetworkApi::connect` below).
    pub(crate) realtime_ready: tokio::sync::watch::Sender<bool>,
    pub(crate) lost_at: Mutex<Option<i64>>,
    /// Whether the realtime connection is up and has caught up: every change from now on
    /// arrives live.
    pub(crate) live: std::sync::atomic::AtomicBool,
    /// Realtime connections lost so far (tells a catch-up whether one was lost meanwhile).
    pub(crate) losses: std::sync::atomic::AtomicU64,
    /// Itself, for spawning tasks that outlive a call.
    pub(crate) me: std::sync::Weak<RocketLogin>,
}

/// Messages whose last seen state is kept across restarts.
pub(crate) const SEEN_KEPT: usize = 500;
/// How far before the time of a save changes are taken as possibly still in flight (read
/// from the socket but not yet handled), and fetched again after a restart.
pub(crate) const SYNC_MARGIN_MS: i64 = 30_000;

/// Largest avatar taken from Rocket.Chat.
const MAX_AVATAR_BYTES: u64 = 5 * 1024 * 1024;

/// The neutral remote id of a Rocket.Chat user: their user id, stable across renames.
fn remote_user(id: &str) -> RemoteUserId {
    RemoteUserId::new(id)
}

impl RocketLogin {
    /// The account's user id.
    pub(crate) fn user_id(&self) -> &str {
        self.rest.user_id()
    }

    /// The type of room `rid`, asking `rooms.info` when it is not known yet.
    pub(crate) async fn room_type(&self, rid: &str) -> String {
        if let Some(t) = self.rooms.lock().expect("rooms").get(rid) {
            return t.clone();
        }
        match self
            .rest
            .get("rooms.info", &[("roomId", rid.to_owned())])
            .await
        {
            Ok(info) => {
                let t = info["room"]["t"].as_str().unwrap_or("c").to_owned();
                self.learn_room_name(rid, &info["room"]);
                self.rooms
                    .lock()
                    .expect("rooms")
                    .insert(rid.to_owned(), t.clone());
                t
            }
            Err(e) => {
                tracing::warn!(rid, error = %e, "unknown Rocket.Chat room type; taking it as a channel");
                "c".into()
            }
        }
    }

    /// The name of room `rid` (`rooms.info` when not known yet).
    pub(crate) async fn room_name(&self, rid: &str) -> Option<String> {
        if let Some(n) = self.room_names.lock().expect("room names").get(rid) {
            return Some(n.clone());
        }
        let info = self
            .rest
            .get("rooms.info", &[("roomId", rid.to_owned())])
            .await
            .ok()?;
        self.learn_room_name(rid, &info["room"]);
        info["room"]["name"].as_str().map(str::to_owned)
    }

    fn learn_room_name(&self, rid: &str, room: &Value) {
        if let Some(name) = room["name"].as_str() {
            self.room_names
                .lock()
                .expect("room names")
                .insert(rid.to_owned(), name.to_owned());
        }
    }

    /// The user id of `username`, from what was seen or `users.info`.
    async fn user_id_of(&self, username: &str) -> Option<String> {
        if let Some(id) = self.user_ids.lock().expect("user ids").get(username) {
            return Some(id.clone());
        }
        let info = self
            .rest
            .get("users.info", &[("username", username.to_owned())])
            .await
            .ok()?;
        let id = info["user"]["_id"].as_str()?.to_owned();
        self.learn_user(username, &id);
        Some(id)
    }

    /// The username of user `id`, from what was seen or `users.info`.
    pub(crate) async fn username_of(&self, id: &str) -> Option<String> {
        let known = self
            .user_ids
            .lock()
            .expect("user ids")
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone());
        if known.is_some() {
            return known;
        }
        let info = self
            .rest
            .get("users.info", &[("userId", id.to_owned())])
            .await
            .ok()?;
        let name = info["user"]["username"].as_str()?.to_owned();
        self.learn_user(&name, id);
        Some(name)
    }

    /// A user's avatar from `/avatar/<username>`, where Rocket.Chat serves every user's
    /// picture (or generated initials). Identified by its bytes' hash, so an unchanged picture
    /// is not uploaded again. `None` when it cannot be fetched: a ghost without a picture is
    /// better than no ghost.
    async fn avatar(&self, username: &str) -> Option<RemoteAvatar> {
        let url = format!("{}/avatar/{username}", self.config.base());
        let fetched = match self.rest.download_public(&url, MAX_AVATAR_BYTES).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(username, error = %e, "no Rocket.Chat avatar");
                return None;
            }
        };
        let mime = fetched.content_type.unwrap_or_else(|| "image/png".into());
        let data = fetched.data;
        if data.is_empty() {
            return None;
        }
        let hash = hex::encode(sha2::Sha256::digest(&data));
        Some(RemoteAvatar {
            source: format!("{url}#{hash}"),
            mime,
            data,
        })
    }

    fn learn_user(&self, username: &str, id: &str) {
        self.user_ids
            .lock()
            .expect("user ids")
            .insert(username.to_owned(), id.to_owned());
    }

    /// A message's text as neutral content, with its mentions.
    pub(crate) fn content(&self, m: &Value) -> MessageContent {
        let mentioned: HashMap<String, String> = m["mentions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| {
                Some((
                    u["username"].as_str()?.to_owned(),
                    u["_id"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let names: HashMap<String, String> = m["mentions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| {
                Some((
                    u["username"].as_str()?.to_owned(),
                    u["name"].as_str().or(u["username"].as_str())?.to_owned(),
                ))
            })
            .collect();
        let bridge = self.bridge.clone();
        let lookup = |name: &str| {
            let id = mentioned.get(name)?;
            Some((
                bridge.matrix_id_for(&remote_user(id)),
                names.get(name).cloned().unwrap_or_else(|| name.to_owned()),
            ))
        };
        // A quote's link is shown by clients as the quoted message, not as text; the quote
        // itself becomes the reply relation. A quoted message this login never saw (so it is
        // likely not in Matrix) is shown as quote lines instead.
        let mut text = crate::quote::strip_quote_links(m["msg"].as_str().unwrap_or_default());
        if let Some(quoted) = crate::quote::quoted_id(m)
            && self.seen.lock().expect("seen").get(&quoted).is_none()
            && let Some(lines) = crate::quote::quoted_text(m)
        {
            text = format!("{lines}\n{text}");
        }
        if text.trim().is_empty()
            && let Some(caption) = crate::files::description(m)
        {
            text = caption.to_owned();
        }
        let converted = aqueduct_format::rocketchat::markdown_to_matrix(&text, &lookup);
        let body = converted.body;
        MessageContent {
            kind: TextKind::Text,
            body: body.trim_start().to_owned(),
            html: converted.html,
            mentions: Mentions {
                users: converted
                    .mentioned_users
                    .iter()
                    .filter_map(|name| {
                        let id = remote_user(mentioned.get(name)?);
                        Some(MentionedUser {
                            matrix_id: self.bridge.matrix_id_for(&id),
                            remote_id: Some(id),
                        })
                    })
                    .collect(),
                room: converted.room_mention,
                chats: Vec::new(),
            },
            attachments: Vec::new(),
            custom_emoji: Vec::new(),
        }
    }

    /// Turns a pushed or fetched message into events and queues them, in order. The returned
    /// future resolves once they are in Matrix and the room's checkpoint has moved (new
    /// messages only), or with the reason they are not.
    pub(crate) async fn handle_message(
        &self,
        m: &Value,
    ) -> BoxFuture<'static, Result<(), aqueduct_core::Error>> {
        let (Some(id), Some(rid)) = (m["_id"].as_str(), m["rid"].as_str()) else {
            return Box::pin(async { Ok(()) });
        };
        if let (Some(name), Some(uid)) = (m["u"]["username"].as_str(), m["u"]["_id"].as_str()) {
            self.learn_user(name, uid);
        }
        if self.is_own_pending_upload(m) {
            return Box::pin(async { Ok(()) });
        }
        let before = self.seen.lock().expect("seen").get(id).cloned();
        let mut changes = convert::changes(m, before.as_ref(), &|m| self.content(m));
        let now_seen = convert::seen_state(m);
        self.seen.lock().expect("seen").put(id, now_seen.clone());
        self.fetch_files(m, &mut changes).await;
        let t = self.room_type(rid).await;
        let ts = convert::ts_millis(m);
        let mut events = self.events(rid, &t, ts, changes).await;
        convert::retime(m, &mut events);
        let receipts: Vec<_> = events
            .into_iter()
            .map(|event| self.bridge.queue_remote_event(&self.login, event))
            .collect();
        let me = self.me.upgrade();
        let (rid, id) = (rid.to_owned(), id.to_owned());
        Box::pin(async move {
            // Nothing to bridge (an echo of the bridge's own message, a push that changed
            // nothing): it must not move the checkpoint, or it would pass messages of the
            // room that are still on their way to Matrix, and a crash would lose them.
            let bridged_something = !receipts.is_empty();
            for r in receipts {
                if let Err(e) = r.await {
                    // Not in Matrix: forget this state, so the next push or catch-up of the
                    // message brings the change again.
                    if let Some(me) = &me {
                        me.seen.lock().expect("seen").take_back(&id);
                    }
                    return Err(e);
                }
            }
            if let Some(me) = me {
                me.seen.lock().expect("seen").confirm(&id, now_seen);
                // Only forward: an edit or reaction pushes an old message with its old time.
                if bridged_something {
                    me.advance_checkpoint(&rid, &t, ts).await;
                }
                me.note_change().await;
            }
            Ok(())
        })
    }

    /// Whether `m` is the message of a file the bridge uploaded and has not heard back about
    /// (its echo, or found by a catch-up after a crash): it came from Matrix, so it is only
    /// remembered as seen, and the retry of its Matrix event will find it.
    fn is_own_pending_upload(&self, m: &Value) -> bool {
        if !self.uploads.lock().expect("uploads").carries_pending(m) {
            return false;
        }
        if let Some(id) = m["_id"].as_str() {
            self.seen
                .lock()
                .expect("seen")
                .put(id, convert::seen_state(m));
        }
        true
    }

    /// Downloads the files of a new message into its change.
    async fn fetch_files(&self, m: &Value, changes: &mut [Change]) {
        for c in changes.iter_mut() {
            if let RemoteEventKind::Message { content, .. } = &mut c.kind
                && content.kind != TextKind::Notice
            {
                self.attach_files(m, content).await;
            }
        }
    }

    /// Handles a `deleteMessage` notification of room `rid`.
    pub(crate) async fn handle_delete(&self, rid: &str, id: &str) {
        let before = self.seen.lock().expect("seen").get(id).cloned();
        if before.as_ref().is_some_and(|b| b.deleted) {
            return; // our own delete, or seen already
        }
        let gone = SeenMessage {
            deleted: true,
            ..before.clone().unwrap_or_default()
        };
        self.seen.lock().expect("seen").put(id, gone.clone());
        let who = Who::Id(
            before
                .map(|b| b.author)
                .unwrap_or_else(|| self.user_id().to_owned()),
            None,
        );
        let t = self.room_type(rid).await;
        let change = Change {
            who,
            kind: RemoteEventKind::Delete {
                target: RemoteMessageId::new(id),
            },
        };
        let me = self.me.clone();
        let id = id.to_owned();
        for r in self.queue(rid, &t, now_millis(), vec![change]).await {
            let (me, id, gone) = (me.clone(), id.clone(), gone.clone());
            tokio::spawn(async move {
                match r.await {
                    Ok(()) => {
                        if let Some(me) = me.upgrade() {
                            me.seen.lock().expect("seen").confirm(&id, gone);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Rocket.Chat delete not bridged");
                        if let Some(me) = me.upgrade() {
                            me.seen.lock().expect("seen").take_back(&id);
                        }
                    }
                }
            });
        }
    }

    /// Handles a typing notification (`user-activity`) of room `rid`.
    pub(crate) async fn handle_typing(&self, rid: &str, username: &str, typing: bool) {
        if username == self.username {
            return; // our own, sent for the Matrix user
        }
        let Some(id) = self.user_id_of(username).await else {
            return;
        };
        let t = self.room_type(rid).await;
        let change = Change {
            who: Who::Id(id, None),
            kind: RemoteEventKind::Typing { typing },
        };
        for r in self.queue(rid, &t, now_millis(), vec![change]).await {
            tokio::spawn(async move {
                if let Err(e) = r.await {
                    tracing::debug!(error = %e, "Rocket.Chat typing not bridged");
                }
            });
        }
    }

    async fn queue(
        &self,
        rid: &str,
        t: &str,
        ts: i64,
        changes: Vec<Change>,
    ) -> Vec<aqueduct_core::connector::EventReceipt> {
        self.events(rid, t, ts, changes)
            .await
            .into_iter()
            .map(|event| self.bridge.queue_remote_event(&self.login, event))
            .collect()
    }

    /// The neutral events for `changes` in room `rid` of type `t`, at `ts`.
    pub(crate) async fn events(
        &self,
        rid: &str,
        t: &str,
        ts: i64,
        changes: Vec<Change>,
    ) -> Vec<RemoteEvent> {
        let mut events = Vec::new();
        for change in changes {
            let (id, display_name) = match change.who {
                Who::Id(id, name) => (Some(id), name),
                Who::Username(name) => (self.user_id_of(&name).await, None),
            };
            let Some(id) = id.filter(|i| !i.is_empty()) else {
                tracing::warn!(rid, "Rocket.Chat change by an unknown user not bridged");
                continue;
            };
            let mut kind = change.kind;
            if let RemoteEventKind::Membership { user, .. } = &mut kind
                && let Some(name) = user.as_str().strip_prefix(convert::BY_USERNAME)
            {
                let Some(member) = self.user_id_of(name).await else {
                    tracing::warn!(
                        rid,
                        name,
                        "membership of an unknown Rocket.Chat user not bridged"
                    );
                    continue;
                };
                *user = remote_user(&member);
            }
            events.push(RemoteEvent {
                chat: RemoteChatId::new(rid),
                receiver: (t == "d").then(|| self.login.clone()),
                sender: RemoteSender {
                    is_from_me: id == self.user_id(),
                    user: remote_user(&id),
                    display_name,
                },
                timestamp_ms: ts,
                kind,
            });
        }
        events
    }

    /// Converts a fetched message (of history) into events, remembering it as seen.
    pub(crate) async fn history_events(&self, m: &Value) -> Vec<RemoteEvent> {
        let (Some(id), Some(rid)) = (m["_id"].as_str(), m["rid"].as_str()) else {
            return Vec::new();
        };
        if let (Some(name), Some(uid)) = (m["u"]["username"].as_str(), m["u"]["_id"].as_str()) {
            self.learn_user(name, uid);
        }
        if self.is_own_pending_upload(m) {
            return Vec::new();
        }
        let mut changes = convert::changes(m, None, &|m| self.content(m));
        // Backfill runs inside the portal's creation, which the engine finishes before any
        // state of this login is saved with it.
        self.seen
            .lock()
            .expect("seen")
            .put_bridged(id, convert::seen_state(m));
        self.fetch_files(m, &mut changes).await;
        let t = self.room_type(rid).await;
        self.events(rid, &t, convert::ts_millis(m), changes).await
    }
}

use crate::iso_time::now_millis;

/// How long `connect` of a new login waits for its realtime subscriptions.
const FIRST_CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

#[async_trait]
impl NetworkApi for RocketLogin {
    async fn network_info(&self) -> Option<aqueduct_core::connector::NetworkInfo> {
        Some(self.rest.server_info())
    }

    async fn connect(&self) -> ConnectorResult<()> {
        self.rest.get("me", &[]).await?;
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| ConnectorError::Temporary("login dropped".into()))?;
        // A new login has no checkpoint to catch up from, so a message posted between "Logged
        // in" and the realtime subscriptions would be neither pushed nor fetched: its connect
        // returns once the stream is subscribed (or after a bound, the connection going on
        // trying in the background), as the trait's contract asks. A login with saved state
        // catches up from its checkpoints and does not hold up the bridge's start.
        let fresh = {
            let cps = self.checkpoints.lock().expect("checkpoints");
            cps.marks().is_empty() && cps.synced_until().is_none()
        };
        let mut ready = self.realtime_ready.subscribe();
        let started = now_millis();
        let handle = tokio::spawn(crate::ddp::run(me));
        if let Some(old) = self.task.lock().expect("task").replace(handle) {
            old.abort();
        }
        if fresh
            && tokio::time::timeout(FIRST_CONNECTION_WAIT, ready.wait_for(|r| *r))
                .await
                .is_err()
        {
            // "Logged in" goes out before the stream is subscribed: the first connection
            // catches every room up from now, as after a lost connection.
            let mut lost_at = self.lost_at.lock().expect("lost_at");
            lost_at.get_or_insert(started);
            tracing::warn!(login = %self.login, "Rocket.Chat realtime connection not up yet; it keeps trying in the background and will fetch what is said meanwhile");
        }
        Ok(())
    }

    async fn disconnect(&self) {
        if let Some(h) = self.task.lock().expect("task").take() {
            h.abort();
        }
        let all = self.checkpoints.lock().expect("checkpoints").take_all();
        self.save(Some(all)).await;
    }

    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        let info = self
            .rest
            .get("rooms.info", &[("roomId", chat.to_string())])
            .await?;
        let room = &info["room"];
        let t = room["t"].as_str().unwrap_or("c").to_owned();
        self.learn_room_name(chat.as_str(), room);
        self.rooms
            .lock()
            .expect("rooms")
            .insert(chat.to_string(), t.clone());
        let me = self.user_id();
        let members: Vec<RemoteUserId> = if t == "d" {
            room["uids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .filter(|u| *u != me)
                .map(remote_user)
                .collect()
        } else {
            let endpoint = if t == "p" {
                "groups.members"
            } else {
                "channels.members"
            };
            let answer = self
                .rest
                .get(
                    endpoint,
                    &[("roomId", chat.to_string()), ("count", "200".into())],
                )
                .await?;
            answer["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| {
                    if let (Some(name), Some(id)) = (u["username"].as_str(), u["_id"].as_str()) {
                        self.learn_user(name, id);
                    }
                    u["_id"].as_str()
                })
                .filter(|u| *u != me)
                .map(remote_user)
                .collect()
        };
        Ok(ChatInfo {
            name: (t != "d")
                .then(|| {
                    room["fname"]
                        .as_str()
                        .or(room["name"].as_str())
                        .map(str::to_owned)
                })
                .flatten(),
            topic: room["topic"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            is_direct: t == "d",
            members,
            avatar: None,
        })
    }

    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        let info = self
            .rest
            .get("users.info", &[("userId", user.to_string())])
            .await?;
        let u = &info["user"];
        if let (Some(name), Some(id)) = (u["username"].as_str(), u["_id"].as_str()) {
            self.learn_user(name, id);
        }
        let avatar = match u["username"].as_str() {
            Some(username) => self.avatar(username).await,
            None => None,
        };
        Ok(UserInfo {
            display_name: u["name"]
                .as_str()
                .or(u["username"].as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            avatar,
        })
    }

    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        self.post(portal, message).await
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
    fn as_threads(&self) -> Option<&dyn ThreadHandler> {
        Some(self)
    }
    fn as_replies(&self) -> Option<&dyn ReplyHandler> {
        Some(self)
    }
    fn as_chat_info_changes(&self) -> Option<&dyn aqueduct_core::connector::ChatInfoHandler> {
        Some(self)
    }
    fn as_membership(&self) -> Option<&dyn aqueduct_core::connector::MembershipHandler> {
        Some(self)
    }
    fn as_backfill(&self) -> Option<&dyn aqueduct_core::connector::BackfillHandler> {
        Some(self)
    }
    fn as_read_receipts(&self) -> Option<&dyn ReadReceiptHandler> {
        Some(self)
    }
    fn as_typing(&self) -> Option<&dyn TypingHandler> {
        Some(self)
    }
}

#[async_trait]
impl TypingHandler for RocketLogin {
    /// The realtime method `stream-notify-room` with `<rid>/user-activity`, as Rocket.Chat's
    /// own clients send it (REST has no typing endpoint).
    async fn set_typing(&self, portal: &Portal, typing: bool) -> ConnectorResult<()> {
        let activity: Vec<&str> = if typing { vec!["user-typing"] } else { vec![] };
        let call = serde_json::json!({
            "msg": "method",
            "method": "stream-notify-room",
            "params": [format!("{}/user-activity", portal.key.chat), self.username, activity, {}],
        });
        let sent = self
            .outgoing
            .lock()
            .expect("outgoing")
            .as_ref()
            .is_some_and(|tx| tx.send(call).is_ok());
        if sent {
            Ok(())
        } else {
            Err(ConnectorError::Temporary(
                "not connected to Rocket.Chat's realtime API".into(),
            ))
        }
    }
}

#[async_trait]
impl ReadReceiptHandler for RocketLogin {
    /// `subscriptions.read`: Rocket.Chat keeps one read mark per room and moves it to now, so
    /// the room is read up to its newest message, which `up_to` (the newest the user read in
    /// Matrix) usually is.
    async fn mark_read(&self, portal: &Portal, _up_to: &RemoteMessageId) -> ConnectorResult<()> {
        self.rest
            .post(
                "subscriptions.read",
                serde_json::json!({ "rid": portal.key.chat.as_str() }),
            )
            .await?;
        Ok(())
    }
}

impl ThreadHandler for RocketLogin {}

impl ReplyHandler for RocketLogin {}

#[async_trait]
impl EditHandler for RocketLogin {
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        _relayed_for: Option<&RelayedSender>,
    ) -> ConnectorResult<()> {
        self.edit(portal, target, content).await
    }
}

#[async_trait]
impl DeleteHandler for RocketLogin {
    async fn delete_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
    ) -> ConnectorResult<()> {
        self.delete(portal, target).await
    }
}

#[async_trait]
impl ReactionHandler for RocketLogin {
    async fn add_reaction(
        &self,
        _portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        self.react(true, target, key).await
    }

    async fn remove_reaction(
        &self,
        _portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        self.react(false, target, key).await
    }
}
