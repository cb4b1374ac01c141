//! The `management_room` table: each Matrix user's private room with the bridge bot.

use crate::error::{Result, query};
use sqlx::AnyPool;

pub(crate) async fn get(pool: &AnyPool, matrix_user: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT room_id FROM management_room WHERE matrix_user = $1")
        .bind(matrix_user)
        .fetch_optional(pool)
        .await
        .map_err(query("management_room"))
}

pub(crate) async fn set(pool: &AnyPool, matrix_user: &str, room_id: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO management_room (matrix_user, room_id) VALUES ($1, $2)
         ON CONFLICT (matrix_user) DO UPDATE SET room_id = excluded.room_id",
    )
    .bind(matrix_user)
    .bind(room_id)
    .execute(pool)
    .await
    .map_err(query("set_management_room"))?;
    Ok(())
}
