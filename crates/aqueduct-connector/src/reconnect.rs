//! A supervised connection: the loop every receiving connector runs around its socket or its
//! polling (connect, serve until the connection ends, report the state, wait, go again). The
//! wait grows from 200 ms to 30 s with jitter, so a platform's outage is not met by every
//! bridge (or every login of one bridge) at the same instant when it ends; it starts short
//! again after a connection that ended cleanly. Credentials that stop working end the loop:
//! the engine then logs the account out and tells its owner.

use aqueduct_core::connector::{BridgeHandle, ConnectorError, RemoteState};
use aqueduct_core::ids::LoginId;
use std::future::Future;
use std::time::Duration;

/// The first wait after a failed connection.
pub const FIRST_WAIT: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Exponential backoff with jitter: each wait is the nominal one scaled by a random factor
/// in [0.5, 1.0], and the nominal one doubles up to [`MAX_WAIT`].
#[derive(Clone, Debug)]
pub struct Backoff {
    nominal: Duration,
    first: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(FIRST_WAIT, MAX_WAIT)
    }
}

impl Backoff {
    /// Waits from `first` doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            nominal: first,
            first,
            max,
        }
    }

    /// The next wait (and doubles the one after).
    pub fn next_wait(&mut self) -> Duration {
        let jitter = 0.5 + rand::random::<f64>() / 2.0;
        let wait = self.nominal.mul_f64(jitter);
        self.nominal = (self.nominal * 2).min(self.max);
        wait
    }

    /// Starts again from the first wait (after a connection that worked).
    pub fn reset(&mut self) {
        self.nominal = self.first;
    }
}

/// What a connector's loop is told after each connection.
pub trait ConnectionHooks: Send + Sync {
    /// A connection failed (called before the wait); e.g. note the time for a catch-up.
    fn lost(&self, _error: &ConnectorError) {}
}

/// Nothing to do on a lost connection.
pub struct NoHooks;
impl ConnectionHooks for NoHooks {}

/// Runs `connect_once` again and again until the task is aborted or the credentials fail,
/// reporting `Connecting` before each attempt and a `TransientDisconnect` after each failure
/// to the engine for `login`. `connect_once` returns `Ok` when the connection ended cleanly
/// (the platform asked for a reconnect), which reconnects at once. `what` names the
/// connection in logs ("Slack socket").
pub async fn supervise<F, Fut>(
    bridge: &dyn BridgeHandle,
    login: &LoginId,
    what: &str,
    hooks: &dyn ConnectionHooks,
    mut connect_once: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ConnectorError>>,
{
    let mut backoff = Backoff::default();
    loop {
        bridge.report_state(login, RemoteState::Connecting);
        match connect_once().await {
            Ok(()) => backoff.reset(),
            Err(ConnectorError::BadCredentials(reason)) => {
                bridge.report_state(login, RemoteState::BadCredentials(reason));
                return;
            }
            Err(e) => {
                hooks.lost(&e);
                tracing::warn!(error = %e, login = %login, "{what} lost; reconnecting");
                bridge.report_state(login, RemoteState::TransientDisconnect(e.to_string()));
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_jitter_up_to_the_cap_and_start_again_after_a_reset() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let waits: Vec<Duration> = (0..12).map(|_| b.next_wait()).collect();
        assert!(waits[0] >= Duration::from_millis(100) && waits[0] <= Duration::from_millis(200));
        assert!(waits[1] >= Duration::from_millis(200) && waits[1] <= Duration::from_millis(400));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(30)));
        assert!(waits[11] >= Duration::from_secs(15), "{waits:?}");
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(200));
        // Jitter: two bridges starting together do not keep retrying in step.
        let mut a = Backoff::default();
        let mut c = Backoff::default();
        let same = (0..20).filter(|_| a.next_wait() == c.next_wait()).count();
        assert!(same < 20);
    }
}
