//! A counting HTTP proxy between a client (the bridge, or the baseline sender) and Synapse: it
//! forwards every request unchanged and counts it by route, so "homeserver requests per bridged
//! message" is measured from the outside, whatever the bridge does internally.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Request counts by route, e.g. `PUT /_matrix/client/v3/rooms/{id}/send/m.room.message/{txn}`.
pub type RouteCounts = BTreeMap<String, u64>;

#[derive(Default)]
struct Counters {
    routes: RouteCounts,
    /// Successful `send` of an event, by event type: what completion waits on.
    sent: BTreeMap<String, u64>,
    /// Every successful `send`: when the proxy received it and when Synapse's answer came back
    /// (ms since the epoch), in answer order.
    send_times: Vec<(f64, f64)>,
}

/// A running proxy. Cheap to clone.
#[derive(Clone)]
pub struct CountingProxy {
    url: String,
    counters: Arc<Mutex<Counters>>,
    changed: Arc<Notify>,
}

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    counters: Arc<Mutex<Counters>>,
    changed: Arc<Notify>,
}

impl CountingProxy {
    /// Starts a proxy on a free loopback port forwarding to `target` (`http://127.0.0.1:8008`).
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counters = Arc::new(Mutex::new(Counters::default()));
        let changed = Arc::new(Notify::new());
        let forward = Forward {
            target: target.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
            counters: counters.clone(),
            changed: changed.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(forward);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            counters,
            changed,
        })
    }

    /// The proxy's base URL, to give clients instead of Synapse's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests seen so far, by route.
    pub fn routes(&self) -> RouteCounts {
        self.counters.lock().expect("counters").routes.clone()
    }

    /// Successful sends of `event_type` so far.
    pub fn sent(&self, event_type: &str) -> u64 {
        let c = self.counters.lock().expect("counters");
        c.sent.get(event_type).copied().unwrap_or(0)
    }

    /// How many successful sends have been timed so far (a mark for [`Self::send_times_since`]).
    pub fn sends_timed(&self) -> usize {
        self.counters.lock().expect("counters").send_times.len()
    }

    /// (received, answered) times of the successful sends after `mark`, sorted by receipt.
    pub fn send_times_since(&self, mark: usize) -> Vec<(f64, f64)> {
        let c = self.counters.lock().expect("counters");
        let mut times = c.send_times.get(mark..).unwrap_or_default().to_vec();
        times.sort_by(|a, b| a.0.total_cmp(&b.0));
        times
    }

    /// Successful sends of any event type so far.
    pub fn sent_total(&self) -> u64 {
        self.counters.lock().expect("counters").sent.values().sum()
    }

    /// Waits until `done` holds, re-checking after every request the proxy answers; fails after
    /// `timeout` with `what` in the message.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: std::time::Duration,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if done(self) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!("timed out after {timeout:?} waiting for {what}");
            }
        }
    }
}

/// The difference `after - before`, routes with no new requests left out.
pub fn diff(before: &RouteCounts, after: &RouteCounts) -> RouteCounts {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// The route of a path: ids, user ids and transaction ids replaced by placeholders, event types
/// kept (they say what a request was for).
pub fn route_of(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let before = |n: usize| i.checked_sub(n).map(|j| segments[j]);
        let is_id = ["!", "@", "$", "#", "%21", "%40", "%24", "%23"]
            .iter()
            .any(|p| seg.starts_with(p));
        let is_txn = before(2) == Some("send")
            || before(2) == Some("redact")
            || before(1) == Some("redact")
            || before(1) == Some("transactions");
        let is_media = before(2) == Some("download") || before(3) == Some("download");
        out.push(if is_id {
            "{id}"
        } else if is_txn {
            "{txn}"
        } else if is_media {
            "{media}"
        } else {
            seg
        });
    }
    format!("{method} {}", out.join("/"))
}

fn event_type_sent(path: &str) -> Option<&str> {
    let mut it = path.split('/');
    it.by_ref().find(|s| *s == "send")?;
    it.next()
}

async fn handle(State(fwd): State<Forward>, req: Request) -> Response {
    match forward(&fwd, req).await {
        Ok(r) => r,
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!("proxy: {e}")))
            .expect("valid response"),
    }
}

async fn forward(fwd: &Forward, req: Request) -> anyhow::Result<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = route_of(method.as_str(), &path);
    let received = crate::stats::now_ms();
    let resp = aqueduct_testkit::http_forward::forward(&fwd.http, &fwd.target, req).await?;
    {
        let mut c = fwd.counters.lock().expect("counters");
        *c.routes.entry(route).or_default() += 1;
        if resp.status().is_success()
            && method == axum::http::Method::PUT
            && let Some(t) = event_type_sent(&path)
        {
            *c.sent.entry(t.to_owned()).or_default() += 1;
            c.send_times.push((received, crate::stats::now_ms()));
        }
    }
    fwd.changed.notify_waiters();
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_ids_and_keep_event_types() {
        assert_eq!(
            route_of(
                "PUT",
                "/_matrix/client/v3/rooms/!abc:localhost/send/m.room.message/t1"
            ),
            "PUT /_matrix/client/v3/rooms/{id}/send/m.room.message/{txn}"
        );
        assert_eq!(
            route_of(
                "PUT",
                "/_matrix/client/v3/profile/%40aqueduct_x%3Alocalhost/displayname"
            ),
            "PUT /_matrix/client/v3/profile/{id}/displayname"
        );
        assert_eq!(
            event_type_sent("/_matrix/client/v3/rooms/!a/send/m.reaction/t"),
            Some("m.reaction")
        );
    }
}
