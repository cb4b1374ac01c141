//! Decrypting what Matrix users send. An event whose room key has not arrived waits for it
//! (the key usually trails the event by milliseconds, since to-device and room events travel
//! separately), asks for it once, and gives up after the configured bound.

use crate::machine::{BridgeCrypto, decryption_settings};
use aqueduct_core::crypto::{DecryptError, EventDecryptor, KeyWait};
use async_trait::async_trait;
use matrix_sdk_crypto::types::events::room::encrypted::EncryptedEvent;
use matrix_sdk_crypto::{AttachmentDecryptor, MediaEncryptionInfo, MegolmError};
use ruma::OwnedRoomId;
use ruma::serde::Raw;
use serde_json::Value;
use std::io::Read;
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiting event retries even without a wake-up. Every path that brings keys
/// wakes waiters, so this is only a safety net; rarely, because each failed attempt makes
/// matrix-sdk-crypto log a warning.
const RETRY_EVERY: Duration = Duration::from_secs(10);

#[async_trait]
impl EventDecryptor for BridgeCrypto {
    async fn decrypt_event(&self, event: &Value, wait: KeyWait) -> Result<Value, DecryptError> {
        let room = event
            .get("room_id")
            .and_then(Value::as_str)
            .ok_or_else(|| DecryptError::Failed("the event names no room".into()))?;
        let room_id = OwnedRoomId::try_from(room)
            .map_err(|e| DecryptError::Failed(format!("invalid room id: {e}")))?;
        let raw = serde_json::value::to_raw_value(event)
            .map_err(|e| DecryptError::Failed(e.to_string()))?;
        let raw: Raw<EncryptedEvent> = Raw::from_json(raw);
        let wait = match wait {
            KeyWait::Full => self.options.key_wait,
            KeyWait::AtMost(at_most) => at_most.min(self.options.key_wait),
        };
        let deadline = Instant::now() + wait;
        // A zero wait is a last look at what the device holds: the key was asked for before.
        let mut asked = wait.is_zero();
        loop {
            let woken = self.keys_arrived.notified();
            match self
                .machine
                .decrypt_room_event(&raw, &room_id, &decryption_settings())
                .await
            {
                Ok(decrypted) => {
                    let mut plain: Value = serde_json::from_str(decrypted.event.json().get())
                        .map_err(|e| DecryptError::Failed(e.to_string()))?;
                    plain["room_id"] = Value::String(room.to_owned());
                    return Ok(plain);
                }
                Err(MegolmError::MissingRoomKey(_))
                | Err(MegolmError::Decryption(
                    matrix_sdk_crypto::vodozemac::megolm::DecryptionError::UnknownMessageIndex(..),
                )) => {
                    if !asked {
                        asked = true;
                        self.ask_for_key(&raw, &room_id).await;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(DecryptError::KeyMissing {
                            session_id: session_id(event),
                        });
                    }
                    let _ = tokio::time::timeout((deadline - now).min(RETRY_EVERY), woken).await;
                }
                Err(e) => return Err(DecryptError::Failed(e.to_string())),
            }
        }
    }

    fn decrypt_attachment(&self, ciphertext: &[u8], file: &Value) -> Result<Vec<u8>, DecryptError> {
        Self::decrypt_file(ciphertext, file)
    }

    fn requires_encryption(&self) -> bool {
        self.options.require
    }
}

impl BridgeCrypto {
    /// Decrypts an attachment with the key and checks the hash its `EncryptedFile` carries.
    pub(crate) fn decrypt_file(ciphertext: &[u8], file: &Value) -> Result<Vec<u8>, DecryptError> {
        let info: MediaEncryptionInfo = serde_json::from_value(file.clone())
            .map_err(|e| DecryptError::Failed(format!("not an encrypted file: {e}")))?;
        let mut reader = std::io::Cursor::new(ciphertext);
        let mut decryptor = AttachmentDecryptor::new(&mut reader, info)
            .map_err(|e| DecryptError::Failed(e.to_string()))?;
        let mut plain = Vec::with_capacity(ciphertext.len());
        decryptor
            .read_to_end(&mut plain)
            .map_err(|e| DecryptError::Failed(format!("attachment rejected: {e}")))?;
        Ok(plain)
    }

    /// Sends a room key request for the event's session (to the bot's other devices and the
    /// sender's, per the machine's policy). Failure only loses the request, not the event.
    async fn ask_for_key(&self, raw: &Raw<EncryptedEvent>, room_id: &OwnedRoomId) {
        match self.machine.request_room_key(raw, room_id).await {
            Ok((cancel, request)) => {
                for r in cancel.iter().chain(std::iter::once(&request)) {
                    if let Err(e) = self.send_request(r.request_id(), r.request()).await {
                        tracing::debug!(error = %e, "cannot send a room key request");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot build a room key request"),
        }
    }
}

fn session_id(event: &Value) -> String {
    event["content"]["session_id"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned()
}
