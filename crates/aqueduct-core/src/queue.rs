//! One ordered queue per portal (or per non-portal room), each drained by its own task, so
//! portals progress concurrently while each one stays in order.

use crate::ids::PortalKey;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
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

/// A set of ordered queues of jobs `J`, each drained by a task running `handler`.
pub struct Queues<J> {
    senders: Mutex<HashMap<QueueKey, mpsc::UnboundedSender<J>>>,
    in_flight: Arc<(AtomicI64, Notify)>,
    handler: JobHandler<J>,
}

/// Runs one job to completion.
pub type JobHandler<J> = Arc<dyn Fn(J) -> BoxFuture<'static, ()> + Send + Sync>;

impl<J: Send + 'static> Queues<J> {
    /// Queues whose jobs are run by `handler`.
    pub fn new(handler: JobHandler<J>) -> Self {
        Self {
            senders: Mutex::new(HashMap::new()),
            in_flight: Arc::new((AtomicI64::new(0), Notify::new())),
            handler,
        }
    }

    /// Appends `job` to the queue for `key`, starting its task on first use.
    /// Jobs pushed for one key run one at a time in push order.
    pub fn push(&self, key: QueueKey, job: J) {
        self.in_flight.0.fetch_add(1, Ordering::SeqCst);
        let mut senders = self.senders.lock().expect("queue map poisoned");
        let tx = senders.entry(key).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<J>();
            let counter = self.in_flight.clone();
            let handler = self.handler.clone();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    handler(job).await;
                    if counter.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                        counter.1.notify_waiters();
                    }
                }
            });
            tx
        });
        // The receiver lives as long as its task, which only ends when the sender is dropped.
        let _ = tx.send(job);
    }

    /// Jobs pushed and not yet finished.
    pub fn depth(&self) -> i64 {
        self.in_flight.0.load(Ordering::SeqCst)
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
}
