//! The test network's HTTP API, as the test connector sees it: authentication by bearer
//! token (with injected failures), the event log long-poll, sending, history and chat
//! actions.

use super::*;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn router(net: TestNet) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/events", get(events))
        .route("/chats/{chat}", get(chat_info))
        .route("/users/{user}", get(user_info))
        .route("/chats/{chat}/messages", post(send).get(history))
        .route("/chats/{chat}/typing", put(typing))
        .route("/chats/{chat}/read", put(read))
        .route("/chats/{chat}/name", put(rename))
        .route("/chats/{chat}/topic", put(retopic))
        .route(
            "/chats/{chat}/members/{user}",
            put(member_add).delete(member_remove),
        )
        .route("/chats/{chat}/messages/{id}", put(edit).delete(remove))
        .route(
            "/chats/{chat}/messages/{id}/reactions/{key}",
            put(react_add),
        )
        .route(
            "/chats/{chat}/messages/{id}/reactions/{key}",
            delete(react_remove),
        )
        .with_state(net)
}

fn refuse(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({ "error": msg }))).into_response()
}

/// Authenticates a request; also consumes injected failures.
#[allow(clippy::result_large_err)] // test-only server; the error is the response to send
fn caller(net: &TestNet, headers: &HeaderMap) -> Result<String, Response> {
    let mut s = net.state.lock().unwrap();
    if s.fail_next > 0 {
        s.fail_next -= 1;
        return Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected failure",
        ));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    s.tokens
        .get(token)
        .cloned()
        .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "invalid_auth"))
}

async fn whoami(State(net): State<TestNet>, headers: HeaderMap) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let s = net.state.lock().unwrap();
    axum::Json(json!({ "user_id": user, "name": s.users.get(&user), "latest_seq": s.log.len() }))
        .into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    after: u64,
    #[serde(default)]
    timeout_ms: u64,
}

async fn events(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.timeout_ms.min(30_000));
    loop {
        let notified = net.changed.notified();
        let batch: Vec<Value> = {
            let s = net.state.lock().unwrap();
            s.log
                .iter()
                .skip(q.after as usize)
                .filter(|e| {
                    let chat = e["chat"].as_str().unwrap_or_default();
                    s.chats.get(chat).is_some_and(|c| {
                        c["members"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|x| x == user.as_str()))
                    })
                })
                .take(100)
                .cloned()
                .collect()
        };
        let latest = net.state.lock().unwrap().log.len();
        if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
            return axum::Json(json!({ "events": batch, "latest_seq": latest })).into_response();
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

async fn chat_info(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
) -> Response {
    if let Err(r) = caller(&net, &headers) {
        return r;
    }
    match net.state.lock().unwrap().chats.get(&chat) {
        Some(c) => axum::Json(c.clone()).into_response(),
        None => refuse(StatusCode::NOT_FOUND, "channel_not_found"),
    }
}

async fn user_info(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    if let Err(r) = caller(&net, &headers) {
        return r;
    }
    match net.state.lock().unwrap().users.get(&user) {
        Some(name) => axum::Json(json!({ "id": user, "name": name })).into_response(),
        None => refuse(StatusCode::NOT_FOUND, "user_not_found"),
    }
}

#[derive(Deserialize)]
struct SendBody {
    text: String,
    html: Option<String>,
    reply_to: Option<String>,
    thread_root: Option<String>,
    idempotency_key: Option<String>,
    #[serde(default)]
    attachments: Vec<NetAttachment>,
    #[serde(default)]
    mentions: Vec<String>,
}

async fn send(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    axum::Json(body): axum::Json<SendBody>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut s = net.state.lock().unwrap();
    if s.fail_next_sends > 0 {
        s.fail_next_sends -= 1;
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "injected failure");
    }
    if !s.chats.contains_key(&chat) {
        return refuse(StatusCode::NOT_FOUND, "channel_not_found");
    }
    if let Some(id) = body
        .idempotency_key
        .as_ref()
        .and_then(|k| s.idempotency.get(k))
        .cloned()
    {
        let ts = s.messages.iter().find(|m| m.id == id).map(|m| m.ts);
        return axum::Json(json!({ "id": id, "ts": ts })).into_response();
    }
    let msg = TestNet::insert_message(
        &mut s,
        &chat,
        &user,
        &body.text,
        body.html.as_deref(),
        body.reply_to.as_deref(),
        body.thread_root.as_deref(),
        body.attachments,
        body.mentions,
    );
    if let Some(k) = body.idempotency_key {
        s.idempotency.insert(k, msg.id.clone());
    }
    drop(s);
    net.changed.notify_waiters();
    axum::Json(json!({ "id": msg.id, "ts": msg.ts })).into_response()
}

#[derive(Deserialize)]
struct EditBody {
    text: String,
}

async fn edit(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path((chat, id)): Path<(String, String)>,
    axum::Json(body): axum::Json<EditBody>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.edit(&chat, &id, &user, &body.text);
    axum::Json(json!({})).into_response()
}

async fn remove(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path((chat, id)): Path<(String, String)>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.delete(&chat, &id, &user);
    axum::Json(json!({})).into_response()
}

async fn react_add(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path((chat, id, key)): Path<(String, String, String)>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.react(&chat, &id, &user, &key, true);
    axum::Json(json!({})).into_response()
}

async fn react_remove(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path((chat, id, key)): Path<(String, String, String)>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.react(&chat, &id, &user, &key, false);
    axum::Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: usize,
    before: Option<String>,
}

/// The newest `limit` messages of a chat (before `before`, if given), oldest first, as
/// message events.
async fn history(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    if let Err(r) = caller(&net, &headers) {
        return r;
    }
    let s = net.state.lock().unwrap();
    let all: Vec<&NetMessage> = s.messages.iter().filter(|m| m.chat == chat).collect();
    let end = q
        .before
        .as_ref()
        .and_then(|b| all.iter().position(|m| &m.id == b))
        .unwrap_or(all.len());
    let msgs: Vec<&NetMessage> = all[..end].iter().copied().filter(|m| !m.deleted).collect();
    let start = msgs.len().saturating_sub(q.limit);
    let events: Vec<Value> = msgs[start..]
        .iter()
        .map(|m| json!({ "type": "message", "chat": chat, "sender": m.sender, "sender_name": s.users.get(&m.sender), "ts": m.ts, "message": m }))
        .collect();
    axum::Json(json!({ "events": events })).into_response()
}

#[derive(Deserialize)]
struct TypingBody {
    typing: bool,
}

async fn typing(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    axum::Json(body): axum::Json<TypingBody>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.state
        .lock()
        .unwrap()
        .typing
        .insert((chat, user), body.typing);
    net.changed.notify_waiters();
    axum::Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct ReadBody {
    up_to: String,
}

async fn read(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    axum::Json(body): axum::Json<ReadBody>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.state
        .lock()
        .unwrap()
        .read
        .insert((chat, user), body.up_to);
    net.changed.notify_waiters();
    axum::Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct TextBody {
    value: String,
}

async fn rename(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    axum::Json(body): axum::Json<TextBody>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.set_chat_info(&chat, &user, Some(&body.value), None);
    axum::Json(json!({})).into_response()
}

async fn retopic(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    axum::Json(body): axum::Json<TextBody>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.set_chat_info(&chat, &user, None, Some(&body.value));
    axum::Json(json!({})).into_response()
}

async fn member_add(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path((chat, member)): Path<(String, String)>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.set_member(&chat, &user, &member, true);
    axum::Json(json!({})).into_response()
}

async fn member_remove(
    State(net): State<TestNet>,
    headers: HeaderMap,
    Path((chat, member)): Path<(String, String)>,
) -> Response {
    let user = match caller(&net, &headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    net.set_member(&chat, &user, &member, false);
    axum::Json(json!({})).into_response()
}
