//! Liveness and readiness.
//!
//! - `/health/live`: the process serves HTTP. Always 200 while it does; an orchestrator
//!   restarts the bridge when this stops answering. `/health` is the same, kept for users of
//!   earlier releases.
//! - `/health/ready`: the bridge can do its work now. 200 when it has finished starting, is not
//!   stopping, its database answers and its homeserver answers as the appservice; otherwise
//!   503, and the JSON body names the failed checks. The body also counts each platform's
//!   logins by connection state. A platform connection that is down does **not** make the
//!   bridge unready: one user's revoked token, or one platform's outage, must not take the
//!   bridge away from the homeserver (an orchestrator stops routing to an unready bridge,
//!   and the homeserver's transactions for every other platform would then wait too).

use aqueduct_core::matrix::MatrixApi;
use aqueduct_core::metrics::Metrics;
use aqueduct_matrix::HomeserverClient;
use aqueduct_store::SqlStore;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Liveness: 200 while the process serves.
pub const LIVE_PATH: &str = "/health/live";
/// Readiness: 200 when ready, 503 with the failed checks named.
pub const READY_PATH: &str = "/health/ready";
/// The path of earlier releases, an alias of [`LIVE_PATH`].
pub const LEGACY_PATH: &str = "/health";

/// How long one readiness check may take before it counts as failed. Below the readiness
/// probe timeouts the deploy kit sets (5 s), so a hung database gives a clear 503, not a
/// probe timeout.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the bridge is in its life, as readiness reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Listening, but still waiting for the homeserver or starting the engine.
    Starting = 0,
    /// Doing its work.
    Running = 1,
    /// Told to stop: finishing in-flight work.
    Stopping = 2,
}

/// What the health endpoints look at. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    phase: AtomicU8,
    store: SqlStore,
    client: HomeserverClient,
    metrics: Metrics,
    /// The platforms the config enables, reported even without logins.
    platforms: Vec<String>,
}

/// The readiness answer's body.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The names of the checks that failed (empty when ready).
    pub failed: Vec<&'static str>,
    /// Each check by name: `bridge` (started and not stopping), `database`, `homeserver`.
    pub checks: BTreeMap<&'static str, Check>,
    /// Each enabled platform's logins by connection state (not part of readiness).
    pub platforms: BTreeMap<String, PlatformLogins>,
}

/// One readiness check's result.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Whether it passed.
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One platform's logins, counted by the state of their connection.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct PlatformLogins {
    /// Logins stored for the platform.
    pub logins: usize,
    /// Connected.
    pub connected: usize,
    /// Connecting, reconnecting after a drop, or not loaded.
    pub not_connected: usize,
    /// Refused by the platform (the login is being logged out).
    pub bad_credentials: usize,
}

impl Health {
    /// Health of a bridge with this store, homeserver client, metrics and enabled platforms,
    /// in [`Phase::Starting`].
    pub fn new(
        store: SqlStore,
        client: HomeserverClient,
        metrics: Metrics,
        platforms: Vec<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                phase: AtomicU8::new(Phase::Starting as u8),
                store,
                client,
                metrics,
                platforms,
            }),
        }
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.inner.phase.store(phase as u8, Ordering::SeqCst);
    }

    fn phase(&self) -> Phase {
        match self.inner.phase.load(Ordering::SeqCst) {
            0 => Phase::Starting,
            1 => Phase::Running,
            _ => Phase::Stopping,
        }
    }

    /// Runs the checks (concurrently, each within [`CHECK_TIMEOUT`]) and reports.
    pub async fn readiness(&self) -> Readiness {
        let (logins, homeserver) = tokio::join!(
            within(CHECK_TIMEOUT, self.inner.store.login_keys()),
            within(CHECK_TIMEOUT, self.homeserver_answers()),
        );
        let bridge: Result<(), String> = match self.phase() {
            Phase::Running => Ok(()),
            Phase::Starting => Err("starting: waiting for the homeserver or the engine".into()),
            Phase::Stopping => Err("stopping: finishing in-flight work".into()),
        };
        let mut platforms: BTreeMap<String, PlatformLogins> = self
            .inner
            .platforms
            .iter()
            .map(|p| (p.clone(), PlatformLogins::default()))
            .collect();
        let database = match logins {
            Ok(keys) => {
                let states = connection_states(&self.inner.metrics);
                for (connector, login) in keys {
                    let key = (connector.as_str().to_owned(), login.as_str().to_owned());
                    let counts = platforms.entry(key.0.clone()).or_default();
                    counts.logins += 1;
                    match states.get(&key) {
                        Some(1) => counts.connected += 1,
                        Some(-1) => counts.bad_credentials += 1,
                        _ => counts.not_connected += 1,
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        let mut checks = BTreeMap::new();
        let mut failed = Vec::new();
        for (name, result) in [
            ("bridge", bridge),
            ("database", database),
            ("homeserver", homeserver),
        ] {
            if result.is_err() {
                failed.push(name);
            }
            checks.insert(
                name,
                Check {
                    ok: result.is_ok(),
                    error: result.err(),
                },
            );
        }
        Readiness {
            status: if failed.is_empty() {
                "ready"
            } else {
                "not_ready"
            },
            failed,
            checks,
            platforms,
        }
    }

    /// Whether the homeserver answers the appservice's token (`whoami` as the bot): this
    /// proves the homeserver is up and still knows the registration.
    async fn homeserver_answers(&self) -> Result<(), String> {
        let client = &self.inner.client;
        client
            .send(
                ruma::api::client::account::whoami::v3::Request::new(),
                client.bot_user_id(),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The health routes: `/health/live`, `/health/ready` and `/health` (= live).
    pub fn routes(&self) -> Router {
        let ready = self.clone();
        Router::new()
            .route(LEGACY_PATH, get(live))
            .route(LIVE_PATH, get(live))
            .route(
                READY_PATH,
                get(move || {
                    let health = ready.clone();
                    async move { health.ready_response().await }
                }),
            )
    }

    async fn ready_response(&self) -> Response {
        let report = self.readiness().await;
        let status = if report.failed.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::to_string(&report).unwrap_or_else(|e| {
            format!(r#"{{"status":"not_ready","error":"cannot write the report: {e}"}}"#)
        });
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Liveness: the process serves.
async fn live() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// `future`'s result as a check: its error as text, or a timeout after `limit`.
async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    let started = Instant::now();
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            started.elapsed().as_secs_f32().round()
        )),
    }
}

/// Each login's connection state as the engine last recorded it in `aqueduct_remote_connected`
/// (1 up, 0 down, -1 bad credentials), by (platform, login). The gauge is the one record of
/// connection state the engine keeps; it also holds logins logged out since, which is why
/// readiness counts only the logins the store still has.
pub(crate) fn connection_states(metrics: &Metrics) -> HashMap<(String, String), i64> {
    let mut states = HashMap::new();
    for family in metrics.registry().gather() {
        if family.name() != "aqueduct_remote_connected" {
            continue;
        }
        for metric in family.get_metric() {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map(|l| l.value().to_owned())
            };
            if let (Some(platform), Some(login)) = (label("platform"), label("login")) {
                states.insert((platform, login), metric.get_gauge().get_value() as i64);
            }
        }
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_states_are_read_from_the_gauge() {
        let metrics = Metrics::new();
        metrics.connection_state("slack", "T1-U1", 1);
        metrics.connection_state("slack", "T1-U2", -1);
        metrics.connection_state("teams", "u3", 0);
        let states = connection_states(&metrics);
        assert_eq!(states[&("slack".into(), "T1-U1".into())], 1);
        assert_eq!(states[&("slack".into(), "T1-U2".into())], -1);
        assert_eq!(states[&("teams".into(), "u3".into())], 0);
        assert_eq!(states.len(), 3);
    }
}
