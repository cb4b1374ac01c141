//! The [`SqlStore`] side of sealed secrets: giving a store its key (which proves the key on
//! what is stored and seals legacy plaintext), asking whether anything is sealed, rotating
//! the key, and where the key lives by default.

use crate::secrets_key::SecretsKey;
use crate::{Result, SqlStore, connect, login_seal};
use std::path::PathBuf;
use std::sync::Arc;

/// The name of the key file the bridge uses when none is configured.
pub const DEFAULT_SECRETS_KEY_FILE: &str = "aqueduct-secrets.key";

impl SqlStore {
    /// This store, sealing login secrets with `key` from now on. First checks that every
    /// sealed value in the database opens with `key` (a missing or other key fails with
    /// [`SealError::NoKey`](crate::SealError::NoKey) or
    /// [`SealError::WrongKey`](crate::SealError::WrongKey), naming key ids, never a key), and
    /// seals, in one transaction, the logins still stored as plaintext.
    ///
    /// A store without a key (plain [`SqlStore::connect`]) writes plaintext and fails to read
    /// a sealed value; the bridge always gives one.
    pub async fn with_secrets_key(mut self, key: SecretsKey) -> Result<SqlStore> {
        let sealed = login_seal::reseal(&self.writer, "seal_secrets", Some(&key), &key).await?;
        if sealed > 0 {
            tracing::info!(
                logins = sealed,
                key_id = key.id(),
                "sealed login secrets stored as plaintext"
            );
        }
        self.secrets = Some(Arc::new(key));
        Ok(self)
    }

    /// Whether any login secret in the database is sealed (so a key must be given).
    pub async fn holds_sealed_secrets(&self) -> Result<bool> {
        login_seal::any_sealed(&self.pool).await
    }

    /// The id of the key this store seals with, if it has one.
    pub fn secrets_key_id(&self) -> Option<&str> {
        self.secrets.as_deref().map(SecretsKey::id)
    }

    /// Re-seals every login with `new` in one transaction (opening them with this store's
    /// key; plaintext needs none) and seals with `new` from then on. Returns how many logins
    /// were rewritten. Nothing changes if any value does not open. Other clones of this store
    /// keep the old key: run it with the bridge stopped.
    pub async fn rotate_secrets_key(&mut self, new: SecretsKey) -> Result<u64> {
        let rewritten = login_seal::reseal(
            &self.writer,
            "rotate_secrets_key",
            self.secrets.as_deref(),
            &new,
        )
        .await?;
        self.secrets = Some(Arc::new(new));
        Ok(rewritten)
    }

    /// Where the bridge keeps the secrets key when none is configured:
    /// [`DEFAULT_SECRETS_KEY_FILE`] in the directory of the SQLite database, or in the working
    /// directory for PostgreSQL (and an in-memory SQLite database).
    pub fn default_secrets_key_path(uri: &str) -> Result<PathBuf> {
        let path = Self::beside_database(uri, DEFAULT_SECRETS_KEY_FILE)?;
        Ok(std::path::absolute(&path).unwrap_or(path))
    }

    /// `file_name` in the directory of the SQLite database `uri` names, or just `file_name`
    /// (the working directory) for PostgreSQL and an in-memory SQLite database: where the
    /// bridge keeps its key files by default.
    pub fn beside_database(uri: &str, file_name: &str) -> Result<PathBuf> {
        let dir = connect::sqlite_file(uri)?.and_then(|file| {
            file.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
        });
        Ok(match dir {
            Some(dir) => dir.join(file_name),
            None => PathBuf::from(file_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn default_key_sits_next_to_the_sqlite_file_or_in_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let path = |uri: &str| SqlStore::default_secrets_key_path(uri).unwrap();
        assert_eq!(
            path("sqlite:///var/lib/aqueduct/a%20b.db"),
            Path::new("/var/lib/aqueduct/aqueduct-secrets.key")
        );
        assert_eq!(
            path("/srv/x y/aqueduct.db"),
            Path::new("/srv/x y/aqueduct-secrets.key")
        );
        assert_eq!(
            path("sqlite://aqueduct.db"),
            cwd.join("aqueduct-secrets.key")
        );
        assert_eq!(
            path("sqlite:data/aqueduct.db?cache=shared"),
            cwd.join("data/aqueduct-secrets.key")
        );
        assert_eq!(
            path("postgres://u@db.example/bridge"),
            cwd.join("aqueduct-secrets.key")
        );
    }
}
