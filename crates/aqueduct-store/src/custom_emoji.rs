//! The `custom_emoji` table: which `mxc://` upload stands for which network custom emoji image.

use crate::error::{Result, query};
use aqueduct_core::ids::ConnectorId;
use aqueduct_core::records::CustomEmojiRecord;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

fn from_row(row: &AnyRow) -> Result<CustomEmojiRecord, sqlx::Error> {
    Ok(CustomEmojiRecord {
        connector: ConnectorId::new(row.try_get::<String, _>("connector")?),
        source: row.try_get("source")?,
        mxc: row.try_get("mxc")?,
        shortcode: row.try_get("shortcode")?,
    })
}

/// A second record for the same source is dropped, keeping the first.
pub(crate) async fn insert(pool: &AnyPool, e: &CustomEmojiRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO custom_emoji (source, connector, mxc, shortcode) VALUES ($1, $2, $3, $4)
         ON CONFLICT (source) DO NOTHING",
    )
    .bind(e.source.as_str())
    .bind(e.connector.as_str())
    .bind(e.mxc.as_str())
    .bind(e.shortcode.as_str())
    .execute(pool)
    .await
    .map_err(query("insert_custom_emoji"))?;
    Ok(())
}

pub(crate) async fn by_source(pool: &AnyPool, source: &str) -> Result<Option<CustomEmojiRecord>> {
    const OP: &str = "custom_emoji_by_source";
    let row =
        sqlx::query("SELECT source, connector, mxc, shortcode FROM custom_emoji WHERE source = $1")
            .bind(source)
            .fetch_optional(pool)
            .await
            .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}

pub(crate) async fn by_mxc(pool: &AnyPool, mxc: &str) -> Result<Option<CustomEmojiRecord>> {
    const OP: &str = "custom_emoji_by_mxc";
    // LIMIT 1: an upload belongs to one source; the index is not unique so that a duplicate
    // would be a bug, not a crash.
    let row = sqlx::query(
        "SELECT source, connector, mxc, shortcode FROM custom_emoji WHERE mxc = $1 LIMIT 1",
    )
    .bind(mxc)
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.as_ref().map(from_row).transpose().map_err(query(OP))
}
