//! A homeserver in memory for engine tests: implements core's [`MatrixApi`], records every
//! call, and answers as a homeserver would (room ids, event ids, the same event for a repeated
//! transaction id, membership and state kept per room). With it the engine
//! ([`aqueduct_core::Bridge`]) runs in-process with a real store and a connector, and tests
//! of ordering, echoes, dead letters and panics run in milliseconds instead of against
//! Synapse. What it does not model (power levels, federation, auth rules) such tests must
//! not rely on.

use aqueduct_core::matrix::{MatrixApi, MatrixError, MatrixResult, NewRoom};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// An event the bridge sent, as the homeserver keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct SentEvent {
    /// The event id it was given.
    pub event_id: String,
    /// The room.
    pub room: String,
    /// Who sent it.
    pub sender: String,
    /// `m.room.message`, `m.reaction`, `m.room.redaction`, ...
    pub event_type: String,
    /// Its content (for a redaction: `{"redacts": <event id>}`).
    pub content: Value,
    /// The timestamp the bridge asked for (backfill), if any.
    pub timestamp_ms: Option<i64>,
}

impl SentEvent {
    /// The content's `body`, or "".
    pub fn body(&self) -> &str {
        self.content["body"].as_str().unwrap_or_default()
    }
    /// Whether it is an `m.notice` message (what the bot says in rooms).
    pub fn is_notice(&self) -> bool {
        self.content["msgtype"] == "m.notice"
    }
}

/// One call the bridge made, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `ensure_registered(localpart)`.
    Register(String),
    /// `create_room` as the bot; the id given.
    CreateRoom(String),
    /// `invite(room, inviter, invitee)`.
    Invite(String, String, String),
    /// `join(room, user)`.
    Join(String, String),
    /// `leave(room, user)`.
    Leave(String, String),
    /// `send_event` or `redact`: the event id.
    Send(String),
    /// `send_state(room, type, state key)`.
    State(String, String, String),
    /// `set_typing(room, user, typing)`.
    Typing(String, String, bool),
    /// `send_receipt(room, user, event id)`.
    Receipt(String, String, String),
    /// `set_display_name` / `set_avatar_url` (user, value).
    Profile(String, String),
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    events: Vec<SentEvent>,
    /// (sender, txn id) -> event id.
    txns: HashMap<(String, String), String>,
    rooms: HashMap<String, Room>,
    registered: HashSet<String>,
    profiles: HashMap<String, (Option<String>, Option<String>)>,
    media: HashMap<String, Vec<u8>>,
    next: u64,
}

#[derive(Default)]
struct Room {
    joined: HashSet<String>,
    invited: HashSet<String>,
    state: BTreeMap<(String, String), Value>,
}

/// The recording homeserver. Thread-safe; share it with `Arc`.
pub struct RecordingHomeserver {
    server_name: String,
    bot: String,
    state: Mutex<State>,
}

impl RecordingHomeserver {
    /// A homeserver for `server_name` whose appservice bot is `@<bot_localpart>:<server_name>`.
    pub fn new(server_name: &str, bot_localpart: &str) -> Self {
        Self {
            server_name: server_name.to_owned(),
            bot: format!("@{bot_localpart}:{server_name}"),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self, sigil: char) -> String {
        let mut s = self.state();
        s.next += 1;
        format!("{sigil}{}:{}", s.next, self.server_name)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Every event sent so far (message-like events and redactions), in order.
    pub fn events(&self) -> Vec<SentEvent> {
        self.state().events.clone()
    }

    /// The events sent into `room`, in order.
    pub fn events_in(&self, room: &str) -> Vec<SentEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.room == room)
            .collect()
    }

    /// Ids of the rooms created, in order.
    pub fn rooms(&self) -> Vec<String> {
        self.state()
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::CreateRoom(id) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits until `check` holds for the events sent so far, polling, at most `timeout`.
    /// Panics with the events seen if it does not.
    pub async fn wait_for_events<F: Fn(&[SentEvent]) -> bool>(
        &self,
        timeout: Duration,
        check: F,
    ) -> Vec<SentEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let events = self.events();
            if check(&events) {
                return events;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("condition not met within {timeout:?}; events: {events:#?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A Matrix room event as the homeserver would push it in a transaction.
    pub fn room_event(
        room: &str,
        sender: &str,
        event_id: &str,
        kind: &str,
        content: Value,
    ) -> String {
        serde_json::json!({
            "type": kind,
            "room_id": room,
            "sender": sender,
            "event_id": event_id,
            "origin_server_ts": 1_700_000_000_000u64,
            "content": content,
        })
        .to_string()
    }

    fn record(&self, call: Call) {
        self.state().calls.push(call);
    }
}

fn not_found(what: &str) -> MatrixError {
    MatrixError::Refused {
        status: 404,
        errcode: "M_NOT_FOUND".into(),
        message: what.into(),
    }
}

#[async_trait]
impl MatrixApi for RecordingHomeserver {
    fn bot_user_id(&self) -> &str {
        &self.bot
    }

    fn server_name(&self) -> &str {
        &self.server_name
    }

    fn can_double_puppet(&self, _user_id: &str) -> bool {
        false
    }

    async fn ensure_registered(&self, localpart: &str) -> MatrixResult<()> {
        let mut s = self.state();
        s.registered.insert(localpart.to_owned());
        s.calls.push(Call::Register(localpart.to_owned()));
        Ok(())
    }

    async fn set_display_name(&self, user: &str, name: &str) -> MatrixResult<()> {
        let mut s = self.state();
        s.profiles.entry(user.to_owned()).or_default().0 = Some(name.to_owned());
        s.calls
            .push(Call::Profile(user.to_owned(), name.to_owned()));
        Ok(())
    }

    async fn set_avatar_url(&self, user: &str, mxc: &str) -> MatrixResult<()> {
        let mut s = self.state();
        s.profiles.entry(user.to_owned()).or_default().1 = Some(mxc.to_owned());
        s.calls.push(Call::Profile(user.to_owned(), mxc.to_owned()));
        Ok(())
    }

    async fn create_room(&self, room: &NewRoom) -> MatrixResult<String> {
        let id = self.next_id('!');
        let mut s = self.state();
        let mut r = Room::default();
        r.joined.insert(self.bot.clone());
        r.invited.extend(room.invite.iter().cloned());
        if let Some(name) = &room.name {
            r.state.insert(
                ("m.room.name".into(), String::new()),
                serde_json::json!({ "name": name }),
            );
        }
        for (kind, key, content) in &room.initial_state {
            r.state.insert((kind.clone(), key.clone()), content.clone());
        }
        s.rooms.insert(id.clone(), r);
        s.calls.push(Call::CreateRoom(id.clone()));
        Ok(id)
    }

    async fn invite(&self, room: &str, inviter: &str, invitee: &str) -> MatrixResult<()> {
        let mut s = self.state();
        let r = s
            .rooms
            .get_mut(room)
            .ok_or_else(|| not_found("no such room"))?;
        r.invited.insert(invitee.to_owned());
        s.calls
            .push(Call::Invite(room.into(), inviter.into(), invitee.into()));
        Ok(())
    }

    async fn join(&self, room: &str, user: &str) -> MatrixResult<()> {
        let mut s = self.state();
        let r = s
            .rooms
            .get_mut(room)
            .ok_or_else(|| not_found("no such room"))?;
        r.invited.remove(user);
        r.joined.insert(user.to_owned());
        s.calls.push(Call::Join(room.into(), user.into()));
        Ok(())
    }

    async fn leave(&self, room: &str, user: &str) -> MatrixResult<()> {
        let mut s = self.state();
        if let Some(r) = s.rooms.get_mut(room) {
            r.joined.remove(user);
            r.invited.remove(user);
        }
        s.calls.push(Call::Leave(room.into(), user.into()));
        Ok(())
    }

    async fn send_event(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        content: &Value,
        txn_id: &str,
        timestamp_ms: Option<i64>,
    ) -> MatrixResult<String> {
        let key = (sender.to_owned(), txn_id.to_owned());
        if let Some(id) = self.state().txns.get(&key) {
            // A retried transaction id answers the event it made, as Synapse does.
            return Ok(id.clone());
        }
        let id = self.next_id('$');
        let mut s = self.state();
        s.txns.insert(key, id.clone());
        s.events.push(SentEvent {
            event_id: id.clone(),
            room: room.into(),
            sender: sender.into(),
            event_type: event_type.into(),
            content: content.clone(),
            timestamp_ms,
        });
        s.calls.push(Call::Send(id.clone()));
        Ok(id)
    }

    async fn send_state(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> MatrixResult<String> {
        let id = self.next_id('$');
        let mut s = self.state();
        if let Some(r) = s.rooms.get_mut(room) {
            r.state
                .insert((event_type.into(), state_key.into()), content.clone());
        }
        let _ = sender;
        s.calls.push(Call::State(
            room.into(),
            event_type.into(),
            state_key.into(),
        ));
        Ok(id)
    }

    async fn get_state(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
    ) -> MatrixResult<Option<Value>> {
        let s = self.state();
        let r = s.rooms.get(room).ok_or_else(|| not_found("no such room"))?;
        Ok(r.state
            .get(&(event_type.to_owned(), state_key.to_owned()))
            .cloned())
    }

    async fn redact(
        &self,
        room: &str,
        sender: &str,
        event_id: &str,
        txn_id: &str,
        _reason: Option<&str>,
    ) -> MatrixResult<String> {
        self.send_event(
            room,
            sender,
            "m.room.redaction",
            &serde_json::json!({ "redacts": event_id }),
            &format!("redact-{txn_id}"),
            None,
        )
        .await
    }

    async fn upload(
        &self,
        _sender: &str,
        data: Vec<u8>,
        _mime: &str,
        _filename: &str,
    ) -> MatrixResult<String> {
        let id = self.next_id('m');
        let mxc = format!("mxc://{}/{}", self.server_name, id.trim_start_matches('m'));
        self.state().media.insert(mxc.clone(), data);
        Ok(mxc)
    }

    async fn download(&self, mxc: &str, max_bytes: u64) -> MatrixResult<Vec<u8>> {
        let data = self
            .state()
            .media
            .get(mxc)
            .cloned()
            .ok_or_else(|| not_found("no such media"))?;
        if data.len() as u64 > max_bytes {
            return Err(MatrixError::Refused {
                status: 413,
                errcode: "M_TOO_LARGE".into(),
                message: "media too large".into(),
            });
        }
        Ok(data)
    }

    async fn set_typing(&self, room: &str, user: &str, typing: bool) -> MatrixResult<()> {
        self.record(Call::Typing(room.into(), user.into(), typing));
        Ok(())
    }

    async fn send_receipt(&self, room: &str, user: &str, event_id: &str) -> MatrixResult<()> {
        self.record(Call::Receipt(room.into(), user.into(), event_id.into()));
        Ok(())
    }

    async fn member_profile(
        &self,
        _room: &str,
        user: &str,
    ) -> MatrixResult<(Option<String>, Option<String>)> {
        Ok(self.state().profiles.get(user).cloned().unwrap_or_default())
    }

    async fn joined_members(&self, room: &str) -> MatrixResult<Vec<String>> {
        let s = self.state();
        let r = s.rooms.get(room).ok_or_else(|| not_found("no such room"))?;
        let mut members: Vec<String> = r.joined.iter().cloned().collect();
        members.sort();
        Ok(members)
    }
}
