//! Keeping the remembered recent messages (`recent.rs`) in step with what reaches Matrix, and
//! bridging what changed on Slack while the bridge was away: the catch-up hands over what
//! Slack holds now, and each difference becomes the Slack event that would have said so
//! (`message_changed`, `message_deleted`, `reaction_added`, `reaction_removed`), converted
//! and routed like a live one. A change is remembered once it is in Matrix and saved at once,
//! so a second catch-up does not repeat it.

use crate::api::SlackLogin;
use crate::catch_up::{ChannelNow, Target};
use crate::recent::{Change, RecentMessages};
use serde_json::{Value, json};

/// Message subtypes that are messages people wrote (others are channel notices).
fn is_user_message(m: &Value) -> bool {
    matches!(
        m["subtype"].as_str(),
        None | Some("thread_broadcast" | "file_share" | "bot_message" | "me_message")
    )
}

/// The Slack event that announces `change` in `channel`.
fn event_for(channel: &str, change: &Change) -> Value {
    match change {
        Change::Edit { ts, message } => {
            let mut message = message.clone();
            message["ts"] = json!(ts);
            let at = message["edited"]["ts"].as_str().unwrap_or(ts).to_owned();
            json!({
                "type": "message", "subtype": "message_changed", "channel": channel,
                "ts": at, "event_ts": at, "message": message, "previous_message": {},
            })
        }
        Change::Delete { ts, user } => json!({
            "type": "message", "subtype": "message_deleted", "channel": channel,
            "ts": ts, "event_ts": ts, "deleted_ts": ts,
            "previous_message": { "user": user, "ts": ts },
        }),
        Change::React {
            ts,
            name,
            user,
            add,
        } => json!({
            "type": if *add { "reaction_added" } else { "reaction_removed" },
            "user": user, "reaction": name, "event_ts": ts,
            "item": { "type": "message", "channel": channel, "ts": ts },
        }),
    }
}

impl SlackLogin {
    /// Changes the remembered messages with `f`, saving the state now and then (at once if
    /// `urgent`).
    async fn note(&self, urgent: bool, f: impl FnOnce(&mut RecentMessages) -> bool) {
        let state = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .note(urgent, f);
        if let Some(state) = state
            && let Err(e) = self.bridge.save_login_state(&self.login, state).await
        {
            tracing::warn!(error = %e, "cannot save the Slack checkpoint");
        }
    }

    /// Remembers message `m` of `channel` (as Slack's history or a `message` event gives
    /// it) as bridged, without reactions.
    pub(crate) async fn observe_new(&self, channel: &str, m: &Value) {
        let (Some(ts), true) = (m["ts"].as_str(), is_user_message(m)) else {
            return;
        };
        let user = m["user"].as_str().or(m["bot_id"].as_str()).unwrap_or("");
        let text = m["text"].as_str().unwrap_or_default();
        let root = m["thread_ts"].as_str();
        self.note(false, |r| r.bridged(channel, ts, user, text, root))
            .await;
    }

    /// Records what a live event, now in Matrix (or not to be bridged, as the echo of the
    /// bridge's own action), says about a recent message.
    pub(crate) async fn observe(&self, ev: &Value) {
        let Some(channel) = ev["channel"].as_str().or(ev["item"]["channel"].as_str()) else {
            return;
        };
        match (ev["type"].as_str(), ev["subtype"].as_str()) {
            (Some("message"), Some("message_changed")) => {
                let m = &ev["message"];
                if let (Some(ts), Some(text)) = (m["ts"].as_str(), m["text"].as_str()) {
                    self.note(false, |r| r.edited(channel, ts, text)).await;
                }
            }
            (Some("message"), Some("message_deleted")) => {
                if let Some(ts) = ev["deleted_ts"].as_str() {
                    self.note(false, |r| r.deleted(channel, ts)).await;
                }
            }
            (Some("message"), _) => self.observe_new(channel, ev).await,
            (Some(kind @ ("reaction_added" | "reaction_removed")), _) => {
                if let (Some(ts), Some(name), Some(user)) = (
                    ev["item"]["ts"].as_str(),
                    ev["reaction"].as_str(),
                    ev["user"].as_str(),
                ) {
                    let add = kind == "reaction_added";
                    self.note(false, |r| r.reacted(channel, ts, name, user, add))
                        .await;
                }
            }
            _ => {}
        }
    }

    /// Bridges the edits, deletes and reactions that make the remembered messages of
    /// `channel` differ from `now`, each once, and remembers them.
    pub(crate) async fn bridge_changes(&self, channel: &str, now: &ChannelNow, to: &Target<'_>) {
        let changes = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .recent()
            .changes(channel, &now.messages, |root| match root {
                None => now.history_complete,
                Some(root) => now.complete_threads.contains(root),
            });
        if changes.is_empty() {
            return;
        }
        let mut receipts = Vec::new();
        for change in changes {
            let ev = event_for(channel, &change);
            let routed = self
                .to_remote_reading(&ev, to.reader)
                .await
                .and_then(|e| self.route(&ev, e, to.for_user));
            let receipt = routed.map(|(login, e)| self.bridge.queue_remote_event(&login, e));
            receipts.push((change, receipt));
        }
        for (change, receipt) in receipts {
            // Not bridged (an echo of the bridge's own action, say): nothing to repeat.
            let done = match receipt {
                Some(receipt) => receipt.await.map_err(|e| {
                    tracing::warn!(channel, error = %e, "Slack change not bridged; tried again at the next catch-up");
                }),
                None => Ok(()),
            };
            if done.is_ok() {
                self.note(false, |r| r.apply(channel, &change)).await;
            }
        }
        // Saved at once: a restart must not bridge these again.
        self.note(true, |_| false).await;
    }
}
