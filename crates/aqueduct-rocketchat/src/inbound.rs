//! Live messages, deletions and the catch-up of newly joined rooms, handled off the realtime
//! loop. Handling a message can take long (its files are downloaded before it is queued), and
//! the loop must keep answering the server's pings meanwhile, or the server drops the
//! connection. So the loop only hands each change over, and one worker per login handles
//! them in arrival order: a message after a file still reaches the engine's per-portal queue
//! after the file.
//!
//! **Bounded.** At most `realtime_backlog` messages (config) from the worker wait in the
//! engine's queues to reach Matrix, and as many changes wait for the worker. When Matrix is
//! slow or down and a busy server keeps pushing, further live changes are not kept in memory: they are dropped, and once the worker has handled what waits, it fetches them
//! again from the rooms' history, exactly as after a lost connection (from each room's
//! checkpoint, which only moves past bridged messages). Until then every live change is
//! dropped, so none can overtake the ones being fetched again.

use crate::api::RocketLogin;
use serde_json::Value;
use std::sync::Weak;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc::error::TryRecvError;
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

/// The login's end of its worker: where changes go, and how many wait.
#[derive(Default)]
pub(crate) struct InboundQueue {
    sender: Option<UnboundedSender<Inbound>>,
    /// Changes handed over and not yet taken by the worker (shared with it).
    waiting: std::sync::Arc<AtomicUsize>,
    /// Live changes were dropped since the worker last caught up.
    overflowed: bool,
}

impl RocketLogin {
    /// Hands a change to the login's worker, starting it if it is not running; drops a live
    /// change while the backlog is full (see the module docs).
    pub(crate) fn hand_over(&self, change: Inbound) {
        let mut queue = self.inbound.lock().expect("inbound");
        let live = !matches!(change, Inbound::CatchUp { .. });
        let limit = self.config.realtime_backlog.max(1);
        if live && (queue.overflowed || queue.waiting.load(Ordering::SeqCst) >= limit) {
            if !queue.overflowed {
                queue.overflowed = true;
                tracing::warn!(
                    login = %self.login,
                    limit,
                    "Rocket.Chat changes arrive faster than they are bridged; live ones are fetched again from history once the backlog is handled"
                );
                // What the catch-up of changes (edits, deletes) starts from.
                self.note_changes_missed();
            }
            return;
        }
        queue.waiting.fetch_add(1, Ordering::SeqCst);
        let change = match queue.sender.as_ref() {
            Some(t) => match t.send(change) {
                Ok(()) => return,
                Err(back) => back.0,
            },
            None => change,
        };
        let (new_tx, rx) = unbounded_channel();
        let _ = new_tx.send(change);
        queue.sender = Some(new_tx);
        tokio::spawn(work(self.me.clone(), rx, queue.waiting.clone(), limit));
    }

    /// Whether live changes were dropped; clears the mark, so changes pushed from now on are
    /// kept again (behind the catch-up the caller is about to run).
    fn take_overflow(&self) -> bool {
        std::mem::take(&mut self.inbound.lock().expect("inbound").overflowed)
    }
}

/// Handles the changes one after the other until the login is dropped.
async fn work(
    login: Weak<RocketLogin>,
    mut changes: UnboundedReceiver<Inbound>,
    waiting: std::sync::Arc<AtomicUsize>,
    limit: usize,
) {
    // Messages handed to the engine and not yet in Matrix: the worker waits for room here,
    // so its own backlog fills up (and overflows) instead of the engine's queues.
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(limit));
    loop {
        let change = match changes.try_recv() {
            Ok(change) => change,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                // Everything that waited is handled: fetch what was dropped meanwhile.
                if let Some(login) = login.upgrade()
                    && login.take_overflow()
                {
                    login.catch_up_dropped().await;
                    continue;
                }
                match changes.recv().await {
                    Some(change) => change,
                    None => return,
                }
            }
        };
        waiting.fetch_sub(1, Ordering::SeqCst);
        let Some(login) = login.upgrade() else { return };
        match change {
            Inbound::Message(m) => {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return; // never closed
                };
                let receipt = login.handle_message(&m).await;
                let retry = m["rid"]
                    .as_str()
                    .map(|rid| (std::sync::Arc::downgrade(&login), rid.to_owned()));
                let since = crate::convert::ts_millis(&m) - 1;
                tokio::spawn(async move {
                    let _in_flight = permit;
                    match receipt.await {
                        Ok(()) | Err(aqueduct_core::Error::ShuttingDown) => {}
                        // Not in Matrix: the checkpoint stays, and the room is fetched again
                        // shortly (a new portal's room has no checkpoint to catch up from).
                        Err(e) => {
                            tracing::warn!(error = %e, "Rocket.Chat message not bridged; trying again shortly");
                            drop(_in_flight);
                            if let Some((login, rid)) = retry {
                                crate::catch_up::retry_room_since(login, rid, since).await;
                            }
                        }
                    }
                });
            }
            Inbound::Delete { rid, id } => login.handle_delete(&rid, &id).await,
            Inbound::CatchUp { rid, t, since } => login.catch_up_room_since(&rid, &t, since).await,
        }
    }
}
