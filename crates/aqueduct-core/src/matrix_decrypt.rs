//! Encrypted Matrix events and attachments on their way in: decrypted before the engine reads
//! them, or answered with a notice that says why they were not bridged.

use crate::bridge::Inner;
use crate::crypto::DecryptError;
use crate::matrix_content::Envelope;
use crate::{Error, Result};
use ruma::events::room::EncryptedFile;
use std::sync::Arc;

impl Inner {
    /// The plaintext envelope of an `m.room.encrypted` event, or `None` when there is nothing
    /// to bridge (the bridge's own echo, or a failure already told to the room).
    pub(crate) async fn decrypt_envelope(
        self: &Arc<Self>,
        env: Envelope,
        json: &str,
    ) -> Option<Envelope> {
        // What the bridge encrypted itself comes back as its echo: never decrypt it again,
        // except a ghost's in a hub room, whose plaintext goes on to the room's other chats
        // (`hub_out.rs`); the bridge's device keeps the keys of what it encrypted.
        let hub_ghost = self.namer.is_ghost(&env.sender) && self.hub_rooms.contains(&env.room_id);
        if env.sender == self.matrix.bot_user_id()
            || (self.namer.is_ghost(&env.sender) && !hub_ghost)
        {
            return None;
        }
        // Cheap checks before any wait for a key: someone the bridge ignores whatever they
        // write must not hold the room's queue while their keys are awaited. A ghost speaks
        // for a chat of the room, not for itself: the hub forwards it as relayed.
        if !hub_ghost
            && self.config.permissions.level(&env.sender) < crate::permissions::Level::Relay
        {
            return None;
        }
        let Some(decryptor) = self.decryptor.get() else {
            if self
                .store
                .portal_by_room(&env.room_id)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                self.notice(
                    &env.room_id,
                    "An encrypted message was not bridged: this bridge has encryption turned off (see `encryption` in its config).",
                )
                .await;
            }
            return None;
        };
        let event: serde_json::Value = serde_json::from_str(json).ok()?;
        let session = event["content"]["session_id"].as_str().unwrap_or_default();
        let wait = self
            .key_strikes
            .wait_for(&env.room_id, &env.sender, session);
        match decryptor.decrypt_event(&event, wait).await {
            Ok(plain) => {
                self.key_strikes.decrypted(&env.room_id, &env.sender);
                match serde_json::from_value::<Envelope>(plain) {
                    Ok(mut plain) => {
                        plain.was_encrypted = true;
                        Some(plain)
                    }
                    Err(e) => {
                        tracing::warn!(event_id = %env.event_id, error = %e, "a decrypted event is malformed");
                        None
                    }
                }
            }
            Err(e) => {
                self.engine.undecryptable.inc();
                let tell = match e {
                    DecryptError::KeyMissing { .. } => {
                        self.key_strikes.missed(&env.room_id, &env.sender, session)
                    }
                    DecryptError::Failed(_) => true,
                };
                if !tell {
                    tracing::info!(event_id = %env.event_id, room = %env.room_id, sender = %env.sender, "another event whose key did not arrive; not announced again");
                    return None;
                }
                tracing::warn!(event_id = %env.event_id, room = %env.room_id, error = %e, "cannot decrypt an event");
                let why = match e {
                    DecryptError::KeyMissing { .. } => {
                        "its key never reached the bridge's device. Sending it again may help; \
                         until one of their messages can be read, later ones that cannot are \
                         not announced"
                    }
                    DecryptError::Failed(_) => {
                        "it could not be decrypted. Sending it again may help"
                    }
                };
                self.notice(
                    &env.room_id,
                    &format!("A message from {} was not bridged: {why}.", env.sender),
                )
                .await;
                None
            }
        }
    }

    /// The plaintext of an encrypted attachment the bridge downloaded.
    pub(crate) fn decrypt_attachment(&self, data: &[u8], file: &EncryptedFile) -> Result<Vec<u8>> {
        let decryptor = self.decryptor.get().ok_or_else(|| {
            Error::Connector(crate::connector::ConnectorError::Unsupported(
                "encrypted attachments (encryption is turned off)".into(),
            ))
        })?;
        let file = serde_json::to_value(file)
            .map_err(|e| Error::Unknown(format!("cannot read an encrypted file: {e}")))?;
        decryptor
            .decrypt_attachment(data, &file)
            .map_err(|e| Error::Unknown(e.to_string()))
    }
}
