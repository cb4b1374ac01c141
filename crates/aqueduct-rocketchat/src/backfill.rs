//! Backfill: the most recent history of a room, fetched when its portal is made.

use crate::api::RocketLogin;
use crate::catch_up::history_endpoint;
use crate::convert::ts_millis;
use crate::iso_time::{self, format_iso};
use aqueduct_core::connector::{BackfillHandler, ConnectorResult};
use aqueduct_core::event::{RemoteEvent, RemoteEventKind};
use aqueduct_core::ids::{RemoteChatId, RemoteMessageId};
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
impl BackfillHandler for RocketLogin {
    async fn fetch_messages(
        &self,
        chat: &RemoteChatId,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<RemoteEvent>> {
        let rid = chat.as_str();
        let t = self.room_type(rid).await;
        let mut params = vec![("roomId", rid.to_owned()), ("count", limit.to_string())];
        let mut newest = None;
        if let Some(before) = before {
            let found = self
                .rest
                .get("chat.getMessage", &[("msgId", before.to_string())])
                .await?;
            if let Some(ts) = iso_time::millis(&found["message"]["ts"]) {
                params.push(("latest", format_iso(ts)));
                newest = Some(ts);
            }
        }
        let answer = self.rest.get(history_endpoint(&t), &params).await?;
        let mut messages: Vec<Value> = answer["messages"].as_array().cloned().unwrap_or_default();
        // History comes newest first; the `before` message itself is left to the live path.
        messages.retain(|m| m["_id"].as_str() != before.map(|b| b.as_str()));
        messages.sort_by_key(ts_millis);
        let mut out = Vec::new();
        for m in &messages {
            out.extend(
                self.history_events(m)
                    .await
                    .into_iter()
                    .filter(|e| matches!(e.kind, RemoteEventKind::Message { .. })),
            );
        }
        // Start the room's checkpoint at the newest history, unless it has one: a catch-up
        // after a gap then covers the room.
        if let Some(ts) = messages.last().map(ts_millis).or(newest) {
            self.start_checkpoint(rid, ts).await;
        }
        Ok(out)
    }
}
