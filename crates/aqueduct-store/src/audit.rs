//! The record's tables (`audit_log`, `audit_head`, `audit_seal`): appending what crossed the
//! bridge in the transaction that changes the message map, and reading it back for export,
//! verification and sealing.

use crate::error::{Error, Result, query};
use crate::portal::{key_from_row, receiver_column};
use crate::sealing::{self, Place};
use crate::secrets_key::SecretsKey;
use crate::{message, reaction};
use aqueduct_core::audit::{
    AuditAction, AuditDirection, AuditDraft, AuditEntry, AuditSeal, Crossing, GENESIS_HASH,
    MappingChange, entry_hash,
};
use aqueduct_core::ids::RemoteMessageId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

/// Which entries to read.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only entries with a higher sequence number.
    pub after_seq: i64,
    /// Only entries made at or after this time (ms since the Unix epoch).
    pub from_ms: Option<i64>,
    /// Only entries made before this time.
    pub until_ms: Option<i64>,
    /// Only this Matrix room's entries.
    pub room_id: Option<String>,
    /// At most this many, oldest first.
    pub limit: i64,
}

/// What `record` keeps besides the mapping changes.
pub(crate) enum Keep<'a> {
    /// Nothing: the record is off.
    Nothing,
    /// Entries, with the content's digest only.
    Entries,
    /// Entries and the content, sealed with this key.
    EntriesAndContent(&'a SecretsKey),
}

/// The newest entry's (seq, hash) as this process last wrote it; `None` until read, and again
/// after a failed append (another writer, a rollback), so that the next append reads it anew.
pub(crate) type HeadCache = tokio::sync::Mutex<Option<(i64, String)>>;

/// Applies the crossings' mapping changes and appends their entries in one transaction.
///
/// Appends in this process go one at a time under `head`, which also saves reading the head
/// per append (each statement is a round trip to the database's thread or server). An entry
/// numbered by another process meanwhile collides on `seq`, fails the transaction, and the
/// retry reads the head again.
pub(crate) async fn record(
    writer: &AnyPool,
    crossings: &[Crossing],
    keep: Keep<'_>,
    head: &HeadCache,
) -> Result<()> {
    const OP: &str = "record_crossings";
    let content_key = match keep {
        Keep::Nothing => {
            let mut tx = writer.begin().await.map_err(query(OP))?;
            for crossing in crossings {
                apply(&mut tx, &crossing.mapping).await.map_err(query(OP))?;
            }
            return tx.commit().await.map_err(query(OP));
        }
        Keep::Entries => None,
        Keep::EntriesAndContent(key) => Some(key),
    };
    let mut cached = head.lock().await;
    let result = append(writer, crossings, content_key, &mut cached).await;
    if result.is_err() {
        *cached = None;
    }
    result.map_err(query(OP))
}

async fn append(
    writer: &AnyPool,
    crossings: &[Crossing],
    content_key: Option<&SecretsKey>,
    cached: &mut Option<(i64, String)>,
) -> Result<(), sqlx::Error> {
    let mut tx = writer.begin().await?;
    let (mut seq, mut hash) = match cached.clone() {
        Some(head) => head,
        None => read_head(&mut tx).await?,
    };
    for crossing in crossings {
        apply(&mut tx, &crossing.mapping).await?;
        let next_seq = seq + 1;
        let next = entry_hash(next_seq, &hash, &crossing.audit);
        let sealed = content_key
            .zip(crossing.audit.content.as_deref())
            .map(|(key, text)| sealing::seal(key, content_place(&next_seq.to_string()), text));
        // Not appended when this crossing has its entry already (a replay).
        if insert_entry(
            &mut tx,
            next_seq,
            &hash,
            &next,
            &crossing.audit,
            sealed.as_deref(),
        )
        .await?
        {
            seq = next_seq;
            hash = next;
        }
    }
    tx.commit().await?;
    *cached = Some((seq, hash));
    Ok(())
}

/// The newest entry's (seq, hash), or (0, genesis) for an empty record.
async fn read_head(conn: &mut AnyConnection) -> Result<(i64, String), sqlx::Error> {
    let row = sqlx::query("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok((row.try_get("seq")?, row.try_get("entry_hash")?)),
        None => Ok((0, GENESIS_HASH.to_owned())),
    }
}

async fn apply(conn: &mut AnyConnection, change: &MappingChange) -> Result<(), sqlx::Error> {
    match change {
        MappingChange::None => {}
        MappingChange::InsertMessage(m) => {
            message::insert_query(m).execute(conn).await?;
        }
        MappingChange::InsertReaction(r) => {
            reaction::insert_query(r).execute(conn).await?;
        }
        MappingChange::DeleteMessage { portal, remote_id } => {
            message::delete_query(portal, remote_id)
                .execute(conn)
                .await?;
        }
        MappingChange::DeleteReaction { portal, event_id } => {
            reaction::delete_in_query(portal, event_id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn insert_entry(
    conn: &mut AnyConnection,
    seq: i64,
    prev_hash: &str,
    entry_hash: &str,
    d: &AuditDraft,
    content_sealed: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO audit_log (seq, at_ms, direction, action, connector, chat, receiver,
                                room_id, matrix_event_id, remote_message_id, matrix_sender,
                                remote_sender, content_digest, prev_hash, entry_hash,
                                content_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (direction, connector, chat, receiver, matrix_event_id) DO NOTHING",
    )
    .bind(seq)
    .bind(d.at_ms)
    .bind(d.direction.as_str())
    .bind(d.action.as_str())
    .bind(d.portal.connector.as_str())
    .bind(d.portal.chat.as_str())
    .bind(receiver_column(&d.portal))
    .bind(d.room_id.as_str())
    .bind(d.matrix_event_id.as_str())
    .bind(d.remote_message_id.as_ref().map(RemoteMessageId::as_str))
    .bind(d.matrix_sender.as_str())
    .bind(d.remote_sender.as_str())
    .bind(d.content_digest.as_deref())
    .bind(prev_hash)
    .bind(entry_hash)
    .bind(content_sealed)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Reads an entry back. An unknown direction or action is kept readable (as an alteration
/// that verification will catch) rather than refused: a tampered row must still be reported.
fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    let direction: String = row.try_get("direction")?;
    let action: String = row.try_get("action")?;
    let corrupt = |what: &str, value: &str| {
        sqlx::Error::Decode(
            format!("audit_log {what} {value:?} is not one the bridge writes").into(),
        )
    };
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        draft: AuditDraft {
            at_ms: row.try_get("at_ms")?,
            direction: AuditDirection::parse(&direction)
                .ok_or_else(|| corrupt("direction", &direction))?,
            action: AuditAction::parse(&action).ok_or_else(|| corrupt("action", &action))?,
            portal: key_from_row(row)?,
            room_id: row.try_get("room_id")?,
            matrix_event_id: row.try_get("matrix_event_id")?,
            remote_message_id: row
                .try_get::<Option<String>, _>("remote_message_id")?
                .map(RemoteMessageId::new),
            matrix_sender: row.try_get("matrix_sender")?,
            remote_sender: row.try_get("remote_sender")?,
            content_digest: row.try_get("content_digest")?,
            content: None,
        },
        prev_hash: row.try_get("prev_hash")?,
        entry_hash: row.try_get("entry_hash")?,
    })
}

/// Where an entry's content is sealed: bound into the seal, so content moved to another
/// entry no longer opens.
fn content_place(seq: &str) -> Place<'_> {
    Place {
        connector: "audit_log",
        id: seq,
        column: "content",
    }
}

/// The content kept for entry `seq`, opened with `key`.
pub(crate) async fn content(
    pool: &AnyPool,
    seq: i64,
    key: Option<&SecretsKey>,
) -> Result<Option<String>> {
    const OP: &str = "audit_content";
    let sealed: Option<Option<String>> =
        sqlx::query_scalar("SELECT content_sealed FROM audit_log WHERE seq = $1")
            .bind(seq)
            .fetch_optional(pool)
            .await
            .map_err(query(OP))?;
    let Some(sealed) = sealed.flatten() else {
        return Ok(None);
    };
    let seq = seq.to_string();
    sealing::open(key, content_place(&seq), &sealed)
        .map(Some)
        .map_err(|source| Error::Sealing { op: OP, source })
}

/// Entries matching `q`, oldest first.
pub(crate) async fn entries(pool: &AnyPool, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    const OP: &str = "audit_entries";
    let rows = sqlx::query(
        "SELECT seq, at_ms, direction, action, connector, chat, receiver, room_id,
                matrix_event_id, remote_message_id, matrix_sender, remote_sender,
                content_digest, prev_hash, entry_hash
         FROM audit_log
         WHERE seq > $1 AND ($2 IS NULL OR at_ms >= $2) AND ($3 IS NULL OR at_ms < $3)
           AND ($4 IS NULL OR room_id = $4)
         ORDER BY seq LIMIT $5",
    )
    .bind(q.after_seq)
    .bind(q.from_ms)
    .bind(q.until_ms)
    .bind(q.room_id.as_deref())
    .bind(q.limit)
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(entry_from_row)
        .collect::<Result<_, _>>()
        .map_err(query(OP))
}

/// The newest entry's (seq, hash); (0, genesis) when empty.
pub(crate) async fn head(pool: &AnyPool) -> Result<(i64, String)> {
    let mut conn = pool.acquire().await.map_err(query("audit_head"))?;
    read_head(&mut conn).await.map_err(query("audit_head"))
}

/// The newest seal, and the newest one made at or before `before_ms`: what sealing and
/// pruning need, without reading every seal each interval.
pub(crate) async fn newest_seal(
    pool: &AnyPool,
    before_ms: Option<i64>,
) -> Result<Option<AuditSeal>> {
    const OP: &str = "newest_audit_seal";
    let row = sqlx::query(
        "SELECT seq, entry_hash, sealed_at_ms, public_key, signature FROM audit_seal
         WHERE ($1 IS NULL OR sealed_at_ms <= $1) ORDER BY seq DESC LIMIT 1",
    )
    .bind(before_ms)
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref()
        .map(seal_from_row)
        .transpose()
        .map_err(query(OP))
}

fn seal_from_row(row: &AnyRow) -> Result<AuditSeal, sqlx::Error> {
    Ok(AuditSeal {
        seq: row.try_get("seq")?,
        entry_hash: row.try_get("entry_hash")?,
        sealed_at_ms: row.try_get("sealed_at_ms")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

/// Every seal, oldest entry first.
pub(crate) async fn seals(pool: &AnyPool) -> Result<Vec<AuditSeal>> {
    const OP: &str = "audit_seals";
    let rows = sqlx::query(
        "SELECT seq, entry_hash, sealed_at_ms, public_key, signature FROM audit_seal ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(seal_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(query(OP))
}

/// Keeps a seal; a second seal of the same entry is ignored.
pub(crate) async fn insert_seal(writer: &AnyPool, seal: &AuditSeal) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_seal (seq, entry_hash, sealed_at_ms, public_key, signature)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
    )
    .bind(seal.seq)
    .bind(seal.entry_hash.as_str())
    .bind(seal.sealed_at_ms)
    .bind(seal.public_key.as_str())
    .bind(seal.signature.as_str())
    .execute(writer)
    .await
    .map_err(query("insert_audit_seal"))?;
    Ok(())
}

/// Drops the entries and seals before `checkpoint` in one transaction; the checkpoint entry
/// and its seal stay, as where the rest starts. Returns the number of entries dropped. The
/// caller checks that the checkpoint is sealed.
pub(crate) async fn prune_through(writer: &AnyPool, checkpoint: i64) -> Result<u64> {
    const OP: &str = "prune_audit";
    let mut tx = writer.begin().await.map_err(query(OP))?;
    let dropped = sqlx::query("DELETE FROM audit_log WHERE seq < $1")
        .bind(checkpoint)
        .execute(&mut *tx)
        .await
        .map_err(query(OP))?
        .rows_affected();
    sqlx::query("DELETE FROM audit_seal WHERE seq < $1")
        .bind(checkpoint)
        .execute(&mut *tx)
        .await
        .map_err(query(OP))?;
    tx.commit().await.map_err(query(OP))?;
    Ok(dropped)
}
