//! When things happened in a chaos run, in UTC wall-clock time like the bridge's log lines, so
//! a failed run's losses can be laid next to the faults and the log: each fault as it was
//! inflicted, and when the first lost or doubled message of each lane was sent.

use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One moment of the run.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Moment {
    /// `HH:MM:SS.mmm` UTC.
    pub at: String,
    /// What happened, e.g. `bridge database restarted (PostgreSQL) for 2.31 s`.
    pub what: String,
}

impl Moment {
    /// `what` at `when`.
    pub fn new(when: SystemTime, what: impl Into<String>) -> Self {
        Self {
            at: utc(when),
            what: what.into(),
        }
    }
}

/// `HH:MM:SS.mmm` of `when`, in UTC.
pub fn utc(when: SystemTime) -> String {
    let since = when.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let day = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        since.subsec_millis()
    )
}

/// The runs of consecutive numbers in `numbers` (ascending), as `(first, last)`.
pub fn runs(numbers: &[usize]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &n in numbers {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => runs.push((n, n)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_log_lines() {
        let t = UNIX_EPOCH + Duration::from_millis(((13 * 60 + 5) * 60 + 9) * 1000 + 42);
        assert_eq!(utc(t), "13:05:09.042");
        assert_eq!(utc(t + Duration::from_secs(86_400)), "13:05:09.042");
    }

    #[test]
    fn consecutive_numbers_make_one_run() {
        assert_eq!(runs(&[3, 4, 5, 9, 11, 12]), vec![(3, 5), (9, 9), (11, 12)]);
        assert!(runs(&[]).is_empty());
    }
}
