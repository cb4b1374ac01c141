//! Where Socket Mode envelopes are bridged: off the socket's read loop, one ordered lane per
//! conversation. Bridging an event can take long (its files are downloaded before it is
//! queued, an unknown user's profile fetched), and the read loop must keep reading, answering
//! pings and sending acknowledgements meanwhile. Events of one conversation stay in arrival
//! order (a portal's Matrix order follows it); a slow one holds up only its own conversation.
//! Workspace-wide events (no conversation: `emoji_changed`, `user_change`, `tokens_revoked`)
//! change what later events are converted with, so they keep their place in the stream as a
//! barrier: one waits for every event before it, and every event after it waits for it.

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc, oneshot};

/// Resolves once a job is done (or dropped).
type Done = Shared<oneshot::Receiver<()>>;

/// The lanes of one app login, kept across reconnections.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: HashMap<String, mpsc::UnboundedSender<BoxFuture<'static, ()>>>,
    busy: Arc<Busy>,
    /// The latest workspace-wide job, which conversation jobs given after it wait for.
    last_global: Option<Done>,
    /// Conversation jobs given since the latest workspace-wide job, which the next one waits
    /// for (finished ones are dropped from the list as it grows).
    since_global: Vec<Done>,
}

#[derive(Default)]
struct Busy {
    jobs: AtomicUsize,
    idle: Notify,
}

impl Lanes {
    /// Runs `job` after the jobs already given for `event`'s conversation, or after every job
    /// already given when `event` belongs to no conversation (and before any given later).
    pub(crate) fn push(&mut self, event: &Value, job: BoxFuture<'static, ()>) {
        let key = conversation(event);
        let (finished, done) = oneshot::channel::<()>();
        let done = done.shared();
        let waits: Vec<Done> = if key.is_empty() {
            let mut before = std::mem::take(&mut self.since_global);
            before.extend(self.last_global.replace(done));
            before
        } else {
            self.since_global.retain(|d| d.peek().is_none());
            self.since_global.push(done);
            self.last_global.iter().cloned().collect()
        };
        let job: BoxFuture<'static, ()> = Box::pin(async move {
            for earlier in waits {
                let _ = earlier.await;
            }
            job.await;
            let _ = finished.send(());
        });
        self.busy.jobs.fetch_add(1, Ordering::SeqCst);
        let lane = self
            .lanes
            .entry(key)
            .or_insert_with(|| spawn_lane(self.busy.clone()));
        if let Err(mpsc::error::SendError(job)) = lane.send(job) {
            // The lane's task ended (it panicked): a new lane takes the job.
            let fresh = spawn_lane(self.busy.clone());
            let _ = fresh.send(job);
            *lane = fresh;
        }
    }

    /// Waits until every job given so far is done (before a catch-up, so that what it
    /// finds is queued after the live events already under way).
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.busy.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.busy.jobs.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

fn spawn_lane(busy: Arc<Busy>) -> mpsc::UnboundedSender<BoxFuture<'static, ()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<BoxFuture<'static, ()>>();
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            job.await;
            if busy.jobs.fetch_sub(1, Ordering::SeqCst) == 1 {
                busy.idle.notify_waiters();
            }
        }
    });
    tx
}

/// The conversation an event belongs to: `channel` (a string, or an object with an `id` as
/// in `channel_created`), a reaction's `item.channel`, or none (workspace-wide events, empty).
fn conversation(event: &Value) -> String {
    event["channel"]
        .as_str()
        .or(event["channel"]["id"].as_str())
        .or(event["item"]["channel"].as_str())
        .or(event["channel_id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_slow_job_holds_up_only_its_own_conversation() {
        let mut lanes = Lanes::default();
        let (done_tx, mut done) = mpsc::unbounded_channel::<&'static str>();
        let d = done_tx.clone();
        lanes.push(
            &json!({"channel": "C1"}),
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let _ = d.send("slow C1");
            }),
        );
        let d = done_tx.clone();
        lanes.push(
            &json!({"channel": "C1"}),
            Box::pin(async move {
                let _ = d.send("after slow C1");
            }),
        );
        let d = done_tx.clone();
        lanes.push(
            &json!({"type": "reaction_added", "item": {"channel": "C2"}}),
            Box::pin(async move {
                let _ = d.send("C2");
            }),
        );
        assert_eq!(done.recv().await, Some("C2"));
        assert_eq!(done.recv().await, Some("slow C1"));
        assert_eq!(done.recv().await, Some("after slow C1"));
        tokio::time::timeout(Duration::from_secs(1), lanes.idle())
            .await
            .expect("idle once every job is done");
    }

    #[tokio::test(start_paused = true)]
    async fn a_workspace_wide_event_keeps_its_place_in_the_stream() {
        let mut lanes = Lanes::default();
        let (done_tx, mut done) = mpsc::unbounded_channel::<&'static str>();
        let d = done_tx.clone();
        lanes.push(
            &json!({"channel": "C1"}),
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let _ = d.send("slow C1");
            }),
        );
        let d = done_tx.clone();
        lanes.push(
            &json!({"type": "emoji_changed"}),
            Box::pin(async move {
                let _ = d.send("emoji changed");
            }),
        );
        let d = done_tx.clone();
        lanes.push(
            &json!({"channel": "C2"}),
            Box::pin(async move {
                let _ = d.send("C2 after the change");
            }),
        );
        assert_eq!(done.recv().await, Some("slow C1"));
        assert_eq!(done.recv().await, Some("emoji changed"));
        assert_eq!(done.recv().await, Some("C2 after the change"));
    }
}
