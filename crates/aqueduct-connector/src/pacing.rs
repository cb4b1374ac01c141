//! Paces posts per chat. Platforms allow about so many messages per chat and second, with
//! short bursts over that, and answer more with HTTP 429 (Slack: one per second per channel;
//! Teams: about ten per ten seconds per chat); waiting here beforehand keeps a burst from
//! Matrix from running into those limits. Posts wait their turn, never drop, and leave in the
//! order they arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::time::{Duration, Instant};

/// How fast to post into one chat: a token bucket holding up to `burst` posts, refilled at
/// `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// Posts allowed back to back after a quiet spell (at least 1).
    pub burst: u32,
    /// Posts per second in the long run (more than 0).
    pub per_second: f64,
}

/// One chat's bucket.
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

/// The per-chat buckets of one account. Cheap to clone; clones share the buckets.
#[derive(Clone)]
pub struct ChatPacer {
    pace: Pace,
    /// Channel -> its bucket. The async mutex queues waiters first come, first served, which
    /// keeps posts in order.
    channels: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Bucket>>>>>,
}

impl ChatPacer {
    /// Buckets with `pace`; a burst below 1 or a rate not above 0 is raised to the least
    /// usable value instead of blocking posts forever.
    pub fn new(pace: Pace) -> Self {
        let pace = Pace {
            burst: pace.burst.max(1),
            per_second: if pace.per_second > 0.0 {
                pace.per_second
            } else {
                1.0
            },
        };
        Self {
            pace,
            channels: Arc::default(),
        }
    }

    /// Waits until one more post into `channel` is within the pace, and takes it.
    pub async fn wait_turn(&self, channel: &str) {
        let bucket = self
            .channels
            .lock()
            .expect("pacer channels")
            .entry(channel.to_owned())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Bucket {
                    tokens: f64::from(self.pace.burst),
                    refilled_at: Instant::now(),
                }))
            })
            .clone();
        // Held while waiting, so later posts queue behind this one.
        let mut b = bucket.lock().await;
        let burst = f64::from(self.pace.burst);
        let refill = |b: &mut Bucket| {
            let now = Instant::now();
            let earned = now.duration_since(b.refilled_at).as_secs_f64() * self.pace.per_second;
            b.tokens = (b.tokens + earned).min(burst);
            b.refilled_at = now;
        };
        refill(&mut b);
        if b.tokens < 1.0 {
            let wait = (1.0 - b.tokens) / self.pace.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            refill(&mut b);
        }
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_posts_follow_the_rate_per_channel() {
        let pacer = ChatPacer::new(Pace {
            burst: 2,
            per_second: 4.0,
        });
        let start = Instant::now();
        for _ in 0..6 {
            pacer.wait_turn("C1").await;
        }
        // Two at once, then four more at a quarter second each.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(999) && took <= Duration::from_millis(1001),
            "{took:?}"
        );
        // Another channel has its own bucket.
        let other = Instant::now();
        pacer.wait_turn("C2").await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_nonsensical_pace_still_lets_posts_through() {
        let pacer = ChatPacer::new(Pace {
            burst: 0,
            per_second: 0.0,
        });
        pacer.wait_turn("C1").await;
        pacer.wait_turn("C1").await;
    }
}
