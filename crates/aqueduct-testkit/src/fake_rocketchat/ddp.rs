//! The realtime API at `/websocket`: DDP version 1 (`connect` -> `connected`), server pings,
//! the `login` method with a resume token, `sub` to `stream-room-messages`,
//! `stream-notify-room` and `stream-notify-user` (answered with `ready`, or `nosub` with an
//! error for rooms the user cannot see), and pushes as `changed` frames.

use super::state::{Push, Shared};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

pub(crate) async fn websocket(ws: WebSocketUpgrade, State(sh): State<Arc<Shared>>) -> Response {
    if !sh.lock().realtime_open {
        return (StatusCode::SERVICE_UNAVAILABLE, "realtime closed").into_response();
    }
    ws.on_upgrade(move |s| run(sh, s))
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

/// Whether a subscription `(name, param)` receives `push`.
fn receives(subs: &HashSet<(String, String)>, push: &Push) -> bool {
    subs.contains(&(push.collection.clone(), push.event.clone()))
}

async fn run(sh: Arc<Shared>, mut ws: WebSocket) {
    let generation = sh.lock().realtime_generation;
    let mut user: Option<String> = None;
    let mut subs: HashSet<(String, String)> = HashSet::new();
    // Pushes before the connection are not replayed, as with Rocket.Chat.
    let mut cursor = sh.lock().pushes.len();
    // Keepalive (when turned on): when the client was last heard, and when a ping went out
    // that is still unanswered.
    let mut last_heard = tokio::time::Instant::now();
    let mut ping_sent: Option<tokio::time::Instant> = None;
    loop {
        let notified = sh.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let out: Option<Vec<Push>> = {
            let st = sh.lock();
            (st.realtime_generation == generation).then(|| {
                let new = st.pushes[cursor..].to_vec();
                cursor = st.pushes.len();
                new
            })
        };
        let Some(out) = out else {
            let _ = ws.send(Message::Close(None)).await;
            return;
        };
        for p in out.iter().filter(|p| user.is_some() && receives(&subs, p)) {
            let frame = json!({ "msg": "changed", "collection": p.collection, "id": "id", "fields": { "eventName": p.event, "args": p.args } });
            if ws.send(text(frame)).await.is_err() {
                return;
            }
        }
        let keepalive = sh.lock().keepalive_ms.map(std::time::Duration::from_millis);
        let deadline = keepalive.map(|k| ping_sent.unwrap_or(last_heard) + k);
        let keepalive_due = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = keepalive_due => {
                if ping_sent.is_some() {
                    sh.lock().keepalive_drops += 1;
                    sh.changed();
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                ping_sent = Some(tokio::time::Instant::now());
                if ws.send(text(json!({ "msg": "ping" }))).await.is_err() {
                    return;
                }
            }
            frame = ws.recv() => {
                last_heard = tokio::time::Instant::now();
                ping_sent = None;
                let frame = match frame {
                    Some(Ok(Message::Text(t))) => serde_json::from_str::<Value>(&t).unwrap_or_default(),
                    Some(Ok(_)) => continue,
                    _ => return,
                };
                let delay = sh.lock().realtime_delay_ms;
                if frame["msg"] == "connect" && delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                for reply in answer(&sh, &frame, &mut user, &mut subs) {
                    if ws.send(text(reply)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The frames answering one client frame.
fn answer(
    sh: &Shared,
    frame: &Value,
    user: &mut Option<String>,
    subs: &mut HashSet<(String, String)>,
) -> Vec<Value> {
    let id = frame["id"].clone();
    match frame["msg"].as_str() {
        Some("connect") if frame["version"] == "1" => vec![
            json!({ "msg": "connected", "session": format!("s{}", rand::random::<u32>()) }),
            // The server pings; a client that never answers is dropped by a real server.
            json!({ "msg": "ping" }),
        ],
        Some("connect") => vec![json!({ "msg": "failed", "version": "1" })],
        Some("pong") => {
            sh.lock().pongs += 1;
            sh.changed();
            vec![]
        }
        Some("ping") => vec![json!({ "msg": "pong", "id": id })],
        Some("method") if frame["method"] == "login" => {
            let token = frame["params"][0]["resume"].as_str().unwrap_or_default();
            let mut st = sh.lock();
            match st.tokens.get(token).cloned() {
                Some(uid) => {
                    st.realtime_logins += 1;
                    *user = Some(uid.clone());
                    drop(st);
                    sh.changed();
                    vec![
                        json!({ "msg": "result", "id": id, "result": { "id": uid, "token": token, "tokenExpires": { "$date": 4_102_444_800_000_i64 }, "type": "resume" } }),
                    ]
                }
                None => vec![
                    json!({ "msg": "result", "id": id, "error": { "isClientSafe": true, "error": 403, "reason": "You've been logged out by the server. Please log in again.", "message": "You've been logged out by the server. Please log in again. [403]", "errorType": "Meteor.Error" } }),
                ],
            }
        }
        // Typing and other room notifications sent by a client: passed on to the room's
        // subscribers, as Rocket.Chat's streamer does.
        Some("method") if frame["method"] == "stream-notify-room" => {
            let params = &frame["params"];
            let event = params[0].as_str().unwrap_or_default().to_owned();
            let rid = event.split('/').next().unwrap_or_default().to_owned();
            let mut st = sh.lock();
            let username = user
                .as_ref()
                .and_then(|u| st.users.get(u))
                .map(|u| u.username.clone());
            let member = user
                .as_ref()
                .is_some_and(|u| st.rooms.get(&rid).is_some_and(|r| r.members.contains(u)));
            if !member || username.as_deref() != params[1].as_str() {
                return vec![
                    json!({ "msg": "result", "id": id, "error": { "error": "not-allowed", "reason": "Not allowed", "errorType": "Meteor.Error" } }),
                ];
            }
            let args = json!(
                params
                    .as_array()
                    .map(|a| a[1..].to_vec())
                    .unwrap_or_default()
            );
            if event.ends_with("/user-activity") {
                let typing = args[1]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "user-typing"));
                st.typing
                    .insert((rid.clone(), username.clone().unwrap_or_default()), typing);
            }
            st.pushes.push(Push {
                collection: "stream-notify-room".into(),
                event,
                args,
            });
            drop(st);
            sh.changed();
            vec![json!({ "msg": "result", "id": id })]
        }
        Some("method") => vec![
            json!({ "msg": "result", "id": id, "error": { "error": 404, "reason": "Method not found", "errorType": "Meteor.Error" } }),
        ],
        Some("sub") => {
            let name = frame["name"].as_str().unwrap_or_default().to_owned();
            let param = frame["params"][0].as_str().unwrap_or_default().to_owned();
            let allowed = user.as_ref().is_some_and(|u| {
                let st = sh.lock();
                let room = param.split('/').next().unwrap_or_default();
                match name.as_str() {
                    "stream-room-messages" | "stream-notify-room" => {
                        st.rooms.get(room).is_some_and(|r| r.members.contains(u))
                    }
                    "stream-notify-user" => room == u,
                    _ => false,
                }
            });
            if allowed {
                subs.insert((name, param));
                vec![json!({ "msg": "ready", "subs": [id] })]
            } else {
                vec![
                    json!({ "msg": "nosub", "id": id, "error": { "isClientSafe": true, "error": "not-allowed", "reason": "Not allowed", "errorType": "Meteor.Error" } }),
                ]
            }
        }
        _ => vec![],
    }
}
