//! The key that seals the content kept in the record (`record.keep_content`): read from
//! `record.content_key_file`, made there (0600) on first use.

use crate::config::Config;
use anyhow::Context;
use aqueduct_store::SecretsKey;

/// The content key when the config keeps content; `None` otherwise.
pub fn load_or_create(config: &Config) -> anyhow::Result<Option<SecretsKey>> {
    if !config.record.keep_content {
        return Ok(None);
    }
    read_or_create(&config.record.content_key_path(&config.database.uri)).map(Some)
}

/// The content key at `path`, made there if there is none.
pub fn read_or_create(path: &std::path::Path) -> anyhow::Result<SecretsKey> {
    if path.exists() {
        return SecretsKey::read_file(path)
            .with_context(|| format!("reading the record's content key {}", path.display()));
    }
    let key = SecretsKey::generate();
    key.create_file(path)
        .with_context(|| format!("creating the record's content key {}", path.display()))?;
    tracing::warn!(path = %path.display(), "created the record's content key; back it up with the database");
    Ok(key)
}
