//! The `encryption:` config section and how it becomes the crypto layer's options.

use crate::config::Config;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// End-to-bridge encryption. Off unless `allow` is set.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Bridge encrypted rooms (decrypt what Matrix users send, encrypt what ghosts send).
    #[serde(default)]
    pub allow: bool,
    /// Create new portals encrypted.
    #[serde(default)]
    pub default: bool,
    /// Carry only encrypted traffic: new portals are created encrypted (as with `default`) and
    /// unencrypted Matrix messages in portals are refused with a notice.
    #[serde(default)]
    pub require: bool,
    /// Passphrase that encrypts the crypto store; `AQUEDUCT_CRYPTO_PICKLE_KEY` overrides it.
    /// Required when `allow` is set. Never logged.
    #[serde(default)]
    pub pickle_key: Option<String>,
    /// Directory of the crypto store. Default: beside a SQLite database (`<db>.crypto`), else
    /// `./aqueduct-crypto`.
    #[serde(default)]
    pub store_path: Option<String>,
    /// Read to-device messages, device lists and key counts from appservice transactions
    /// (needs MSC2409/MSC3202 on the homeserver) instead of the bot device's own `/sync`.
    #[serde(default)]
    pub appservice_to_device: bool,
    /// Seconds an encrypted event waits for its room key before the bridge gives up on it
    /// and says so in the room.
    #[serde(default = "default_key_wait")]
    pub key_wait_secs: u64,
}

fn default_key_wait() -> u64 {
    60
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            allow: false,
            default: false,
            require: false,
            pickle_key: None,
            store_path: None,
            appservice_to_device: false,
            key_wait_secs: default_key_wait(),
        }
    }
}

impl std::fmt::Debug for EncryptionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionConfig")
            .field("allow", &self.allow)
            .field("default", &self.default)
            .field("require", &self.require)
            .field(
                "pickle_key",
                &self.pickle_key.as_ref().map(|_| "<redacted>"),
            )
            .field("store_path", &self.store_path)
            .field("appservice_to_device", &self.appservice_to_device)
            .field("key_wait_secs", &self.key_wait_secs)
            .finish()
    }
}

impl EncryptionConfig {
    /// Why the section is unusable, if it is.
    pub fn problem(&self) -> Option<String> {
        if (self.default || self.require) && !self.allow {
            return Some("encryption.default and encryption.require need encryption.allow".into());
        }
        if self.allow && self.pickle_key.as_deref().is_none_or(|k| k.len() < 16) {
            return Some("encryption.pickle_key (or AQUEDUCT_CRYPTO_PICKLE_KEY) must be set, at least 16 characters, when encryption is allowed".into());
        }
        if self.key_wait_secs == 0 {
            return Some("encryption.key_wait_secs must be at least 1".into());
        }
        None
    }
}

/// The crypto layer's options for a config with encryption allowed.
pub fn crypto_options(config: &Config) -> aqueduct_crypto::CryptoOptions {
    let e = &config.encryption;
    aqueduct_crypto::CryptoOptions {
        store_dir: store_dir(config),
        pickle_key: e.pickle_key.clone(),
        default_encrypted: e.default,
        require: e.require,
        appservice_to_device: e.appservice_to_device,
        key_wait: Duration::from_secs(e.key_wait_secs),
        device_display_name: config.appservice.bot_display_name.clone(),
    }
}

/// Where the crypto store lives: configured, or beside the SQLite database file.
fn store_dir(config: &Config) -> PathBuf {
    if let Some(path) = &config.encryption.store_path {
        return PathBuf::from(path);
    }
    let uri = &config.database.uri;
    match uri
        .strip_prefix("sqlite://")
        .or_else(|| uri.strip_prefix("sqlite:"))
    {
        Some(file) => {
            let file = file.split('?').next().unwrap_or(file);
            PathBuf::from(format!("{file}.crypto"))
        }
        None => PathBuf::from("aqueduct-crypto"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(
            &format!(
                "homeserver: {{url: 'http://127.0.0.1:8008', server_name: example.org}}\nappservice: {{address: 'http://127.0.0.1:29330', listen: '127.0.0.1:29330', as_token: aaaaaaaaaaaaaaaaaaaa, hs_token: bbbbbbbbbbbbbbbbbbbb}}\ndatabase: {{uri: 'sqlite:///var/lib/aqueduct/bridge.db'}}\n{extra}"
            ),
            "t",
        )
    }

    #[test]
    fn the_store_sits_beside_the_database_and_the_key_is_never_shown() {
        let c = config(
            "encryption: {allow: true, default: true, pickle_key: 'a very secret passphrase'}\n",
        )
        .unwrap();
        let options = crypto_options(&c);
        assert_eq!(
            options.store_dir,
            PathBuf::from("/var/lib/aqueduct/bridge.db.crypto")
        );
        assert!(options.default_encrypted);
        let shown = format!("{c:?} {options:?}");
        assert!(!shown.contains("very secret"), "{shown}");
    }

    #[test]
    fn encryption_without_a_key_or_without_allow_is_refused() {
        assert!(config("encryption: {allow: true}\n").is_err());
        assert!(
            config("encryption: {default: true, pickle_key: 'a very secret passphrase'}\n")
                .is_err()
        );
        assert!(config("").unwrap().encryption.problem().is_none());
    }
}
