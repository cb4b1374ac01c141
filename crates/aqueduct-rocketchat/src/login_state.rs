//! The login's saved state: per-room checkpoints, the recent messages as Matrix has them and
//! the uploads on record, written through the engine when a checkpoint moves (rate limited)
//! or at once when an upload must be on record.

use crate::api::{RocketLogin, SEEN_KEPT, SYNC_MARGIN_MS};
use crate::iso_time::now_millis;
use aqueduct_core::connector::{ConnectorError, ConnectorResult};
use serde_json::Value;

impl RocketLogin {
    /// Records that the message of `rid` sent at `ts` is in Matrix.
    pub(crate) async fn advance_checkpoint(&self, rid: &str, t: &str, ts: i64) {
        let state = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .advance(rid, t, ts);
        self.save(state).await;
    }

    /// Gives room `rid` its first checkpoint when it has none (a room that so far only had
    /// outgoing messages). An existing checkpoint is not moved: an older Rocket.Chat message
    /// may still be on its way to Matrix.
    pub(crate) async fn start_checkpoint(&self, rid: &str, ts: i64) {
        let t = self.room_type(rid).await;
        let state = self
            .checkpoints
            .lock()
            .expect("checkpoints")
            .start(rid, &t, ts);
        self.save(state).await;
    }

    /// Saves the login's state: the checkpoints, the recent messages as last seen (so
    /// changes made while the bridge is down are told apart after a restart) and, while
    /// live, how far changes are known.
    pub(crate) async fn save(&self, state: Option<Value>) {
        let Some(state) = state else { return };
        if let Err(e) = self.write_state(state).await {
            tracing::warn!(error = %e, "cannot save the Rocket.Chat checkpoint");
        }
    }

    /// Saves the whole state now, or says why it could not (an upload must be on record
    /// before it is confirmed).
    pub(crate) async fn save_now(&self) -> ConnectorResult<()> {
        let state = self.checkpoints.lock().expect("checkpoints").take_all();
        self.write_state(state)
            .await
            .map_err(|e| ConnectorError::Temporary(format!("cannot save the login's state: {e}")))
    }

    async fn write_state(&self, mut state: Value) -> Result<(), aqueduct_core::Error> {
        if self.live.load(std::sync::atomic::Ordering::SeqCst) {
            let until = now_millis() - SYNC_MARGIN_MS;
            self.checkpoints.lock().expect("checkpoints").synced(until);
            state["synced_until"] = serde_json::json!(until);
        }
        state["seen"] = serde_json::json!(self.seen.lock().expect("seen").recent(SEEN_KEPT));
        state["uploads"] = self.uploads.lock().expect("uploads").to_state();
        self.bridge.save_login_state(&self.login, state).await
    }

    /// Saves the state soon after a change to an older message (rate limited).
    pub(crate) async fn note_change(&self) {
        let state = self.checkpoints.lock().expect("checkpoints").touch();
        self.save(state).await;
    }
}
