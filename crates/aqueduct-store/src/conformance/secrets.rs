//! Checks of sealed login secrets: what the database holds, reading it back, a wrong or
//! missing key, a value moved between rows, legacy plaintext, and key rotation.

use crate::{SecretsKey, SqlStore};
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::records::Login;
use aqueduct_core::store::Store;
use serde_json::json;

const TOKEN: &str = "xoxp-plaintext-token-4711";
const REFRESH: &str = "refresh-plaintext-0815";
const PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----MIIEvQIBADAN";

fn secret_login(connector: &str, id: &str) -> Login {
    Login {
        connector: ConnectorId::new(connector),
        id: LoginId::new(id),
        matrix_user: "@alice:x".into(),
        remote_user: RemoteUserId::new(format!("U-{id}")),
        remote_name: "Alice".into(),
        secret: json!({ "token": TOKEN, "password": "hunter2-plaintext" }),
        state: json!({ "refresh_token": REFRESH, "certificate": { "private_key": PRIVATE_KEY } }),
    }
}

/// The `secret` and `state` columns as stored.
async fn raw(store: &SqlStore, login: &Login) -> (String, String) {
    let row: (String, String) =
        sqlx::query_as("SELECT secret, state FROM login WHERE connector = $1 AND id = $2")
            .bind(login.connector.as_str())
            .bind(login.id.as_str())
            .fetch_one(&store.pool)
            .await
            .unwrap();
    row
}

fn assert_sealed_with(key: &SecretsKey, (secret, state): &(String, String)) {
    let prefix = format!("sealed:v1:{}:", key.id());
    for column in [secret, state] {
        assert!(column.starts_with(&prefix), "not sealed: {column}");
        for plaintext in [TOKEN, REFRESH, PRIVATE_KEY, "hunter2", "token"] {
            assert!(!column.contains(plaintext), "{plaintext} in {column}");
        }
    }
}

/// With a key, the columns hold `sealed:v1:<key id>:...` and no plaintext, and every read
/// gives the login back; each write seals afresh.
pub async fn secrets_sealed_at_rest_and_read_back(store: &SqlStore) {
    let key = SecretsKey::generate();
    let sealed = store.clone().with_secrets_key(key.clone()).await.unwrap();
    assert_eq!(sealed.secrets_key_id(), Some(key.id()));
    assert!(!sealed.holds_sealed_secrets().await.unwrap());
    let a = secret_login("slack", "a");
    sealed.upsert_login(&a).await.unwrap();
    let first = raw(store, &a).await;
    assert_sealed_with(&key, &first);
    assert!(sealed.holds_sealed_secrets().await.unwrap());
    assert_eq!(
        sealed.login(&a.connector, &a.id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(sealed.list_logins().await.unwrap(), vec![a.clone()]);
    assert_eq!(
        sealed.logins_of_user("@alice:x").await.unwrap(),
        vec![a.clone()]
    );
    let state = json!({ "refresh_token": REFRESH, "cursor": 42 });
    sealed
        .set_login_state(&a.connector, &a.id, &state)
        .await
        .unwrap();
    let second = raw(store, &a).await;
    assert_sealed_with(&key, &second);
    assert_eq!(second.0, first.0, "set_login_state touched the secret");
    assert_ne!(second.1, first.1);
    sealed.upsert_login(&a).await.unwrap();
    assert_ne!(
        raw(store, &a).await.0,
        first.0,
        "the same secret sealed twice alike"
    );
    assert_eq!(sealed.login(&a.connector, &a.id).await.unwrap(), Some(a));
}

/// A store given another key, or none, fails with a message naming key ids and never the
/// key; the database is left unchanged.
pub async fn secrets_wrong_or_missing_key_fails_clearly(store: &SqlStore) {
    let key = SecretsKey::generate();
    let sealed = store.clone().with_secrets_key(key.clone()).await.unwrap();
    let a = secret_login("teams", "a");
    sealed.upsert_login(&a).await.unwrap();
    let before = raw(store, &a).await;

    let other = SecretsKey::generate();
    let err = store
        .clone()
        .with_secrets_key(other.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "sealed with key id {}, not with the secrets key given (id {})",
            key.id(),
            other.id()
        )),
        "{err}"
    );
    for secret in [key.to_base64(), other.to_base64()] {
        assert!(!err.contains(secret.as_str()), "{err}");
    }
    // The unkeyed store reads no sealed value.
    let err = store.login(&a.connector, &a.id).await.unwrap_err().0;
    assert!(
        err.contains("sealed (key id") && err.contains("no secrets key was given"),
        "{err}"
    );
    assert_eq!(raw(store, &a).await, before);
}

/// A sealed value copied into another login's row does not open there.
pub async fn secrets_moved_to_another_row_do_not_open(store: &SqlStore) {
    let key = SecretsKey::generate();
    let sealed = store.clone().with_secrets_key(key).await.unwrap();
    let (a, b) = (secret_login("slack", "a"), secret_login("slack", "b"));
    sealed.upsert_login(&a).await.unwrap();
    sealed.upsert_login(&b).await.unwrap();
    let (a_secret, _) = raw(store, &a).await;
    sqlx::query("UPDATE login SET secret = $1 WHERE connector = 'slack' AND id = 'b'")
        .bind(&a_secret)
        .execute(&store.writer)
        .await
        .unwrap();
    let err = sealed.login(&b.connector, &b.id).await.unwrap_err().0;
    assert!(
        err.contains("secret of login slack/b does not open"),
        "{err}"
    );
    assert_eq!(sealed.login(&a.connector, &a.id).await.unwrap(), Some(a));
}

/// Logins written as plaintext (before sealing existed) are sealed when a key is given.
pub async fn secrets_plaintext_rows_are_sealed_when_a_key_is_given(store: &SqlStore) {
    let a = secret_login("rocketchat", "a");
    store.upsert_login(&a).await.unwrap();
    let (secret, _) = raw(store, &a).await;
    assert!(secret.contains(TOKEN), "an unkeyed store writes plaintext");
    assert!(!store.holds_sealed_secrets().await.unwrap());
    let key = SecretsKey::generate();
    let sealed = store.clone().with_secrets_key(key.clone()).await.unwrap();
    assert_sealed_with(&key, &raw(store, &a).await);
    assert_eq!(sealed.login(&a.connector, &a.id).await.unwrap(), Some(a));
}

/// Rotation re-seals every login with the new key; the old key no longer opens them. A
/// rotation that meets a value it cannot open changes nothing.
pub async fn secrets_rotation_reseals_every_login(store: &SqlStore) {
    let old = SecretsKey::generate();
    let mut sealed = store.clone().with_secrets_key(old.clone()).await.unwrap();
    let logins = [
        secret_login("slack", "a"),
        secret_login("teams", "b"),
        secret_login("rocketchat", "c"),
    ];
    for login in &logins {
        sealed.upsert_login(login).await.unwrap();
    }
    let new = SecretsKey::generate();
    assert_eq!(sealed.rotate_secrets_key(new.clone()).await.unwrap(), 3);
    assert_eq!(sealed.secrets_key_id(), Some(new.id()));
    for login in &logins {
        assert_sealed_with(&new, &raw(store, login).await);
        assert_eq!(
            sealed.login(&login.connector, &login.id).await.unwrap(),
            Some(login.clone())
        );
    }
    let reopened = store.clone().with_secrets_key(new.clone()).await.unwrap();
    let mut all = reopened.list_logins().await.unwrap();
    all.sort_by_key(|l| l.id.clone());
    assert_eq!(all, logins.to_vec());
    let err = store
        .clone()
        .with_secrets_key(old.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sealed with key id"), "{err}");

    // One damaged value: the next rotation fails and leaves every row as it was.
    sqlx::query("UPDATE login SET state = $1 WHERE connector = 'teams' AND id = 'b'")
        .bind(format!("sealed:v1:{}:AAAA", new.id()))
        .execute(&store.writer)
        .await
        .unwrap();
    let before = raw(store, &logins[0]).await;
    let err = sealed
        .rotate_secrets_key(SecretsKey::generate())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("state of login teams/b"), "{err}");
    assert_eq!(raw(store, &logins[0]).await, before);
}
