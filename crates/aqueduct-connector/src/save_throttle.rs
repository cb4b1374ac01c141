//! Saving a connector's checkpoints at most about once a second. Every bridged message moves
//! a checkpoint; writing each move would cost a database commit per message, while a lagging
//! checkpoint only makes the next catch-up fetch messages the engine already has (and drops).
//! The connector keeps its state; this says when a save is due.

use std::time::{Duration, Instant};

/// The usual shortest time between two saves.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// When a changing state is due to be saved.
#[derive(Debug)]
pub struct SaveThrottle {
    interval: Duration,
    saved_at: Option<Instant>,
    unsaved: bool,
}

impl Default for SaveThrottle {
    fn default() -> Self {
        Self::new(SAVE_INTERVAL)
    }
}

impl SaveThrottle {
    /// Saves at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            saved_at: None,
            unsaved: false,
        }
    }

    /// Notes whether the state `changed`; returns whether a save is due now: something is
    /// unsaved and it is `urgent`, or nothing was saved yet, or the last save is an interval
    /// old. The caller then saves what [`SaveThrottle::take_unsaved`] allows.
    pub fn due(&mut self, changed: bool, urgent: bool) -> bool {
        self.unsaved |= changed;
        self.unsaved && (urgent || self.saved_at.is_none_or(|t| t.elapsed() >= self.interval))
    }

    /// Whether something changed since the last save.
    pub fn is_unsaved(&self) -> bool {
        self.unsaved
    }

    /// Takes the unsaved mark: returns whether there was anything to save and records the
    /// save as done now (the caller saves when it returns true).
    pub fn take_unsaved(&mut self) -> bool {
        if !self.unsaved {
            return false;
        }
        self.unsaved = false;
        self.saved_at = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_is_due_then_at_most_once_per_interval() {
        let mut t = SaveThrottle::new(Duration::from_secs(3600));
        assert!(!t.take_unsaved(), "nothing changed yet");
        assert!(!t.due(false, true), "nothing to save, urgent or not");
        assert!(t.due(true, false), "the first change is saved at once");
        assert!(t.take_unsaved());
        assert!(!t.due(true, false), "the next waits for the interval");
        assert!(t.is_unsaved());
        assert!(t.due(false, true), "an urgent save does not wait");
        assert!(t.take_unsaved());
        assert!(!t.take_unsaved());
    }
}
