//! The `appservice_txn` and `inbox` tables: the durable queue between the appservice endpoint
//! and the engine. The homeserver retries a transaction until it gets a 200, so the same
//! `txn_id` can arrive more than once; recording the id in the same database transaction as
//! its events makes "stored" and "seen" one fact.

use crate::error::{Result, query};
use aqueduct_core::records::{DeadLetter, InboxEvent};
use sqlx::{AnyPool, Row};
use std::time::{SystemTime, UNIX_EPOCH};

/// Records `txn_id` and queues its events in order, all or nothing. `false` if the id was
/// already recorded (then nothing is stored).
pub(crate) async fn enqueue_transaction(
    pool: &AnyPool,
    txn_id: &str,
    events: &[(Option<String>, String)],
) -> Result<bool> {
    const OP: &str = "enqueue_transaction";
    let mut tx = pool.begin().await.map_err(query(OP))?;
    // Insert first, rather than check then insert: the primary key decides atomically even
    // against a concurrent writer (who would block on it until we commit or roll back).
    let recorded = sqlx::query(
        "INSERT INTO appservice_txn (txn_id, received_at) VALUES ($1, $2)
         ON CONFLICT (txn_id) DO NOTHING",
    )
    .bind(txn_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(query(OP))?;
    if recorded.rows_affected() == 0 {
        // Dropping `tx` rolls back, though nothing was written.
        return Ok(false);
    }
    // One insert per event: seq follows the order of `events`.
    for (room_id, json) in events {
        sqlx::query("INSERT INTO inbox (room_id, json) VALUES ($1, $2)")
            .bind(room_id.as_deref())
            .bind(json.as_str())
            .execute(&mut *tx)
            .await
            .map_err(query(OP))?;
    }
    // Durability comes from the commit (synchronous=FULL on SQLite, synchronous_commit on
    // PostgreSQL): once this returns, the transaction may be acknowledged.
    tx.commit().await.map_err(query(OP))?;
    Ok(true)
}

pub(crate) async fn pending(pool: &AnyPool, after: i64, limit: i64) -> Result<Vec<InboxEvent>> {
    const OP: &str = "pending_inbox";
    let rows = sqlx::query(
        "SELECT seq, room_id, json, attempts FROM inbox WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    // A negative LIMIT means "no limit" to SQLite but is an error on PostgreSQL; none is
    // the reading the contract ("at most") allows on both.
    .bind(limit.max(0))
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(|row| {
            Ok(InboxEvent {
                seq: row.try_get("seq")?,
                room_id: row.try_get("room_id")?,
                json: row.try_get("json")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(query(OP))
}

pub(crate) async fn ack(pool: &AnyPool, seq: i64) -> Result<()> {
    sqlx::query("DELETE FROM inbox WHERE seq = $1")
        .bind(seq)
        .execute(pool)
        .await
        .map_err(query("ack_inbox"))?;
    Ok(())
}

pub(crate) async fn count_attempt(pool: &AnyPool, seq: i64) -> Result<i64> {
    const OP: &str = "count_inbox_attempt";
    // One statement, so the increment and the answer cannot be split by a crash.
    let row =
        sqlx::query("UPDATE inbox SET attempts = attempts + 1 WHERE seq = $1 RETURNING attempts")
            .bind(seq)
            .fetch_optional(pool)
            .await
            .map_err(query(OP))?;
    match row {
        Some(row) => row.try_get("attempts").map_err(query(OP)),
        None => Ok(0),
    }
}

pub(crate) async fn last_seq(pool: &AnyPool) -> Result<Option<i64>> {
    const OP: &str = "inbox_last_seq";
    let row = sqlx::query("SELECT seq FROM inbox ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .map_err(query(OP))?;
    row.map(|r| r.try_get("seq")).transpose().map_err(query(OP))
}

pub(crate) async fn len(pool: &AnyPool) -> Result<i64> {
    const OP: &str = "inbox_len";
    sqlx::query("SELECT COUNT(*) AS n FROM inbox")
        .fetch_one(pool)
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(query(OP))
}

pub(crate) async fn dead_letter(pool: &AnyPool, seq: i64, reason: &str) -> Result<bool> {
    const OP: &str = "dead_letter_inbox";
    let mut tx = pool.begin().await.map_err(query(OP))?;
    let moved = sqlx::query(
        "INSERT INTO dead_letter (seq, room_id, json, reason, attempts, failed_at)
         SELECT seq, room_id, json, $2, attempts, $3 FROM inbox WHERE seq = $1
         ON CONFLICT (seq) DO NOTHING",
    )
    .bind(seq)
    .bind(reason)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(query(OP))?;
    let removed = sqlx::query("DELETE FROM inbox WHERE seq = $1")
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(query(OP))?;
    tx.commit().await.map_err(query(OP))?;
    Ok(moved.rows_affected() > 0 || removed.rows_affected() > 0)
}

pub(crate) async fn dead_letters(pool: &AnyPool, limit: i64) -> Result<Vec<DeadLetter>> {
    const OP: &str = "dead_letters";
    let rows = sqlx::query(
        "SELECT seq, room_id, json, reason, attempts, failed_at FROM dead_letter
         ORDER BY seq LIMIT $1",
    )
    .bind(limit.max(0))
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(|row| {
            Ok(DeadLetter {
                seq: row.try_get("seq")?,
                room_id: row.try_get("room_id")?,
                json: row.try_get("json")?,
                reason: row.try_get("reason")?,
                attempts: row.try_get("attempts")?,
                failed_at_ms: row.try_get("failed_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(query(OP))
}

pub(crate) async fn prune_txns(pool: &AnyPool, before_ms: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM appservice_txn WHERE received_at < $1")
        .bind(before_ms)
        .execute(pool)
        .await
        .map_err(query("prune_appservice_txns"))?;
    Ok(done.rows_affected())
}

/// Milliseconds since the epoch, for `received_at`. A clock before 1970 counts as 0: the
/// value only serves pruning.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
