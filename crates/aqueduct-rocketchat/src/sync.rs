//! Catching up on changes to older messages (edits, reactions, deletions) made while the
//! bridge was away: `chat.syncMessages` with `lastUpdate` lists a room's messages changed since
//! then (`result.updated`) and those deleted (`result.deleted`). Each updated message goes
//! through the same comparison with its last seen state as a live push (`seen.rs`, whose
//! recent messages are kept in the login's state across restarts), so every change is bridged
//! once. A message changed while away that the login no longer remembers is bridged as what
//! can be told from it alone: an edit when `editedAt` is after `lastUpdate`, and its reactions
//! (which the engine skips when it has them already).

use crate::api::RocketLogin;
use crate::convert::{self, Change, Who};
use crate::iso_time::{self, format_iso};
use aqueduct_core::connector::ConnectorResult;
use aqueduct_core::event::RemoteEventKind;
use aqueduct_core::ids::RemoteMessageId;
use serde_json::Value;
use std::collections::HashSet;

/// Messages asked for per page.
const PAGE: usize = 100;
/// Most pages per room and catch-up.
const MAX_PAGES: usize = 20;

impl RocketLogin {
    /// Bridges the changes room `rid` had since `since` (milliseconds).
    pub(crate) async fn sync_room(&self, rid: &str, since: i64) -> ConnectorResult<()> {
        let mut updated: Vec<Value> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();
        let mut ids = HashSet::new();
        for page in 0..MAX_PAGES {
            let params = [
                ("roomId", rid.to_owned()),
                ("lastUpdate", format_iso(since)),
                ("count", PAGE.to_string()),
                ("offset", (page * PAGE).to_string()),
            ];
            let answer = self.rest.get("chat.syncMessages", &params).await?;
            let result = &answer["result"];
            let mut fresh = 0;
            for m in result["updated"].as_array().into_iter().flatten() {
                if let Some(id) = m["_id"].as_str()
                    && ids.insert(id.to_owned())
                {
                    fresh += 1;
                    updated.push(m.clone());
                }
            }
            for d in result["deleted"].as_array().into_iter().flatten() {
                if let Some(id) = d["_id"].as_str()
                    && ids.insert(format!("deleted:{id}"))
                {
                    fresh += 1;
                    deleted.push(id.to_owned());
                }
            }
            // A server that ignores `count`/`offset` answers everything every time.
            let n = result["updated"].as_array().map_or(0, Vec::len)
                + result["deleted"].as_array().map_or(0, Vec::len);
            if fresh == 0 || n < PAGE {
                break;
            }
        }
        updated.sort_by_key(|m| iso_time::millis(&m["_updatedAt"]).unwrap_or(0));
        let mut receipts = Vec::new();
        for m in &updated {
            let known = m["_id"]
                .as_str()
                .is_some_and(|id| self.seen.lock().expect("seen").get(id).is_some());
            // A message written since `since` cannot have been forgotten: it is new (one the
            // history fetch did not reach, or one still on its way to Matrix when the bridge
            // stopped) and crosses whole; the engine skips it if it has it.
            let new = convert::ts_millis(m) >= since;
            if known || new {
                receipts.push(self.handle_message(m).await);
            } else {
                self.forgotten_changes(m, since).await;
            }
        }
        for id in &deleted {
            self.handle_delete(rid, id).await;
        }
        for r in receipts {
            if let Err(e) = r.await {
                tracing::warn!(rid, error = %e, "caught-up Rocket.Chat change not bridged");
            }
        }
        Ok(())
    }

    /// Bridges what can be told of a changed message the login does not remember.
    async fn forgotten_changes(&self, m: &Value, since: i64) {
        let (Some(id), Some(rid)) = (m["_id"].as_str(), m["rid"].as_str()) else {
            return;
        };
        let target = RemoteMessageId::new(id);
        let mut changes = Vec::new();
        if iso_time::millis(&m["editedAt"]).is_some_and(|at| at > since) {
            let author = m["u"]["_id"].as_str().unwrap_or_default();
            changes.push(Change {
                who: Who::Id(
                    m["editedBy"]["_id"].as_str().unwrap_or(author).to_owned(),
                    None,
                ),
                kind: RemoteEventKind::Edit {
                    target: target.clone(),
                    content: self.content(m),
                },
            });
        }
        for (emoji, users) in convert::reactions(m) {
            for u in users {
                changes.push(Change {
                    who: Who::Username(u),
                    kind: RemoteEventKind::ReactionAdd {
                        target: target.clone(),
                        key: convert::reaction_key(&emoji),
                        custom: None,
                    },
                });
            }
        }
        let now_seen = convert::seen_state(m);
        self.seen.lock().expect("seen").put(id, now_seen.clone());
        let t = self.room_type(rid).await;
        let mut events = self.events(rid, &t, convert::ts_millis(m), changes).await;
        convert::retime(m, &mut events);
        let mut all_bridged = true;
        for event in events {
            if let Err(e) = self.bridge.queue_remote_event(&self.login, event).await {
                all_bridged = false;
                tracing::warn!(rid, error = %e, "caught-up Rocket.Chat change not bridged");
            }
        }
        if all_bridged {
            self.seen.lock().expect("seen").confirm(id, now_seen);
        }
    }
}
