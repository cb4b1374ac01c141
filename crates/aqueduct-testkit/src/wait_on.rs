//! Waiting on a fake's state without polling: a condition re-checked each time the fake
//! signals a change, until a deadline.

use std::time::Duration;
use tokio::sync::Notify;

/// Waits until `check` gives a value, re-checked whenever `changed` is notified, for at most
/// `timeout`; the error names `fake`.
pub(crate) async fn until<T>(
    changed: &Notify,
    fake: &str,
    timeout: Duration,
    check: impl Fn() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Registered before the check, so a change between the two is not missed.
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(v) = check() {
            return Ok(v);
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return check()
                .ok_or_else(|| anyhow::anyhow!("{fake}: condition not met within {timeout:?}"));
        }
    }
}
