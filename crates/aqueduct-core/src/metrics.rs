//! Prometheus metrics the engine records. The binary serves the registry at `/metrics`.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Which way a message crossed.
#[derive(Clone, Copy, Debug)]
pub enum Direction {
    /// From the remote network into Matrix.
    ToMatrix,
    /// From Matrix to the remote network.
    ToRemote,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::ToMatrix => "to_matrix",
            Direction::ToRemote => "to_remote",
        }
    }
}

/// The engine's metrics, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    bridged: IntCounterVec,
    failures: IntCounterVec,
    latency: HistogramVec,
    queue_depth: IntGauge,
    connection_state: IntGaugeVec,
    transactions: prometheus::IntCounter,
    transaction_events: Histogram,
    member_checks: crate::member_metrics::MemberMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let bridged = IntCounterVec::new(
            Opts::new(
                "aqueduct_messages_bridged_total",
                "Events bridged, by platform and direction",
            ),
            &["platform", "direction"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "aqueduct_bridge_failures_total",
                "Events that could not be bridged, by platform and reason",
            ),
            &["platform", "reason"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "aqueduct_bridge_latency_seconds",
                "From the event's origin timestamp to its delivery on the other side",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["platform", "direction"],
        )
        .expect("valid metric");
        let queue_depth = IntGauge::new(
            "aqueduct_queue_depth",
            "Events queued in portal queues, not yet handled",
        )
        .expect("valid metric");
        let connection_state = IntGaugeVec::new(
            Opts::new(
                "aqueduct_remote_connected",
                "1 when a login's connection to its platform is up, 0 when not, -1 when its credentials failed",
            ),
            &["platform", "login"],
        )
        .expect("valid metric");
        let transactions = prometheus::IntCounter::new(
            "aqueduct_appservice_transactions_total",
            "Appservice transactions accepted from the homeserver (repeats not counted)",
        )
        .expect("valid metric");
        let transaction_events = Histogram::with_opts(
            HistogramOpts::new(
                "aqueduct_appservice_transaction_events",
                "Events per appservice transaction",
            )
            .buckets(vec![1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0]),
        )
        .expect("valid metric");
        let member_checks = crate::member_metrics::MemberMetrics::new(&registry);
        for c in [
            Box::new(bridged.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(latency.clone()),
            Box::new(queue_depth.clone()),
            Box::new(connection_state.clone()),
            Box::new(transactions.clone()),
            Box::new(transaction_events.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            bridged,
            failures,
            latency,
            queue_depth,
            connection_state,
            transactions,
            transaction_events,
            member_checks,
        }
    }

    /// The metrics of retried sends and of what room members were refused.
    pub(crate) fn member_checks(&self) -> &crate::member_metrics::MemberMetrics {
        &self.member_checks
    }

    /// The registry, to serve or to add more metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one bridged event and its latency in seconds (when known).
    pub fn bridged(&self, platform: &str, direction: Direction, latency_secs: Option<f64>) {
        self.bridged
            .with_label_values(&[platform, direction.label()])
            .inc();
        if let Some(l) = latency_secs
            && l >= 0.0
        {
            self.latency
                .with_label_values(&[platform, direction.label()])
                .observe(l);
        }
    }

    /// Counts one failure with a short reason (`matrix_refused`, `unsupported`, ...).
    pub fn failure(&self, platform: &str, reason: &str) {
        self.failures.with_label_values(&[platform, reason]).inc();
    }

    /// Adjusts the queue depth by `delta`.
    pub fn queue_depth_add(&self, delta: i64) {
        self.queue_depth.add(delta);
    }

    /// Records a login's connection state: 1 up, 0 down, -1 bad credentials.
    pub fn connection_state(&self, platform: &str, login: &str, state: i64) {
        self.connection_state
            .with_label_values(&[platform, login])
            .set(state);
    }

    /// Counts one accepted appservice transaction with `events` events.
    pub fn transaction(&self, events: usize) {
        self.transactions.inc();
        self.transaction_events.observe(events as f64);
    }
}
