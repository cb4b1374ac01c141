//! One measured run: messages sent on a schedule, waited for, and summed up into a
//! [`Measurement`] (rate achieved, latency, the bridge's CPU and homeserver requests).

use crate::proxy::{CountingProxy, RouteCounts, diff};
use crate::stats::{Latency, now_ms};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// What one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    /// Scenario id (`S1`, `baseline-seq`, ...).
    pub scenario: String,
    /// What ran, in words.
    pub description: String,
    /// Offered rate, `None` for a burst (everything at once) or a closed loop.
    pub offered_msg_s: Option<f64>,
    /// Messages (or events) sent.
    pub messages: usize,
    /// Messages per second achieved: count over (last arrival - first send).
    pub achieved_msg_s: f64,
    /// Send -> arrival latency (`origin_server_ts`, or the fake platform's receive time).
    pub latency: Latency,
    /// The bridge process's CPU seconds per 1,000 messages, for bridge runs.
    pub bridge_cpu_s_per_1000: Option<f64>,
    /// Requests the proxy saw per message (bridge runs: the bridge's requests to Synapse).
    pub homeserver_requests_per_msg: Option<f64>,
    /// Those requests by route.
    pub requests: RouteCounts,
    /// For sends in one room one after another: the sender's own time between Synapse's answer
    /// to send N and the arrival of send N+1 at the proxy (what an ordered queue loses against
    /// the homeserver's limit), and Synapse's time per send as the proxy saw it.
    pub sequential: Option<SequentialGaps>,
    /// For runs through a platform's fake: the connector's requests to the platform's web API
    /// (Slack's Web API methods, Rocket.Chat's REST endpoints), by method.
    pub platform_requests: Option<RouteCounts>,
}

/// Where the time of sequential sends goes, seen from the proxy.
#[derive(Clone, Debug, Serialize)]
pub struct SequentialGaps {
    /// Answer to send N -> send N+1 received.
    pub gap: Latency,
    /// Send received -> Synapse's answer.
    pub homeserver: Latency,
}

impl SequentialGaps {
    /// From (received, answered) times sorted by receipt.
    pub fn of(times: &[(f64, f64)]) -> Self {
        let gap = times.windows(2).map(|w| w[1].0 - w[0].1).collect();
        let homeserver = times.iter().map(|(a, b)| b - a).collect();
        Self {
            gap: Latency::of(gap),
            homeserver: Latency::of(homeserver),
        }
    }
}

/// Sends of one run: when each body left, to match with its arrival.
#[derive(Default)]
pub struct Sends {
    /// Body -> send time (ms since the epoch).
    pub at: HashMap<String, f64>,
}

impl Sends {
    /// Records that `body` is being sent now.
    pub fn mark(&mut self, body: &str) {
        self.at.insert(body.to_owned(), now_ms());
    }

    /// Latencies and achieved rate given each body's arrival time.
    pub fn against(&self, arrivals: &HashMap<String, f64>) -> (Latency, f64) {
        let mut lat = Vec::with_capacity(arrivals.len());
        let (mut first, mut last) = (f64::MAX, f64::MIN);
        for (body, sent) in &self.at {
            first = first.min(*sent);
            if let Some(arrived) = arrivals.get(body) {
                lat.push(arrived - sent);
                last = last.max(*arrived);
            }
        }
        let n = lat.len();
        let span_s = ((last - first) / 1000.0).max(0.001);
        (Latency::of(lat), n as f64 / span_s)
    }
}

/// Paces an open-loop schedule: message `i` goes at `start + i / rate`; no rate = all at once.
pub struct Pacer {
    start: tokio::time::Instant,
    rate: Option<f64>,
}

impl Pacer {
    /// A schedule starting now.
    pub fn new(rate: Option<f64>) -> Self {
        Self {
            start: tokio::time::Instant::now(),
            rate,
        }
    }

    /// Waits for message `i`'s slot.
    pub async fn slot(&self, i: usize) {
        if let Some(rate) = self.rate {
            tokio::time::sleep_until(self.start + Duration::from_secs_f64(i as f64 / rate)).await;
        }
    }
}

/// The bridge's CPU and the proxy's counts at one moment, to subtract later.
pub struct Snapshot {
    cpu_s: f64,
    routes: RouteCounts,
}

impl Snapshot {
    /// Takes a snapshot of `bridge_pid` (if any) and the proxy.
    pub fn take(bridge_pid: Option<u32>, proxy: &CountingProxy) -> anyhow::Result<Self> {
        Ok(Self {
            cpu_s: bridge_pid.map_or(Ok(0.0), crate::process::cpu_seconds)?,
            routes: proxy.routes(),
        })
    }

    /// (bridge CPU seconds, requests by route) since this snapshot.
    pub fn since(
        &self,
        bridge_pid: Option<u32>,
        proxy: &CountingProxy,
    ) -> anyhow::Result<(f64, RouteCounts)> {
        let cpu = bridge_pid.map_or(Ok(0.0), crate::process::cpu_seconds)? - self.cpu_s;
        Ok((cpu, diff(&self.routes, &proxy.routes())))
    }
}

/// Builds a measurement from its parts; `bridge` says whether CPU and requests are the bridge's.
#[allow(clippy::too_many_arguments)]
pub fn measurement(
    scenario: &str,
    description: String,
    offered: Option<f64>,
    messages: usize,
    (latency, achieved): (Latency, f64),
    cpu_s: Option<f64>,
    requests: RouteCounts,
) -> Measurement {
    let total: u64 = requests.values().sum();
    let per = |x: f64| x / messages.max(1) as f64;
    Measurement {
        scenario: scenario.to_owned(),
        description,
        offered_msg_s: offered,
        messages,
        achieved_msg_s: achieved,
        latency,
        bridge_cpu_s_per_1000: cpu_s.map(|c| per(c) * 1000.0),
        homeserver_requests_per_msg: Some(per(total as f64)),
        requests,
        sequential: None,
        platform_requests: None,
    }
}
