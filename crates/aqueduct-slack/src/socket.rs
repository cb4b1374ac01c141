//! Socket Mode: open a connection with the app-level token, acknowledge each envelope by the
//! rules of [`crate::acks`] (once its event is in Matrix, or within Slack's 3 s when the
//! catch-up would find it), reconnect on `disconnect` or loss, and catch up from the
//! per-channel checkpoints through `conversations.history` on every connection (after a
//! reconnect or a restart).
//!
//! The read loop never waits on bridging: envelopes are bridged in per-conversation lanes
//! ([`crate::socket_lanes`]), so a slow file download cannot keep other envelopes from being
//! read and acknowledged in time. A connection that does not open within
//! [`CONNECT_TIMEOUT`], or goes silent (no frame for [`IDLE_BEFORE_PING`], then nothing
//! either within [`PONG_WAIT`] of the bridge's own ping), is taken as dead: a half-open TCP
//! connection would otherwise wait forever. The reconnection's catch-up bridges what was
//! sent meanwhile.
//!
//! At most `realtime_backlog` events are on their way to Matrix at once ([`crate::backlog`]):
//! past it the connection is closed without acknowledging the event, and opened again once
//! the backlog is in Matrix, whose catch-up then bridges what was not taken.

use crate::api::SlackLogin;
use crate::socket_lanes::Lanes;
use aqueduct_core::connector::{ConnectorError, RemoteState};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Longest wait for the websocket to open (TCP, TLS and the upgrade).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence after which the bridge pings Slack. Slack itself pings about every 10 s or so
/// and sends `hello` at once, so a healthy connection is rarely this quiet.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);
/// How long after its ping the bridge waits for any frame before giving the connection up.
const PONG_WAIT: Duration = Duration::from_secs(10);

/// Runs Socket Mode until the task is aborted or the credentials fail.
pub(crate) async fn run(login: Arc<SlackLogin>) {
    // Kept across connections: a reconnection waits for the deliveries still under way.
    let lanes = tokio::sync::Mutex::new(Lanes::default());
    aqueduct_connector::reconnect::supervise(
        &*login.bridge,
        &login.login,
        "Slack socket",
        &aqueduct_connector::reconnect::NoHooks,
        || async { connect_once(&login, &mut *lanes.lock().await).await },
    )
    .await;
}

/// One connection, from `apps.connections.open` to its end. `Ok` when Slack asked for a
/// reconnect, `Err` when the connection failed or went silent.
async fn connect_once(login: &Arc<SlackLogin>, lanes: &mut Lanes) -> Result<(), ConnectorError> {
    if login.backlog.overflowed() {
        // The last connection was closed because too many events were on their way to
        // Matrix: reconnect only once they are there, then catch up on what was not taken.
        lanes.idle().await;
        login.backlog.handled().await;
    }
    let opened = login.app.call("apps.connections.open", &[]).await?;
    let url = opened["url"]
        .as_str()
        .ok_or_else(|| ConnectorError::Temporary("apps.connections.open returned no url".into()))?;
    let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| {
            ConnectorError::Temporary(format!(
                "socket: not open after {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| ConnectorError::Temporary(format!("socket: {e}")))?;
    let (mut write, mut read) = socket.split();
    // Acks come back from receipt tasks in any order; one writer sends them.
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<String>();
    // After a reconnect or a restart, bridge what arrived meanwhile (a fresh login has no
    // checkpoints, so nothing to do), after the live events still being bridged, so that a
    // channel stays in order.
    lanes.idle().await;
    login.catch_up().await;
    login.backlog.caught_up();
    let write_failed = |e: tokio_tungstenite::tungstenite::Error| {
        ConnectorError::Temporary(format!("socket write: {e}"))
    };
    let mut heard = Instant::now();
    let mut pinged = false;
    loop {
        let quiet_until = if pinged {
            heard + IDLE_BEFORE_PING + PONG_WAIT
        } else {
            heard + IDLE_BEFORE_PING
        };
        tokio::select! {
            Some(envelope_id) = ack_rx.recv() => {
                let ack = json!({ "envelope_id": envelope_id }).to_string();
                write.send(Message::Text(ack.into())).await.map_err(write_failed)?;
            }
            () = tokio::time::sleep_until(quiet_until) => {
                if pinged {
                    return Err(ConnectorError::Temporary(format!(
                        "socket silent for {} s; reconnecting",
                        (IDLE_BEFORE_PING + PONG_WAIT).as_secs()
                    )));
                }
                pinged = true;
                write.send(Message::Ping(Vec::new().into())).await.map_err(write_failed)?;
            }
            frame = read.next() => {
                heard = Instant::now();
                pinged = false;
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Ping(p))) => {
                        let _ = write.send(Message::Pong(p)).await;
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => return Err(ConnectorError::Temporary("socket closed".into())),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(ConnectorError::Temporary(format!("socket: {e}"))),
                };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                match frame["type"].as_str() {
                    Some("hello") => login.bridge.report_state(&login.login, RemoteState::Connected),
                    Some("disconnect") => return Ok(()),
                    _ => {
                        let Some(envelope_id) = frame["envelope_id"].as_str() else { continue };
                        let Ok(place) = login.backlog.take(&frame["payload"]["event"]) else {
                            // Left unacknowledged; the catch-up after the backlog finds it.
                            return Ok(());
                        };
                        if let Some(work) = login.accept_envelope(envelope_id.to_owned(), &frame, ack_tx.clone(), place) {
                            lanes.push(&frame["payload"]["event"], work);
                        }
                    }
                }
            }
        }
    }
}
