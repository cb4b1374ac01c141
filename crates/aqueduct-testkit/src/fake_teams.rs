//! A fake Microsoft Teams tenant for tests: the identity platform's device code and token
//! endpoints and the Graph v1.0 chat endpoints the connector uses, on loopback, speaking
//! Graph's wire format. Every object it answers with is checked against Microsoft's CSDL
//! (`specs/graph/`); departures are collected in [`FakeTeams::violations`].

mod channels;
mod chat_admin;
pub mod csdl;
mod drive;
pub mod env;
mod extras;
mod state;
mod subscriptions;

pub use drive::NewFile;
pub(crate) use extras::enc;
pub use state::{DriveFile, HostedContent, TeamsMessage};
pub use subscriptions::{Delivery, FakeSubscription};

use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use state::{DeviceCode, State, TeamsChat};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Shared = Arc<Mutex<State>>;

/// The fake tenant. Cheap to clone.
#[derive(Clone)]
pub struct FakeTeams {
    state: Shared,
    url: String,
    /// Change notification subscriptions (`subscriptions.rs`).
    subs: subscriptions::Subs,
}

impl FakeTeams {
    /// Starts the fake on a loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let state: Shared = Arc::new(Mutex::new(State {
            token_lifetime: 3600,
            ..State::default()
        }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/me", get(me))
            .route("/v1.0/users/{id}", get(user))
            .route("/v1.0/me/chats", get(my_chats))
            .route(
                "/v1.0/chats/{chat}",
                get(chat).patch(chat_admin::update_chat),
            )
            .route(
                "/v1.0/chats/{chat}/members",
                get(members).post(chat_admin::add_member),
            )
            .route(
                "/v1.0/chats/{chat}/members/{membership}",
                axum::routing::delete(chat_admin::remove_member),
            )
            .route(
                "/v1.0/chats/{chat}/messages",
                get(messages).post(post_message),
            )
            .route(
                "/v1.0/chats/{chat}/messages/{id}",
                get(one_message).patch(edit_message),
            )
            .route(
                "/v1.0/chats/{chat}/messages/{id}/{action}",
                post(message_action),
            )
            .with_state(state.clone());
        let subs = subscriptions::Subs::default();
        let app = app.merge(subscriptions::routes(state.clone(), subs.clone()));
        let app = app.merge(extras::router(state.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        state.lock().expect("state").base_url = url.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { state, url, subs })
    }

    /// The authority URL (the identity platform) for the bridge's config.
    pub fn authority(&self) -> String {
        self.url.clone()
    }

    /// Graph's base URL for the bridge's config.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.url)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake teams state")
    }

    /// Adds a user.
    pub fn add_user(&self, id: &str, name: &str, upn: &str) {
        self.lock()
            .users
            .insert(id.into(), (name.into(), upn.into()));
    }

    /// Adds a chat (`oneOnOne` or `group`) with its members.
    pub fn add_chat(&self, id: &str, chat_type: &str, topic: Option<&str>, members: &[&str]) {
        self.lock().chats.insert(
            id.into(),
            TeamsChat {
                chat_type: chat_type.into(),
                topic: topic.map(str::to_owned),
                members: members.iter().map(|m| (*m).to_owned()).collect(),
                messages: Vec::new(),
            },
        );
    }

    /// Signs `user` in on the pending device code `user_code` (what the person does on
    /// Microsoft's page). False when no such code is pending.
    pub fn approve_device_code(&self, user_code: &str, user: &str) -> bool {
        let mut s = self.lock();
        match s.devices.values_mut().find(|d| d.user_code == user_code) {
            Some(d) => {
                d.approved_by = Some(user.into());
                true
            }
            None => false,
        }
    }

    /// `user` writes `html` in `chat`; returns the message id.
    pub fn post(&self, chat: &str, user: &str, html: &str) -> String {
        let mut s = self.lock();
        let id = s.tick().to_string();
        let now = s.last_ms;
        let message = TeamsMessage::new(id.clone(), user, html, now);
        s.chats
            .get_mut(chat)
            .expect("chat exists")
            .messages
            .push(message);
        id
    }

    /// Edits a message as its author would.
    pub fn edit(&self, chat: &str, id: &str, html: &str) {
        let mut s = self.lock();
        let now = s.tick();
        let m = find(&mut s, chat, id).expect("message exists");
        m.html = html.into();
        m.edited_ms = Some(now);
        m.modified_ms = now;
    }

    /// Deletes a message as its author would.
    pub fn delete(&self, chat: &str, id: &str) {
        let mut s = self.lock();
        let now = s.tick();
        let m = find(&mut s, chat, id).expect("message exists");
        m.deleted_ms = Some(now);
        m.modified_ms = now;
    }

    /// `user` reacts to a message.
    pub fn react(&self, chat: &str, id: &str, user: &str, reaction: &str) {
        let mut s = self.lock();
        let now = s.tick();
        let m = find(&mut s, chat, id).expect("message exists");
        m.reactions.push((user.into(), reaction.into()));
        m.modified_ms = now;
    }

    /// The messages of a chat, oldest first.
    pub fn messages(&self, chat: &str) -> Vec<TeamsMessage> {
        self.lock()
            .chats
            .get(chat)
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// Waits until `pred` holds for the chat's messages.
    pub async fn wait_for(
        &self,
        chat: &str,
        timeout: Duration,
        pred: impl Fn(&[TeamsMessage]) -> bool,
    ) -> anyhow::Result<Vec<TeamsMessage>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msgs = self.messages(chat);
            if pred(&msgs) {
                return Ok(msgs);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on Teams chat {chat}; messages: {msgs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes every access token issued so far expire now (the refresh token still works).
    pub fn expire_access_tokens(&self) {
        for (_, expires) in self.lock().access.values_mut() {
            *expires = 0;
        }
    }

    /// Revokes every refresh token of `user` (consent withdrawn, password reset).
    pub fn revoke_refresh_tokens(&self, user: &str) {
        self.lock().refresh.retain(|_, u| u != user);
        for (owner, expires) in self.lock().access.values_mut() {
            if owner == user {
                *expires = 0;
            }
        }
    }

    /// The next `n` chat message posts are carried out, then answered 504, as when a
    /// gateway loses Graph's answer.
    pub fn lose_post_answers(&self, n: u32) {
        self.lock().lose_post_answers = n;
    }

    /// The next `n` Graph calls are answered 429 with `Retry-After: 1`.
    pub fn throttle(&self, n: u32) {
        self.lock().throttle = n;
    }

    /// Every request so far, as "METHOD path".
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// Waits until `pred` holds for the requests so far (re-checked on each new request).
    pub async fn wait_for_requests(
        &self,
        timeout: Duration,
        pred: impl Fn(&[String]) -> bool,
    ) -> anyhow::Result<()> {
        let seen = self.lock().request_seen.clone();
        crate::wait_on::until(&seen, "fake Teams", timeout, || {
            pred(&self.lock().requests).then_some(())
        })
        .await
    }

    /// Where the fake's answers departed from the CSDL (should stay empty).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }
}

fn find<'a>(s: &'a mut State, chat: &str, id: &str) -> Option<&'a mut state::TeamsMessage> {
    s.chats
        .get_mut(chat)?
        .messages
        .iter_mut()
        .find(|m| m.id == id)
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message, "innerError": {}}})),
    )
        .into_response()
}

fn token_error(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": format!("AADSTS: {error}")})),
    )
        .into_response()
}

/// A form body's fields.
fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

async fn devicecode(AxumState(state): AxumState<Shared>, body: String) -> Response {
    let form = form(&body);
    if form.get("client_id").is_none_or(|c| c.is_empty()) {
        return token_error("invalid_client");
    }
    let mut s = state.lock().expect("state");
    let device_code = s.new_id("dc-");
    let user_code = format!("CODE{}", s.next_id);
    s.devices.insert(
        device_code.clone(),
        DeviceCode {
            user_code: user_code.clone(),
            approved_by: None,
            declined: false,
        },
    );
    Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": 1,
        "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate.")
    }))
    .into_response()
}

async fn token(AxumState(state): AxumState<Shared>, body: String) -> Response {
    let form = form(&body);
    let mut s = state.lock().expect("state");
    let grant = form
        .get("grant_type")
        .map(String::as_str)
        .unwrap_or_default();
    let user = match grant {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let code = form.get("device_code").cloned().unwrap_or_default();
            let Some(device) = s.devices.get(&code).cloned() else {
                return token_error("bad_verification_code");
            };
            if device.declined {
                return token_error("authorization_declined");
            }
            let Some(user) = device.approved_by else {
                return token_error("authorization_pending");
            };
            s.devices.remove(&code);
            user
        }
        "refresh_token" => {
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            // Refresh tokens rotate: the old one is spent.
            match s.refresh.remove(&refresh) {
                Some(user) => user,
                None => return token_error("invalid_grant"),
            }
        }
        _ => return token_error("unsupported_grant_type"),
    };
    let (access, refresh) = s.issue(&user);
    let lifetime = s.token_lifetime;
    Json(json!({
        "token_type": "Bearer",
        "scope": form.get("scope").cloned().unwrap_or_default(),
        "expires_in": lifetime,
        "access_token": access,
        "refresh_token": refresh,
    }))
    .into_response()
}

/// The signed-in user of a Graph request, or the error answer.
#[allow(clippy::result_large_err)] // the error is the answer itself, handed straight back
fn caller(s: &mut State, headers: &HeaderMap, what: String) -> Result<String, Response> {
    s.record(what);
    if s.throttle > 0 {
        s.throttle -= 1;
        let mut r = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests",
        );
        r.headers_mut()
            .insert("retry-after", "1".parse().expect("header value"));
        return Err(r);
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let now = s.tick();
    match s.access.get(token) {
        Some((user, expires)) if *expires > now => Ok(user.clone()),
        _ => Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        )),
    }
}

/// Answers `value` after checking it against the CSDL as `ty`.
fn checked(s: &mut State, value: Value, ty: &str) -> Response {
    let found = csdl::Csdl::graph().check(&value, ty);
    s.violations.extend(found);
    Json(value).into_response()
}

fn collection(s: &mut State, items: Vec<Value>, ty: &str) -> Response {
    collection_page(s, items, ty, None)
}

/// One page of a collection, with the link to the next when there is one.
fn collection_page(s: &mut State, items: Vec<Value>, ty: &str, next: Option<String>) -> Response {
    for item in &items {
        let found = csdl::Csdl::graph().check(item, ty);
        s.violations.extend(found);
    }
    let mut page = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata", "@odata.count": items.len(), "value": items});
    if let Some(next) = next {
        page["@odata.nextLink"] = Value::String(next);
    }
    Json(page).into_response()
}

async fn me(AxumState(state): AxumState<Shared>, headers: HeaderMap) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(&mut s, &headers, "GET /me".into()) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let v = s.user_json(&user).unwrap_or(Value::Null);
    checked(&mut s, v, "user")
}

async fn user(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /users/{id}")) {
        return r;
    }
    match s.user_json(&id) {
        Some(v) => checked(&mut s, v, "user"),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "no such user",
        ),
    }
}

fn chat_json(s: &State, id: &str, chat: &TeamsChat, preview: bool) -> Value {
    let mut v = json!({
        "id": id,
        "topic": chat.topic,
        "chatType": chat.chat_type,
        "createdDateTime": state::iso(0),
        "lastUpdatedDateTime": state::iso(chat.messages.last().map(|m| m.modified_ms).unwrap_or(0)),
        "tenantId": "tenant",
        "webUrl": format!("https://teams.microsoft.com/l/chat/{id}/0"),
    });
    if preview && let Some(last) = chat.messages.last() {
        v["lastMessagePreview"] = json!({
            "id": last.id,
            "createdDateTime": state::iso(last.created_ms),
            "isDeleted": last.deleted_ms.is_some(),
            "messageType": last.message_type,
            "body": {"contentType": "html", "content": last.html},
            "from": {"user": {"id": last.from, "displayName": s.users.get(&last.from).map(|u| u.0.clone())}}
        });
    }
    v
}

async fn my_chats(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(&mut s, &headers, "GET /me/chats".into()) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let preview = q.get("$expand").is_some_and(|e| e == "lastMessagePreview");
    let mut chats: Vec<(&String, &TeamsChat)> = s
        .chats
        .iter()
        .filter(|(_, c)| c.members.contains(&user))
        .collect();
    chats.sort_by_key(|(_, c)| std::cmp::Reverse(c.messages.last().map(|m| m.created_ms)));
    let top = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(50usize);
    let items: Vec<Value> = chats
        .into_iter()
        .take(top)
        .map(|(id, c)| chat_json(&s, id, c, preview))
        .collect();
    collection(&mut s, items, "chat")
}

async fn chat(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(&mut s, &headers, format!("GET /chats/{id}")) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match s.chats.get(&id).filter(|c| c.members.contains(&user)) {
        Some(c) => {
            let v = chat_json(&s, &id, c, false);
            checked(&mut s, v, "chat")
        }
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such chat"),
    }
}

async fn members(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /chats/{id}/members")) {
        return r;
    }
    let Some(chat) = s.chats.get(&id) else {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such chat");
    };
    let items: Vec<Value> = chat
        .members
        .iter()
        .map(|m| {
            json!({
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": chat_admin::membership_id(&id, m),
                "roles": ["owner"],
                "displayName": s.users.get(m).map(|u| u.0.clone()),
                "userId": m,
                "email": s.users.get(m).map(|u| u.1.clone()),
                "tenantId": "tenant",
            })
        })
        .collect();
    collection(&mut s, items, "conversationMember")
}

async fn messages(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /chats/{id}/messages")) {
        return r;
    }
    // Graph documents `$filter` on lastModifiedDateTime only with `$orderby` on it, desc.
    let by_modified = q.get("$orderby").map(String::as_str) == Some("lastModifiedDateTime desc");
    let since = match q.get("$filter") {
        None => None,
        Some(f) => match f
            .strip_prefix("lastModifiedDateTime gt ")
            .and_then(aqueduct_teams::iso_time::parse_ms)
        {
            Some(ms) if by_modified => Some(ms),
            _ => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the $filter needs $orderby=lastModifiedDateTime desc",
                );
            }
        },
    };
    let Some(chat) = s.chats.get(&id) else {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such chat");
    };
    let mut list: Vec<_> = chat
        .messages
        .iter()
        .filter(|m| since.is_none_or(|since| m.modified_ms > since))
        .cloned()
        .collect();
    if by_modified {
        list.sort_by_key(|m| std::cmp::Reverse(m.modified_ms));
    } else {
        list.sort_by_key(|m| std::cmp::Reverse(m.created_ms));
    }
    let top = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(20usize)
        .min(50);
    // Pages as Graph does: `@odata.nextLink` carries an opaque `$skiptoken` (here: how many
    // items came before).
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = list
        .iter()
        .skip(skip)
        .take(top)
        .map(|m| s.message_json(&id, m))
        .collect();
    let next = (skip + top < list.len()).then(|| {
        let mut url = url::Url::parse(&format!("{}/v1.0/chats/x/messages", s.base_url))
            .expect("the fake's own URL");
        url.path_segments_mut()
            .expect("a base URL")
            .pop()
            .pop()
            .push(&id)
            .push("messages");
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &q {
                if k != "$skiptoken" {
                    pairs.append_pair(k, v);
                }
            }
            pairs.append_pair("$skiptoken", &(skip + top).to_string());
        }
        url.to_string()
    });
    collection_page(&mut s, items, "chatMessage", next)
}

async fn one_message(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((chat, id)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /chats/{chat}/messages/{id}")) {
        return r;
    }
    match find(&mut s, &chat, &id).cloned() {
        Some(m) => {
            let v = s.message_json(&chat, &m);
            checked(&mut s, v, "chatMessage")
        }
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

async fn post_message(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(&mut s, &headers, format!("POST /chats/{chat}/messages")) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !s
        .chats
        .get(&chat)
        .is_some_and(|c| c.members.contains(&user))
    {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "not a member of the chat",
        );
    }
    let posted = match extras::read_posted(&mut s, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = s.tick();
    let m = extras::message_from(now.to_string(), &user, posted, now);
    s.chats
        .get_mut(&chat)
        .expect("checked")
        .messages
        .push(m.clone());
    let v = s.message_json(&chat, &m);
    let found = csdl::Csdl::graph().check(&v, "chatMessage");
    s.violations.extend(found);
    if s.lose_post_answers > 0 {
        s.lose_post_answers -= 1;
        return graph_error(
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "the gateway did not receive an answer in time",
        );
    }
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn edit_message(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((chat, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(
        &mut s,
        &headers,
        format!("PATCH /chats/{chat}/messages/{id}"),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let posted = match extras::read_posted(&mut s, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = s.tick();
    match find(&mut s, &chat, &id) {
        Some(m) if m.from == user => {
            m.html = posted.html;
            m.mentions = posted.mentions;
            m.edited_ms = Some(now);
            m.modified_ms = now;
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => graph_error(StatusCode::FORBIDDEN, "Forbidden", "only the author edits"),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

async fn message_action(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((chat, id, action)): Path<(String, String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(
        &mut s,
        &headers,
        format!("POST /chats/{chat}/messages/{id}/{action}"),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let now = s.tick();
    let reaction = body
        .as_ref()
        .and_then(|b| b["reactionType"].as_str())
        .map(str::to_owned);
    let Some(m) = find(&mut s, &chat, &id) else {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message");
    };
    match (action.as_str(), reaction) {
        ("softDelete", _) if m.from == user => m.deleted_ms = Some(now),
        ("softDelete", _) => {
            return graph_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "only the author deletes",
            );
        }
        ("setReaction", Some(r)) => {
            if !m.reactions.iter().any(|(u, x)| *u == user && *x == r) {
                m.reactions.push((user, r));
            }
        }
        ("unsetReaction", Some(r)) => m.reactions.retain(|(u, x)| !(*u == user && *x == r)),
        _ => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "unknown action"),
    }
    m.modified_ms = now;
    StatusCode::NO_CONTENT.into_response()
}
