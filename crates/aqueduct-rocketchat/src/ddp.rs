//! The realtime API: DDP over a websocket. Connect, log in with the resume token, subscribe to
//! each room's messages (`stream-room-messages`) and deletions (`stream-notify-room`
//! `<rid>/deleteMessage`) and to the user's subscription changes (`stream-notify-user`
//! `<uid>/subscriptions-changed`, for rooms joined later), answer the server's pings, and on
//! any loss reconnect with backoff and catch up through the history endpoints from each
//! room's checkpoint (on every connection: after a reconnect or a restart).

use crate::api::RocketLogin;
use crate::inbound::Inbound;
use aqueduct_core::connector::{ConnectorError, RemoteState};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Silence after which the connection is taken for dead (the server pings every ~25 s).
const SILENCE_LIMIT: Duration = Duration::from_secs(70);
/// Longest wait for the websocket to open (TCP, TLS and the upgrade).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the server to confirm a connection's subscriptions.
const SUBSCRIBED_WAIT: Duration = Duration::from_secs(10);

/// Runs the realtime connection until the task is aborted or the credentials fail.
pub(crate) async fn run(login: Arc<RocketLogin>) {
    aqueduct_connector::reconnect::supervise(
        &*login.bridge,
        &login.login,
        "Rocket.Chat realtime connection",
        &*login,
        || connect_once(&login),
    )
    .await;
}

impl aqueduct_connector::reconnect::ConnectionHooks for RocketLogin {
    fn lost(&self, _error: &ConnectorError) {
        // The catch-up after the reconnect starts from the moment the connection was lost.
        self.note_connection_lost();
    }
}

fn temporary(what: &str) -> impl Fn(tokio_tungstenite::tungstenite::Error) -> ConnectorError + '_ {
    move |e| ConnectorError::Temporary(format!("{what}: {e}"))
}

struct Connection {
    write: SplitSink<Socket, Message>,
    read: SplitStream<Socket>,
    next_id: u64,
}

impl Connection {
    async fn send(&mut self, frame: Value) -> Result<(), ConnectorError> {
        self.write
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(temporary("realtime write"))
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// The next DDP frame, answering pings on the way. `Err` when the socket closed or was
    /// silent too long.
    async fn next(&mut self) -> Result<Value, ConnectorError> {
        loop {
            let frame = tokio::time::timeout(SILENCE_LIMIT, self.read.next())
                .await
                .map_err(|_| ConnectorError::Temporary("realtime connection silent".into()))?;
            let text = match frame {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Ping(p))) => {
                    let _ = self.write.send(Message::Pong(p)).await;
                    continue;
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err(ConnectorError::Temporary("realtime socket closed".into()));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(temporary("realtime socket")(e)),
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if frame["msg"] == "ping" {
                let mut pong = json!({ "msg": "pong" });
                if let Some(id) = frame.get("id") {
                    pong["id"] = id.clone();
                }
                self.send(pong).await?;
                continue;
            }
            return Ok(frame);
        }
    }

    /// Waits for the answer to method call `id`, keeping other frames for later.
    async fn result(&mut self, id: &str, held: &mut Vec<Value>) -> Result<Value, ConnectorError> {
        loop {
            let frame = self.next().await?;
            if frame["msg"] == "result" && frame["id"] == id {
                return Ok(frame);
            }
            held.push(frame);
        }
    }

    /// Subscribes to `name` with `param`; returns the subscription's id.
    async fn sub(&mut self, name: &str, param: &str) -> Result<String, ConnectorError> {
        let id = self.id();
        self.send(json!({ "msg": "sub", "id": id, "name": name, "params": [param, false] }))
            .await?;
        Ok(id)
    }

    /// Subscribes to one room's messages, deletions and typing; returns the subscriptions'
    /// ids.
    async fn sub_room(&mut self, rid: &str) -> Result<Vec<String>, ConnectorError> {
        Ok(vec![
            self.sub("stream-room-messages", rid).await?,
            self.sub("stream-notify-room", &format!("{rid}/deleteMessage"))
                .await?,
            self.sub("stream-notify-room", &format!("{rid}/user-activity"))
                .await?,
        ])
    }

    /// Waits until the server answered every subscription of `ids` (`ready`, or `nosub` for
    /// one it refused, which `dispatch` logs), keeping other frames for later, for at most
    /// [`SUBSCRIBED_WAIT`]: from then on every message of those rooms is pushed.
    async fn subscribed(
        &mut self,
        ids: Vec<String>,
        held: &mut Vec<Value>,
    ) -> Result<(), ConnectorError> {
        let mut waiting: std::collections::HashSet<String> = ids.into_iter().collect();
        let deadline = tokio::time::Instant::now() + SUBSCRIBED_WAIT;
        while !waiting.is_empty() {
            let Ok(frame) = tokio::time::timeout_at(deadline, self.next()).await else {
                tracing::warn!(
                    unanswered = waiting.len(),
                    "Rocket.Chat did not confirm every realtime subscription in time; going on"
                );
                return Ok(());
            };
            let frame = frame?;
            match frame["msg"].as_str() {
                Some("ready") => {
                    for id in frame["subs"].as_array().into_iter().flatten() {
                        if let Some(id) = id.as_str() {
                            waiting.remove(id);
                        }
                    }
                }
                Some("nosub") => {
                    if let Some(id) = frame["id"].as_str() {
                        waiting.remove(id);
                    }
                    held.push(frame);
                }
                _ => held.push(frame),
            }
        }
        Ok(())
    }
}

/// One connection, from the websocket handshake to its loss.
async fn connect_once(login: &Arc<RocketLogin>) -> Result<(), ConnectorError> {
    let url = login.config.websocket_url();
    // A server that accepts TCP but never completes the handshake must not hang the login.
    let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(&url))
        .await
        .map_err(|_| {
            ConnectorError::Temporary(format!(
                "realtime connect: not open after {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(temporary("realtime connect"))?;
    let (write, read) = socket.split();
    let mut conn = Connection {
        write,
        read,
        next_id: 0,
    };
    conn.send(json!({ "msg": "connect", "version": "1", "support": ["1"] }))
        .await?;
    let mut held = Vec::new();
    loop {
        let frame = conn.next().await?;
        match frame["msg"].as_str() {
            Some("connected") => break,
            Some("failed") => {
                return Err(ConnectorError::Temporary(format!(
                    "the server refused DDP version 1: {frame}"
                )));
            }
            _ => {}
        }
    }
    let login_id = conn.id();
    conn.send(json!({ "msg": "method", "method": "login", "id": login_id, "params": [{ "resume": login.rest.token() }] }))
        .await?;
    let answer = conn.result(&login_id, &mut held).await?;
    if let Some(error) = answer.get("error") {
        let reason = error["reason"]
            .as_str()
            .or(error["message"].as_str())
            .unwrap_or("login refused");
        return Err(ConnectorError::BadCredentials(format!(
            "Rocket.Chat refused the realtime login: {reason}"
        )));
    }
    // The notification stream first: a room joined from now on is announced there, one
    // joined before is in `subscriptions.get`.
    let uid = login.user_id().to_owned();
    let mut sub_ids = vec![
        conn.sub(
            "stream-notify-user",
            &format!("{uid}/subscriptions-changed"),
        )
        .await?,
    ];
    let subscriptions = login.rest.get("subscriptions.get", &[]).await?;
    let rooms: Vec<(String, String)> = subscriptions["update"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["rid"].as_str()?.to_owned(), s["t"].as_str()?.to_owned())))
        .collect();
    login
        .rooms
        .lock()
        .expect("rooms")
        .extend(rooms.iter().cloned());
    for (rid, _) in &rooms {
        sub_ids.extend(conn.sub_room(rid).await?);
    }
    conn.subscribed(sub_ids, &mut held).await?;
    login
        .bridge
        .report_state(&login.login, RemoteState::Connected);
    // What `connect` of a new login waits for (see `RocketLogin::realtime_ready`).
    login.realtime_ready.send_replace(true);
    // Subscribed first, so nothing falls between the catch-up and the live stream; what both
    // deliver, the engine and the seen-message memory skip.
    login.catch_up(&rooms).await;
    *login.lost_at.lock().expect("lost_at") = None;
    login.live.store(true, std::sync::atomic::Ordering::SeqCst);
    for frame in std::mem::take(&mut held) {
        dispatch(login, &mut conn, frame).await?;
    }
    // Method calls from the API side (typing) go out on this connection.
    let (outgoing_tx, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Value>();
    *login.outgoing.lock().expect("outgoing") = Some(outgoing_tx);
    loop {
        tokio::select! {
            Some(mut call) = outgoing.recv() => {
                call["id"] = json!(conn.id());
                conn.send(call).await?;
            }
            frame = conn.next() => dispatch(login, &mut conn, frame?).await?,
        }
    }
}

/// Handles one frame of the live stream.
async fn dispatch(
    login: &Arc<RocketLogin>,
    conn: &mut Connection,
    frame: Value,
) -> Result<(), ConnectorError> {
    match frame["msg"].as_str() {
        Some("changed") => {}
        Some("nosub") if frame.get("error").is_some() => {
            tracing::warn!(%frame, "Rocket.Chat refused a subscription");
            return Ok(());
        }
        _ => return Ok(()),
    }
    let fields = &frame["fields"];
    let event = fields["eventName"].as_str().unwrap_or_default();
    let args = &fields["args"];
    match frame["collection"].as_str() {
        // Handed over, not handled here: a file download must not hold up the pings.
        Some("stream-room-messages") => {
            for m in args.as_array().into_iter().flatten() {
                login.hand_over(Inbound::Message(m.clone()));
            }
        }
        Some("stream-notify-room") => {
            if let Some(rid) = event.strip_suffix("/deleteMessage")
                && let Some(id) = args[0]["_id"].as_str()
            {
                // Behind the messages before it, which it may delete.
                login.hand_over(Inbound::Delete {
                    rid: rid.to_owned(),
                    id: id.to_owned(),
                });
            } else if let Some(rid) = event.strip_suffix("/user-activity")
                && let Some(username) = args[0].as_str()
            {
                let typing = args[1]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "user-typing"));
                login.handle_typing(rid, username, typing).await;
            }
        }
        Some("stream-notify-user") if event.ends_with("/subscriptions-changed") => {
            let sub = &args[1];
            if args[0] == "inserted"
                && let (Some(rid), Some(t)) = (sub["rid"].as_str(), sub["t"].as_str())
            {
                let new = login
                    .rooms
                    .lock()
                    .expect("rooms")
                    .insert(rid.to_owned(), t.to_owned())
                    .is_none();
                if new {
                    conn.sub_room(rid).await?;
                    // What was said between the join and the subscription, fetched by the
                    // worker (it may download files), ahead of the room's live messages.
                    login.hand_over(Inbound::CatchUp {
                        rid: rid.to_owned(),
                        t: t.to_owned(),
                        since: crate::iso_time::millis(&sub["ts"]).unwrap_or(0),
                    });
                }
            }
        }
        _ => {}
    }
    Ok(())
}
