//! Where the key sealing login secrets comes from, and the store opened with it: the
//! `AQUEDUCT_SECRETS_KEY` environment variable, else `database.secrets_key_file`, else
//! `aqueduct-secrets.key` beside the SQLite database (the working directory for PostgreSQL).
//! A missing key file is created on first start, but only while the database holds no
//! sealed secret; otherwise the bridge refuses to start and says which key it needs.

use crate::config::DatabaseConfig;
use anyhow::Context;
use aqueduct_store::{SecretsKey, SqlStore};
use std::path::PathBuf;

/// The environment variable holding the key itself (base64), instead of a file.
pub const SECRETS_KEY_ENV: &str = "AQUEDUCT_SECRETS_KEY";

/// Where the key is looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// [`SECRETS_KEY_ENV`].
    Env,
    /// A file: `database.secrets_key_file` or the default one.
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "the environment variable {SECRETS_KEY_ENV}"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// Where the key of `database` is to be found (the environment first).
pub fn key_source(database: &DatabaseConfig) -> anyhow::Result<KeySource> {
    if std::env::var_os(SECRETS_KEY_ENV).is_some_and(|v| !v.is_empty()) {
        return Ok(KeySource::Env);
    }
    match &database.secrets_key_file {
        Some(path) => Ok(KeySource::File(path.clone())),
        None => Ok(KeySource::File(SqlStore::default_secrets_key_path(
            &database.uri,
        )?)),
    }
}

/// The key at `source`, or `None` if its file does not exist.
pub fn read_key(source: &KeySource) -> anyhow::Result<Option<SecretsKey>> {
    match source {
        KeySource::Env => {
            let text = std::env::var(SECRETS_KEY_ENV)
                .with_context(|| format!("{SECRETS_KEY_ENV} is not UTF-8"))?;
            Ok(Some(SecretsKey::from_base64(&text, SECRETS_KEY_ENV)?))
        }
        KeySource::File(path) => match path.try_exists() {
            Ok(false) => Ok(None),
            _ => Ok(Some(SecretsKey::read_file(path)?)),
        },
    }
}

/// The message of a bridge that finds sealed secrets and no key.
fn missing_key(source: &KeySource) -> anyhow::Error {
    anyhow::anyhow!(
        "the database holds sealed login secrets, but {source} does not exist; restore the \
         secrets key backed up with the database there, or point database.secrets_key_file \
         (or {SECRETS_KEY_ENV}) at it"
    )
}

/// The store's current key, for a tool that must not create one: `None` when there is none
/// and the database holds no sealed secret.
pub async fn existing_key(
    store: &SqlStore,
    database: &DatabaseConfig,
) -> anyhow::Result<Option<(SecretsKey, KeySource)>> {
    let source = key_source(database)?;
    match read_key(&source)? {
        Some(key) => Ok(Some((key, source))),
        None if store.holds_sealed_secrets().await? => Err(missing_key(&source)),
        None => Ok(None),
    }
}

/// `store` sealing login secrets with the configured key (see the module's doc), the key
/// proved on what the database holds and legacy plaintext sealed. Fails, naming the key's
/// source and never the key, if sealed secrets are there and the key is missing or another.
pub async fn seal_store(store: SqlStore, database: &DatabaseConfig) -> anyhow::Result<SqlStore> {
    let (key, source) = match existing_key(&store, database).await? {
        Some(found) => found,
        None => {
            let source = key_source(database)?;
            let KeySource::File(path) = &source else {
                unreachable!("a key in the environment always exists");
            };
            let key = SecretsKey::generate();
            key.create_file(path)?;
            tracing::info!(
                path = %path.display(),
                key_id = key.id(),
                "created the secrets key that seals login secrets; back it up with the database"
            );
            (key, source)
        }
    };
    store.with_secrets_key(key).await.with_context(|| {
        format!(
            "the secrets key from {source} does not open the login secrets in the database; \
             give the bridge the key they were sealed with"
        )
    })
}
