//! `aqueduct rotate-key --new-key-file <path>`: re-seals every login's secrets with a new key
//! in one transaction, then tells the operator to point the config at it. Run it with the
//! bridge stopped.

use crate::config::Config;
use crate::secrets_key::existing_key;
use anyhow::{Context, bail};
use aqueduct_store::{SecretsKey, SqlStore};
use std::path::Path;

/// Re-seals the logins of `config`'s database with the key in `new_key_file` (created, 0600,
/// with a new random key if it does not exist) and returns what to tell the operator.
/// `config_path` names the config file in that message.
pub async fn rotate_key(
    config: &Config,
    config_path: &Path,
    new_key_file: &Path,
) -> anyhow::Result<String> {
    let store = SqlStore::connect(&config.database.uri)
        .await
        .context("opening the database")?;
    let result = rotate(store.clone(), config, config_path, new_key_file).await;
    store.close().await;
    result
}

async fn rotate(
    store: SqlStore,
    config: &Config,
    config_path: &Path,
    new_key_file: &Path,
) -> anyhow::Result<String> {
    let current = existing_key(&store, &config.database).await?;
    let new_key = if new_key_file
        .try_exists()
        .with_context(|| format!("checking {}", new_key_file.display()))?
    {
        SecretsKey::read_file(new_key_file)?
    } else {
        let key = SecretsKey::generate();
        key.create_file(new_key_file)?;
        key
    };
    let mut store = match current {
        Some((key, source)) => {
            if key.id() == new_key.id() {
                bail!(
                    "{} holds the key already in use ({source}); give rotate-key a new key file",
                    new_key_file.display()
                );
            }
            store.with_secrets_key(key).await.with_context(|| {
                format!("the current key ({source}) does not open the login secrets")
            })?
        }
        None => store,
    };
    let new_id = new_key.id().to_owned();
    let rewritten = store.rotate_secrets_key(new_key).await?;
    Ok(format!(
        "Re-sealed {rewritten} login(s) with the key in {new} (key id {new_id}).\n\
         The old key no longer opens them. Before starting the bridge, set\n\
         \x20 database:\n\
         \x20   secrets_key_file: {new}\n\
         in {config} (or put the key in AQUEDUCT_SECRETS_KEY), and back the new key up with \
         the database.",
        new = new_key_file.display(),
        config = config_path.display(),
    ))
}
