//! The bound on a login's live stream (`realtime_backlog`): how many events Slack delivered
//! (over Socket Mode or the Events API) may be on their way to Matrix at once.
//!
//! Slack can deliver faster than Synapse takes events (a busy workspace, a slow homeserver),
//! and every event waiting for its portal's queue costs memory. Past the bound an event is
//! not taken: it is left unacknowledged (Socket Mode: the connection is closed and opened
//! again only once the backlog is handled; Events API: a 503), and once the backlog is
//! handled the login catches up from its channels' history, as after a dropped connection.
//! A top-level message's checkpoint moves only once it is in Matrix, and the catch-up also
//! finds the edits, deletes and reactions made to recent messages, so a flood costs time,
//! not memory or messages.

use crate::checkpoints::ts_order;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An event not taken (see [`Backlog::take`]).
#[derive(Debug)]
pub(crate) struct Refused {
    /// The first refusal of this overflow: whoever gets it starts the catch-up that ends it.
    pub(crate) first: bool,
}

/// A login's places for events on their way to Matrix.
pub(crate) struct Backlog {
    places: Arc<Semaphore>,
    limit: u32,
    /// Set when an event was refused for want of a place, until the catch-up that follows
    /// the backlog's end has run: live events meanwhile are refused too, so a channel's
    /// messages reach Matrix in order.
    overflowed: AtomicBool,
    /// Events refused so far, for the log.
    refused: AtomicU64,
    /// Per channel, the oldest time stamp of an event refused since the last catch-up. The
    /// catch-up reads from there even when the channel's checkpoint is newer: Slack's Events
    /// API delivers concurrently, so a later message can reach Matrix (and move the
    /// checkpoint) while an earlier one is refused.
    refused_from: Mutex<HashMap<String, String>>,
}

impl Backlog {
    /// A backlog of at most `limit` events (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS) as u32;
        Self {
            places: Arc::new(Semaphore::new(limit as usize)),
            limit,
            overflowed: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            refused_from: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more live event, held until the event is in Matrix or failed; refused
    /// when the backlog is full or still being caught up after an overflow (the event is
    /// then not taken and the backlog marked as overflowed).
    /// `event` is the Slack event (the catch-up reads its channel from its time on).
    pub(crate) fn take(&self, event: &Value) -> Result<OwnedSemaphorePermit, Refused> {
        if !self.overflowed.load(Ordering::SeqCst)
            && let Ok(place) = self.places.clone().try_acquire_owned()
        {
            return Ok(place);
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.note_refused(event);
        let first = !self.overflowed.swap(true, Ordering::SeqCst);
        if first {
            tracing::warn!(
                limit = self.limit,
                "Slack delivers faster than Matrix takes events: {} events are on their way; \
                 further ones are fetched from the channels' history once these are handled",
                self.limit
            );
        }
        Err(Refused { first })
    }

    fn note_refused(&self, event: &Value) {
        let channel = event["channel"]
            .as_str()
            .or(event["item"]["channel"].as_str());
        let ts = event["ts"].as_str().or(event["event_ts"].as_str());
        let (Some(channel), Some(ts)) = (channel, ts) else {
            return;
        };
        let mut from = self.refused_from.lock().expect("refused_from");
        let oldest = from
            .entry(channel.to_owned())
            .or_insert_with(|| ts.to_owned());
        if ts_order(ts) < ts_order(oldest) {
            *oldest = ts.to_owned();
        }
    }

    /// The oldest time stamp of an event of `channel` refused since the last catch-up.
    pub(crate) fn refused_since(&self, channel: &str) -> Option<String> {
        self.refused_from
            .lock()
            .expect("refused_from")
            .get(channel)
            .cloned()
    }

    /// Whether an event was refused and the catch-up after the backlog has not run yet.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }

    /// Waits until every event taken is in Matrix or failed.
    pub(crate) async fn handled(&self) {
        if let Ok(all) = self.places.acquire_many(self.limit).await {
            drop(all);
        }
    }

    /// The catch-up after an overflow has run: live events are taken again.
    pub(crate) fn caught_up(&self) {
        self.refused_from.lock().expect("refused_from").clear();
        if self.overflowed.swap(false, Ordering::SeqCst) {
            tracing::info!(
                refused = self.refused.swap(0, Ordering::Relaxed),
                "Slack backlog handled and caught up; taking live events again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn past_its_limit_nothing_is_taken_until_it_was_handled_and_caught_up() {
        let backlog = Backlog::new(2);
        let event = |ts: &str| serde_json::json!({"type": "message", "channel": "C1", "ts": ts});
        let first = backlog.take(&event("1.000100")).expect("a place");
        let second = backlog.take(&event("1.000200")).expect("a place");
        assert!(backlog.take(&event("1.000400")).expect_err("full").first);
        assert_eq!(backlog.refused_since("C1").as_deref(), Some("1.000400"));
        assert!(backlog.overflowed());
        drop(first);
        assert!(
            !backlog
                .take(&event("1.000300"))
                .expect_err("a freed place is not taken while the overflow is not caught up")
                .first
        );
        assert_eq!(
            backlog.refused_since("C1").as_deref(),
            Some("1.000300"),
            "the catch-up reads from the oldest refused event"
        );
        let handled = tokio::time::timeout(Duration::from_millis(50), backlog.handled()).await;
        assert!(handled.is_err(), "one event is still on its way");
        drop(second);
        backlog.handled().await;
        backlog.caught_up();
        assert!(!backlog.overflowed());
        assert_eq!(backlog.refused_since("C1"), None);
        assert!(backlog.take(&event("1.000500")).is_ok());
    }
}
