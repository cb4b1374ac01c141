//! Live messages, deletions and the catch-up of newly joined rooms, handled off the realtime
//! loop. Handling a message can take long (its files are downloaded before it is queued), and
//! the loop must keep answering the server's pings meanwhile, or the server drops the
//! connection. So the loop only hands each change over, and one worker per login handles
//! them in arrival order: a message after a file still reaches the engine's per-portal queue
//! after the file.

use crate::api::RocketLogin;
use serde_json::Value;
use std::sync::Weak;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A change pushed on the realtime stream.
pub(crate) enum Inbound {
    /// A new or changed message (`stream-room-messages`).
    Message(Value),
    /// A deleted message (`<rid>/deleteMessage`).
    Delete { rid: String, id: String },
    /// A room joined while connected, whose messages since `since` (milliseconds) are
    /// fetched from its history.
    CatchUp { rid: String, t: String, since: i64 },
}

/// The worker's end, kept by the login.
pub(crate) type InboundSender = UnboundedSender<Inbound>;

impl RocketLogin {
    /// Hands a change to the login's worker, starting it if it is not running.
    pub(crate) fn hand_over(&self, change: Inbound) {
        let mut tx = self.inbound.lock().expect("inbound");
        let change = match tx.as_ref() {
            Some(t) => match t.send(change) {
                Ok(()) => return,
                Err(back) => back.0,
            },
            None => change,
        };
        let (new_tx, rx) = unbounded_channel();
        let _ = new_tx.send(change);
        *tx = Some(new_tx);
        tokio::spawn(work(self.me.clone(), rx));
    }
}

/// Handles the changes one after the other until the login is dropped.
async fn work(login: Weak<RocketLogin>, mut changes: UnboundedReceiver<Inbound>) {
    while let Some(change) = changes.recv().await {
        let Some(login) = login.upgrade() else { return };
        match change {
            Inbound::Message(m) => {
                let receipt = login.handle_message(&m).await;
                tokio::spawn(async move {
                    match receipt.await {
                        Ok(()) | Err(aqueduct_core::Error::ShuttingDown) => {}
                        // Not in Matrix: the checkpoint stays, so the next catch-up tries
                        // again.
                        Err(e) => tracing::warn!(error = %e, "Rocket.Chat message not bridged"),
                    }
                });
            }
            Inbound::Delete { rid, id } => login.handle_delete(&rid, &id).await,
            Inbound::CatchUp { rid, t, since } => login.catch_up_room_since(&rid, &t, since).await,
        }
    }
}
