//! From the durable inbox into the portal queues, and what happens to an event that cannot be
//! handled.
//!
//! - **Backpressure.** The drainer reads the inbox only while fewer than
//!   [`Inner::max_queued_matrix`] Matrix events wait in queues. The inbox is durable, so an
//!   event left there while the queues are full is only late, never lost; memory stays bounded
//!   however large the backlog (a long downtime, a flood).
//! - **Supervision.** The drainer runs under [`Inner::supervise_inbox`]: if it panics it is
//!   logged, counted and restarted from the last event it queued, never silently gone.
//! - **Dead letters.** An event whose handling panics is tried again, up to [`MAX_ATTEMPTS`]
//!   in all; one that crashes the whole process (a stack overflow in a converter, an abort)
//!   would otherwise be replayed at every start and crash it again. So an event left from
//!   before a restart durably counts an attempt right before its handling starts, and one that
//!   already used its attempts goes to the `dead_letter` table, with a notice in its room
//!   that names the reason, never the event's content. Events received during the current run
//!   pay nothing extra unless their handling fails. A try that met a failure of the bridge's
//!   own database is not an attempt: the event waits at the head of its queue until the
//!   database answers (a restart of it must not set messages aside), and one whose attempt
//!   cannot be counted is not tried until it can.
//!
//! - **Replays may have been sent.** An event left from before a restart, or handled again
//!   after a panic, may have reached the platform before the bridge stopped (between the
//!   platform's answer and storing the mapping). Its message goes to the connector with
//!   [`crate::event::MatrixMessage::maybe_sent_before`] set, so a platform without
//!   idempotency keys (Slack) looks for the earlier delivery instead of posting twice.
//!
//! Failures the handlers already turn into notices (a platform refusing a message) count as
//! handled: retrying them would repeat the notice, not bridge the message.

use crate::bridge::{Inner, Job};
use crate::queue::{QueueKey, panic_message};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Attempts at handling one Matrix event before it is set aside.
pub const MAX_ATTEMPTS: i64 = 3;
/// Default bound on Matrix events queued at once (see [`crate::Bridge::set_max_queued_matrix_events`]).
pub const DEFAULT_MAX_QUEUED_MATRIX_EVENTS: usize = 1000;
/// Most inbox rows read at once.
const PAGE: usize = 500;
/// `Inner::replay_until` before the drainer has looked at the inbox.
pub(crate) const REPLAY_UNKNOWN: i64 = i64::MIN;

/// Decrements the queued-Matrix-events count when a Matrix job ends, however it ends.
pub(crate) struct QueuedMatrixEvent(pub(crate) Arc<Inner>);

impl Drop for QueuedMatrixEvent {
    fn drop(&mut self) {
        self.0.matrix_queued.fetch_sub(1, Ordering::SeqCst);
        self.0.engine.matrix_queued.dec();
        self.0.matrix_freed.notify_one();
    }
}

impl Inner {
    /// Runs the inbox drainer until shutdown, restarting it if it dies.
    pub(crate) async fn supervise_inbox(self: Arc<Self>) {
        let mut delay = Duration::from_millis(100);
        loop {
            let inner = self.clone();
            match tokio::spawn(async move { inner.drain_inbox().await }).await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    let message = panic_message(e.into_panic().as_ref());
                    tracing::error!(
                        panic = message,
                        "the Matrix inbox reader panicked; restarting it"
                    );
                    self.engine
                        .task_restarts
                        .with_label_values(&["inbox"])
                        .inc();
                    // Not in a tight loop if it panics at once again.
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                // Cancelled: the runtime is going away.
                Err(_) => return,
            }
        }
    }

    /// How many more Matrix events may be queued now.
    fn matrix_room_left(&self) -> usize {
        let queued = self.matrix_queued.load(Ordering::SeqCst).max(0) as usize;
        self.max_queued_matrix
            .load(Ordering::SeqCst)
            .saturating_sub(queued)
    }

    /// Feeds inbox events to their queues, oldest first, until shutdown.
    async fn drain_inbox(self: &Arc<Self>) {
        loop {
            if self.is_shutting_down() {
                return;
            }
            let wakeup = self.inbox_wakeup.notified();
            let freed = self.matrix_freed.notified();
            let room = self.matrix_room_left();
            if room == 0 {
                // The queues are full: wait for a handled event (the timeout covers a wake-up
                // lost between the check and the wait).
                let _ = tokio::time::timeout(Duration::from_secs(5), freed).await;
                continue;
            }
            if self.replay_until.load(Ordering::SeqCst) == REPLAY_UNKNOWN {
                match self.store.inbox_last_seq().await {
                    Ok(last) => self.replay_until.store(last.unwrap_or(0), Ordering::SeqCst),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the Matrix inbox; retrying");
                        let _ = tokio::time::timeout(Duration::from_secs(5), wakeup).await;
                        continue;
                    }
                }
            }
            let after = self.inbox_cursor.load(Ordering::SeqCst);
            match self.store.pending_inbox(after, room.min(PAGE) as i64).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        let key = match &row.room_id {
                            Some(room) => self.queue_key_for_room(room).await,
                            None => QueueKey::Room(String::new()),
                        };
                        self.matrix_queued.fetch_add(1, Ordering::SeqCst);
                        self.engine.matrix_queued.inc();
                        self.inbox_cursor.store(row.seq, Ordering::SeqCst);
                        self.queue(
                            key,
                            Job::Matrix {
                                seq: row.seq,
                                room: row.room_id,
                                json: row.json,
                                attempts: row.attempts,
                            },
                        );
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot read the Matrix inbox; retrying"),
            }
            // The timeout covers a wake-up lost between the read and the wait.
            let _ = tokio::time::timeout(Duration::from_secs(5), wakeup).await;
        }
    }

    /// Handles one inbox event in its queue: counts attempts where needed, catches panics,
    /// acknowledges it once handled, or sets it aside once it used [`MAX_ATTEMPTS`].
    pub(crate) async fn handle_inbox_event(
        self: &Arc<Self>,
        seq: i64,
        room: Option<&str>,
        json: &str,
        mut attempts: i64,
    ) {
        // An event from before this run may have been under way when the bridge stopped:
        // count each attempt before it starts, so a crash counts too.
        let mut count_before = seq <= self.replay_until.load(Ordering::SeqCst);
        // Whether the next try is a new attempt still to be counted. A try that met a
        // database failure is not one: the event is not at fault, and a database outage
        // must not use up its attempts and set it aside.
        let mut uncounted = count_before;
        let mut last_panic: Option<String> = None;
        // Set once the bridge's database failed during a try: the event may have reached the
        // platform before the failure (storing the mapping comes after the send).
        let mut store_failed = false;
        let mut store_wait = Duration::from_millis(100);
        let mut count_wait = Duration::from_millis(100);
        loop {
            if self.is_shutting_down() {
                return; // stays in the inbox for the next start
            }
            if attempts >= MAX_ATTEMPTS {
                self.set_aside(seq, room, attempts, last_panic.as_deref())
                    .await;
                return;
            }
            if count_before && uncounted {
                match self.store.count_inbox_attempt(seq).await {
                    Ok(0) => return, // no longer in the inbox
                    Ok(n) => {
                        attempts = n;
                        uncounted = false;
                    }
                    Err(e) => {
                        // Not tried uncounted: if this event is what crashes the process, a
                        // try the count does not know of would let it crash every start.
                        // The database is waited for, as a failure during the try would be.
                        tracing::warn!(error = %e, seq, "cannot count an attempt at an inbox event yet; waiting for the database");
                        tokio::time::sleep(count_wait).await;
                        count_wait = (count_wait * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            // Replayed from before this run, or tried already in it: the platform may have
            // the message already, which a connector without idempotency keys must check.
            let maybe_sent_before = count_before || attempts > 0 || store_failed;
            match AssertUnwindSafe(self.handle_matrix_event(json, maybe_sent_before))
                .catch_unwind()
                .await
            {
                Ok(true) => {
                    // The database failed, not the event: it keeps its place at the head of
                    // its room's queue (so nothing overtakes it) until the database answers.
                    store_failed = true;
                    tokio::time::sleep(store_wait).await;
                    store_wait = (store_wait * 2).min(Duration::from_secs(5));
                }
                Ok(false) => {
                    self.acknowledge(seq).await;
                    return;
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    self.engine.job_panics.inc();
                    tracing::error!(
                        seq,
                        room,
                        panic = message,
                        "handling a Matrix event panicked"
                    );
                    last_panic = Some(message);
                    if !count_before {
                        attempts = match self.store.count_inbox_attempt(seq).await {
                            Ok(0) => return,
                            Ok(n) => n,
                            // A panic is the event's own failure: it counts, durably or not.
                            Err(_) => attempts + 1,
                        };
                        count_before = true;
                    }
                    // From now on each try is counted before it starts.
                    uncounted = true;
                }
            }
        }
    }

    /// Removes a handled event from the inbox. A database that does not answer is waited for
    /// a while (a restart takes seconds); after that the event stays in the inbox and is
    /// handled again at the next start (a replay the connectors recognise).
    async fn acknowledge(&self, seq: i64) {
        let mut wait = Duration::from_millis(100);
        for _ in 0..10 {
            match self.store.ack_inbox(seq).await {
                Ok(()) => return,
                Err(e) if !self.is_shutting_down() => {
                    tracing::warn!(error = %e, seq, "cannot acknowledge an inbox event yet; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(_) => break,
            }
        }
        tracing::error!(
            seq,
            "cannot acknowledge an inbox event; it will be handled again after restart"
        );
    }

    /// Moves an event that used its attempts to the dead letters and says so in its room.
    async fn set_aside(
        self: &Arc<Self>,
        seq: i64,
        room: Option<&str>,
        attempts: i64,
        panic: Option<&str>,
    ) {
        // The stored reason may carry the panic's message (the operator's view, next to the
        // event itself); the room's notice never does, since it might quote the content.
        let (stored, shown) = match panic {
            Some(message) => (
                format!("handling it panicked: {message}"),
                "the bridge failed unexpectedly while handling it",
            ),
            None => (
                "the bridge stopped while handling it (a crash?)".to_owned(),
                "the bridge stopped while handling it",
            ),
        };
        let mut wait = Duration::from_millis(100);
        loop {
            match self.store.dead_letter_inbox(seq, &stored).await {
                Ok(_) => break,
                // Left in the inbox: the next start tries again to set it aside.
                Err(e) if self.is_shutting_down() => {
                    tracing::error!(error = %e, seq, "cannot set aside a failing inbox event; the next start will");
                    return;
                }
                Err(e) => {
                    // The drainer has moved past it, so giving up here would strand it
                    // until the next start: wait for the database.
                    tracing::warn!(error = %e, seq, "cannot set aside a failing inbox event yet; waiting for the database");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.engine.dead_letters.inc();
        tracing::error!(
            seq,
            room,
            attempts,
            reason = stored,
            "a Matrix event was set aside in the dead letters"
        );
        if let Some(room) = room {
            self.notice(
                room,
                &format!(
                    "⚠️ a message could not be bridged after {attempts} attempts and was set aside: {shown}"
                ),
            )
            .await;
        }
    }
}
