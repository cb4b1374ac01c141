//! A small raw-JSON Matrix client for making assertions in tests.
//!
//! Every error names the request and carries the HTTP status and body.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long a single `/sync` long-poll may wait on the server.
const SYNC_POLL: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct MatrixClient {
    base_url: String,
    access_token: String,
    user_id: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for MatrixClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixClient")
            .field("base_url", &self.base_url)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// An HTTP error from the homeserver: method, path, status and body.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: HTTP {status}: {body}")]
pub struct HttpError {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub body: String,
}

impl HttpError {
    /// The Matrix `errcode` of the body, if any.
    pub fn errcode(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body)
            .ok()?
            .get("errcode")?
            .as_str()
            .map(str::to_owned)
    }
}

impl MatrixClient {
    pub fn new(
        base_url: impl Into<String>,
        access_token: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("building a reqwest client");
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            access_token: access_token.into(),
            user_id: user_id.into(),
            http,
        }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// An authenticated request to `path` (already encoded, starting with `/`,
    /// may contain a query string). Non-2xx answers become an [`HttpError`]
    /// (downcastable from the `anyhow::Error`).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        self.request_with_timeout(method, path, body, None).await
    }

    async fn request_with_timeout(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base_url, path))
            .bearer_auth(&self.access_token);
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}: sending request"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{method} {path}: HTTP {status}: reading body"))?;
        if !status.is_success() {
            return Err(HttpError {
                method,
                path: path.to_owned(),
                status,
                body: text,
            }
            .into());
        }
        if text.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: HTTP {status}: invalid JSON: {text}"))
    }

    /// Like [`request`](Self::request) but maps a 404 to `None`.
    async fn request_opt(&self, method: Method, path: &str) -> anyhow::Result<Option<Value>> {
        match self.request(method, path, None).await {
            Ok(v) => Ok(Some(v)),
            Err(e)
                if e.downcast_ref::<HttpError>()
                    .is_some_and(|h| h.status == StatusCode::NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /_matrix/client/v3/createRoom`; returns the room id.
    pub async fn create_room(&self, body: Value) -> anyhow::Result<String> {
        let v = self
            .request(Method::POST, "/_matrix/client/v3/createRoom", Some(&body))
            .await?;
        str_field(&v, "room_id")
    }

    /// A direct chat (`is_direct`, `trusted_private_chat`) inviting `invite`.
    pub async fn create_dm(&self, invite: &str) -> anyhow::Result<String> {
        self.create_room(json!({
            "is_direct": true,
            "preset": "trusted_private_chat",
            "invite": [invite],
        }))
        .await
    }

    /// Joins a room by id or alias; returns the room id.
    pub async fn join(&self, room_or_alias: &str) -> anyhow::Result<String> {
        let path = format!("/_matrix/client/v3/join/{}", enc(room_or_alias));
        let v = self.request(Method::POST, &path, Some(&json!({}))).await?;
        str_field(&v, "room_id")
    }

    pub async fn invite(&self, room: &str, user: &str) -> anyhow::Result<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/invite", enc(room));
        self.request(Method::POST, &path, Some(&json!({ "user_id": user })))
            .await?;
        Ok(())
    }

    pub async fn leave(&self, room: &str) -> anyhow::Result<()> {
        let path = format!("/_matrix/client/v3/rooms/{}/leave", enc(room));
        self.request(Method::POST, &path, Some(&json!({}))).await?;
        Ok(())
    }

    /// Sends a message event with a random transaction id; returns the event id.
    pub async fn send(
        &self,
        room: &str,
        event_type: &str,
        content: Value,
    ) -> anyhow::Result<String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{}/{}",
            enc(room),
            enc(event_type),
            txn_id()
        );
        let v = self.request(Method::PUT, &path, Some(&content)).await?;
        str_field(&v, "event_id")
    }

    pub async fn send_text(&self, room: &str, body: &str) -> anyhow::Result<String> {
        self.send(
            room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body }),
        )
        .await
    }

    pub async fn send_html(&self, room: &str, body: &str, html: &str) -> anyhow::Result<String> {
        self.send(
            room,
            "m.room.message",
            json!({
                "msgtype": "m.text",
                "body": body,
                "format": "org.matrix.custom.html",
                "formatted_body": html,
            }),
        )
        .await
    }

    /// Redacts an event; returns the redaction's event id.
    pub async fn redact(
        &self,
        room: &str,
        event_id: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{}",
            enc(room),
            enc(event_id),
            txn_id()
        );
        let body = match reason {
            Some(r) => json!({ "reason": r }),
            None => json!({}),
        };
        let v = self.request(Method::PUT, &path, Some(&body)).await?;
        str_field(&v, "event_id")
    }

    /// An `m.reaction` annotating `event_id` with `key`.
    pub async fn react(&self, room: &str, event_id: &str, key: &str) -> anyhow::Result<String> {
        self.send(
            room,
            "m.reaction",
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": event_id, "key": key } }),
        )
        .await
    }

    pub async fn set_state(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) -> anyhow::Result<String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room),
            enc(event_type),
            enc(state_key)
        );
        let v = self.request(Method::PUT, &path, Some(&content)).await?;
        str_field(&v, "event_id")
    }

    /// All timeline events of the room (as this user can see them), oldest first.
    pub async fn messages(&self, room: &str) -> anyhow::Result<Vec<Value>> {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        for _page in 0..10_000 {
            let mut path = format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1000",
                enc(room)
            );
            if let Some(f) = &from {
                path.push_str("&from=");
                path.push_str(&enc(f));
            }
            let v = self.request(Method::GET, &path, None).await?;
            events.extend(v["chunk"].as_array().cloned().unwrap_or_default());
            // No `end` means the start of the timeline was reached.
            match v["end"].as_str() {
                Some(end) if from.as_deref() != Some(end) => from = Some(end.to_owned()),
                _ => break,
            }
        }
        events.reverse();
        Ok(events)
    }

    /// Waits until an event of the room's timeline (existing or new) matches
    /// `pred`, and returns it. Uses `/sync` long-polls as a wake-up and
    /// [`messages`](Self::messages) as the source of truth, so nothing sent
    /// before or during the call is missed.
    pub async fn wait_for_event<F: Fn(&Value) -> bool>(
        &self,
        room: &str,
        timeout: Duration,
        pred: F,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let filter = json!({
            "room": {
                "rooms": [room],
                "timeline": { "limit": 1 },
                "state": { "lazy_load_members": true },
                "ephemeral": { "not_types": ["*"] },
                "account_data": { "not_types": ["*"] },
            },
            "presence": { "not_types": ["*"] },
            "account_data": { "not_types": ["*"] },
        })
        .to_string();
        let mut since: Option<String> = None;
        let mut last_events: Vec<Value> = Vec::new();
        loop {
            let mut errors = Vec::new();
            // 1. Move the sync token forward (long-polling once we have one).
            let wait = if since.is_some() {
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(SYNC_POLL)
            } else {
                Duration::ZERO
            };
            match self.sync_raw(since.as_deref(), &filter, wait).await {
                Ok(v) => since = v["next_batch"].as_str().map(str::to_owned).or(since),
                Err(e) => {
                    errors.push(format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            // 2. Everything up to that token is visible through /messages.
            match self.messages(room).await {
                Ok(events) => {
                    if let Some(ev) = events.iter().find(|e| pred(e)) {
                        return Ok(ev.clone());
                    }
                    last_events = events;
                }
                Err(e) => {
                    errors.push(format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            let last_err = (!errors.is_empty()).then(|| errors.join("; "));
            if Instant::now() >= deadline {
                let tail = &last_events[last_events.len().saturating_sub(8)..];
                let tail: Vec<String> = tail.iter().map(Value::to_string).collect();
                bail!(
                    "{}: no matching event in {room} within {timeout:?}{}; last {} events:\n{}",
                    self.user_id,
                    last_err
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default(),
                    tail.len(),
                    tail.join("\n")
                );
            }
        }
    }

    /// Waits for an invite (any inviter) and returns its room id.
    pub async fn wait_for_invite(&self, timeout: Duration) -> anyhow::Result<String> {
        self.wait_for_invite_from(None, timeout).await
    }

    /// Waits for an invite, optionally only one sent by `inviter`, and returns
    /// its room id. Invites pending before the call count.
    pub async fn wait_for_invite_from(
        &self,
        inviter: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        self.wait_for_invite_except(inviter, &[], timeout).await
    }

    /// [`wait_for_invite_from`](Self::wait_for_invite_from), ignoring invites to the rooms
    /// in `known`. Synapse answers a repeated initial sync from its response cache (for two
    /// minutes by default), so an invite accepted since can come back as pending.
    pub async fn wait_for_invite_except(
        &self,
        inviter: Option<&str>,
        known: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        let filter = json!({
            "room": {
                "timeline": { "limit": 1 },
                "state": { "lazy_load_members": true },
                "ephemeral": { "not_types": ["*"] },
                "account_data": { "not_types": ["*"] },
            },
            "presence": { "not_types": ["*"] },
            "account_data": { "not_types": ["*"] },
        })
        .to_string();
        let mut since: Option<String> = None;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let wait = if since.is_some() {
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(SYNC_POLL)
            } else {
                Duration::ZERO
            };
            let v = self.sync_raw(since.as_deref(), &filter, wait).await?;
            since = v["next_batch"].as_str().map(str::to_owned).or(since);
            if let Some(invites) = v["rooms"]["invite"].as_object() {
                for (room_id, room) in invites {
                    let events = room["invite_state"]["events"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let sender = events
                        .iter()
                        .find(|e| {
                            e["type"] == "m.room.member" && e["state_key"] == self.user_id.as_str()
                        })
                        .and_then(|e| e["sender"].as_str())
                        .unwrap_or("");
                    if inviter.is_none_or(|i| i == sender) && !known.contains(&room_id.as_str()) {
                        return Ok(room_id.clone());
                    }
                    seen.push(format!("{room_id} from {sender}"));
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}: no invite{} within {timeout:?}; other invites seen: {seen:?}",
                    self.user_id,
                    inviter.map(|i| format!(" from {i}")).unwrap_or_default()
                );
            }
        }
    }

    /// One raw `/sync` call.
    pub async fn sync_raw(
        &self,
        since: Option<&str>,
        filter: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let mut path = format!(
            "/_matrix/client/v3/sync?timeout={}&filter={}",
            timeout.as_millis(),
            enc(filter)
        );
        if let Some(s) = since {
            path.push_str("&since=");
            path.push_str(&enc(s));
        }
        self.request_with_timeout(
            Method::GET,
            &path,
            None,
            Some(timeout + Duration::from_secs(30)),
        )
        .await
    }

    /// User ids of the room's joined members.
    pub async fn joined_members(&self, room: &str) -> anyhow::Result<Vec<String>> {
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room));
        let v = self.request(Method::GET, &path, None).await?;
        let mut members: Vec<String> = v["joined"]
            .as_object()
            .with_context(|| format!("GET {path}: no `joined` object in {v}"))?
            .keys()
            .cloned()
            .collect();
        members.sort();
        Ok(members)
    }

    /// The content of a state event, or `None` if there is none.
    pub async fn state_event(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
    ) -> anyhow::Result<Option<Value>> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room),
            enc(event_type),
            enc(state_key)
        );
        self.request_opt(Method::GET, &path).await
    }

    pub async fn profile_displayname(&self, user: &str) -> anyhow::Result<Option<String>> {
        let path = format!("/_matrix/client/v3/profile/{}/displayname", enc(user));
        Ok(self
            .request_opt(Method::GET, &path)
            .await?
            .and_then(|v| v["displayname"].as_str().map(str::to_owned)))
    }

    /// `POST /_matrix/media/v3/upload`; returns the `mxc://` URI.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> anyhow::Result<String> {
        let path = format!("/_matrix/media/v3/upload?filename={}", enc(filename));
        let resp = self
            .http
            .post(format!("{}{}", self.base_url, path))
            .bearer_auth(&self.access_token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("POST {path}: sending request"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("POST {path}: reading body"))?;
        if !status.is_success() {
            return Err(HttpError {
                method: Method::POST,
                path,
                status,
                body: text,
            }
            .into());
        }
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("POST {path}: invalid JSON: {text}"))?;
        str_field(&v, "content_uri")
    }

    /// Downloads `mxc://server/id` through authenticated media
    /// (`/_matrix/client/v1/media/download/{server}/{id}`).
    pub async fn download(&self, mxc: &str) -> anyhow::Result<Vec<u8>> {
        let (server, id) = mxc
            .strip_prefix("mxc://")
            .and_then(|rest| rest.split_once('/'))
            .with_context(|| format!("not an mxc URI: {mxc}"))?;
        let path = format!(
            "/_matrix/client/v1/media/download/{}/{}",
            enc(server),
            enc(id)
        );
        let resp = self
            .http
            .get(format!("{}{}", self.base_url, path))
            .bearer_auth(&self.access_token)
            .send()
            .await
            .with_context(|| format!("GET {path}: sending request"))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(HttpError {
                method: Method::GET,
                path,
                status,
                body,
            }
            .into());
        }
        Ok(resp
            .bytes()
            .await
            .with_context(|| format!("GET {path}: reading body"))?
            .to_vec())
    }
}

/// Percent-encodes one path segment or query value: everything except the
/// RFC 3986 unreserved characters.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn txn_id() -> String {
    use rand::Rng as _;
    let n: u64 = rand::rng().random();
    format!("aqtk{n:016x}")
}

fn str_field(v: &Value, field: &str) -> anyhow::Result<String> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no string `{field}` in response {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_matrix_ids() {
        assert_eq!(enc("!abc:localhost"), "%21abc%3Alocalhost");
        assert_eq!(enc("$ev/x+y"), "%24ev%2Fx%2By");
        assert_eq!(enc("#a b"), "%23a%20b");
        assert_eq!(enc("m.room.name"), "m.room.name");
        assert_eq!(enc(""), "");
        assert_eq!(enc("é"), "%C3%A9");
    }
}
