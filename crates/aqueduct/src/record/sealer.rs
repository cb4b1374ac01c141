//! Sealing: signing the newest entry's hash every `seal_interval_secs` (and once at shutdown),
//! and dropping entries past the retention period in sealed stretches.

use super::signing_key::{public_key_text, sign};
use aqueduct_core::audit::{AuditSeal, seal_message};
use aqueduct_store::SqlStore;
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Seals the newest entry if no seal covers it yet. Returns the new seal.
pub async fn seal_now(
    store: &SqlStore,
    key: &SigningKey,
) -> Result<Option<AuditSeal>, aqueduct_store::Error> {
    let (seq, entry_hash) = store.audit_head().await?;
    let last_sealed = store.newest_audit_seal(None).await?.map_or(0, |s| s.seq);
    if seq == 0 || seq <= last_sealed {
        return Ok(None);
    }
    let sealed_at_ms = now_ms();
    let seal = AuditSeal {
        seq,
        signature: sign(key, &seal_message(seq, &entry_hash, sealed_at_ms)),
        entry_hash,
        sealed_at_ms,
        public_key: public_key_text(&key.verifying_key()),
    };
    store.insert_audit_seal(&seal).await?;
    Ok(Some(seal))
}

/// Drops the entries older than `retention`: those before the newest seal made before the
/// cutoff (every entry it covers is older than that). The sealed entry stays, with its seal,
/// as the checkpoint the rest chains to. Returns how many entries were dropped.
pub async fn prune_expired(
    store: &SqlStore,
    retention: Duration,
) -> Result<u64, aqueduct_store::Error> {
    let cutoff = now_ms() - retention.as_millis() as i64;
    let Some(checkpoint) = store.newest_audit_seal(Some(cutoff)).await? else {
        return Ok(0);
    };
    store.prune_audit_through(checkpoint.seq).await
}

/// Runs sealing (and pruning, with a retention) until `stop` turns true, then seals once more.
pub fn spawn(
    store: SqlStore,
    key: Arc<SigningKey>,
    interval: Duration,
    retention: Option<Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stopping = tokio::time::timeout(interval, stop.wait_for(|s| *s))
                .await
                .is_ok();
            match seal_now(&store, &key).await {
                Ok(Some(seal)) => tracing::debug!(seq = seal.seq, "sealed the record"),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not seal the record; trying again at the next interval")
                }
            }
            if stopping {
                return;
            }
            if let Some(retention) = retention {
                match prune_expired(&store, retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        entries = n,
                        "dropped record entries past the retention period"
                    ),
                    Err(e) => tracing::warn!(error = %e, "could not prune the record"),
                }
            }
        }
    })
}
