//! The Events API over HTTP, Slack's side: instead of Socket Mode envelopes, each emitted
//! `event_callback` wrapper is POSTed to the app's Request URL, signed with the signing secret
//! (`X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:<ts>:<body>"))`,
//! `X-Slack-Request-Timestamp`). A delivery that gets no 2xx within the timeout is retried up
//! to 3 times with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason` (`http_timeout`,
//! `http_error`, `connection_failed`), then dropped, as Slack does. Events go out one at a
//! time, in emission order.
//!
//! Tests can also send a duplicate of an emitted event, arbitrary signed or forged requests,
//! and the `url_verification` handshake.

use super::{FakeSlack, Shared, VERIFICATION_TOKEN};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Where and how the fake delivers events over HTTP.
#[derive(Clone, Debug)]
pub struct EventsHttpOptions {
    /// The Request URL (the bridge's `/_aqueduct/slack/events`).
    pub url: String,
    /// The app's signing secret.
    pub signing_secret: String,
    /// How long a delivery waits for the answer (Slack: 3 s).
    pub timeout: Duration,
    /// The wait before each of the 3 retries (Slack: at once, 1 minute, 5 minutes).
    pub retry_delays: [Duration; 3],
    /// Deliveries under way at once. Slack does not wait for one answer before the next
    /// delivery; 1 (the default) delivers one event at a time, in order, which keeps most
    /// tests' expectations simple.
    pub in_flight: usize,
}

impl EventsHttpOptions {
    /// Slack's timeout, with short retry delays so tests do not wait minutes.
    pub fn new(url: impl Into<String>, signing_secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            signing_secret: signing_secret.into(),
            timeout: Duration::from_secs(3),
            retry_delays: [Duration::from_millis(50); 3],
            in_flight: 1,
        }
    }
}

/// One POST of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The wrapper's `event_id`.
    pub event_id: String,
    /// 0 for the first delivery, then `X-Slack-Retry-Num`.
    pub retry_num: u32,
    /// The HTTP status, or `None` when no answer came (refused connection, timeout).
    pub status: Option<u16>,
}

/// An answer to a request the test sent by hand.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// Delivers the fake's events over HTTP while it lives (dropping it stops the deliveries).
pub struct EventsHttp {
    shared: Arc<Shared>,
    options: EventsHttpOptions,
    http: reqwest::Client,
    attempts: Arc<Mutex<Vec<DeliveryAttempt>>>,
    attempted: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EventsHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSlack {
    /// Delivers every event (queued or future) over HTTP with `options` instead of Socket
    /// Mode. Keep the returned handle alive for as long as deliveries should go on.
    pub fn deliver_events_over_http(&self, options: EventsHttpOptions) -> EventsHttp {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .expect("HTTP client");
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let attempted = Arc::new(Notify::new());
        let sender = Sender {
            slots: Arc::new(tokio::sync::Semaphore::new(options.in_flight.max(1))),
            shared: self.shared.clone(),
            options: options.clone(),
            http: http.clone(),
            attempts: attempts.clone(),
            attempted: attempted.clone(),
        };
        EventsHttp {
            shared: self.shared.clone(),
            options,
            http,
            attempts,
            attempted,
            task: tokio::spawn(sender.run()),
        }
    }
}

impl EventsHttp {
    /// Every delivery attempt so far, in order.
    pub fn attempts(&self) -> Vec<DeliveryAttempt> {
        self.attempts.lock().expect("attempts").clone()
    }

    /// Waits until `pred(attempts())` holds, or fails after `timeout`.
    pub async fn wait_for_attempts(
        &self,
        timeout: Duration,
        pred: impl Fn(&[DeliveryAttempt]) -> bool,
    ) -> anyhow::Result<Vec<DeliveryAttempt>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.attempted.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let attempts = self.attempts();
            if pred(&attempts) {
                return Ok(attempts);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!("fake slack: delivery attempts not as expected: {attempts:#?}");
            }
        }
    }

    /// The `event_id` of the first emitted wrapper whose event matches `pred`, for
    /// redelivering it.
    pub fn emitted_event_id(&self, pred: impl Fn(&Value) -> bool) -> Option<String> {
        let st = self.shared.lock();
        st.emitted
            .iter()
            .find(|w| pred(&w["event"]))
            .and_then(|w| w["event_id"].as_str())
            .map(str::to_owned)
    }

    /// Sends the emitted event `event_id` again, as Slack's retry number `retry_num` after a
    /// timeout (a duplicate delivery), correctly signed.
    pub async fn redeliver(&self, event_id: &str, retry_num: u32) -> anyhow::Result<HttpAnswer> {
        let wrapper = {
            let st = self.shared.lock();
            st.emitted
                .iter()
                .find(|w| w["event_id"] == event_id)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no emitted event {event_id}"))?
        };
        let body = wrapper.to_string();
        let ts = now_secs().to_string();
        let signature = sign(&self.options.signing_secret, &ts, body.as_bytes());
        let retry = Some((retry_num, "http_timeout"));
        let answer = post(&self.http, &self.options.url, &body, &ts, &signature, retry).await?;
        Ok(answer)
    }

    /// POSTs `body` with the given timestamp and signature headers, for forged or stale
    /// requests.
    pub async fn post_raw(
        &self,
        body: &str,
        timestamp: &str,
        signature: &str,
    ) -> anyhow::Result<HttpAnswer> {
        post(
            &self.http,
            &self.options.url,
            body,
            timestamp,
            signature,
            None,
        )
        .await
    }

    /// Signs `body` for `timestamp` with the signing secret, as Slack does.
    pub fn sign(&self, timestamp: &str, body: &str) -> String {
        sign(&self.options.signing_secret, timestamp, body.as_bytes())
    }

    /// Sends the `url_verification` handshake Slack makes when the Request URL is saved.
    pub async fn url_verification(&self, challenge: &str) -> anyhow::Result<HttpAnswer> {
        let body = json!({"token": VERIFICATION_TOKEN, "challenge": challenge,
                          "type": "url_verification"})
        .to_string();
        let ts = now_secs().to_string();
        let signature = sign(&self.options.signing_secret, &ts, body.as_bytes());
        post(&self.http, &self.options.url, &body, &ts, &signature, None).await
    }
}

/// The delivery loop's state.
#[derive(Clone)]
struct Sender {
    /// One per delivery that may be under way at once.
    slots: Arc<tokio::sync::Semaphore>,
    shared: Arc<Shared>,
    options: EventsHttpOptions,
    http: reqwest::Client,
    attempts: Arc<Mutex<Vec<DeliveryAttempt>>>,
    attempted: Arc<Notify>,
}

impl Sender {
    /// Takes queued events in order (the queue Socket Mode would otherwise drain) and
    /// delivers each with Slack's retries, up to `in_flight` at once.
    async fn run(self) {
        // Owned by this task, so stopping the deliveries (aborting it) stops those under way.
        let mut deliveries = tokio::task::JoinSet::new();
        loop {
            while deliveries.try_join_next().is_some() {}
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let notified = self.shared.sock_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut st = self.shared.lock();
                if st.shutdown {
                    return;
                }
                st.pending.pop_front()
            };
            match next {
                Some(p) => {
                    let sender = self.clone();
                    deliveries.spawn(async move {
                        sender.deliver(&p.payload).await;
                        drop(slot);
                    });
                }
                None => {
                    drop(slot);
                    notified.await;
                }
            }
        }
    }

    async fn deliver(&self, wrapper: &Value) {
        let body = wrapper.to_string();
        let event_id = wrapper["event_id"].as_str().unwrap_or_default().to_owned();
        let mut retry: Option<(u32, &'static str)> = None;
        loop {
            let ts = now_secs().to_string();
            let signature = sign(&self.options.signing_secret, &ts, body.as_bytes());
            let answer = post(&self.http, &self.options.url, &body, &ts, &signature, retry).await;
            let status = answer.as_ref().ok().map(|a| a.status);
            self.attempts
                .lock()
                .expect("attempts")
                .push(DeliveryAttempt {
                    event_id: event_id.clone(),
                    retry_num: retry.map_or(0, |(n, _)| n),
                    status,
                });
            self.attempted.notify_waiters();
            let reason = match answer {
                Ok(a) if (200..300).contains(&a.status) => return,
                Ok(_) => "http_error",
                Err(e)
                    if e.downcast_ref::<reqwest::Error>()
                        .is_some_and(|e| e.is_timeout()) =>
                {
                    "http_timeout"
                }
                Err(_) => "connection_failed",
            };
            let next = retry.map_or(1, |(n, _)| n + 1);
            if next > 3 {
                tracing::info!(event_id, "fake slack: event dropped after 3 retries");
                return;
            }
            tokio::time::sleep(self.options.retry_delays[next as usize - 1]).await;
            retry = Some((next, reason));
        }
    }
}

/// One signed POST as Slack makes it.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    timestamp: &str,
    signature: &str,
    retry: Option<(u32, &str)>,
) -> anyhow::Result<HttpAnswer> {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
        .header("X-Slack-Request-Timestamp", timestamp)
        .header("X-Slack-Signature", signature)
        .body(body.to_owned());
    if let Some((num, reason)) = retry {
        request = request
            .header("X-Slack-Retry-Num", num.to_string())
            .header("X-Slack-Retry-Reason", reason);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok(HttpAnswer {
        status,
        body: response.text().await?,
    })
}

/// `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>`.
fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
