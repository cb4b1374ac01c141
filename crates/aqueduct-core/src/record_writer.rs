//! Records of messages bridged into Matrix, written behind the portal queues.
//!
//! Once Synapse has accepted a message, the portal's next message need not wait for the
//! record's commit: it is a different message. So a record goes to one writer task, which
//! commits whatever has gathered in one transaction (one fsync for a burst of messages over
//! many portals), and the portal queue moves on at once.
//!
//! What keeps this as safe as writing inline:
//! - A connector is told an event is done (and may checkpoint past it) only once its records
//!   are committed: [`RecordWriter::committed`].
//! - A job that reads records (an edit, a reply, a reaction, anything from Matrix) first
//!   waits for every record issued before it: [`RecordWriter::caught_up`]. A new message's
//!   own duplicate check also sees records still in flight: [`RecordWriter::is_in_flight`].
//! - A crash before the commit leaves the event unacknowledged: it is delivered again, and its
//!   resend reuses the same transaction id, as after a crash between send and record before.

use crate::audit::{AuditDraft, Crossing, MappingChange};
use crate::ids::{PortalKey, RemoteMessageId};
use crate::records::MessageRecord;
use crate::store::Store;
use futures_util::FutureExt;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Most records committed in one transaction.
const MAX_BATCH: usize = 256;
/// Failures remembered for waiters that have not looked yet; older ones are dropped.
const MAX_REMEMBERED_FAILURES: usize = 1024;

/// A record on its way to the store, with the key it is counted in flight under.
struct Queued {
    key: (PortalKey, RemoteMessageId),
    crossing: Crossing,
}

/// A position in the order records were issued in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark(u64);

/// Writes message records in issue order, in batches.
pub(crate) struct RecordWriter {
    /// Records in issue order: the n-th record sent is record number n.
    tx: mpsc::UnboundedSender<Queued>,
    state: Arc<Mutex<State>>,
    /// Every record with a number up to this one has been written (or has failed).
    done: watch::Receiver<u64>,
}

#[derive(Default)]
struct State {
    issued: u64,
    /// (portal, remote id) -> records not yet committed.
    in_flight: HashMap<(PortalKey, RemoteMessageId), usize>,
    /// Number of a record whose write failed -> why.
    failed: BTreeMap<u64, String>,
}

impl RecordWriter {
    /// A writer committing to `store`; its task runs until the writer is dropped.
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done) = watch::channel(0);
        let state = Arc::new(Mutex::new(State::default()));
        tokio::spawn(write_loop(store, rx, done_tx, state.clone()));
        Self { tx, state, done }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `record`, with its record entry, for the next commit.
    pub(crate) fn write(&self, record: MessageRecord, audit: AuditDraft) {
        let mut state = self.state();
        state.issued += 1;
        *state
            .in_flight
            .entry((record.portal.clone(), record.remote_id.clone()))
            .or_default() += 1;
        // Sent under the lock, so channel order is issue order. The receiver lives as long as
        // the writer's task, which outlives every sender.
        let _ = self.tx.send(Queued {
            key: (record.portal.clone(), record.remote_id.clone()),
            crossing: Crossing {
                mapping: MappingChange::InsertMessage(record),
                audit,
            },
        });
    }

    /// The position after every record issued so far.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.state().issued)
    }

    /// Whether a record of this remote message is issued and not yet committed.
    pub(crate) fn is_in_flight(&self, portal: &PortalKey, remote_id: &RemoteMessageId) -> bool {
        self.state()
            .in_flight
            .contains_key(&(portal.clone(), remote_id.clone()))
    }

    /// Resolves once every record issued before `upto` is written. `Err` if any record issued
    /// after `from` and up to `upto` failed; the caller's work is then not acknowledged, so it
    /// is done again (idempotently) later.
    pub(crate) async fn committed(&self, from: Mark, upto: Mark) -> Result<(), String> {
        let mut done = self.done.clone();
        // The sender lives in the writer's task, which only ends with the writer (or if it
        // died: then nothing after it was written, and saying so keeps the event unacknowledged).
        if done.wait_for(|d| *d >= upto.0).await.is_err() {
            return Err("the record writer stopped".into());
        }
        let state = self.state();
        match state.failed.range(from.0 + 1..=upto.0).next() {
            Some((_, why)) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// Resolves once every record issued so far is written (failed ones included).
    pub(crate) async fn caught_up(&self) {
        let upto = self.mark();
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d >= upto.0).await;
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    done: watch::Sender<u64>,
    state: Arc<Mutex<State>>,
) {
    let mut batch = Vec::new();
    let mut written = 0u64;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let first = written + 1;
        written += batch.len() as u64;
        let (keys, crossings): (Vec<_>, Vec<Crossing>) =
            batch.drain(..).map(|q| (q.key, q.crossing)).unzip();
        // A panic in the store must not end this task: every later waiter would then be told
        // "committed" for records never written. It counts as a failed commit instead, so the
        // events are redelivered.
        let result = match AssertUnwindSafe(insert_with_retries(store.as_ref(), &crossings))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(payload) => Err(crate::store::StoreError(format!(
                "writing records panicked: {}",
                crate::queue::panic_message(payload.as_ref())
            ))),
        };
        {
            let mut state = state.lock().expect("record writer poisoned");
            for (n, key) in (first..).zip(&keys) {
                if let Some(count) = state.in_flight.get_mut(key) {
                    *count -= 1;
                    if *count == 0 {
                        state.in_flight.remove(key);
                    }
                }
                if let Err(e) = &result {
                    state.failed.insert(n, e.to_string());
                }
            }
            while state.failed.len() > MAX_REMEMBERED_FAILURES {
                state.failed.pop_first();
            }
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, records = keys.len(), "could not record bridged messages; their events will be redelivered");
        }
        batch.clear();
        done.send_replace(written);
    }
}

/// A failed commit is tried again for up to a minute before the records are given up on: a
/// busy or briefly full disk, or a database restarting (seconds), should not cost a
/// redelivery; the portal queues go on meanwhile.
async fn insert_with_retries(
    store: &dyn Store,
    crossings: &[Crossing],
) -> crate::store::StoreResult<()> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match store.record_crossings(crossings).await {
            Err(e) if started.elapsed() < std::time::Duration::from_secs(60) => {
                tracing::warn!(error = %e, attempt, "recording bridged messages failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
                attempt += 1;
            }
            result => return result,
        }
    }
}
