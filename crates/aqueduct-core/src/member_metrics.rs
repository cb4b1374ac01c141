//! Metrics of what the engine refused or retried for room members: sends to a platform retried
//! after a passing failure or given up, and actions refused for lack of room power. Kept apart from [`crate::metrics`] so that file stays the
//! bridging counters only; registered in the same registry.

use prometheus::{IntCounterVec, Opts, Registry};

/// Counters of retries and refusals.
#[derive(Clone)]
pub(crate) struct MemberMetrics {
    /// Matrix -> platform calls retried after a temporary failure, by platform.
    pub(crate) send_retries: IntCounterVec,
    /// Matrix -> platform calls given up after their last retry, by platform.
    pub(crate) send_gave_up: IntCounterVec,
    /// Member actions not bridged for lack of power, by action.
    pub(crate) refused: IntCounterVec,
}

impl MemberMetrics {
    /// Creates the counters and registers them in `registry` (a registry that has them
    /// already keeps its own; these then count unseen, which only happens in tests).
    pub(crate) fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric")
        };
        let m = Self {
            send_retries: counter(
                "aqueduct_remote_send_retries_total",
                "Matrix -> platform calls retried after a temporary failure (5xx, timeout, connection)",
                "platform",
            ),
            send_gave_up: counter(
                "aqueduct_remote_send_gave_up_total",
                "Matrix -> platform calls that still failed temporarily after their last retry",
                "platform",
            ),
            refused: counter(
                "aqueduct_member_actions_refused_total",
                "Room members' edits, deletes, room pings and commands not bridged for lack of power",
                "action",
            ),
        };
        for c in [&m.send_retries, &m.send_gave_up, &m.refused] {
            let _ = registry.register(Box::new(c.clone()));
        }
        m
    }
}

impl crate::metrics::Metrics {
    /// Counts one member action refused for lack of room power (`edit`, `delete`, `room_ping`).
    pub(crate) fn refused_by_room_power(&self, action: &str) {
        self.member_checks()
            .refused
            .with_label_values(&[action])
            .inc();
    }
}
