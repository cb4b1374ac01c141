//! Sealed login secrets as an operator meets them, through the real `aqueduct` binary: a
//! bridge whose database holds sealed secrets refuses to start without their key (or with
//! another one) and says which key it needs, never showing a key; `rotate-key` re-seals
//! with a new key. And in process: a first start creates the key (0600) and seals what an
//! older release stored as plaintext.

use aqueduct::config::Config;
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::records::Login;
use aqueduct_core::store::Store;
use aqueduct_store::{SecretsKey, SqlStore};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOKEN: &str = "xoxp-plaintext-token-in-the-test";

fn login() -> Login {
    Login {
        connector: ConnectorId::new("slack"),
        id: LoginId::new("T1-U1"),
        matrix_user: "@alice:example.org".into(),
        remote_user: RemoteUserId::new("U1"),
        remote_name: "alice".into(),
        secret: serde_json::json!({ "token": TOKEN }),
        state: serde_json::json!({ "cursor": 1 }),
    }
}

/// A config on a database in `dir`; `key_file` is `database.secrets_key_file`.
fn write_config(dir: &Path, key_file: Option<&Path>) -> PathBuf {
    let key_line = key_file
        .map(|k| format!("  secrets_key_file: \"{}\"\n", k.display()))
        .unwrap_or_default();
    let text = format!(
        "homeserver:\n  url: http://127.0.0.1:1\n  server_name: example.org\n\
         appservice:\n  address: http://127.0.0.1:1\n  listen: 127.0.0.1:0\n  \
         as_token: aaaaaaaaaaaaaaaaaaaa\n  hs_token: bbbbbbbbbbbbbbbbbbbb\n\
         database:\n  uri: \"sqlite://{}/aqueduct.db\"\n{key_line}",
        dir.display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn db_uri(dir: &Path) -> String {
    format!("sqlite://{}/aqueduct.db", dir.display())
}

/// Runs the binary with `args` after `-c config`, without the environment overrides.
fn aqueduct(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("AQUEDUCT_SECRETS_KEY")
        .env_remove("AQUEDUCT_DATABASE_URI")
        .env_remove("AQUEDUCT_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A database in `dir` holding `login()` sealed with a new key, which is returned.
async fn sealed_database(dir: &Path) -> SecretsKey {
    let key = SecretsKey::generate();
    let store = SqlStore::connect(&db_uri(dir))
        .await
        .unwrap()
        .with_secrets_key(key.clone())
        .await
        .unwrap();
    store.upsert_login(&login()).await.unwrap();
    store.close().await;
    key
}

async fn read_login(dir: &Path, key: &SecretsKey) -> Result<Option<Login>, String> {
    let store = SqlStore::connect(&db_uri(dir)).await.unwrap();
    let result = match store.clone().with_secrets_key(key.clone()).await {
        Ok(keyed) => keyed
            .login(&login().connector, &login().id)
            .await
            .map_err(|e| e.0),
        Err(e) => Err(e.to_string()),
    };
    store.close().await;
    result
}

#[tokio::test]
async fn the_bridge_refuses_to_start_without_the_key_of_its_sealed_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let key = sealed_database(dir.path()).await;
    let config = write_config(dir.path(), None);
    let default_key = dir.path().join("aqueduct-secrets.key");

    let out = aqueduct(&config, &["run"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the database holds sealed login secrets, but the key file {} does not exist",
            default_key.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(key.to_base64().as_str()), "{stderr}");
    assert!(
        !default_key.exists(),
        "a key was made up for sealed secrets"
    );

    // Another key in its place: refused too, naming both key ids.
    let other = SecretsKey::generate();
    other.create_file(&default_key).unwrap();
    let out = aqueduct(&config, &["run"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not open the login secrets in the database"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "sealed with key id {}, not with the secrets key given (id {})",
            key.id(),
            other.id()
        )),
        "{stderr}"
    );
    for secret in [key.to_base64(), other.to_base64()] {
        assert!(!stderr.contains(secret.as_str()), "{stderr}");
    }
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[tokio::test]
async fn rotate_key_reseals_with_a_new_key_file_and_says_where_to_point_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let old = sealed_database(dir.path()).await;
    let old_file = dir.path().join("old.key");
    old.create_file(&old_file).unwrap();
    let config = write_config(dir.path(), Some(&old_file));
    let new_file = dir.path().join("new.key");

    let out = aqueduct(
        &config,
        &["rotate-key", "--new-key-file", new_file.to_str().unwrap()],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let new = SecretsKey::read_file(&new_file).unwrap();
    assert!(
        stdout.contains(&format!(
            "Re-sealed 1 login(s) with the key in {} (key id {})",
            new_file.display(),
            new.id()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("secrets_key_file: {}", new_file.display())),
        "{stdout}"
    );
    assert!(!stdout.contains(new.to_base64().as_str()), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(read_login(dir.path(), &new).await, Ok(Some(login())));
    let err = read_login(dir.path(), &old).await.unwrap_err();
    assert!(err.contains("sealed with key id"), "{err}");

    // The config still names the old key: the bridge refuses, and rotating to the key in use
    // is refused too.
    let out = aqueduct(&config, &["run"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("does not open"));
    let config = write_config(dir.path(), Some(&new_file));
    let out = aqueduct(
        &config,
        &["rotate-key", "--new-key-file", new_file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("holds the key already in use"),
        "{}",
        text(&out.stderr)
    );
}

/// What an older release stored (plaintext, no key anywhere): the first start creates the
/// default key file, 0600, and seals the login with it.
#[tokio::test]
async fn first_start_creates_the_key_and_seals_legacy_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&db_uri(dir.path())).await.unwrap();
    store.upsert_login(&login()).await.unwrap();
    let config = Config::load(&write_config(dir.path(), None)).unwrap();
    let sealed = aqueduct::secrets_key::seal_store(store.clone(), &config.database)
        .await
        .unwrap();
    let key_file = dir.path().join("aqueduct-secrets.key");
    let key = SecretsKey::read_file(&key_file).unwrap();
    assert_eq!(sealed.secrets_key_id(), Some(key.id()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Sealed: the unkeyed store no longer reads it (the conformance suite checks the columns).
    assert!(store.holds_sealed_secrets().await.unwrap());
    let err = store
        .login(&login().connector, &login().id)
        .await
        .unwrap_err();
    assert!(err.0.contains("no secrets key was given"), "{err:?}");
    store.close().await;
    // The second start reads the key it made.
    assert_eq!(read_login(dir.path(), &key).await, Ok(Some(login())));
}
