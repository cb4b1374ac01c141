//! REST v1 under `/api/v1/<endpoint>`: the endpoints the connector uses, answering as
//! Rocket.Chat does (`{success: true, ...}`, `{success: false, error}` with HTTP 400, HTTP 401
//! for bad tokens, HTTP 429 + `X-RateLimit-Reset` with `error-too-many-requests`).

use super::state::{Dates, RcRequest, RcResponse, Shared, State, iso, now_ms, parse_iso};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/{*endpoint}", any(handle))
        .route("/websocket", get(super::ddp::websocket))
        .route("/avatar/{username}", get(avatar))
        .route("/file-upload/{id}/{name}", get(super::files::file_upload))
        .with_state(shared)
}

pub(crate) type Answer = (StatusCode, Value);

pub(crate) fn ok(mut v: Value) -> Answer {
    v["success"] = json!(true);
    (StatusCode::OK, v)
}

pub(crate) fn fail(error: impl Into<String>) -> Answer {
    (
        StatusCode::BAD_REQUEST,
        json!({ "success": false, "error": error.into() }),
    )
}

async fn handle(
    AxState(sh): AxState<Arc<Shared>>,
    Path(endpoint): Path<String>,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, unanswered) = carry_out(&sh, endpoint, method, query, headers, body);
    if unanswered {
        // Done, but the answer never leaves: as when the client crashes or its connection
        // breaks before the answer reaches it.
        return std::future::pending::<Response>().await;
    }
    response
}

/// Carries out one request; returns the answer and whether to withhold it.
fn carry_out(
    sh: &Arc<Shared>,
    endpoint: String,
    method: Method,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> (Response, bool) {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let parts = header("content-type")
        .and_then(|t| {
            t.strip_prefix("multipart/form-data; boundary=")
                .map(|b| b.trim_matches('"').to_owned())
        })
        .map(|boundary| super::files::multipart_parts(&body, &boundary));
    let body: Value = if parts.is_some() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let parts = parts.unwrap_or_default();
    let (uid, token) = (header("x-user-id"), header("x-auth-token"));
    let mut st = sh.lock();
    st.requests.push(RcRequest {
        endpoint: endpoint.clone(),
        http_method: method.to_string(),
        query: serde_json::to_value(&query).unwrap_or_default(),
        body: body.clone(),
        auth_headers: uid.is_some() && token.is_some(),
        form: parts.iter().map(|p| p.name.clone()).collect(),
    });
    let mut reset = None;
    let (status, answer) = if let Some(left) =
        st.server_errors.get_mut(&endpoint).filter(|n| **n > 0)
    {
        *left -= 1;
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "success": false, "error": "Internal server error" }),
        )
    } else if let Some(left) = st.rate_limits.get_mut(&endpoint).filter(|n| **n > 0) {
        *left -= 1;
        st.rate_limited += 1;
        let wait = st.rate_limit_ms;
        reset = Some(now_ms() + wait);
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "success": false, "error": format!("Error, too many requests. Please slow down. You must wait {} seconds before trying this endpoint again. [error-too-many-requests]", (wait + 999) / 1000), "errorType": "error-too-many-requests" }),
        )
    } else if endpoint == "login" {
        login(&mut st, &body)
    } else {
        let user = match (&uid, &token) {
            (Some(u), Some(t)) if st.tokens.get(t) == Some(u) => u.clone(),
            _ => {
                let a = (
                    StatusCode::UNAUTHORIZED,
                    json!({ "status": "error", "message": "You must be logged in to do this." }),
                );
                return (respond(&mut st, sh, &endpoint, &method, a, None), false);
            }
        };
        let q = |k: &str| query.get(k).cloned().unwrap_or_default();
        let b = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        match (method.as_str(), endpoint.as_str()) {
            ("GET", "me") => ok(me(&st, &user)),
            ("GET", "subscriptions.get") => {
                let subs: Vec<Value> = st
                    .rooms
                    .values()
                    .filter(|r| r.members.contains(&user))
                    .map(|r| st.subscription_json(r, &user))
                    .collect();
                ok(json!({ "update": subs, "remove": [] }))
            }
            ("GET", "rooms.info") => rooms_info(&st, &user, &q("roomId")),
            ("GET", "users.info") => users_info(&st, &q("userId"), &q("username")),
            ("GET", "channels.members" | "groups.members") => members(&st, &user, &q("roomId")),
            ("GET", "channels.history" | "groups.history" | "dm.history") => {
                history(&st, &user, &endpoint, &query)
            }
            ("GET", "chat.syncMessages") => sync_messages(&st, &user, &query),
            ("GET", "chat.getMessage") => match st.find(&q("msgId")) {
                Some(i) if can_see(&st, &user, &st.messages[i].rid) => {
                    ok(json!({ "message": st.message_json(&st.messages[i], Dates::Rest) }))
                }
                _ => fail("error-not-allowed"),
            },
            ("POST", "subscriptions.read") => {
                let rid = body["rid"]
                    .as_str()
                    .or(body["roomId"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                if can_see(&st, &user, &rid) {
                    let newest = st
                        .messages
                        .iter()
                        .rev()
                        .find(|m| m.rid == rid && !m.deleted)
                        .map(|m| m.id.clone());
                    if let Some(newest) = newest {
                        st.last_read.insert((rid, user.clone()), newest);
                    }
                    ok(json!({}))
                } else {
                    fail("error-invalid-subscription")
                }
            }
            ("POST", "chat.sendMessage") => send_message(&mut st, &user, &body["message"]),
            ("POST", e)
                if st.before_6_8
                    && (e.starts_with("rooms.media/") || e.starts_with("rooms.mediaConfirm/")) =>
            {
                // Unknown routes, as Rocket.Chat's REST router answers them.
                (
                    StatusCode::NOT_FOUND,
                    json!({ "status": "error", "message": "API endpoint does not exist" }),
                )
            }
            ("POST", e) if e.starts_with("rooms.upload/") => {
                let rid = e.trim_start_matches("rooms.upload/").to_owned();
                super::files::upload(&mut st, &user, &rid, &parts)
            }
            ("POST", e) if e.starts_with("rooms.media/") => {
                let rid = e.trim_start_matches("rooms.media/").to_owned();
                super::files::media(&mut st, &user, &rid, &parts)
            }
            ("POST", e) if e.starts_with("rooms.mediaConfirm/") => {
                let mut path = e.trim_start_matches("rooms.mediaConfirm/").split('/');
                let (rid, file) = (
                    path.next().unwrap_or_default(),
                    path.next().unwrap_or_default(),
                );
                super::files::media_confirm(&mut st, &user, rid, file, &body)
            }
            ("POST", "channels.rename" | "groups.rename") => {
                room_change(&mut st, &user, &endpoint, &b("roomId"), "r", &b("name"))
            }
            ("POST", "channels.setTopic" | "groups.setTopic" | "dm.setTopic") => room_change(
                &mut st,
                &user,
                &endpoint,
                &b("roomId"),
                "room_changed_topic",
                &b("topic"),
            ),
            ("POST", "channels.invite" | "groups.invite") => {
                room_change(&mut st, &user, &endpoint, &b("roomId"), "au", &b("userId"))
            }
            ("POST", "channels.kick" | "groups.kick") => {
                room_change(&mut st, &user, &endpoint, &b("roomId"), "ru", &b("userId"))
            }
            ("POST", "chat.update") => match st.find(&b("msgId")) {
                Some(i) if st.messages[i].rid == b("roomId") && st.messages[i].user == user => {
                    let text = b("text");
                    st.edit(i, &user, &text);
                    ok(json!({ "message": st.message_json(&st.messages[i], Dates::Rest) }))
                }
                Some(_) => fail("The room id provided does not match where the message is from."),
                None => fail(format!(
                    "No message found with the id of \"{}\".",
                    b("msgId")
                )),
            },
            ("POST", "chat.delete") => match st.find(&b("msgId")) {
                Some(i) if st.messages[i].rid == b("roomId") && st.messages[i].user == user => {
                    st.delete(i);
                    let m = &st.messages[i];
                    let answer = json!({ "_id": m.id, "ts": now_ms().to_string(), "message": { "_id": m.id, "rid": m.rid, "u": st.user_json(&m.user) } });
                    ok(answer)
                }
                Some(_) => fail("error-action-not-allowed"),
                None => fail(format!(
                    "No message found with the id of \"{}\".",
                    b("msgId")
                )),
            },
            ("POST", "chat.react") => {
                let emoji = body["emoji"]
                    .as_str()
                    .or(body["reaction"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                match st.find(&b("messageId")) {
                    Some(i) if can_see(&st, &user, &st.messages[i].rid) => {
                        let on = body["shouldReact"].as_bool().unwrap_or_else(|| {
                            !st.messages[i]
                                .reactions
                                .get(&format!(":{}:", emoji.trim_matches(':')))
                                .is_some_and(|u| {
                                    u.iter().any(|n| {
                                        Some(n) == st.users.get(&user).map(|u| &u.username)
                                    })
                                })
                        });
                        if st.react(i, &user, &emoji, on) {
                            ok(json!({}))
                        } else {
                            fail("error-not-allowed")
                        }
                    }
                    _ => (
                        StatusCode::BAD_REQUEST,
                        json!({ "success": false, "error": "The provided \"messageId\" does not match any existing message. [error-message-not-found]", "errorType": "error-message-not-found" }),
                    ),
                }
            }
            _ => (
                StatusCode::NOT_FOUND,
                json!({ "success": false, "error": format!("the fake does not serve {method} {endpoint}") }),
            ),
        }
    };
    let unanswered = st
        .unanswered
        .iter()
        .position(|p| endpoint.starts_with(p.as_str()));
    if let Some(i) = unanswered {
        st.unanswered.remove(i);
    }
    let response = respond(&mut st, sh, &endpoint, &method, (status, answer), reset);
    (response, unanswered.is_some())
}

fn respond(
    st: &mut State,
    sh: &Shared,
    endpoint: &str,
    method: &Method,
    (status, body): Answer,
    reset: Option<i64>,
) -> Response {
    st.responses.push(RcResponse {
        endpoint: endpoint.into(),
        http_method: method.to_string(),
        status: status.as_u16(),
        body: body.clone(),
    });
    sh.changed();
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(reset) = reset {
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("10"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        if let Ok(v) = HeaderValue::from_str(&reset.to_string()) {
            h.insert("x-ratelimit-reset", v);
        }
    }
    response
}

fn me(st: &State, user: &str) -> Value {
    let u = &st.users[user];
    json!({ "_id": u.id, "username": u.username, "name": u.name, "status": "online", "active": true, "roles": ["user"], "utcOffset": 0 })
}

fn login(st: &mut State, body: &Value) -> Answer {
    let user = body["user"].as_str().and_then(|name| {
        st.users
            .values()
            .find(|u| {
                u.username == name
                    && u.password.is_some()
                    && u.password.as_deref() == body["password"].as_str()
            })
            .map(|u| u.id.clone())
    });
    let Some(user) = user else {
        return (
            StatusCode::UNAUTHORIZED,
            json!({ "status": "error", "error": "Unauthorized", "message": "Unauthorized" }),
        );
    };
    let token = format!("resume-{}", st.new_id());
    st.tokens.insert(token.clone(), user.clone());
    (
        StatusCode::OK,
        json!({ "status": "success", "data": { "authToken": token, "userId": user, "me": me(st, &user) } }),
    )
}

pub(crate) fn can_see(st: &State, user: &str, rid: &str) -> bool {
    st.rooms
        .get(rid)
        .is_some_and(|r| r.members.iter().any(|m| m == user))
}

fn rooms_info(st: &State, user: &str, rid: &str) -> Answer {
    let Some(room) = st.rooms.get(rid).filter(|_| can_see(st, user, rid)) else {
        return fail("not-allowed");
    };
    let mut r = json!({ "_id": room.id, "t": room.t, "usersCount": room.members.len(), "msgs": st.messages.iter().filter(|m| m.rid == room.id && !m.deleted).count(), "ts": iso(0), "_updatedAt": iso(0) });
    if room.t == "d" {
        r["uids"] = json!(room.members);
    } else {
        r["name"] = json!(room.name);
        r["fname"] = json!(room.name);
        r["topic"] = json!(room.topic);
    }
    ok(json!({ "room": r }))
}

fn users_info(st: &State, id: &str, username: &str) -> Answer {
    let found = st.users.values().find(|u| {
        (!id.is_empty() && u.id == id) || (!username.is_empty() && u.username == username)
    });
    match found {
        Some(u) => ok(
            json!({ "user": { "_id": u.id, "username": u.username, "name": u.name, "type": "user", "status": "online", "active": true, "roles": ["user"], "utcOffset": 0 } }),
        ),
        None => fail("User not found."),
    }
}

fn members(st: &State, user: &str, rid: &str) -> Answer {
    let Some(room) = st.rooms.get(rid).filter(|_| can_see(st, user, rid)) else {
        return fail("not-allowed");
    };
    let members: Vec<Value> = room
        .members
        .iter()
        .map(|m| {
            let mut u = st.user_json(m);
            u["status"] = json!("online");
            u
        })
        .collect();
    let n = members.len();
    ok(json!({ "members": members, "count": n, "offset": 0, "total": n }))
}

fn history(st: &State, user: &str, endpoint: &str, query: &HashMap<String, String>) -> Answer {
    let rid = query.get("roomId").cloned().unwrap_or_default();
    let Some(room) = st.rooms.get(&rid).filter(|_| can_see(st, user, &rid)) else {
        return fail("error-room-not-found");
    };
    let wanted = match endpoint {
        "groups.history" => "p",
        "dm.history" => "d",
        _ => "c",
    };
    if room.t != wanted {
        return fail("error-room-not-found");
    }
    let inclusive = query.get("inclusive").is_some_and(|v| v == "true");
    let oldest = query.get("oldest").and_then(|s| parse_iso(s));
    let latest = query.get("latest").and_then(|s| parse_iso(s));
    let count: usize = query
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(20);
    let offset: usize = query
        .get("offset")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut msgs: Vec<&super::FakeMessage> = st
        .messages
        .iter()
        .filter(|m| m.rid == rid && !m.deleted)
        .filter(|m| oldest.is_none_or(|o| if inclusive { m.ts >= o } else { m.ts > o }))
        .filter(|m| latest.is_none_or(|l| if inclusive { m.ts <= l } else { m.ts < l }))
        .collect();
    msgs.sort_by_key(|m| std::cmp::Reverse(m.ts));
    let total = msgs.len();
    let page: Vec<Value> = msgs
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|m| st.message_json(m, Dates::Rest))
        .collect();
    let mut answer = json!({ "messages": page });
    if endpoint == "channels.history" {
        answer["count"] = json!(answer["messages"].as_array().map_or(0, Vec::len));
        answer["offset"] = json!(offset);
        answer["total"] = json!(total);
    }
    ok(answer)
}

fn send_message(st: &mut State, user: &str, m: &Value) -> Answer {
    let rid = m["rid"].as_str().unwrap_or_default().to_owned();
    if !can_see(st, user, &rid) {
        return fail("error-not-allowed");
    }
    let impersonating = m.get("alias").is_some() || m.get("avatar").is_some();
    if impersonating && !st.users[user].impersonate {
        return fail("Not enough permission [error-action-not-allowed]");
    }
    let id = m["_id"].as_str().map(str::to_owned);
    if let Some(id) = &id
        && st.ids.contains(id)
    {
        return fail("error-message-already-exists");
    }
    let tmid = m["tmid"].as_str().map(str::to_owned);
    if let Some(t) = &tmid
        && st.find(t).is_none()
    {
        return fail("error-invalid-message");
    }
    let i = st.add_message_with(
        id,
        &rid,
        user,
        m["msg"].as_str().unwrap_or_default(),
        tmid,
        m["alias"].as_str().map(str::to_owned),
        m["avatar"].as_str().map(str::to_owned),
        Vec::new(),
    );
    ok(json!({ "message": st.message_json(&st.messages[i], Dates::Rest) }))
}

/// `chat.syncMessages` with `lastUpdate`: the room's messages changed after it
/// (`result.updated`, newest first, paged by `offset`/`count`) and those deleted after it
/// (`result.deleted`, `{_id, _deletedAt}`).
fn sync_messages(st: &State, user: &str, query: &HashMap<String, String>) -> Answer {
    let rid = query.get("roomId").cloned().unwrap_or_default();
    if !can_see(st, user, &rid) {
        return fail("error-room-not-found");
    }
    let Some(since) = query.get("lastUpdate").and_then(|s| parse_iso(s)) else {
        return fail(
            "The required \"lastUpdate\" query param is missing. [error-lastUpdate-param-not-provided]",
        );
    };
    let count: usize = query
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(20);
    let offset: usize = query
        .get("offset")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut changed: Vec<&super::FakeMessage> = st
        .messages
        .iter()
        .filter(|m| m.rid == rid && m.updated_at > since)
        .collect();
    changed.sort_by_key(|m| std::cmp::Reverse(m.updated_at));
    let updated: Vec<Value> = changed
        .iter()
        .filter(|m| !m.deleted)
        .skip(offset)
        .take(count)
        .map(|m| st.message_json(m, Dates::Rest))
        .collect();
    let deleted: Vec<Value> = changed
        .iter()
        .filter(|m| m.deleted)
        .skip(offset)
        .take(count)
        .map(|m| json!({ "_id": m.id, "_deletedAt": iso(m.updated_at) }))
        .collect();
    ok(json!({ "result": { "updated": updated, "deleted": deleted } }))
}

/// A room change made through REST (`rename`, `setTopic`, `invite`, `kick`): applied, then
/// recorded as the system message Rocket.Chat writes for it (`r`, `room_changed_topic`, `au`,
/// `ru`, the last two with the member's username as text), pushed like any message.
fn room_change(
    st: &mut State,
    user: &str,
    endpoint: &str,
    rid: &str,
    t: &str,
    value: &str,
) -> Answer {
    let wanted = match endpoint.split('.').next() {
        Some("groups") => "p",
        Some("dm") => "d",
        _ => "c",
    };
    if !can_see(st, user, rid) || st.rooms.get(rid).is_none_or(|r| r.t != wanted) {
        return fail("error-room-not-found");
    }
    let text = match t {
        "au" | "ru" => match st.users.get(value) {
            Some(u) => u.username.clone(),
            None => return fail("error-invalid-user"),
        },
        _ => value.to_owned(),
    };
    let room = st.rooms.get_mut(rid).expect("room checked");
    match t {
        "r" => room.name = value.into(),
        "room_changed_topic" => room.topic = value.into(),
        "au" if !room.members.iter().any(|m| m == value) => room.members.push(value.into()),
        "ru" => room.members.retain(|m| m != value),
        _ => {}
    }
    st.system_message(rid, user, t, &text);
    let room = &st.rooms[rid];
    let family = if wanted == "p" { "group" } else { "channel" };
    match t {
        "room_changed_topic" => ok(json!({ "topic": room.topic })),
        _ => ok(
            json!({ family: { "_id": room.id, "name": room.name, "t": room.t, "msgs": 0, "ts": iso(room.created), "_updatedAt": iso(now_ms()) } }),
        ),
    }
}

/// `/avatar/<username>`: the picture set with [`super::FakeRocketChat::set_avatar`], else
/// generated initials as an SVG, as Rocket.Chat serves them.
async fn avatar(AxState(sh): AxState<Arc<Shared>>, Path(username): Path<String>) -> Response {
    let st = sh.lock();
    let Some(user) = st.users.values().find(|u| u.username == username) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match &user.avatar {
        Some((mime, bytes)) => ([("content-type", mime.clone())], bytes.clone()).into_response(),
        None => {
            let initial: String = user.name.chars().take(1).collect();
            let svg = format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"200\"><text x=\"50%\" y=\"50%\">{initial}</text></svg>"
            );
            (
                [("content-type", "image/svg+xml".to_owned())],
                svg.into_bytes(),
            )
                .into_response()
        }
    }
}
