//! The `MatrixApi` the engine uses when encryption is on: everything passes through to the
//! homeserver client, except that message events into encrypted rooms are encrypted first,
//! attachments for them are uploaded encrypted, and new portals are created encrypted when
//! configured. The engine itself never sees a key.

use crate::attachments::encrypt_attachment;
use crate::machine::BridgeCrypto;
use aqueduct_core::matrix::{MatrixApi, MatrixError, MatrixResult, NewRoom};
use async_trait::async_trait;
use ruma::events::room::MediaSource;
use ruma::events::room::encryption::RoomEncryptionEventContent;
use serde_json::Value;
use std::sync::Arc;

/// Wraps the homeserver client with end-to-bridge encryption.
pub struct EncryptingMatrix {
    inner: Arc<dyn MatrixApi>,
    crypto: Arc<BridgeCrypto>,
}

impl EncryptingMatrix {
    /// `inner` sends; `crypto` encrypts.
    pub fn new(inner: Arc<dyn MatrixApi>, crypto: Arc<BridgeCrypto>) -> Self {
        Self { inner, crypto }
    }

    /// The room's encryption settings if what the bridge sends there must be encrypted.
    /// Rooms are encrypted by their members' choice (or at creation, per config); the bridge
    /// never turns encryption on in a room a user made, such as their management room.
    async fn encryption_for(&self, room: &str) -> MatrixResult<Option<RoomEncryptionEventContent>> {
        self.crypto
            .rooms
            .encryption(&self.crypto.client, room)
            .await
            .map_err(to_matrix)
    }
}

fn to_matrix(e: crate::CryptoError) -> MatrixError {
    match e {
        crate::CryptoError::Matrix(m) => m,
        other => MatrixError::Transport(format!("encryption failed: {other}")),
    }
}

#[async_trait]
impl MatrixApi for EncryptingMatrix {
    fn bot_user_id(&self) -> &str {
        self.inner.bot_user_id()
    }
    fn server_name(&self) -> &str {
        self.inner.server_name()
    }
    fn can_double_puppet(&self, user_id: &str) -> bool {
        self.inner.can_double_puppet(user_id)
    }
    async fn ensure_registered(&self, localpart: &str) -> MatrixResult<()> {
        self.inner.ensure_registered(localpart).await
    }
    async fn set_display_name(&self, user: &str, name: &str) -> MatrixResult<()> {
        self.inner.set_display_name(user, name).await
    }
    async fn set_avatar_url(&self, user: &str, mxc: &str) -> MatrixResult<()> {
        self.inner.set_avatar_url(user, mxc).await
    }
    async fn create_room(&self, room: &NewRoom) -> MatrixResult<String> {
        let options = &self.crypto.options;
        if !(options.default_encrypted || options.require) {
            return self.inner.create_room(room).await;
        }
        let content = RoomEncryptionEventContent::with_recommended_defaults();
        let mut room = room.clone();
        room.initial_state
            .retain(|(kind, _, _)| kind != "m.room.encryption");
        room.initial_state.push((
            "m.room.encryption".into(),
            String::new(),
            serde_json::to_value(&content).expect("serializable"),
        ));
        let id = self.inner.create_room(&room).await?;
        self.crypto.rooms.set_encrypted(&id, content);
        Ok(id)
    }
    async fn invite(&self, room: &str, inviter: &str, invitee: &str) -> MatrixResult<()> {
        self.inner.invite(room, inviter, invitee).await
    }
    async fn join(&self, room: &str, user: &str) -> MatrixResult<()> {
        self.inner.join(room, user).await
    }
    async fn leave(&self, room: &str, user: &str) -> MatrixResult<()> {
        self.inner.leave(room, user).await
    }
    async fn send_event(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        content: &Value,
        txn_id: &str,
        timestamp_ms: Option<i64>,
    ) -> MatrixResult<String> {
        // Redactions stay readable by the server: it must apply them.
        if event_type == "m.room.redaction" {
            return self
                .inner
                .send_event(room, sender, event_type, content, txn_id, timestamp_ms)
                .await;
        }
        let Some(settings) = self.encryption_for(room).await? else {
            return self
                .inner
                .send_event(room, sender, event_type, content, txn_id, timestamp_ms)
                .await;
        };
        let encrypted = self
            .crypto
            .encrypt(room, settings, event_type, content)
            .await
            .map_err(to_matrix)?;
        self.inner
            .send_event(
                room,
                sender,
                "m.room.encrypted",
                &encrypted,
                txn_id,
                timestamp_ms,
            )
            .await
    }
    async fn send_state(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> MatrixResult<String> {
        self.inner
            .send_state(room, sender, event_type, state_key, content)
            .await
    }
    async fn get_state(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
    ) -> MatrixResult<Option<Value>> {
        self.inner.get_state(room, event_type, state_key).await
    }
    async fn redact(
        &self,
        room: &str,
        sender: &str,
        event_id: &str,
        txn_id: &str,
        reason: Option<&str>,
    ) -> MatrixResult<String> {
        self.inner
            .redact(room, sender, event_id, txn_id, reason)
            .await
    }
    async fn upload(
        &self,
        sender: &str,
        data: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> MatrixResult<String> {
        self.inner.upload(sender, data, mime, filename).await
    }
    async fn upload_for_room(
        &self,
        room: &str,
        sender: &str,
        data: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> MatrixResult<MediaSource> {
        if self.encryption_for(room).await?.is_none() {
            return self
                .inner
                .upload_for_room(room, sender, data, mime, filename)
                .await;
        }
        let (ciphertext, finish) = encrypt_attachment(&data);
        // The name and type would leak what the file is; the event (encrypted) carries them.
        let mxc = self
            .inner
            .upload(sender, ciphertext, "application/octet-stream", "")
            .await?;
        Ok(MediaSource::Encrypted(Box::new(finish(mxc.into()))))
    }
    async fn download(&self, mxc: &str, max_bytes: u64) -> MatrixResult<Vec<u8>> {
        self.inner.download(mxc, max_bytes).await
    }
    async fn set_typing(&self, room: &str, user: &str, typing: bool) -> MatrixResult<()> {
        self.inner.set_typing(room, user, typing).await
    }
    async fn send_receipt(&self, room: &str, user: &str, event_id: &str) -> MatrixResult<()> {
        self.inner.send_receipt(room, user, event_id).await
    }
    async fn member_profile(
        &self,
        room: &str,
        user: &str,
    ) -> MatrixResult<(Option<String>, Option<String>)> {
        self.inner.member_profile(room, user).await
    }
    async fn joined_members(&self, room: &str) -> MatrixResult<Vec<String>> {
        self.inner.joined_members(room).await
    }
}
