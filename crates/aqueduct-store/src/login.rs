//! The `login` table: remote accounts and the Matrix users who own them. `secret` and `state`
//! are connector-owned JSON, stored as TEXT (the one JSON type both backends share through
//! `Any`), sealed with the store's secrets key when it has one (`sealing.rs`).

use crate::error::{Error, Result, query};
use crate::portal;
use crate::sealing::{self, Place};
use crate::secrets_key::SecretsKey;
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::records::Login;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

fn from_row(op: &'static str, row: &AnyRow, key: Option<&SecretsKey>) -> Result<Login> {
    let text = |column: &str| row.try_get::<String, _>(column).map_err(query(op));
    let (connector, id) = (text("connector")?, text("id")?);
    let open = |column: &'static str| {
        let place = Place {
            connector: &connector,
            id: &id,
            column,
        };
        sealing::open(key, place, &text(column)?).map_err(|source| Error::Sealing { op, source })
    };
    Ok(Login {
        secret: json(op, "login secret", &open("secret")?)?,
        state: json(op, "login state", &open("state")?)?,
        connector: ConnectorId::new(connector.clone()),
        id: LoginId::new(id.clone()),
        matrix_user: text("matrix_user")?,
        remote_user: RemoteUserId::new(text("remote_user")?),
        remote_name: text("remote_name")?,
    })
}

/// What to store in `column` of the login (`connector`, `id`): `value` sealed with `key`, or
/// plain JSON without one.
fn stored(
    key: Option<&SecretsKey>,
    connector: &ConnectorId,
    id: &LoginId,
    column: &'static str,
    value: &Value,
) -> String {
    let json = value.to_string();
    match key {
        Some(key) => {
            let place = Place {
                connector: connector.as_str(),
                id: id.as_str(),
                column,
            };
            sealing::seal(key, place, &json)
        }
        None => json,
    }
}

/// Parses a stored JSON column. The error names the column but never quotes it: the secret
/// holds credentials.
fn json(op: &'static str, what: &'static str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        op,
        what,
        detail: e.to_string(),
    })
}

pub(crate) async fn get(
    pool: &AnyPool,
    key: Option<&SecretsKey>,
    connector: &ConnectorId,
    id: &LoginId,
) -> Result<Option<Login>> {
    const OP: &str = "login";
    let row = sqlx::query(
        "SELECT connector, id, matrix_user, remote_user, remote_name, secret, state
         FROM login WHERE connector = $1 AND id = $2",
    )
    .bind(connector.as_str())
    .bind(id.as_str())
    .fetch_optional(pool)
    .await
    .map_err(query(OP))?;
    row.map(|row| from_row(OP, &row, key)).transpose()
}

pub(crate) async fn of_user(
    pool: &AnyPool,
    key: Option<&SecretsKey>,
    matrix_user: &str,
) -> Result<Vec<Login>> {
    const OP: &str = "logins_of_user";
    let rows = sqlx::query(
        "SELECT connector, id, matrix_user, remote_user, remote_name, secret, state
         FROM login WHERE matrix_user = $1 ORDER BY connector, id",
    )
    .bind(matrix_user)
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter().map(|row| from_row(OP, row, key)).collect()
}

pub(crate) async fn list(pool: &AnyPool, key: Option<&SecretsKey>) -> Result<Vec<Login>> {
    const OP: &str = "list_logins";
    let rows = sqlx::query(
        "SELECT connector, id, matrix_user, remote_user, remote_name, secret, state
         FROM login ORDER BY connector, id",
    )
    .fetch_all(pool)
    .await
    .map_err(query(OP))?;
    rows.iter().map(|row| from_row(OP, row, key)).collect()
}

/// Every login's (connector, id), without the connector-owned columns, which can be large.
pub(crate) async fn keys(pool: &AnyPool) -> Result<Vec<(ConnectorId, LoginId)>> {
    const OP: &str = "login_keys";
    let rows = sqlx::query("SELECT connector, id FROM login ORDER BY connector, id")
        .fetch_all(pool)
        .await
        .map_err(query(OP))?;
    rows.iter()
        .map(|row| {
            let text = |column: &str| row.try_get::<String, _>(column).map_err(query(OP));
            Ok((
                ConnectorId::new(text("connector")?),
                LoginId::new(text("id")?),
            ))
        })
        .collect()
}

pub(crate) async fn upsert(pool: &AnyPool, key: Option<&SecretsKey>, login: &Login) -> Result<()> {
    sqlx::query(
        "INSERT INTO login (connector, id, matrix_user, remote_user, remote_name, secret, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (connector, id) DO UPDATE SET
             matrix_user = excluded.matrix_user, remote_user = excluded.remote_user,
             remote_name = excluded.remote_name, secret = excluded.secret, state = excluded.state",
    )
    .bind(login.connector.as_str())
    .bind(login.id.as_str())
    .bind(login.matrix_user.as_str())
    .bind(login.remote_user.as_str())
    .bind(login.remote_name.as_str())
    .bind(stored(
        key,
        &login.connector,
        &login.id,
        "secret",
        &login.secret,
    ))
    .bind(stored(
        key,
        &login.connector,
        &login.id,
        "state",
        &login.state,
    ))
    .execute(pool)
    .await
    .map_err(query("upsert_login"))?;
    Ok(())
}

/// Touches only `state`, so a connector saving a cursor cannot race a re-login's new secret.
/// Setting the state of an unknown login does nothing.
pub(crate) async fn set_state(
    pool: &AnyPool,
    key: Option<&SecretsKey>,
    connector: &ConnectorId,
    id: &LoginId,
    state: &Value,
) -> Result<()> {
    sqlx::query("UPDATE login SET state = $3 WHERE connector = $1 AND id = $2")
        .bind(connector.as_str())
        .bind(id.as_str())
        .bind(stored(key, connector, id, "state", state))
        .execute(pool)
        .await
        .map_err(query("set_login_state"))?;
    Ok(())
}

/// Deletes the login and, in the same transaction, stops portals relaying through it: a
/// relay pointing at a login that no longer exists would fail every relayed message.
pub(crate) async fn delete(pool: &AnyPool, connector: &ConnectorId, id: &LoginId) -> Result<()> {
    const OP: &str = "delete_login";
    let mut tx = pool.begin().await.map_err(query(OP))?;
    portal::clear_relay(&mut tx, connector, id)
        .await
        .map_err(query(OP))?;
    sqlx::query("DELETE FROM login WHERE connector = $1 AND id = $2")
        .bind(connector.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(query(OP))?;
    tx.commit().await.map_err(query(OP))
}
