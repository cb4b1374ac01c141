//! The `portal` table: one row per remote chat (per receiving login, for direct chats), and
//! the helpers every table keyed by a portal uses to store a [`PortalKey`].

use crate::error::{Result, query};
use crate::{message, reaction};
use aqueduct_core::ids::{ConnectorId, LoginId, PortalKey, RemoteChatId};
use aqueduct_core::records::Portal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

/// The `receiver` column of a key. A shared portal has no receiver; it is stored as '' rather
/// than NULL because the column is part of primary keys, where NULL is not allowed (and NULLs
/// never compare equal). An empty login id therefore reads back as "no receiver".
pub(crate) fn receiver_column(key: &PortalKey) -> &str {
    key.receiver.as_ref().map_or("", LoginId::as_str)
}

/// Reads the key from a row's `connector`, `chat` and `receiver` columns.
pub(crate) fn key_from_row(row: &AnyRow) -> Result<PortalKey, sqlx::Error> {
    let receiver: String = row.try_get("receiver")?;
    Ok(PortalKey {
        connector: ConnectorId::new(row.try_get::<String, _>("connector")?),
        chat: RemoteChatId::new(row.try_get::<String, _>("chat")?),
        receiver: (!receiver.is_empty()).then(|| LoginId::new(receiver)),
    })
}

fn from_row(row: &AnyRow) -> Result<Portal, sqlx::Error> {
    Ok(Portal {
        key: key_from_row(row)?,
        room_id: row.try_get("room_id")?,
        name: row.try_get("name")?,
        topic: row.try_get("topic")?,
        is_direct: row.try_get::<i64, _>("is_direct")? != 0,
        relay_login: row
            .try_get::<Option<String>, _>("relay_login")?
            .map(LoginId::new),
    })
}

pub(crate) async fn by_key(pool: &AnyPool, key: &PortalKey) -> Result<Option<Portal>> {
    const OP: &str = "portal_by_key";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, room_id, name, topic, is_direct, relay_login
         FROM portal WHERE connector = $1 AND chat = $2 AND receiver = $3",
    )
    .bind(key.connector.as_str())
    .bind(key.chat.as_str())
    .bind(receiver_column(key))
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

pub(crate) async fn by_room(pool: &AnyPool, room_id: &str) -> Result<Option<Portal>> {
    const OP: &str = "portal_by_room";
    let row = sqlx::query(
        "SELECT connector, chat, receiver, room_id, name, topic, is_direct, relay_login
         FROM portal WHERE room_id = $1 ORDER BY connector, chat, receiver LIMIT 1",
    )
    .bind(room_id)
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

/// Every portal of a room (a hub room has several), ordered by key.
pub(crate) async fn all_by_room(pool: &AnyPool, room_id: &str) -> Result<Vec<Portal>> {
    const OP: &str = "portals_by_room";
    let rows = sqlx::query(
        "SELECT connector, chat, receiver, room_id, name, topic, is_direct, relay_login
         FROM portal WHERE room_id = $1 ORDER BY connector, chat, receiver",
    )
    .bind(room_id)
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(from_row)
        .collect::<Result<_, _>>()
        .map_err(query(OP))
}

pub(crate) async fn upsert(pool: &AnyPool, portal: &Portal) -> Result<()> {
    sqlx::query(
        "INSERT INTO portal (connector, chat, receiver, room_id, name, topic, is_direct, relay_login)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (connector, chat, receiver) DO UPDATE SET
             room_id = excluded.room_id, name = excluded.name, topic = excluded.topic,
             is_direct = excluded.is_direct, relay_login = excluded.relay_login",
    )
    .bind(portal.key.connector.as_str())
    .bind(portal.key.chat.as_str())
    .bind(receiver_column(&portal.key))
    .bind(portal.room_id.as_deref())
    .bind(portal.name.as_deref())
    .bind(portal.topic.as_deref())
    .bind(i64::from(portal.is_direct))
    .bind(portal.relay_login.as_ref().map(LoginId::as_str))
    .execute(pool)
    .await
    .map_err(query("upsert_portal"))?;
    Ok(())
}

/// Deletes the portal and its message and reaction mappings together, so no orphan mapping
/// outlives it (there are no foreign keys: mappings may be recorded before the portal row).
pub(crate) async fn delete(pool: &AnyPool, key: &PortalKey) -> Result<()> {
    const OP: &str = "delete_portal";
    let mut tx = pool.begin().await.map_err(query(OP))?;
    message::delete_in_portal(&mut tx, key)
        .await
        .map_err(query(OP))?;
    reaction::delete_in_portal(&mut tx, key)
        .await
        .map_err(query(OP))?;
    sqlx::query("DELETE FROM portal WHERE connector = $1 AND chat = $2 AND receiver = $3")
        .bind(key.connector.as_str())
        .bind(key.chat.as_str())
        .bind(receiver_column(key))
        .execute(&mut *tx)
        .await
        .map_err(query(OP))?;
    tx.commit().await.map_err(query(OP))
}

/// Ordered by key so start-up walks portals in a stable order.
pub(crate) async fn list_with_room(pool: &AnyPool) -> Result<Vec<Portal>> {
    const OP: &str = "list_portals";
    let rows = sqlx::query(
        "SELECT connector, chat, receiver, room_id, name, topic, is_direct, relay_login
         FROM portal WHERE room_id IS NOT NULL ORDER BY connector, chat, receiver",
    )
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter()
        .map(from_row)
        .collect::<Result<_, _>>()
        .map_err(query(OP))
}

/// Portals of `connector` relaying through login `id` stop relaying. Part of `delete_login`.
pub(crate) async fn clear_relay(
    conn: &mut AnyConnection,
    connector: &ConnectorId,
    id: &LoginId,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE portal SET relay_login = NULL WHERE connector = $1 AND relay_login = $2")
        .bind(connector.as_str())
        .bind(id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
