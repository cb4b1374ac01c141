//! The `reaction` table: which Matrix `m.reaction` event stands for which remote reaction.
//! The reaction key lives in column `reaction_key` (`key` is an SQL keyword).

use crate::error::{Result, query};
use crate::portal::{key_from_row, receiver_column};
use aqueduct_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::ReactionRecord;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

fn from_row(row: &AnyRow) -> Result<ReactionRecord, sqlx::Error> {
    Ok(ReactionRecord {
        portal: key_from_row(row)?,
        target: RemoteMessageId::new(row.try_get::<String, _>("target")?),
        remote_sender: RemoteUserId::new(row.try_get::<String, _>("remote_sender")?),
        key: row.try_get("reaction_key")?,
        event_id: row.try_get("event_id")?,
    })
}

/// The insert of one record. A second record for the same (portal, target, sender, key) is
/// dropped, keeping the first.
pub(crate) fn insert_query(
    r: &ReactionRecord,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "INSERT INTO reaction (connector, chat, receiver, target, remote_sender, reaction_key, event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (connector, chat, receiver, target, remote_sender, reaction_key) DO NOTHING",
    )
    .bind(r.portal.connector.as_str())
    .bind(r.portal.chat.as_str())
    .bind(receiver_column(&r.portal))
    .bind(r.target.as_str())
    .bind(r.remote_sender.as_str())
    .bind(r.key.as_str())
    .bind(r.event_id.as_str())
}

pub(crate) async fn insert(pool: &AnyPool, r: &ReactionRecord) -> Result<()> {
    insert_query(r)
        .execute(pool)
        .await
        .map_err(query("insert_reaction"))?;
    Ok(())
}

pub(crate) async fn get(
    pool: &AnyPool,
    portal: &PortalKey,
    target: &RemoteMessageId,
    sender: &RemoteUserId,
    key: &str,
) -> Result<Option<ReactionRecord>> {
    const OP: &str = "reaction";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, target, remote_sender, reaction_key, event_id
         FROM reaction
         WHERE connector = $1 AND chat = $2 AND receiver = $3
           AND target = $4 AND remote_sender = $5 AND reaction_key = $6",
    )
    .bind(portal.connector.as_str())
    .bind(portal.chat.as_str())
    .bind(receiver_column(portal))
    .bind(target.as_str())
    .bind(sender.as_str())
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

pub(crate) async fn by_event(pool: &AnyPool, event_id: &str) -> Result<Option<ReactionRecord>> {
    const OP: &str = "reaction_by_event";
    // LIMIT 1: event_id is indexed, not unique (a duplicate would be a bug, not a crash).
    let row = sqlx::query(
        "SELECT connector, chat, receiver, target, remote_sender, reaction_key, event_id
         FROM reaction WHERE event_id = $1 LIMIT 1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

/// The reaction an event carries in one portal (a hub room records one per portal).
pub(crate) async fn by_event_in(
    pool: &AnyPool,
    portal: &PortalKey,
    event_id: &str,
) -> Result<Option<ReactionRecord>> {
    const OP: &str = "reaction_by_event_in";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, target, remote_sender, reaction_key, event_id
         FROM reaction
         WHERE event_id = $1 AND connector = $2 AND chat = $3 AND receiver = $4 LIMIT 1",
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

/// Forgets the reaction an event carries in one portal only.
/// The delete of the reaction a Matrix event carries in one portal.
pub(crate) fn delete_in_query<'q>(
    portal: &'q PortalKey,
    event_id: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(
        "DELETE FROM reaction
         WHERE event_id = $1 AND connector = $2 AND chat = $3 AND receiver = $4",
    )
    .bind(event_id)
    .bind(portal.connector.as_str())
    .bind(portal.chat.as_str())
    .bind(receiver_column(portal))
}

pub(crate) async fn delete_by_event_in(
    pool: &AnyPool,
    portal: &PortalKey,
    event_id: &str,
) -> Result<()> {
    delete_in_query(portal, event_id)
        .execute(pool)
        .await
        .map_err(query("delete_reaction_in"))?;
    Ok(())
}

pub(crate) async fn delete_by_event(pool: &AnyPool, event_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM reaction WHERE event_id = $1")
        .bind(event_id)
        .execute(pool)
        .await
        .map_err(query("delete_reaction"))?;
    Ok(())
}

/// Every reaction of a portal. Part of `delete_portal`.
pub(crate) async fn delete_in_portal(
    conn: &mut AnyConnection,
    portal: &PortalKey,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM reaction WHERE connector = $1 AND chat = $2 AND receiver = $3")
        .bind(portal.connector.as_str())
        .bind(portal.chat.as_str())
        .bind(receiver_column(portal))
        .execute(conn)
        .await?;
    Ok(())
}
