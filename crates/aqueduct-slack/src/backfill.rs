//! History for a newly bridged channel: its last N top-level messages from
//! `conversations.history` (following `cursor` across pages) and the replies of their threads
//! from `conversations.replies`, merged oldest first, so every reply comes after its root and
//! each message comes once.

use crate::api::SlackLogin;
use crate::checkpoints::ts_order;
use aqueduct_core::connector::{BackfillHandler, ConnectorResult};
use aqueduct_core::event::{RemoteEvent, RemoteEventKind};
use aqueduct_core::ids::{RemoteChatId, RemoteMessageId};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Items asked for per page; Slack recommends no more than 200.
const PAGE: usize = 200;

impl SlackLogin {
    /// Follows `method`'s cursor until `want` items came or the list ends; Slack may return
    /// fewer items than asked for before the end.
    async fn pages(
        &self,
        method: &str,
        params: &[(&str, String)],
        want: usize,
    ) -> ConnectorResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        while out.len() < want {
            let mut p = params.to_vec();
            p.push(("limit", (want - out.len()).min(PAGE).to_string()));
            if !cursor.is_empty() {
                p.push(("cursor", cursor.clone()));
            }
            let page = self.bot.call(method, &p).await?;
            out.extend(page["messages"].as_array().into_iter().flatten().cloned());
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if cursor.is_empty() {
                break;
            }
        }
        out.truncate(want);
        Ok(out)
    }

    /// Up to `limit` replies of the thread under `root` sent before `before`, oldest first,
    /// without the root itself.
    async fn thread_replies(
        &self,
        chat: &RemoteChatId,
        root: &str,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<Value>> {
        let mut params = vec![("channel", chat.to_string()), ("ts", root.to_owned())];
        if let Some(b) = before {
            params.push(("latest", b.to_string()));
            params.push(("inclusive", "false".into()));
        }
        // One more than wanted: the first item of every page run is the root.
        let replies = self
            .pages("conversations.replies", &params, limit + 1)
            .await?;
        Ok(replies
            .into_iter()
            .filter(|r| r["ts"].as_str() != Some(root))
            .take(limit)
            .collect())
    }
}

#[async_trait]
impl BackfillHandler for SlackLogin {
    /// The last `limit` top-level messages with up to `limit` replies of each of their
    /// threads (the oldest, so a thread reads from its start).
    async fn fetch_messages(
        &self,
        chat: &RemoteChatId,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<RemoteEvent>> {
        let mut params = vec![("channel", chat.to_string())];
        if let Some(b) = before {
            params.push(("latest", b.to_string()));
            params.push(("inclusive", "false".into()));
        }
        let top = self.pages("conversations.history", &params, limit).await?;
        // Keyed by exact timestamp order: roots and replies interleave as sent, and a reply
        // also broadcast to the channel (in both lists) comes once.
        let mut all: BTreeMap<(u64, u64), Value> = BTreeMap::new();
        for m in top {
            let Some(ts) = m["ts"].as_str().map(str::to_owned) else {
                continue;
            };
            let is_root = m["thread_ts"].as_str() == Some(ts.as_str());
            if is_root && m["reply_count"].as_u64().unwrap_or(0) > 0 {
                match self.thread_replies(chat, &ts, before, limit).await {
                    Ok(replies) => {
                        for r in replies {
                            if let Some(key) = r["ts"].as_str().map(ts_order) {
                                all.insert(key, r);
                            }
                        }
                    }
                    // The channel's history is still worth having without this thread.
                    Err(e) => tracing::warn!(channel = %chat, root = ts, error = %e,
                        "thread replies not backfilled"),
                }
            }
            all.insert(ts_order(&ts), m);
        }
        let mut out = Vec::new();
        let mut newest_top = None;
        for (_, mut m) in all {
            m["type"] = json!("message");
            m["channel"] = json!(chat.as_str());
            if let Some(ev) = self.to_remote(&m).await {
                if let RemoteEventKind::Message {
                    id,
                    thread_root: None,
                    ..
                } = &ev.kind
                {
                    newest_top = Some(id.to_string());
                }
                out.push(ev);
            }
        }
        if let Some(newest) = newest_top {
            self.advance_checkpoint(chat.as_str(), &newest, None).await;
        }
        Ok(out)
    }
}
