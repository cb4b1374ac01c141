//! When Slack is told that an event arrived, for both transports (the Events API over HTTP
//! and Socket Mode).
//!
//! Slack waits 3 s for an answer (an HTTP 2xx, or a Socket Mode acknowledgement); without one
//! in time it delivers the event again (up to three more times), and an app that fails most
//! deliveries for an hour gets its event subscriptions turned off. A portal's queue can hold
//! more than 3 s of work (a burst in one channel goes to Matrix one message at a time), so an
//! answer cannot always wait for the event to be in Matrix. The rules:
//!
//! - Each event is bridged once: deliveries are remembered by `event_id`
//!   ([`SeenEvents`]), and a second delivery of an event in flight waits for the first one's
//!   outcome instead of queueing it again.
//! - The answer waits for the event's receipt for at most [`ANSWER_BUDGET`]. In Matrix, or
//!   failed for good (retrying cannot help): acknowledge. Failed for a reason that may pass:
//!   do not acknowledge, and forget the `event_id`, so Slack's next delivery is bridged anew.
//! - Still in flight when the budget is spent: a top-level channel message is acknowledged
//!   anyway. Its channel checkpoint advances only once it is in Matrix, so if it then fails
//!   (in practice: the bridge stops meanwhile, which also fails every later event of the
//!   channel), the checkpoint catch-up of the next connection bridges it. Everything else
//!   (edits, deletes, reactions, thread replies, membership, renames) is not in
//!   `conversations.history`'s catch-up, so it is not acknowledged: Slack delivers it again,
//!   and that delivery waits for the one under way and is acknowledged once it is done.
//!
//! The memory of seen events is in-process, so after a restart a new delivery of an event
//! bridged before is queued again; the engine's message mapping recognises an already bridged
//! message and skips it.

use crate::seen_events::{Outcome, OutcomeWatch, SeenEvents};
use aqueduct_core::connector::ConnectorError;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a delivery waits for its event's receipt before answering: Slack's 3 s, less a
/// margin for the network.
pub(crate) const ANSWER_BUDGET: Duration = Duration::from_millis(2500);

/// What to tell Slack about one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Received: HTTP 200, or the Socket Mode acknowledgement.
    Acknowledge,
    /// Deliver it again: HTTP 503, or no acknowledgement.
    Retry,
}

/// How a bridged event ended, logging failures.
pub(crate) fn outcome_of(result: Result<(), aqueduct_core::Error>) -> Outcome {
    match result {
        Ok(()) => Outcome::Settled,
        Err(e) if is_transient(&e) => {
            tracing::warn!(error = %e, "Slack event not bridged yet; Slack will deliver it again");
            Outcome::Transient
        }
        Err(e) => {
            tracing::warn!(error = %e, "Slack event not bridged");
            Outcome::Settled
        }
    }
}

/// Records in `seen` how the delivery claimed as `key` ends, once `outcome` resolves (in a
/// task of its own); a transient failure forgets `key` so that the next delivery is bridged.
pub(crate) fn settle_in_background(
    seen: Arc<SeenEvents>,
    key: String,
    report: tokio::sync::watch::Sender<Option<Outcome>>,
    outcome: BoxFuture<'static, Outcome>,
) {
    tokio::spawn(async move {
        let result = outcome.await;
        if result == Outcome::Transient {
            seen.forget(&key);
        }
        let _ = report.send(Some(result));
    });
}

/// The answer for a delivery, once its event settled or [`ANSWER_BUDGET`] passed.
/// `covered_by_catch_up` is [`covered_by_catch_up`] of the event, and false when the bot's
/// catch-up cannot read its conversation.
pub(crate) async fn answer(mut outcome: OutcomeWatch, covered_by_catch_up: bool) -> Answer {
    let settled = tokio::time::timeout(ANSWER_BUDGET, outcome.wait_for(Option::is_some)).await;
    match settled {
        Ok(Ok(o)) if *o == Some(Outcome::Settled) => Answer::Acknowledge,
        Ok(_) => Answer::Retry,
        // Still in flight; see the module comment.
        Err(_) if covered_by_catch_up => Answer::Acknowledge,
        Err(_) => Answer::Retry,
    }
}

/// Whether the checkpoint catch-up (`conversations.history` from the channel's newest
/// bridged `ts`) would find this event if its delivery failed: top-level messages only.
pub(crate) fn covered_by_catch_up(event: &Value) -> bool {
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
    use crate::seen_events::Claim;
    use serde_json::json;

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

    #[tokio::test(start_paused = true)]
    async fn a_message_still_in_flight_is_acknowledged_when_the_budget_is_spent() {
        let seen = SeenEvents::new(10);
        let Claim::New(_report) = seen.claim("T:Ev1") else {
            panic!("first delivery")
        };
        let Claim::Seen(outcome) = seen.claim("T:Ev1") else {
            panic!("second delivery")
        };
        // A top-level message may be left to the catch-up; anything else is delivered again.
        assert_eq!(answer(outcome.clone(), true).await, Answer::Acknowledge);
        assert_eq!(answer(outcome, false).await, Answer::Retry);
    }

    #[tokio::test]
    async fn a_transient_failure_is_forgotten_so_the_next_delivery_bridges_it() {
        let seen = Arc::new(SeenEvents::new(10));
        let Claim::New(report) = seen.claim("T:Ev1") else {
            panic!("first delivery")
        };
        let Claim::Seen(outcome) = seen.claim("T:Ev1") else {
            panic!("second delivery while in flight")
        };
        settle_in_background(
            seen.clone(),
            "T:Ev1".into(),
            report,
            Box::pin(async { outcome_of(Err(aqueduct_core::Error::ShuttingDown)) }),
        );
        assert_eq!(answer(outcome, true).await, Answer::Retry);
        assert!(matches!(seen.claim("T:Ev1"), Claim::New(_)), "bridged anew");
    }
}
