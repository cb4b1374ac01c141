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
//! Slack waits 3 s for an answer; without a 2xx in time it retries (at once, after 1 minute,
//! after 5 minutes), and an app that fails most deliveries for an hour gets its event
//! subscriptions turned off. So the endpoint waits for the event's receipt for at most
//! [`ANSWER_BUDGET`]:
//!
//! - In Matrix, or failed for good (retrying cannot help; Socket Mode acknowledges those too):
//!   200. Failed for a reason that may pass: 503, and the `event_id` is forgotten, so Slack's
//!   retry is bridged anew.
//! - Still in flight: the event stays in flight (it is not dropped and not queued twice: a
//!   retry of it waits for the same delivery). A top-level channel message gets 200 anyway:
//!   its channel checkpoint advances only once it is in Matrix, so if it then fails (in
//!   practice: the bridge stops meanwhile, which also fails every later event of the
//!   channel), the checkpoint catch-up of the next connection bridges it. Everything else
//!   (edits, deletes, reactions, thread replies, membership, renames) is not in
//!   `conversations.history`'s catch-up, so it gets 503: Slack retries, and the retry waits
//!   for the delivery already under way and gets 200 once it is done.
//!
//! The memory of seen events is in-process, so after a restart a retry of an event bridged
//! before is queued again; the engine's message mapping recognises an already bridged
//! message and skips it.
//!
//! ## Unknown workspaces
//!
//! An event for a workspace with no loaded app login gets 200 and a log line. Slack's docs ask
//! for a 2xx for every event received, and count other answers as failures against the whole
//! app; a retry would not help, since only a `login slack app` (whose catch-up starts from
//! then) makes the workspace known.

use crate::api::SlackLogin;
use crate::app_logins::AppLogins;
use crate::seen_events::{Claim, Outcome, OutcomeWatch, REMEMBERED_EVENTS, SeenEvents};
use crate::signature;
use aqueduct_core::connector::ConnectorError;
use aqueduct_core::web::{WebRequest, WebResponse};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a delivery waits for its event's receipt before answering: Slack's 3 s, less a
/// margin for the network.
pub(crate) const ANSWER_BUDGET: Duration = Duration::from_millis(2500);

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
        let key = format!("{team}:{event_id}");
        // The bot's catch-up cannot read a user's own conversations.
        let covered = covered_by_catch_up(&body["event"])
            && crate::routing::authorized_user(&body["authorizations"]).is_none();
        let outcome = match self.seen.claim(&key) {
            Claim::Seen(outcome) => {
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
                let seen = self.seen.clone();
                tokio::spawn(async move {
                    let result = bridge(&login, ready, &body).await;
                    if result == Outcome::Transient {
                        seen.forget(&key);
                    }
                    let _ = report.send(Some(result));
                });
                outcome
            }
        };
        answer(outcome, covered).await
    }
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
    match login.deliver(&body["event"], body).await.await {
        Ok(()) => Outcome::Settled,
        Err(e) if is_transient(&e) => {
            tracing::warn!(error = %e, "Slack event not bridged yet; Slack will retry");
            Outcome::Transient
        }
        Err(e) => {
            tracing::warn!(error = %e, "Slack event not bridged");
            Outcome::Settled
        }
    }
}

/// The HTTP answer for a delivery, once it settled or [`ANSWER_BUDGET`] passed.
async fn answer(mut outcome: OutcomeWatch, covered_by_catch_up: bool) -> WebResponse {
    let settled = tokio::time::timeout(ANSWER_BUDGET, outcome.wait_for(Option::is_some)).await;
    match settled {
        Ok(Ok(o)) if *o == Some(Outcome::Settled) => WebResponse::text(200, ""),
        Ok(_) => WebResponse::text(503, "not bridged yet; retry"),
        // Still in flight; see the module comment.
        Err(_) if covered_by_catch_up => WebResponse::text(200, ""),
        Err(_) => WebResponse::text(503, "still being bridged; retry"),
    }
}

/// Whether the checkpoint catch-up (`conversations.history` from the channel's newest
/// bridged `ts`) would find this event if its delivery failed: top-level messages only.
fn covered_by_catch_up(event: &Value) -> bool {
    let ts = event["ts"].as_str();
    event["type"] == "message"
        && ts.is_some()
        && !matches!(
            event["subtype"].as_str(),
            Some("message_changed" | "message_deleted" | "message_replied")
        )
        && event["thread_ts"].as_str().is_none_or(|t| Some(t) == ts)
}

/// Whether a failed event may succeed when delivered again.
fn is_transient(e: &aqueduct_core::Error) -> bool {
    match e {
        aqueduct_core::Error::ShuttingDown | aqueduct_core::Error::Store(_) => true,
        aqueduct_core::Error::Matrix(m) => m.is_transient(),
        aqueduct_core::Error::Connector(c) => matches!(c, ConnectorError::Temporary(_)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_messages_are_left_to_the_catch_up() {
        let covered = |e: Value| covered_by_catch_up(&e);
        assert!(covered(
            json!({"type": "message", "ts": "1.1", "text": "hi"})
        ));
        assert!(covered(
            json!({"type": "message", "subtype": "file_share", "ts": "1.1"})
        ));
        assert!(covered(
            json!({"type": "message", "ts": "1.1", "thread_ts": "1.1"})
        ));
        assert!(!covered(
            json!({"type": "message", "ts": "1.2", "thread_ts": "1.1"})
        ));
        assert!(!covered(
            json!({"type": "message", "subtype": "message_changed", "ts": "1.2"})
        ));
        assert!(!covered(
            json!({"type": "reaction_added", "event_ts": "1.2"})
        ));
    }
}
