//! Catching up after a dropped connection, downtime or a restart: every message each known
//! room received from its checkpoint on (`channels.history`, `groups.history` or
//! `dm.history`, which include thread replies), bridged oldest first through the same path as
//! live messages. Messages the engine already has are skipped by it, so fetching a little too
//! much (the checkpoint's own millisecond is included) is harmless; fetching too little would
//! lose messages.

use crate::api::RocketLogin;
use crate::checkpoints::RoomMark;
use crate::convert::ts_millis;
use crate::iso_time::format_iso;
use aqueduct_core::connector::ConnectorResult;
use serde_json::Value;
use std::sync::Weak;

/// Waits before each new try at a live message that did not get into Matrix.
const RETRY_DELAYS_SECS: [u64; 5] = [2, 5, 15, 30, 60];

/// Tries again to bridge what room `rid` received since `since` (a live message that did not
/// get into Matrix: a homeserver or platform failing for a moment while its portal was made,
/// say), with growing waits, until it all gets in or the tries run out. Without it such a
/// message would be fetched again only by a reconnect's catch-up, and, in a room with no
/// checkpoint yet (a new portal), not even then.
pub(crate) async fn retry_room_since(login: Weak<RocketLogin>, rid: String, since: i64) {
    for delay in RETRY_DELAYS_SECS {
        tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        let Some(login) = login.upgrade() else { return };
        let t = login.room_type(&rid).await;
        match login.catch_up_room(&rid, &RoomMark { t, ts: since }).await {
            Ok(true) => {
                tracing::info!(
                    rid,
                    "Rocket.Chat messages that had not got into Matrix are bridged now"
                );
                return;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(rid, error = %e, "Rocket.Chat retry fetch failed"),
        }
    }
    tracing::error!(
        rid,
        "Rocket.Chat messages still not bridged after retrying; the next catch-up tries again"
    );
}

/// Messages fetched per page.
const PAGE: usize = 100;
/// Most pages fetched per room and catch-up.
const MAX_PAGES: usize = 50;

/// The history endpoint for a room type.
pub(crate) fn history_endpoint(t: &str) -> &'static str {
    match t {
        "p" => "groups.history",
        "d" => "dm.history",
        _ => "channels.history",
    }
}

impl RocketLogin {
    /// Bridges what each known room received since its checkpoint. Rooms of `rooms` (the
    /// account's rooms now) without a checkpoint are caught up from when the previous
    /// connection was lost, if it was: they had no bridged message yet, but may have had one
    /// sent during the gap.
    pub(crate) async fn catch_up(&self, rooms: &[(String, String)]) {
        let (marks, synced_until) = {
            let cps = self.checkpoints.lock().expect("checkpoints");
            (cps.marks(), cps.synced_until())
        };
        let lost_at = *self.lost_at.lock().expect("lost_at");
        for (rid, mark) in &marks {
            if let Err(e) = self.catch_up_room(rid, mark).await {
                tracing::warn!(rid, error = %e, "Rocket.Chat catch-up failed");
            }
            // Then the changes to older messages: the new ones are now known as seen, so
            // only what really changed is bridged.
            let since = match (synced_until, lost_at) {
                (Some(s), Some(l)) => Some(s.min(l)),
                (s, l) => s.or(l),
            };
            if let Some(since) = since
                && let Err(e) = self.sync_room(rid, since).await
            {
                tracing::warn!(rid, error = %e, "Rocket.Chat catch-up of changes failed");
            }
        }
        let Some(lost_at) = lost_at else { return };
        for (rid, t) in rooms {
            if !marks.iter().any(|(r, _)| r == rid) {
                self.catch_up_room_since(rid, t, lost_at).await;
            }
        }
    }

    /// Fetches again, from history, the live changes dropped while the backlog was full (see
    /// [`crate::inbound`]): the same catch-up as after a lost connection, over the account's
    /// rooms. If the connection was lost meanwhile, its own catch-up on reconnecting says
    /// when the stream is whole again.
    pub(crate) async fn catch_up_dropped(&self) {
        use std::sync::atomic::Ordering;
        let losses = self.losses.load(Ordering::SeqCst);
        let rooms: Vec<(String, String)> = self
            .rooms
            .lock()
            .expect("rooms")
            .iter()
            .map(|(rid, t)| (rid.clone(), t.clone()))
            .collect();
        self.catch_up(&rooms).await;
        if self.losses.load(Ordering::SeqCst) == losses {
            *self.lost_at.lock().expect("lost_at") = None;
            self.live.store(true, Ordering::SeqCst);
        }
        tracing::info!(login = %self.login, "Rocket.Chat changes dropped from a full backlog are fetched again");
    }

    /// Bridges what room `rid` of type `t` received since `since` (milliseconds).
    pub(crate) async fn catch_up_room_since(&self, rid: &str, t: &str, since: i64) {
        let mark = RoomMark {
            t: t.to_owned(),
            ts: since,
        };
        if let Err(e) = self.catch_up_room(rid, &mark).await {
            tracing::warn!(rid, error = %e, "Rocket.Chat catch-up failed");
        }
    }

    /// Remembers when the realtime connection was lost (only the first loss of a gap counts).
    pub(crate) fn note_connection_lost(&self) {
        self.losses
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.note_changes_missed();
    }

    /// Remembers that live changes are being missed from now on (a lost connection, or a
    /// full backlog, see [`crate::inbound`]): the next catch-up of changes starts here, and
    /// the saved state stops claiming that everything until now is bridged.
    pub(crate) fn note_changes_missed(&self) {
        self.live.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut lost_at = self.lost_at.lock().expect("lost_at");
        if lost_at.is_none() {
            *lost_at = Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0),
            );
        }
    }

    /// Bridges what `rid` received since `mark`; `Ok(false)` if a message of it did not get
    /// into Matrix (it is then fetched again by the next catch-up or retry).
    async fn catch_up_room(&self, rid: &str, mark: &RoomMark) -> ConnectorResult<bool> {
        let endpoint = history_endpoint(&mark.t);
        let mut missed: Vec<Value> = Vec::new();
        for page in 0..MAX_PAGES {
            let params = [
                ("roomId", rid.to_owned()),
                ("oldest", format_iso(mark.ts)),
                ("inclusive", "true".into()),
                ("count", PAGE.to_string()),
                ("offset", (page * PAGE).to_string()),
            ];
            let answer = self.rest.get(endpoint, &params).await?;
            let messages = answer["messages"].as_array().cloned().unwrap_or_default();
            let n = messages.len();
            missed.extend(messages);
            if n < PAGE {
                break;
            }
        }
        // History comes newest first.
        missed.sort_by_key(ts_millis);
        missed.dedup_by(|a, b| a["_id"] == b["_id"]);
        let mut receipts = Vec::new();
        for m in &missed {
            receipts.push(self.handle_message(m).await);
        }
        let mut all_bridged = true;
        for r in receipts {
            if let Err(e) = r.await {
                all_bridged = false;
                tracing::warn!(rid, error = %e, "caught-up Rocket.Chat message not bridged");
            }
        }
        Ok(all_bridged)
    }
}
