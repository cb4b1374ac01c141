//! The `membership` table: which users the bridge already put into which rooms, so it does
//! not invite or join them again on every message. A row means "member"; no row, "not known
//! to be".

use crate::error::{Result, query};
use sqlx::AnyPool;

pub(crate) async fn is_member(pool: &AnyPool, room_id: &str, user_id: &str) -> Result<bool> {
    // Selecting a column rather than EXISTS(...): EXISTS is a BOOLEAN on PostgreSQL but an
    // integer on SQLite, and `Any` decodes neither as the other.
    let row = sqlx::query("SELECT user_id FROM membership WHERE room_id = $1 AND user_id = $2")
        .bind(room_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await
        .map_err(query("is_member"))?;
    Ok(row.is_some())
}

/// Both directions are idempotent: setting twice or forgetting an unknown pair is fine.
pub(crate) async fn set(pool: &AnyPool, room_id: &str, user_id: &str, member: bool) -> Result<()> {
    let sql = if member {
        "INSERT INTO membership (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM membership WHERE room_id = $1 AND user_id = $2"
    };
    sqlx::query(sql)
        .bind(room_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(query("set_member"))?;
    Ok(())
}

pub(crate) async fn forget_room(pool: &AnyPool, room_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM membership WHERE room_id = $1")
        .bind(room_id)
        .execute(pool)
        .await
        .map_err(query("forget_room_members"))?;
    Ok(())
}
