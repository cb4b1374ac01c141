//! # POST /_aqueduct/slack/events
//!
//! The Events API over HTTP, the alternative to Socket Mode: Slack POSTs each event, signed
//! with the app's signing secret, to the Request URL set in the app's settings. This module
//! checks the signature and timestamp, answers `url_verification`, and hands each
//! `event_callback` to the app login of its workspace through the same path Socket Mode uses
//! ([`SlackLogin::deliver`]), deduplicating Slack's retries by `event_id`.
//!
//! ## When the answer is sent
//!
//! As for Socket Mode: see [`crate::acks`]. An acknowledgement is a 200, a request to deliver
//! again a 503.
//!
//! ## A full backlog
//!
//! Past `realtime_backlog` events on their way to Matrix, deliveries get a 503 and the login
//! catches up from its channels' history once those are in Matrix ([`crate::backlog`]).
//!
//! ## Unknown workspaces
//!
//! An event for a workspace with no loaded app login gets 200 and a log line. Slack's docs ask
//! for a 2xx for every event received, and count other answers as failures against the whole
//! app; a retry would not help, since only a `login slack app` (whose catch-up starts from
//! then) makes the workspace known.

use crate::acks::{Answer, answer, covered_by_catch_up, outcome_of, settle_in_background};
use crate::api::SlackLogin;
use crate::app_logins::AppLogins;
use crate::seen_events::{Claim, Outcome, REMEMBERED_EVENTS, SeenEvents};
use crate::signature;
use aqueduct_core::web::{WebRequest, WebResponse};
use serde_json::{Value, json};
use std::sync::Arc;

/// The Events API endpoint of the connector.
pub(crate) struct EventsEndpoint {
    signing_secret: String,
    logins: Arc<AppLogins>,
    seen: Arc<SeenEvents>,
}

impl EventsEndpoint {
    /// An endpoint checking requests with `signing_secret`, routing to `logins`.
    pub fn new(signing_secret: String, logins: Arc<AppLogins>) -> Self {
        Self {
            signing_secret,
            logins,
            seen: Arc::new(SeenEvents::new(REMEMBERED_EVENTS)),
        }
    }

    /// Answers one delivery.
    pub async fn handle(&self, request: WebRequest) -> WebResponse {
        if request.method != "POST" {
            return WebResponse::text(405, "the Events API endpoint takes POST only");
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        if let Err(e) = signature::verify(
            &self.signing_secret,
            request.header("x-slack-request-timestamp"),
            request.header("x-slack-signature"),
            &request.body,
            now,
        ) {
            tracing::warn!(error = %e, "refused a request to the Slack events endpoint");
            return WebResponse::text(401, format!("refused: {e}"));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return WebResponse::text(400, "the body is not JSON");
        };
        match body["type"].as_str() {
            Some("url_verification") => match body["challenge"].as_str() {
                Some(challenge) => WebResponse::json(200, &json!({ "challenge": challenge })),
                None => WebResponse::text(400, "url_verification without a challenge"),
            },
            Some("event_callback") => self.event_callback(&request, body).await,
            other => {
                // Other wrapper types (app_rate_limited, ...) carry no event to bridge.
                tracing::info!(kind = ?other, "Slack request without an event; nothing to bridge");
                WebResponse::text(200, "")
            }
        }
    }

    async fn event_callback(&self, request: &WebRequest, body: Value) -> WebResponse {
        let (Some(team), Some(event_id)) = (body["team_id"].as_str(), body["event_id"].as_str())
        else {
            return WebResponse::text(400, "event_callback without team_id or event_id");
        };
        if !body["event"].is_object() {
            return WebResponse::text(400, "event_callback without an event");
        }
        let Some((login, ready)) = self.logins.get(team) else {
            tracing::warn!(
                team,
                event_id,
                "Slack event for a workspace with no app login here; ignored"
            );
            return WebResponse::text(200, "");
        };
        let place = match login.backlog.take(&body["event"]) {
            Ok(place) => place,
            Err(refused) => {
                if refused.first {
                    catch_up_after_backlog(login.clone());
                }
                return WebResponse::text(503, "too many events on their way to Matrix; retry");
            }
        };
        let key = format!("{team}:{event_id}");
        // The bot's catch-up cannot read a user's own conversations.
        let covered = covered_by_catch_up(&body["event"])
            && crate::routing::authorized_user(&body["authorizations"]).is_none();
        let outcome = match self.seen.claim(&key) {
            Claim::Seen(outcome) => {
                drop(place);
                tracing::debug!(
                    event_id,
                    retry = request.header("x-slack-retry-num"),
                    reason = request.header("x-slack-retry-reason"),
                    "Slack delivered an event again; not bridging it twice"
                );
                outcome
            }
            Claim::New(report) => {
                let outcome = report.subscribe();
                settle_in_background(
                    self.seen.clone(),
                    key,
                    report,
                    Box::pin(async move {
                        let outcome = bridge(&login, ready, &body).await;
                        drop(place);
                        outcome
                    }),
                );
                outcome
            }
        };
        match answer(outcome, covered).await {
            Answer::Acknowledge => WebResponse::text(200, ""),
            Answer::Retry => WebResponse::text(503, "not bridged yet; retry"),
        }
    }
}

/// Once the events a login took are in Matrix, catches it up on what it refused meanwhile
/// (see [`crate::backlog`]) and lets it take live events again.
fn catch_up_after_backlog(login: Arc<SlackLogin>) {
    tokio::spawn(async move {
        login.backlog.handled().await;
        login.catch_up().await;
        login.backlog.caught_up();
    });
}

/// Waits for the login's catch-up, then bridges the event of wrapper `body` and reports how
/// it went.
async fn bridge(
    login: &Arc<SlackLogin>,
    mut ready: tokio::sync::watch::Receiver<bool>,
    body: &Value,
) -> Outcome {
    if ready.wait_for(|r| *r).await.is_err() {
        // The login was replaced or disconnected before its catch-up finished.
        return Outcome::Transient;
    }
    outcome_of(login.deliver(&body["event"], body).await.await)
}
