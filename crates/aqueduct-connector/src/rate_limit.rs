//! Waiting out a platform's rate limits. A limited answer (HTTP 429, or a platform's own
//! "too many requests" error) says when to come back; every later call of the same kind (a
//! Web API method, a REST endpoint) waits until then instead of meeting the limit again, and
//! the limited call is made again afterwards: a rate limit delays a message, never drops it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The wait when a limited answer names none.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);
/// The longest wait honoured at once, so a wrong clock or a hostile header cannot stall a call
/// for hours; a call still limited afterwards waits again.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// The wait an HTTP `Retry-After` header asks for, in delay-seconds (the form platforms use).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Per kind of call, the time until which it is limited. Cheap to clone; clones share.
#[derive(Clone, Default, Debug)]
pub struct RateLimits {
    until: Arc<Mutex<HashMap<String, Instant>>>,
}

impl RateLimits {
    /// Waits until calls of `kind` are allowed again (at once when they are not limited).
    pub async fn wait_turn(&self, kind: &str) {
        let until = self.until.lock().await.get(kind).copied();
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Records that calls of `kind` are limited for `wait` (`None`: [`DEFAULT_WAIT`]),
    /// clamped to [`MAX_WAIT`]; returns the wait recorded.
    pub async fn limit(&self, kind: &str, wait: Option<Duration>) -> Duration {
        let wait = wait
            .unwrap_or(DEFAULT_WAIT)
            .clamp(Duration::from_millis(10), MAX_WAIT);
        self.until
            .lock()
            .await
            .insert(kind.to_owned(), Instant::now() + wait);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_limited_kind_waits_and_others_do_not() {
        let limits = RateLimits::default();
        assert_eq!(
            limits
                .limit("chat.postMessage", Some(Duration::from_secs(3)))
                .await,
            Duration::from_secs(3)
        );
        let start = Instant::now();
        limits.wait_turn("users.info").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        limits.wait_turn("chat.postMessage").await;
        assert!(start.elapsed() >= Duration::from_secs(3));
        // A hostile header cannot stall a call for a day.
        assert_eq!(
            limits.limit("x", Some(Duration::from_secs(86_400))).await,
            MAX_WAIT
        );
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", " 7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
