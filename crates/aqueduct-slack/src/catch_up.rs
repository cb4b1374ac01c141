//! Catching up after a dropped socket, downtime or a restart: everything each known channel
//! received after its checkpoint, top-level messages from `conversations.history` and thread
//! replies from `conversations.replies` (for threads started meanwhile and for threads that
//! were active lately), bridged oldest first. Messages the engine already has are skipped by
//! it, so fetching a little too much is harmless; fetching too little would lose messages.
//! The same fetch reaches back to the oldest remembered recent message, so edits, deletes and
//! reactions made meanwhile are found too (see `recent.rs` and `recent_changes.rs`).

use crate::api::SlackLogin;
use crate::checkpoints::{ChannelMark, ts_order};
use crate::web::SlackWeb;
use aqueduct_core::connector::ConnectorResult;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most pages of history fetched per channel and catch-up (200 messages each).
const MAX_PAGES: usize = 50;

/// Whose token reads a channel, and who what it finds is for.
pub(crate) struct Target<'a> {
    /// The bot's Web API, or the owner's for a user's own conversation.
    pub reader: &'a SlackWeb,
    /// The owner (team, user) of a user's own conversation.
    pub for_user: Option<(&'a str, &'a str)>,
}

/// What Slack holds now of a channel, from its checkpoint's catch-up fetch.
pub(crate) struct ChannelNow {
    /// Messages and replies by `ts`.
    pub messages: HashMap<String, Value>,
    /// Whether the history was read to its start (the oldest message asked for).
    pub history_complete: bool,
    /// Thread roots whose replies were read completely.
    pub complete_threads: BTreeSet<String>,
}

impl SlackLogin {
    /// Bridges what each known channel received since its checkpoint. A user's own
    /// conversation is read with their token, once their personal login is connected (see
    /// [`Self::catch_up_owned_by`]).
    pub(crate) async fn catch_up(&self) {
        let marks = self.checkpoints.lock().expect("checkpoints").marks();
        for mark in marks {
            self.catch_up_mark(&mark).await;
        }
    }

    /// Bridges what the own conversations of Slack user `user` of `team` received since
    /// their checkpoints: run when their personal login connects, which may be after the
    /// app's own catch-up.
    pub(crate) async fn catch_up_owned_by(&self, team: &str, user: &str) {
        let marks = self.checkpoints.lock().expect("checkpoints").marks();
        for mark in marks {
            if mark
                .owner
                .as_ref()
                .is_some_and(|(t, u)| t == team && u == user)
            {
                self.catch_up_mark(&mark).await;
            }
        }
    }

    async fn catch_up_mark(&self, mark: &ChannelMark) {
        let (reader, for_user) = match &mark.owner {
            None => (self.bot.clone(), None),
            Some((team, user)) => match self.puppets.web_of(team, user) {
                Some(web) => (web, Some((team.as_str(), user.as_str()))),
                None => {
                    tracing::debug!(channel = %mark.channel, "owner not logged in; caught up later");
                    return;
                }
            },
        };
        if let Err(e) = self.catch_up_channel(mark, &reader, for_user).await {
            tracing::warn!(channel = %mark.channel, error = %e, "Slack catch-up failed");
        }
    }

    /// Catches one channel up, reading it with `reader`'s token and routing what it finds
    /// as delivered for `for_user` (see [`SlackLogin::route`]).
    async fn catch_up_channel(
        &self,
        mark: &ChannelMark,
        reader: &SlackWeb,
        for_user: Option<(&str, &str)>,
    ) -> ConnectorResult<()> {
        // Events refused by a full backlog may be older than the checkpoint (see
        // `backlog.rs`): from the oldest of them, messages count as possibly missed too.
        let refused = self.backlog.refused_since(&mark.channel);
        let newer = |ts: &str| {
            ts_order(ts) > ts_order(&mark.newest)
                || refused
                    .as_deref()
                    .is_some_and(|r| ts_order(ts) >= ts_order(r))
        };
        let (remembered_oldest, remembered_threads) = {
            let cps = self.checkpoints.lock().expect("checkpoints");
            let recent = cps.recent();
            (
                recent.oldest(&mark.channel).map(str::to_owned),
                recent.threads(&mark.channel),
            )
        };
        // From the checkpoint, or from the oldest remembered message or refused event if
        // older.
        let from = [remembered_oldest, refused.clone()]
            .into_iter()
            .flatten()
            .fold(mark.newest.clone(), |from, ts| {
                if ts_order(&ts) < ts_order(&from) {
                    ts
                } else {
                    from
                }
            });
        let mut now = ChannelNow {
            messages: HashMap::new(),
            history_complete: false,
            complete_threads: BTreeSet::new(),
        };
        // Replies of threads with news are read from the checkpoint (or a refused event).
        let thread_from = match &refused {
            Some(r) if ts_order(r) < ts_order(&mark.newest) => r.clone(),
            _ => mark.newest.clone(),
        };
        // Thread roots -> the oldest reply to fetch from.
        let mut threads: BTreeMap<String, String> = mark
            .threads
            .iter()
            .map(|t| (t.clone(), thread_from.clone()))
            .collect();
        for (root, oldest) in remembered_threads {
            let from = threads.entry(root).or_insert_with(|| oldest.clone());
            if ts_order(&oldest) < ts_order(from) {
                *from = oldest;
            }
        }
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut params = vec![
                ("channel", mark.channel.clone()),
                ("oldest", from.clone()),
                ("inclusive", "true".into()),
                ("limit", "200".into()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let page = reader.call("conversations.history", &params).await?;
            for m in page["messages"].as_array().into_iter().flatten() {
                let Some(ts) = m["ts"].as_str() else { continue };
                if m["latest_reply"].as_str().is_some_and(newer) {
                    threads
                        .entry(ts.to_owned())
                        .or_insert_with(|| thread_from.clone());
                }
                now.messages.insert(ts.to_owned(), m.clone());
            }
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if cursor.is_empty() {
                now.history_complete = true;
                break;
            }
        }
        for (root, oldest) in threads {
            let params = [
                ("channel", mark.channel.clone()),
                ("ts", root.clone()),
                ("oldest", oldest),
                ("inclusive", "true".into()),
                ("limit", "200".into()),
            ];
            let replies = match reader.call("conversations.replies", &params).await {
                Ok(r) => r,
                // A deleted thread has nothing left to catch up on.
                Err(e) => {
                    tracing::debug!(channel = %mark.channel, root, error = %e, "thread skipped");
                    continue;
                }
            };
            if replies["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
            {
                now.complete_threads.insert(root.clone());
            }
            for m in replies["messages"].as_array().into_iter().flatten() {
                if let Some(ts) = m["ts"].as_str().filter(|ts| *ts != root) {
                    now.messages.insert(ts.to_owned(), m.clone());
                }
            }
        }
        let to = Target { reader, for_user };
        self.bridge_missed(&mark.channel, &now, newer, &to).await;
        self.bridge_changes(&mark.channel, &now, &to).await;
        Ok(())
    }

    /// Bridges the messages of `now` that are `newer` than the checkpoint, oldest first
    /// (keyed by exact timestamp order, so parents and replies interleave as sent).
    async fn bridge_missed(
        &self,
        channel: &str,
        now: &ChannelNow,
        newer: impl Fn(&str) -> bool,
        to: &Target<'_>,
    ) {
        let missed: BTreeMap<(u64, u64), &Value> = now
            .messages
            .iter()
            .filter(|(ts, m)| newer(ts) && m["subtype"] != "tombstone")
            .map(|(ts, m)| (ts_order(ts), m))
            .collect();
        let mut receipts = Vec::new();
        for (_, m) in missed {
            let mut m = m.clone();
            m["type"] = json!("message");
            m["channel"] = json!(channel);
            if let Some((login, ev)) = self
                .to_remote_reading(&m, to.reader)
                .await
                .and_then(|e| self.route(&m, e, to.for_user))
            {
                receipts.push((m, Some(self.bridge.queue_remote_event(&login, ev))));
            } else {
                receipts.push((m, None));
            }
        }
        for (m, receipt) in receipts {
            let bridged = match receipt {
                Some(receipt) => receipt.await.is_ok(),
                None => true,
            };
            let Some(ts) = m["ts"].as_str().filter(|_| bridged) else {
                continue;
            };
            let root = m["thread_ts"].as_str().filter(|t| *t != ts);
            self.advance_checkpoint(channel, ts, root).await;
            // Remembered as bridged without reactions: the changes that follow add them.
            self.observe_new(channel, &m).await;
        }
    }
}
