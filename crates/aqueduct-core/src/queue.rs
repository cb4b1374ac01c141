//! One ordered queue per portal (or per non-portal room), each drained by its own task, so
//! portals progress concurrently while each one stays in order.
//!
//! A queue's task is supervised: a job that panics is caught, reported through the panic
//! hook and counted as finished, and the queue goes on with its next job. Without this one
//! panic would end the task while its sender stayed in the map, silently dropping every later
//! job of that portal and leaving [`Queues::drained`] waiting forever.
//!
//! A queue with nothing left to do ends its task and leaves the map, so a bridge that has
//! seen many chats holds tasks only for those with work.

use crate::ids::PortalKey;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// What a queue is ordered by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueKey {
    /// A bridged chat: both directions share one queue.
    Portal(PortalKey),
    /// A Matrix room that is not a portal (management rooms).
    Room(String),
}

type Senders<J> = Arc<Mutex<HashMap<QueueKey, mpsc::UnboundedSender<J>>>>;

/// A set of ordered queues of jobs `J`, each drained by a task running `handler`.
pub struct Queues<J> {
    senders: Senders<J>,
    in_flight: Arc<(AtomicI64, Notify)>,
    handler: JobHandler<J>,
    on_panic: PanicHook,
}

/// Runs one job to completion.
pub type JobHandler<J> = Arc<dyn Fn(J) -> BoxFuture<'static, ()> + Send + Sync>;

/// Told about a job that panicked: its queue and the panic's message.
pub type PanicHook = Arc<dyn Fn(&QueueKey, &str) + Send + Sync>;

/// The message a panic carried, for logs (`"<no message>"` if it was not a string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<no message>".to_owned()
    }
}

impl<J: Send + 'static> Queues<J> {
    /// Queues whose jobs are run by `handler`; a panicking job is only logged.
    pub fn new(handler: JobHandler<J>) -> Self {
        Self::with_panic_hook(
            handler,
            Arc::new(|key, message| {
                tracing::error!(queue = ?key, panic = message, "a queued job panicked; its queue goes on");
            }),
        )
    }

    /// Queues whose jobs are run by `handler`; `on_panic` hears of every job that panicked
    /// (the queue goes on with its next job either way).
    pub fn with_panic_hook(handler: JobHandler<J>, on_panic: PanicHook) -> Self {
        Self {
            senders: Arc::new(Mutex::new(HashMap::new())),
            in_flight: Arc::new((AtomicI64::new(0), Notify::new())),
            handler,
            on_panic,
        }
    }

    /// Appends `job` to the queue for `key`, starting its task if it has none.
    /// Jobs pushed for one key run one at a time in push order.
    pub fn push(&self, key: QueueKey, job: J) {
        self.in_flight.0.fetch_add(1, Ordering::SeqCst);
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        let tx = senders.entry(key.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel::<J>();
            tokio::spawn(drain_one(
                key,
                rx,
                self.senders.clone(),
                self.in_flight.clone(),
                self.handler.clone(),
                self.on_panic.clone(),
            ));
            tx
        });
        // Sent under the map's lock: a task only leaves the map under that lock after seeing
        // its channel empty, so a job sent here is never stranded in a channel with no task.
        let _ = tx.send(job);
    }

    /// Jobs pushed and not yet finished.
    pub fn depth(&self) -> i64 {
        self.in_flight.0.load(Ordering::SeqCst)
    }

    /// How many queues have a task now (queues with work pending or running).
    pub fn active_queues(&self) -> usize {
        self.senders.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Resolves once every pushed job has finished.
    pub async fn drained(&self) {
        loop {
            let notified = self.in_flight.1.notified();
            if self.depth() <= 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Runs the jobs of one queue in order, surviving panics, until the queue is empty.
async fn drain_one<J: Send + 'static>(
    key: QueueKey,
    mut rx: mpsc::UnboundedReceiver<J>,
    senders: Senders<J>,
    counter: Arc<(AtomicI64, Notify)>,
    handler: JobHandler<J>,
    on_panic: PanicHook,
) {
    loop {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) => {
                // Empty: leave the map, unless a push slipped in before we took the lock.
                let mut map = senders.lock().unwrap_or_else(|p| p.into_inner());
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        map.remove(&key);
                        return;
                    }
                }
            }
        };
        if let Err(payload) = AssertUnwindSafe(handler(job)).catch_unwind().await {
            on_panic(&key, &panic_message(payload.as_ref()));
        }
        if counter.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            counter.1.notify_waiters();
        }
        // Let other queues' tasks run between jobs of a busy queue.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_order_per_key_and_drains() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let queues: Queues<(u32, u32)> = Queues::new(Arc::new(move |(k, i)| {
            let sink = sink.clone();
            Box::pin(async move {
                tokio::task::yield_now().await;
                sink.lock().unwrap().push((k, i));
            })
        }));
        for i in 0..50 {
            for k in 0..3 {
                queues.push(QueueKey::Room(k.to_string()), (k, i));
            }
        }
        queues.drained().await;
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 150);
        for k in 0..3 {
            let order: Vec<u32> = seen
                .iter()
                .filter(|(kk, _)| *kk == k)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(order, (0..50).collect::<Vec<_>>());
        }
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_end_its_queue() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let panics = Arc::new(Mutex::new(Vec::new()));
        let (sink, heard) = (seen.clone(), panics.clone());
        let queues: Queues<u32> = Queues::with_panic_hook(
            Arc::new(move |i| {
                let sink = sink.clone();
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    if i == 1 {
                        panic!("job {i} is poison");
                    }
                    sink.lock().unwrap().push(i);
                })
            }),
            Arc::new(move |key, message| {
                heard
                    .lock()
                    .unwrap()
                    .push((key.clone(), message.to_owned()))
            }),
        );
        let key = QueueKey::Room("!r:x".into());
        for i in 0..3 {
            queues.push(key.clone(), i);
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), queues.drained())
            .await
            .expect("drained() resolves after a panic");
        assert_eq!(*seen.lock().unwrap(), vec![0, 2]);
        assert_eq!(
            *panics.lock().unwrap(),
            vec![(key.clone(), "job 1 is poison".to_owned())]
        );
        // And the queue still takes new work.
        queues.push(key, 7);
        tokio::time::timeout(std::time::Duration::from_secs(10), queues.drained())
            .await
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![0, 2, 7]);
    }

    #[tokio::test]
    async fn idle_queues_end_their_tasks() {
        let queues: Queues<u32> = Queues::new(Arc::new(|_| Box::pin(async {})));
        for k in 0..100 {
            queues.push(QueueKey::Room(k.to_string()), k);
        }
        queues.drained().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while queues.active_queues() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} queues still hold a task",
                queues.active_queues()
            );
            tokio::task::yield_now().await;
        }
    }
}
