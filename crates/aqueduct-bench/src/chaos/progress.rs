//! Progress of a chaos run on standard error while it goes: a long run (10,000 messages per
//! lane takes most of an hour) must say which lane it is waiting for, so a stall can be told
//! from slowness before the report at the end.

use super::lanes::Lane;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counters the senders and the fault loop bump; read by [`Progress::print`].
#[derive(Default)]
pub struct Progress {
    sent: [AtomicUsize; 4],
    faults: AtomicU32,
}

impl Progress {
    /// One more message of `lane` sent.
    pub fn sent(&self, lane: Lane) {
        self.sent[index(lane)].fetch_add(1, Ordering::Relaxed);
    }

    /// One more fault inflicted.
    pub fn fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    /// A line with the messages sent per lane and the faults so far.
    pub fn sending_line(&self, started: Instant, messages: usize) -> String {
        let lanes: Vec<String> = Lane::ALL
            .iter()
            .map(|&lane| {
                format!(
                    "{} {}/{messages}",
                    lane.name(),
                    self.sent[index(lane)].load(Ordering::Relaxed)
                )
            })
            .collect();
        format!(
            "chaos: {:>5.0} s  sent: {}  faults: {}",
            started.elapsed().as_secs_f64(),
            lanes.join(", "),
            self.faults.load(Ordering::Relaxed)
        )
    }

    /// Prints [`sending_line`](Self::sending_line) every `every` until the returned guard
    /// is dropped.
    pub fn print_every(
        self: &Arc<Self>,
        every: Duration,
        started: Instant,
        messages: usize,
    ) -> Printer {
        let progress = self.clone();
        Printer(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", progress.sending_line(started, messages));
            }
        }))
    }
}

/// The task printing progress lines; it stops when this is dropped (also when the run
/// ends early with an error).
pub struct Printer(tokio::task::JoinHandle<()>);

impl Drop for Printer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A line with what arrived per lane, while the run waits for the last arrivals.
pub fn arrived_line(started: Instant, arrived: &[(String, usize)], sent: usize) -> String {
    let lanes: Vec<String> = arrived
        .iter()
        .map(|(name, n)| format!("{name} {n}/{sent}"))
        .collect();
    format!(
        "chaos: {:>5.0} s  arrived: {}",
        started.elapsed().as_secs_f64(),
        lanes.join(", ")
    )
}

fn index(lane: Lane) -> usize {
    Lane::ALL
        .iter()
        .position(|&l| l == lane)
        .expect("every lane is in Lane::ALL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sending_line_counts_each_lane_and_the_faults() {
        let p = Progress::default();
        p.sent(Lane::MatrixToSlack);
        p.sent(Lane::MatrixToSlack);
        p.sent(Lane::RocketChatToMatrix);
        p.fault();
        let line = p.sending_line(Instant::now(), 10);
        assert!(line.contains("Slack -> Matrix 0/10"), "{line}");
        assert!(line.contains("Matrix -> Slack 2/10"), "{line}");
        assert!(line.contains("Rocket.Chat -> Matrix 1/10"), "{line}");
        assert!(line.ends_with("faults: 1"), "{line}");
    }
}
