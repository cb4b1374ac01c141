//! What the engine needs from end-to-bridge encryption: decrypting what Matrix users send and
//! the attachments they share. Encrypting is invisible to the engine: the `MatrixApi` it is
//! given encrypts on the way out (see `MatrixApi::upload_for_room`).

use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

/// How long a decryption may wait for a missing room key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWait {
    /// Up to the implementation's configured bound, asking for the key once.
    Full,
    /// Up to this long (capped by the configured bound). `Duration::ZERO` is one attempt
    /// with what the device already holds, and no key request.
    AtMost(Duration),
}

/// Why an encrypted event or attachment could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DecryptError {
    /// The room key never arrived within the bridge's wait.
    #[error("the key for this message did not arrive (session {session_id})")]
    KeyMissing {
        /// The Megolm session the event was encrypted with.
        session_id: String,
    },
    /// The event or attachment is malformed, tampered with, or the store failed.
    #[error("cannot decrypt: {0}")]
    Failed(String),
}

/// Decryption at the bridge's boundary. Implemented by the crypto crate and handed to the
/// engine with `Bridge::set_decryptor`.
#[async_trait]
pub trait EventDecryptor: Send + Sync + 'static {
    /// Decrypts an `m.room.encrypted` event, given as the whole event JSON. Returns the
    /// plaintext event (`type`, `content`, with the outer event's `event_id`, `sender`,
    /// `room_id` and `origin_server_ts`). When the room key is missing it asks for it and waits
    /// for it, up to `wait` (never longer than the implementation's bound), then fails with
    /// `KeyMissing`; so events of one room stay in order behind a late key. The engine passes a
    /// shorter wait for senders whose keys already failed to arrive (see `key_strikes.rs`).
    async fn decrypt_event(&self, event: &Value, wait: KeyWait) -> Result<Value, DecryptError>;

    /// Decrypts an attachment downloaded from an `EncryptedFile`'s `url`, checking its hash
    /// against `file` (the `EncryptedFile` JSON).
    fn decrypt_attachment(&self, ciphertext: &[u8], file: &Value) -> Result<Vec<u8>, DecryptError>;

    /// Whether portals carry only encrypted traffic: unencrypted Matrix messages in a portal
    /// are then refused with a notice.
    fn requires_encryption(&self) -> bool;
}
