//! The bot device's `/sync`, filtered to exactly what encryption needs: to-device messages,
//! device-list changes and one-time-key counts; no rooms, presence or account data. It is the
//! default source of device data because it cannot lose a to-device message: the homeserver
//! keeps them until the next `since` acknowledges them, while a failed appservice push drops
//! them (synapse#14710).

use crate::machine::BridgeCrypto;
use aqueduct_core::matrix::MatrixError;
use ruma::api::client::filter::{FilterDefinition, RoomFilter};
use ruma::api::client::sync::sync_events::v3;
use ruma::presence::PresenceState;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// How long the homeserver may hold a `/sync` open when there is nothing new.
const LONG_POLL: Duration = Duration::from_secs(30);

impl BridgeCrypto {
    /// Syncs until told to stop; failures are logged and retried with backoff.
    pub(crate) async fn run_sync(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut since = self.machine.store().next_batch_token().await.ok().flatten();
        let mut backoff = Duration::from_millis(500);
        loop {
            let mut request = v3::Request::new();
            request.filter = Some(v3::Filter::FilterDefinition(device_data_only()));
            request.since = since.clone();
            request.timeout = since.as_ref().map(|_| LONG_POLL);
            request.set_presence = PresenceState::Offline;
            let answer = tokio::select! {
                _ = stop.changed() => return,
                a = self.send_as_bot_device(request) => a,
            };
            match answer {
                Ok(r) => {
                    backoff = Duration::from_millis(500);
                    self.receive_changes(
                        r.to_device.events,
                        &r.device_lists,
                        &r.device_one_time_keys_count,
                        r.device_unused_fallback_key_types.as_deref(),
                        Some(r.next_batch.clone()),
                    )
                    .await;
                    since = Some(r.next_batch);
                }
                Err(e) if since.is_none() && refuses_appservice_sync(&e) => {
                    // Synapse refuses `/sync` to a registration's sender user outright: an
                    // older registration names the bot as sender. The transactions carry the
                    // same data (MSC2409/MSC3202), so use them.
                    tracing::warn!(error = %e, "the homeserver does not let the bridge bot sync (is it the registration's sender_localpart? `aqueduct generate-registration` writes a separate sender); reading to-device data from appservice transactions instead (needs MSC2409/MSC3202 on the homeserver)");
                    self.transaction_fed.store(true, Ordering::SeqCst);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the bot device's sync failed; retrying");
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// A filter that leaves only device data in the answer.
fn device_data_only() -> FilterDefinition {
    let mut filter = FilterDefinition::ignore_all();
    filter.room = RoomFilter::ignore_all();
    filter
}

/// Whether the very first `/sync` failed because the homeserver does not serve it to the
/// appservice's user (Synapse answers 500 `NotImplementedError`), not for a passing reason.
fn refuses_appservice_sync(e: &MatrixError) -> bool {
    match e {
        MatrixError::Refused {
            status, errcode, ..
        } => (*status == 500 && errcode == "M_UNKNOWN") || (400..500).contains(status),
        _ => false,
    }
}
