//! How the operator configured encryption.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of the encryption layer (the binary fills them from its `encryption:` section).
#[derive(Clone)]
pub struct CryptoOptions {
    /// Directory of the crypto store (created with mode 0700; its files 0600).
    pub store_dir: PathBuf,
    /// Passphrase the crypto store is encrypted with. Never logged.
    pub pickle_key: Option<String>,
    /// New portals are created encrypted.
    pub default_encrypted: bool,
    /// Portals carry only encrypted traffic: new portals are created encrypted and
    /// unencrypted Matrix messages in portals are refused with a notice.
    pub require: bool,
    /// Read to-device data from appservice transactions (MSC2409/MSC3202) instead of a bot
    /// `/sync`.
    pub appservice_to_device: bool,
    /// How long an event waits for its missing room key before the bridge gives up on it.
    pub key_wait: Duration,
    /// Display name of the bot's device.
    pub device_display_name: String,
}

impl std::fmt::Debug for CryptoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoOptions")
            .field("store_dir", &self.store_dir)
            .field(
                "pickle_key",
                &self.pickle_key.as_ref().map(|_| "<redacted>"),
            )
            .field("default_encrypted", &self.default_encrypted)
            .field("require", &self.require)
            .field("appservice_to_device", &self.appservice_to_device)
            .field("key_wait", &self.key_wait)
            .finish()
    }
}
