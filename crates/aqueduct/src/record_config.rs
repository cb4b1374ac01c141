//! The `record:` config section: the audit record of what crosses the bridge
//! (`docs/record.md`).

use serde::Deserialize;
use std::path::PathBuf;

/// The record: a hash-chained entry per message, edit, delete and reaction, sealed
/// periodically with the operator's signing key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Keep the record (default on). Off, nothing is appended; what was recorded stays.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The Ed25519 signing key that seals the record (unpadded base64 of its 32-byte seed).
    /// Created (mode 0600) on first start if missing. Default: `aqueduct-record-signing.key`
    /// beside a SQLite database, else in the working directory.
    #[serde(default)]
    pub signing_key_file: Option<String>,
    /// Seconds between seals of the newest entry (and one at shutdown). Entries newer than
    /// the last seal are chained but not yet signed.
    #[serde(default = "default_seal_interval")]
    pub seal_interval_secs: u64,
    /// Days entries are kept; unset keeps them for ever. Pruning drops whole sealed stretches
    /// and keeps the seal they end at, so what remains still verifies.
    #[serde(default)]
    pub retention_days: Option<u64>,
    /// Keep the content of what crosses too (default off: only its digest), sealed
    /// (XChaCha20-Poly1305) with the key in `content_key_file`; `aqueduct audit export
    /// --with-content` opens it.
    #[serde(default)]
    pub keep_content: bool,
    /// The content key (base64 of 32 bytes), created (0600) on first start with
    /// `keep_content`. Default: `aqueduct-record-content.key` where the signing key's default
    /// is.
    #[serde(default)]
    pub content_key_file: Option<String>,
}

fn default_enabled() -> bool {
    true
}
fn default_seal_interval() -> u64 {
    300
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            signing_key_file: None,
            seal_interval_secs: default_seal_interval(),
            retention_days: None,
            keep_content: false,
            content_key_file: None,
        }
    }
}

impl RecordConfig {
    /// Where the signing key lives (see `signing_key_file`).
    pub fn signing_key_path(&self, database_uri: &str) -> PathBuf {
        key_path(
            &self.signing_key_file,
            "aqueduct-record-signing.key",
            database_uri,
        )
    }

    /// Where the content key lives (see `content_key_file`).
    pub fn content_key_path(&self, database_uri: &str) -> PathBuf {
        key_path(
            &self.content_key_file,
            "aqueduct-record-content.key",
            database_uri,
        )
    }

    /// What is wrong with the section, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.seal_interval_secs == 0 {
            return Some("record.seal_interval_secs must be at least 1".into());
        }
        if self.retention_days == Some(0) {
            return Some(
                "record.retention_days must be at least 1 (leave it unset to keep the record for ever)"
                    .into(),
            );
        }
        None
    }
}

/// `configured`, else `name` beside a SQLite database (or in the working directory).
fn key_path(configured: &Option<String>, name: &str, database_uri: &str) -> PathBuf {
    match configured {
        Some(path) => PathBuf::from(path),
        None => aqueduct_store::SqlStore::beside_database(database_uri, name)
            .unwrap_or_else(|_| PathBuf::from(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_sits_beside_a_sqlite_database_by_default() {
        let c = RecordConfig::default();
        assert_eq!(
            c.signing_key_path("sqlite:///var/lib/aqueduct/aqueduct.db"),
            PathBuf::from("/var/lib/aqueduct/aqueduct-record-signing.key")
        );
        assert_eq!(
            c.signing_key_path("sqlite://aqueduct.db"),
            PathBuf::from("aqueduct-record-signing.key")
        );
        assert_eq!(
            c.signing_key_path("postgres://db/aqueduct"),
            PathBuf::from("aqueduct-record-signing.key")
        );
    }
}
