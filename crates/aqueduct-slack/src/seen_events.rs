//! A bounded memory of Events API deliveries by `event_id`, so a retry of an event that is
//! already bridged, or still being bridged, is not bridged a second time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::watch;

/// How many events are remembered. Slack retries within about 6 minutes (3 retries: at once,
/// after 1 minute, after 5 minutes), and delivers at most 30,000 events an hour per
/// workspace, so this covers several minutes of a busy workspace.
pub(crate) const REMEMBERED_EVENTS: usize = 10_000;

/// How a delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// In Matrix, or failed for good (retrying cannot help): answer 200.
    Settled,
    /// Failed for a reason that may pass: answer 5xx so Slack retries.
    Transient,
}

/// The state of one delivery: `None` while in flight.
pub(crate) type OutcomeWatch = watch::Receiver<Option<Outcome>>;

/// What [`SeenEvents::claim`] found.
pub(crate) enum Claim {
    /// First sight: the caller bridges the event and reports through the sender.
    New(watch::Sender<Option<Outcome>>),
    /// Already bridged or in flight.
    Seen(OutcomeWatch),
}

/// Events by key (team and event id), oldest first for eviction.
pub(crate) struct SeenEvents {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<String, OutcomeWatch>,
    order: VecDeque<String>,
}

impl SeenEvents {
    /// A memory of at most `capacity` settled events (events in flight are never forgotten).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Claims `key` for bridging, or returns the delivery already made.
    pub fn claim(&self, key: &str) -> Claim {
        let mut inner = self.lock();
        if let Some(seen) = inner.by_key.get(key) {
            return Claim::Seen(seen.clone());
        }
        let (tx, rx) = watch::channel(None);
        inner.by_key.insert(key.to_owned(), rx);
        inner.order.push_back(key.to_owned());
        self.evict(&mut inner);
        Claim::New(tx)
    }

    /// Forgets `key`, so the next delivery of it is bridged anew (after a transient failure).
    pub fn forget(&self, key: &str) {
        let mut inner = self.lock();
        inner.by_key.remove(key);
        inner.order.retain(|k| k != key);
    }

    /// Drops the oldest settled events beyond the capacity. An event still in flight is kept:
    /// forgetting it would let a retry bridge it twice.
    fn evict(&self, inner: &mut Inner) {
        let mut kept = Vec::new();
        while inner.by_key.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            let in_flight = inner
                .by_key
                .get(&oldest)
                .is_some_and(|w| w.borrow().is_none());
            if in_flight {
                kept.push(oldest);
            } else {
                inner.by_key.remove(&oldest);
            }
        }
        for key in kept.into_iter().rev() {
            inner.order.push_front(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(claim: Claim) {
        match claim {
            Claim::New(tx) => {
                let _ = tx.send(Some(Outcome::Settled));
            }
            Claim::Seen(_) => panic!("expected a new event"),
        }
    }

    #[test]
    fn a_second_claim_sees_the_first() {
        let seen = SeenEvents::new(10);
        let Claim::New(tx) = seen.claim("T:Ev1") else {
            panic!("first claim")
        };
        let Claim::Seen(w) = seen.claim("T:Ev1") else {
            panic!("second claim")
        };
        assert_eq!(*w.borrow(), None, "in flight");
        tx.send(Some(Outcome::Settled)).unwrap();
        assert_eq!(*w.borrow(), Some(Outcome::Settled));
    }

    #[test]
    fn a_forgotten_event_is_new_again() {
        let seen = SeenEvents::new(10);
        settle(seen.claim("T:Ev1"));
        seen.forget("T:Ev1");
        assert!(matches!(seen.claim("T:Ev1"), Claim::New(_)));
    }

    #[test]
    fn memory_is_bounded_but_keeps_events_in_flight() {
        let seen = SeenEvents::new(3);
        let Claim::New(in_flight) = seen.claim("T:first") else {
            panic!("first claim")
        };
        for i in 0..10 {
            settle(seen.claim(&format!("T:Ev{i}")));
        }
        assert_eq!(seen.len(), 3);
        assert!(matches!(seen.claim("T:first"), Claim::Seen(_)));
        assert!(
            matches!(seen.claim("T:Ev0"), Claim::New(_)),
            "oldest settled event forgotten"
        );
        drop(in_flight);
    }
}
