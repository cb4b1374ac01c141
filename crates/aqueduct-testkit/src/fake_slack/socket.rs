//! Socket Mode: the websocket behind the URL `apps.connections.open` returns.

use super::{APP_ID, Control, Shared};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) async fn socket(
    ws: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
    State(sh): State<Arc<Shared>>,
) -> Response {
    let ticket = q.get("ticket").cloned().unwrap_or_default();
    // Each URL from apps.connections.open is good for one connection.
    if !sh.lock().tickets.remove(&ticket) {
        return (StatusCode::UNAUTHORIZED, "invalid ticket").into_response();
    }
    ws.on_upgrade(move |s| run(sh, s))
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

async fn run(sh: Arc<Shared>, mut ws: WebSocket) {
    let conn_id = {
        let mut st = sh.lock();
        st.connections += 1;
        st.counter += 1;
        st.current_conn = st.counter;
        st.current_conn
    };
    // Older connections stop receiving envelopes; theirs are redelivered here.
    sh.changed();
    let hello = json!({
        "type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
        "connection_info": {"app_id": APP_ID},
    });
    if ws.send(text(hello)).await.is_err() {
        return;
    }
    loop {
        let notified = sh.sock_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut out = Vec::new();
        let mut control = None;
        let mut next_deadline: Option<Instant> = None;
        {
            let mut st = sh.lock();
            if st.shutdown {
                return;
            }
            if let Some((c, ctl)) = st.control
                && c == conn_id
            {
                st.control = None;
                control = Some(ctl);
            }
            if control.is_none() && st.current_conn == conn_id {
                let now = Instant::now();
                let timeout = st.ack_timeout;
                let mut timed_out = Vec::new();
                for p in st.pending.iter_mut() {
                    let deliver = match p.sent {
                        None => true,
                        Some((c, _)) if c != conn_id => {
                            p.retry_attempt += 1;
                            p.retry_reason = "timeout";
                            true
                        }
                        Some((_, at)) if now.duration_since(at) >= timeout => {
                            p.retry_attempt += 1;
                            p.retry_reason = "timeout";
                            timed_out.push(p.payload["event"].clone());
                            true
                        }
                        Some(_) => false,
                    };
                    if deliver {
                        p.sent = Some((conn_id, now));
                        out.push(json!({
                            "envelope_id": p.envelope_id,
                            "type": "events_api",
                            "accepts_response_payload": false,
                            "retry_attempt": p.retry_attempt,
                            "retry_reason": p.retry_reason,
                            "payload": p.payload,
                        }));
                    }
                    if let Some((_, at)) = p.sent {
                        let d = at + timeout;
                        next_deadline = Some(next_deadline.map_or(d, |n| n.min(d)));
                    }
                }
                st.redelivered.extend(timed_out);
            }
        }
        for env in out {
            if ws.send(text(env)).await.is_err() {
                return;
            }
        }
        match control {
            Some(Control::Disconnect) => {
                let msg = json!({"type": "disconnect", "reason": "refresh_requested",
                                 "debug_info": {"host": "fake"}});
                let _ = ws.send(text(msg)).await;
                let _ = ws
                    .send(Message::Close(Some(CloseFrame {
                        code: 1000,
                        reason: "".into(),
                    })))
                    .await;
                // Give the client a moment to answer the close handshake.
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    while let Some(Ok(m)) = ws.recv().await {
                        if let Message::Text(t) = &m {
                            ack(&sh, t.as_str());
                        }
                        if matches!(m, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
                return;
            }
            // Dropping the socket closes TCP without a close frame.
            Some(Control::Drop) => return,
            // Holds the socket open without reading or writing until the fake stops.
            Some(Control::Silence) => loop {
                let stopped = sh.sock_notify.notified();
                tokio::pin!(stopped);
                stopped.as_mut().enable();
                if sh.lock().shutdown {
                    drop(ws);
                    return;
                }
                stopped.await;
            },
            None => {}
        }
        let sleep = async {
            match next_deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            m = ws.recv() => match m {
                Some(Ok(Message::Text(t))) => ack(&sh, t.as_str()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = &mut notified => {}
            _ = sleep => {}
        }
    }
}

fn ack(sh: &Shared, t: &str) {
    let Ok(v) = serde_json::from_str::<Value>(t) else {
        tracing::warn!(text = t, "fake slack: non-JSON frame on socket");
        return;
    };
    let Some(id) = v.get("envelope_id").and_then(Value::as_str) else {
        return;
    };
    let mut st = sh.lock();
    let before = st.pending.len();
    st.pending.retain(|p| p.envelope_id != id);
    let acked = st.pending.len() != before;
    drop(st);
    if acked {
        sh.changed();
    } else {
        tracing::debug!(envelope_id = id, "fake slack: ack for unknown envelope");
    }
}
