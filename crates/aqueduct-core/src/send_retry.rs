//! Retrying a Matrix -> platform call that met a passing failure (a 5xx, a timeout, a dropped
//! connection: [`ConnectorError::Temporary`]), so a platform's bad minute does not cost the
//! message. The portal's queue waits meanwhile, which keeps its events in order; the wait is
//! bounded ([`SEND_RETRY`]), and only after the last attempt does the room get a notice.
//!
//! Retrying a send must not post twice. A request that reached the platform but whose answer
//! was lost (a timeout, a dropped connection) may have posted, so every retry of a send goes
//! out with [`crate::event::MatrixMessage::maybe_sent_before`] set (as does an event replayed
//! after a restart), and the connector finds the earlier delivery instead of posting again:
//! the test network and Rocket.Chat derive the message id from the Matrix event id, and Slack,
//! whose `chat.postMessage` has no idempotency key, looks for its message metadata naming the
//! event among the channel's newest messages (`aqueduct-slack/src/earlier_posts.rs`; the
//! limits of that look-up are in `docs/architecture.md`).
//! Rate limits (429) are not seen here: the connectors wait them out themselves, honouring
//! the platform's `Retry-After`.

use crate::bridge::Inner;
use crate::connector::ConnectorError;
use crate::{Error, Result};
use std::future::Future;
use std::time::Duration;

/// How many times and how patiently a call is tried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// Attempts in all, the first included.
    pub(crate) attempts: u32,
    /// The wait after the first failure; each further wait doubles, up to `max_wait`.
    pub(crate) first_wait: Duration,
    /// The longest single wait.
    pub(crate) max_wait: Duration,
}

/// Matrix -> platform sends: 5 attempts, waiting 1 + 2 + 4 + 8 = 15 s in all at most, so a
/// platform restart or a load balancer's bad moment passes while the room waits no longer
/// than a user would.
pub(crate) const SEND_RETRY: RetryPolicy = RetryPolicy {
    attempts: 5,
    first_wait: Duration::from_secs(1),
    max_wait: Duration::from_secs(8),
};

impl RetryPolicy {
    /// The wait before attempt `n + 1` after attempt `n` (counted from 1) failed.
    pub(crate) fn wait_after(&self, n: u32) -> Duration {
        let factor = 1u32 << (n.saturating_sub(1)).min(16);
        self.first_wait.saturating_mul(factor).min(self.max_wait)
    }
}

/// Whether a failure may pass if the same call is made again.
pub(crate) fn is_passing(e: &Error) -> bool {
    match e {
        Error::Connector(ConnectorError::Temporary(_)) | Error::Store(_) => true,
        Error::Matrix(m) => m.is_transient(),
        _ => false,
    }
}

impl Inner {
    /// Runs `call` until it succeeds, fails for good, or has failed passingly
    /// [`RetryPolicy::attempts`] times, counting each retry and each give-up in the metrics
    /// under `platform`. Stops early when the bridge shuts down (the event is then redone
    /// after the restart, so no notice is due).
    pub(crate) async fn with_retries<T, E, F, Fut>(
        &self,
        platform: &str,
        what: &str,
        policy: RetryPolicy,
        mut call: F,
    ) -> Result<T>
    where
        E: Into<Error>,
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let checks = self.metrics.member_checks();
        let mut attempt = 1;
        loop {
            let e: Error = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e.into(),
            };
            if !is_passing(&e) {
                return Err(e);
            }
            if attempt >= policy.attempts {
                checks.send_gave_up.with_label_values(&[platform]).inc();
                tracing::warn!(platform, what, attempts = attempt, error = %e, "giving up after passing failures");
                return Err(e);
            }
            if self.is_shutting_down() {
                return Err(Error::ShuttingDown);
            }
            let wait = policy.wait_after(attempt);
            tracing::info!(platform, what, attempt, wait_ms = wait.as_millis() as u64, error = %e, "passing failure; trying again");
            checks.send_retries.with_label_values(&[platform]).inc();
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::MatrixError;
    use crate::store::StoreError;

    #[test]
    fn waits_double_up_to_the_bound() {
        let waits: Vec<u64> = (1..SEND_RETRY.attempts)
            .map(|n| SEND_RETRY.wait_after(n).as_secs())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8]);
        assert_eq!(SEND_RETRY.wait_after(30), SEND_RETRY.max_wait);
    }

    #[test]
    fn only_passing_failures_are_retried() {
        let temp = Error::Connector(ConnectorError::Temporary("HTTP 502".into()));
        assert!(is_passing(&temp));
        assert!(is_passing(&Error::Store(StoreError("locked".into()))));
        assert!(is_passing(&Error::Matrix(MatrixError::Transport(
            "reset".into()
        ))));
        for permanent in [
            Error::Connector(ConnectorError::Refused("channel_not_found".into())),
            Error::Connector(ConnectorError::BadCredentials("revoked".into())),
            Error::Connector(ConnectorError::Unsupported("edits".into())),
            Error::Matrix(MatrixError::Refused {
                status: 403,
                errcode: "M_FORBIDDEN".into(),
                message: String::new(),
            }),
            Error::Unknown("malformed".into()),
            Error::ShuttingDown,
        ] {
            assert!(!is_passing(&permanent), "{permanent:?}");
        }
    }
}
