//! Socket Mode: open a connection with the app-level token, acknowledge each envelope by the
//! rules of [`crate::acks`] (once its event is in Matrix, or within Slack's 3 s when the
//! catch-up would find it), reconnect on `disconnect` or loss, and catch up from the
//! per-channel checkpoints through `conversations.history` on every connection (after a
//! reconnect or a restart).

use crate::api::SlackLogin;
use aqueduct_core::connector::{ConnectorError, RemoteState};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Runs Socket Mode until the task is aborted or the credentials fail.
pub(crate) async fn run(login: Arc<SlackLogin>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        login
            .bridge
            .report_state(&login.login, RemoteState::Connecting);
        match connect_once(&login).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(ConnectorError::BadCredentials(reason)) => {
                login
                    .bridge
                    .report_state(&login.login, RemoteState::BadCredentials(reason));
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Slack socket lost; reconnecting");
                login.bridge.report_state(
                    &login.login,
                    RemoteState::TransientDisconnect(e.to_string()),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// One connection, from `apps.connections.open` to its end. `Ok` when Slack asked for a
/// reconnect, `Err` when the connection failed.
async fn connect_once(login: &Arc<SlackLogin>) -> Result<(), ConnectorError> {
    let opened = login.app.call("apps.connections.open", &[]).await?;
    let url = opened["url"]
        .as_str()
        .ok_or_else(|| ConnectorError::Temporary("apps.connections.open returned no url".into()))?;
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| ConnectorError::Temporary(format!("socket: {e}")))?;
    let (mut write, mut read) = socket.split();
    // Acks come back from receipt tasks in any order; one writer sends them.
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<String>();
    // After a reconnect or a restart, bridge what arrived meanwhile (a fresh login has no
    // checkpoints, so nothing to do).
    login.catch_up().await;
    loop {
        tokio::select! {
            Some(envelope_id) = ack_rx.recv() => {
                let ack = json!({ "envelope_id": envelope_id }).to_string();
                write.send(Message::Text(ack.into())).await.map_err(|e| ConnectorError::Temporary(format!("socket write: {e}")))?;
            }
            frame = read.next() => {
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
                        if let Some(envelope_id) = frame["envelope_id"].as_str() {
                            login.handle_envelope(envelope_id.to_owned(), &frame, ack_tx.clone()).await;
                        }
                    }
                }
            }
        }
    }
}
