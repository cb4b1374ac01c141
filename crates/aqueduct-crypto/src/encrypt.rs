//! Encrypting what the bridge sends into an encrypted room: share the room key with the
//! devices of the room's real members (claiming one-time keys for new devices first), then
//! encrypt with the bot device's outbound Megolm session.

use crate::error::CryptoError;
use crate::machine::BridgeCrypto;
use matrix_sdk_crypto::{CollectStrategy, EncryptionSettings};
use ruma::events::AnyMessageLikeEventContent;
use ruma::events::room::encryption::RoomEncryptionEventContent;
use ruma::events::room::history_visibility::HistoryVisibility;
use ruma::serde::Raw;
use ruma::{OwnedRoomId, UserId};
use serde_json::Value;

impl BridgeCrypto {
    /// The `m.room.encrypted` content for `content` of type `event_type` in `room`.
    pub(crate) async fn encrypt(
        &self,
        room: &str,
        settings: RoomEncryptionEventContent,
        event_type: &str,
        content: &Value,
    ) -> Result<Value, CryptoError> {
        let room_id = OwnedRoomId::try_from(room)
            .map_err(|e| CryptoError::Olm(format!("invalid room id {room}: {e}")))?;
        // Key sharing in one room is serialized: two ghosts sending at once must not create
        // two sessions or share one twice.
        let lock = self.rooms.sharing_lock(room);
        let _sharing = lock.lock().await;
        let members = self.rooms.members(&self.client, room).await?;
        let users = || members.iter().map(as_user_id);
        self.machine.update_tracked_users(users()).await?;
        self.send_outgoing().await?;
        if let Some((id, claim)) = self.machine.get_missing_sessions(users()).await? {
            let response = self.send_as_bot_device(claim).await?;
            self.machine.mark_request_as_sent(&id, &response).await?;
        }
        let settings = EncryptionSettings::new(
            settings,
            HistoryVisibility::Shared,
            CollectStrategy::AllDevices,
        );
        for request in self
            .machine
            .share_room_key(&room_id, users(), settings)
            .await?
        {
            self.send_to_device(&request).await?;
        }
        let raw = serde_json::value::to_raw_value(content)
            .map_err(|e| CryptoError::Olm(format!("cannot serialize content: {e}")))?;
        let raw: Raw<AnyMessageLikeEventContent> = Raw::from_json(raw);
        let encrypted = self
            .machine
            .encrypt_room_event_raw(&room_id, event_type, &raw)
            .await?;
        serde_json::from_str(encrypted.content.json().get())
            .map_err(|e| CryptoError::Olm(format!("encrypted content unreadable: {e}")))
    }
}

fn as_user_id(user: &ruma::OwnedUserId) -> &UserId {
    user
}
