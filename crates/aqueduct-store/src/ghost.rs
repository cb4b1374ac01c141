//! The `ghost` table: the Matrix puppet of each remote user, and what was last set on its
//! profile (so unchanged names and avatars are not pushed again).

use crate::error::{Result, query};
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use aqueduct_core::records::Ghost;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

fn from_row(row: &AnyRow) -> Result<Ghost, sqlx::Error> {
    Ok(Ghost {
        connector: ConnectorId::new(row.try_get::<String, _>("connector")?),
        remote_user: RemoteUserId::new(row.try_get::<String, _>("remote_user")?),
        mxid: row.try_get("mxid")?,
        display_name: row.try_get("display_name")?,
        avatar_mxc: row.try_get("avatar_mxc")?,
        avatar_source: row.try_get("avatar_source")?,
        registered: row.try_get::<i64, _>("registered")? != 0,
    })
}

pub(crate) async fn get(
    pool: &AnyPool,
    connector: &ConnectorId,
    user: &RemoteUserId,
) -> Result<Option<Ghost>> {
    const OP: &str = "ghost";
    let row = sqlx::query(
        "SELECT connector, remote_user, mxid, display_name, avatar_mxc, avatar_source, registered
         FROM ghost WHERE connector = $1 AND remote_user = $2",
    )
    .bind(connector.as_str())
    .bind(user.as_str())
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

pub(crate) async fn upsert(pool: &AnyPool, ghost: &Ghost) -> Result<()> {
    sqlx::query(
        "INSERT INTO ghost (connector, remote_user, mxid, display_name, avatar_mxc, avatar_source, registered)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (connector, remote_user) DO UPDATE SET
             mxid = excluded.mxid, display_name = excluded.display_name,
             avatar_mxc = excluded.avatar_mxc, avatar_source = excluded.avatar_source,
             registered = excluded.registered",
    )
    .bind(ghost.connector.as_str())
    .bind(ghost.remote_user.as_str())
    .bind(ghost.mxid.as_str())
    .bind(ghost.display_name.as_deref())
    .bind(ghost.avatar_mxc.as_deref())
    .bind(ghost.avatar_source.as_deref())
    .bind(i64::from(ghost.registered))
    .execute(pool)
    .await
    .map_err(query("upsert_ghost"))?;
    Ok(())
}
