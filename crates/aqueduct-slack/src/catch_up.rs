//! Catching up after a dropped socket, downtime or a restart: everything each known channel
//! received after its checkpoint, top-level messages from `conversations.history` and thread
//! replies from `conversations.replies` (for threads started meanwhile and for threads that
//! were active lately), bridged oldest first. Messages the engine already has are skipped by
//! it, so fetching a little too much is harmless; fetching too little would lose messages.

use crate::api::SlackLogin;
use crate::checkpoints::{ChannelMark, ts_order};
use aqueduct_core::connector::ConnectorResult;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Most pages of history fetched per channel and catch-up (200 messages each).
const MAX_PAGES: usize = 50;

impl SlackLogin {
    /// Bridges what each known channel received since its checkpoint.
    pub(crate) async fn catch_up(&self) {
        let marks = self.checkpoints.lock().expect("checkpoints").marks();
        for mark in marks {
            if let Err(e) = self.catch_up_channel(&mark).await {
                tracing::warn!(channel = %mark.channel, error = %e, "Slack catch-up failed");
            }
        }
    }

    async fn catch_up_channel(&self, mark: &ChannelMark) -> ConnectorResult<()> {
        let newer = |ts: &str| ts_order(ts) > ts_order(&mark.newest);
        // Keyed by exact timestamp order, so parents and replies interleave as sent.
        let mut missed: BTreeMap<(u64, u64), Value> = BTreeMap::new();
        let mut threads: BTreeSet<String> = mark.threads.iter().cloned().collect();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut params = vec![
                ("channel", mark.channel.clone()),
                ("oldest", mark.newest.clone()),
                ("inclusive", "false".into()),
                ("limit", "200".into()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let page = self.bot.call("conversations.history", &params).await?;
            for m in page["messages"].as_array().into_iter().flatten() {
                let Some(ts) = m["ts"].as_str() else { continue };
                if m["latest_reply"].as_str().is_some_and(newer) {
                    threads.insert(ts.to_owned());
                }
                missed.insert(ts_order(ts), m.clone());
            }
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if cursor.is_empty() {
                break;
            }
        }
        for root in threads {
            let params = [
                ("channel", mark.channel.clone()),
                ("ts", root.clone()),
                ("oldest", mark.newest.clone()),
                ("inclusive", "false".into()),
                ("limit", "200".into()),
            ];
            let replies = match self.bot.call("conversations.replies", &params).await {
                Ok(r) => r,
                // A deleted thread has nothing left to catch up on.
                Err(e) => {
                    tracing::debug!(channel = %mark.channel, root, error = %e, "thread skipped");
                    continue;
                }
            };
            for m in replies["messages"].as_array().into_iter().flatten() {
                if let Some(ts) = m["ts"].as_str().filter(|ts| *ts != root && newer(ts)) {
                    missed.insert(ts_order(ts), m.clone());
                }
            }
        }
        let mut receipts = Vec::new();
        for (_, mut m) in missed {
            m["type"] = json!("message");
            m["channel"] = json!(mark.channel);
            let ts = m["ts"].as_str().map(str::to_owned);
            let root = m["thread_ts"]
                .as_str()
                .filter(|t| Some(*t) != ts.as_deref())
                .map(str::to_owned);
            if let Some((login, ev)) = self.to_remote(&m).await.and_then(|e| self.route(&m, e)) {
                receipts.push((ts, root, self.bridge.queue_remote_event(&login, ev)));
            }
        }
        for (ts, root, receipt) in receipts {
            if receipt.await.is_ok()
                && let Some(ts) = ts
            {
                self.advance_checkpoint(&mark.channel, &ts, root.as_deref())
                    .await;
            }
        }
        Ok(())
    }
}
