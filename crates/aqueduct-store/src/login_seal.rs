//! Whole-table passes over the `login` table's sealed columns: whether any value is sealed,
//! and re-sealing every login (legacy plaintext at start, all of them for a key rotation) in
//! one transaction.

use crate::error::{Error, Result, query};
use crate::sealing::{self, Place};
use crate::secrets_key::SecretsKey;
use sqlx::{AnyPool, Row};

/// Whether any login's `secret` or `state` is sealed.
pub(crate) async fn any_sealed(pool: &AnyPool) -> Result<bool> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM login WHERE secret LIKE 'sealed:%' OR state LIKE 'sealed:%'",
    )
    .fetch_one(pool)
    .await
    .map_err(query("secrets_sealed"))?;
    Ok(count > 0)
}

/// Makes every login's `secret` and `state` sealed with `to`, in one transaction, and
/// returns how many logins were rewritten. A value already sealed with `to` is opened (which
/// proves the key) and kept; any other value is opened with `from` (legacy plaintext needs no
/// key) and sealed with `to`. The first value that does not open fails the whole pass and
/// nothing is written.
pub(crate) async fn reseal(
    pool: &AnyPool,
    op: &'static str,
    from: Option<&SecretsKey>,
    to: &SecretsKey,
) -> Result<u64> {
    let mut tx = pool.begin().await.map_err(query(op))?;
    let rows = sqlx::query("SELECT connector, id, secret, state FROM login ORDER BY connector, id")
        .fetch_all(&mut *tx)
        .await
        .map_err(query(op))?;
    let mut rewritten = 0;
    for row in rows {
        let text = |column: &str| row.try_get::<String, _>(column).map_err(query(op));
        let (connector, id) = (text("connector")?, text("id")?);
        let mut changed = false;
        let mut new = Vec::with_capacity(2);
        for column in ["secret", "state"] {
            let place = Place {
                connector: &connector,
                id: &id,
                column,
            };
            let old = text(column)?;
            let sealing = |source| Error::Sealing { op, source };
            if sealing::key_id_of(&old) == Some(to.id()) {
                sealing::open(Some(to), place, &old).map_err(sealing)?;
                new.push(old);
            } else {
                let plain = sealing::open(from, place, &old).map_err(sealing)?;
                new.push(sealing::seal(to, place, &plain));
                changed = true;
            }
        }
        if changed {
            sqlx::query(
                "UPDATE login SET secret = $3, state = $4 WHERE connector = $1 AND id = $2",
            )
            .bind(&connector)
            .bind(&id)
            .bind(&new[0])
            .bind(&new[1])
            .execute(&mut *tx)
            .await
            .map_err(query(op))?;
            rewritten += 1;
        }
    }
    tx.commit().await.map_err(query(op))?;
    Ok(rewritten)
}
