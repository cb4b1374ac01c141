//! The `message` table: which Matrix event carries which part of which remote message. The
//! `seq` column records insertion order: parts are read back in the order they were bridged
//! (part names are the connector's and need not sort), and it breaks timestamp ties.

use crate::error::{Result, query};
use crate::portal::{key_from_row, receiver_column};
use aqueduct_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::MessageRecord;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

fn from_row(row: &AnyRow) -> Result<MessageRecord, sqlx::Error> {
    Ok(MessageRecord {
        portal: key_from_row(row)?,
        remote_id: RemoteMessageId::new(row.try_get::<String, _>("remote_id")?),
        part: row.try_get("part")?,
        event_id: row.try_get("event_id")?,
        room_id: row.try_get("room_id")?,
        sender_mxid: row.try_get("sender_mxid")?,
        remote_sender: RemoteUserId::new(row.try_get::<String, _>("remote_sender")?),
        thread_root: row
            .try_get::<Option<String>, _>("thread_root")?
            .map(RemoteMessageId::new),
        timestamp_ms: row.try_get("timestamp_ms")?,
    })
}

/// The insert of one record. A second record for the same (portal, remote id, part) is
/// dropped, keeping the first: a remote message redelivered after a restart must not remap to
/// a new event.
pub(crate) fn insert_query(
    m: &MessageRecord,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO message (connector, chat, receiver, remote_id, part, event_id, room_id,
                              sender_mxid, remote_sender, thread_root, timestamp_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (connector, chat, receiver, remote_id, part) DO NOTHING",
    )
    .bind(m.portal.connector.as_str())
    .bind(m.portal.chat.as_str())
    .bind(receiver_column(&m.portal))
    .bind(m.remote_id.as_str())
    .bind(m.part.as_str())
    .bind(m.event_id.as_str())
    .bind(m.room_id.as_str())
    .bind(m.sender_mxid.as_str())
    .bind(m.remote_sender.as_str())
    .bind(m.thread_root.as_ref().map(RemoteMessageId::as_str))
    .bind(m.timestamp_ms)
}

pub(crate) async fn insert(pool: &AnyPool, m: &MessageRecord) -> Result<()> {
    insert_query(m)
        .execute(pool)
        .await
        .map_err(query("insert_message"))?;
    Ok(())
}

/// Several records in one transaction: one commit (one fsync on SQLite) for all of them.
pub(crate) async fn insert_many(pool: &AnyPool, records: &[MessageRecord]) -> Result<()> {
    const OP: &str = "insert_messages";
    let mut tx = pool.begin().await.map_err(query(OP))?;
    for m in records {
        insert_query(m).execute(&mut *tx).await.map_err(query(OP))?;
    }
    tx.commit().await.map_err(query(OP))
}

pub(crate) async fn parts(
    pool: &AnyPool,
    portal: &PortalKey,
    remote_id: &RemoteMessageId,
) -> Result<Vec<MessageRecord>> {
    const OP: &str = "message_parts";
    let rows = sqlx::query(
        "SELECT connector, chat, receiver, remote_id, part, event_id, room_id, sender_mxid,
                remote_sender, thread_root, timestamp_ms
         FROM message WHERE connector = $1 AND chat = $2 AND receiver = $3 AND remote_id = $4
         ORDER BY seq",
    )
    .bind(portal.connector.as_str())
    .bind(portal.chat.as_str())
    .bind(receiver_column(portal))
    .bind(remote_id.as_str())
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(from_row)
        .collect::<Result<_, _>>()
        .map_err(query(OP))
}

/// An event carries one part; should it somehow carry several, the first recorded wins.
pub(crate) async fn by_event(pool: &AnyPool, event_id: &str) -> Result<Option<MessageRecord>> {
    const OP: &str = "message_by_event";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, remote_id, part, event_id, room_id, sender_mxid,
                remote_sender, thread_root, timestamp_ms
         FROM message WHERE event_id = $1 ORDER BY seq LIMIT 1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

/// The part an event carries in one portal: in a hub room one Matrix event maps to one
/// message per portal.
pub(crate) async fn by_event_in(
    pool: &AnyPool,
    portal: &PortalKey,
    event_id: &str,
) -> Result<Option<MessageRecord>> {
    const OP: &str = "message_by_event_in";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, remote_id, part, event_id, room_id, sender_mxid,
                remote_sender, thread_root, timestamp_ms
         FROM message
         WHERE event_id = $1 AND connector = $2 AND chat = $3 AND receiver = $4
         ORDER BY seq LIMIT 1",
    )
    .bind(event_id)
    .bind(portal.connector.as_str())
    .bind(portal.chat.as_str())
    .bind(receiver_column(portal))
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

/// The delete of every part of one remote message.
pub(crate) fn delete_query<'q>(
    portal: &'q PortalKey,
    remote_id: &'q RemoteMessageId,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "DELETE FROM message
         WHERE connector = $1 AND chat = $2 AND receiver = $3 AND remote_id = $4",
    )
    .bind(portal.connector.as_str())
    .bind(portal.chat.as_str())
    .bind(receiver_column(portal))
    .bind(remote_id.as_str())
}

pub(crate) async fn delete(
    pool: &AnyPool,
    portal: &PortalKey,
    remote_id: &RemoteMessageId,
) -> Result<()> {
    delete_query(portal, remote_id)
        .execute(pool)
        .await
        .map_err(query("delete_message"))?;
    Ok(())
}

/// Newest by remote timestamp; among equal timestamps the one recorded last.
pub(crate) async fn last(pool: &AnyPool, portal: &PortalKey) -> Result<Option<MessageRecord>> {
    const OP: &str = "last_message";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, remote_id, part, event_id, room_id, sender_mxid,
                remote_sender, thread_root, timestamp_ms
         FROM message WHERE connector = $1 AND chat = $2 AND receiver = $3
         ORDER BY timestamp_ms DESC, seq DESC LIMIT 1",
    )
    .bind(portal.connector.as_str())
    .bind(portal.chat.as_str())
    .bind(receiver_column(portal))
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

/// Every message of a portal. Part of `delete_portal`.
pub(crate) async fn delete_in_portal(
    conn: &mut AnyConnection,
    portal: &PortalKey,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM message WHERE connector = $1 AND chat = $2 AND receiver = $3")
        .bind(portal.connector.as_str())
        .bind(portal.chat.as_str())
        .bind(receiver_column(portal))
        .execute(conn)
        .await?;
    Ok(())
}
