//! Metrics of the engine's own health: panics caught, events set aside, supervised tasks
//! restarted, and the sizes of what it holds in memory (queues, caches, the inbox backlog),
//! so an operator can see every bound the engine keeps. Registered in the same registry as
//! [`crate::metrics::Metrics`], kept apart from it so the bridging metrics stay one file.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The engine's health metrics.
#[derive(Clone)]
pub(crate) struct EngineMetrics {
    /// Jobs that panicked (caught; their queue went on).
    pub(crate) job_panics: IntCounter,
    /// Matrix events moved to the dead-letter table.
    pub(crate) dead_letters: IntCounter,
    /// Encrypted Matrix events that could not be decrypted (key missing or event unreadable).
    pub(crate) undecryptable: IntCounter,
    /// Supervised engine tasks restarted after they died, by task.
    pub(crate) task_restarts: IntCounterVec,
    /// Matrix events read from the inbox and queued, not yet handled.
    pub(crate) matrix_queued: IntGauge,
    /// Inbox rows not yet handled (as of the last count).
    pub(crate) inbox_backlog: IntGauge,
    /// Entries in each in-memory cache, by cache.
    pub(crate) cache_entries: IntGaugeVec,
    /// Portal and room queues that hold a task (have work).
    pub(crate) active_queues: IntGauge,
}

impl EngineMetrics {
    /// Creates the metrics and registers them in `registry`. A registry that already has
    /// them (a second engine on one registry) keeps the first engine's.
    pub(crate) fn new(registry: &Registry) -> Self {
        let m = Self {
            job_panics: IntCounter::new(
                "aqueduct_job_panics_total",
                "Queued jobs that panicked; the panic was caught and their queue went on",
            )
            .expect("valid metric"),
            dead_letters: IntCounter::new(
                "aqueduct_dead_letters_total",
                "Matrix events set aside in the dead-letter table after repeated failures",
            )
            .expect("valid metric"),
            undecryptable: IntCounter::new(
                "aqueduct_undecryptable_events_total",
                "Encrypted Matrix events not bridged because they could not be decrypted",
            )
            .expect("valid metric"),
            task_restarts: IntCounterVec::new(
                Opts::new(
                    "aqueduct_task_restarts_total",
                    "Supervised engine tasks restarted after they died, by task",
                ),
                &["task"],
            )
            .expect("valid metric"),
            matrix_queued: IntGauge::new(
                "aqueduct_matrix_events_queued",
                "Matrix events read from the inbox into portal queues, not yet handled",
            )
            .expect("valid metric"),
            inbox_backlog: IntGauge::new(
                "aqueduct_inbox_backlog",
                "Matrix events in the durable inbox not yet handled (as of the last count)",
            )
            .expect("valid metric"),
            cache_entries: IntGaugeVec::new(
                Opts::new(
                    "aqueduct_cache_entries",
                    "Entries in the engine's in-memory caches, by cache",
                ),
                &["cache"],
            )
            .expect("valid metric"),
            active_queues: IntGauge::new(
                "aqueduct_active_queues",
                "Portal and room queues holding a task (with work pending or running)",
            )
            .expect("valid metric"),
        };
        for c in [
            Box::new(m.job_panics.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.dead_letters.clone()),
            Box::new(m.undecryptable.clone()),
            Box::new(m.task_restarts.clone()),
            Box::new(m.matrix_queued.clone()),
            Box::new(m.inbox_backlog.clone()),
            Box::new(m.cache_entries.clone()),
            Box::new(m.active_queues.clone()),
        ] {
            let _ = registry.register(c);
        }
        m
    }
}
