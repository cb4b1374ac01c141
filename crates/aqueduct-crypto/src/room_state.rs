//! What encryption must know about each room: whether it is encrypted (and its rotation
//! settings), and which real Matrix users (joined or invited) must get its keys. Learned from
//! the homeserver once per room, then kept current from the events the appservice receives.

use crate::error::CryptoError;
use aqueduct_core::matrix::MatrixApi;
use aqueduct_matrix::HomeserverClient;
use ruma::api::client::membership::get_member_events;
use ruma::events::room::encryption::RoomEncryptionEventContent;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedUserId};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct RoomInfo {
    /// `Some(None)`: known unencrypted; `None`: not looked up yet.
    encryption: Option<Option<RoomEncryptionEventContent>>,
    /// Real members (joined or invited); `None` until loaded.
    members: Option<BTreeSet<OwnedUserId>>,
}

/// Per-room encryption facts and the lock that serializes key sharing in a room.
#[derive(Default)]
pub(crate) struct Rooms {
    info: Mutex<HashMap<String, RoomInfo>>,
    sharing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Rooms {
    /// The room's encryption settings, `None` if it is not encrypted.
    pub(crate) async fn encryption(
        &self,
        client: &HomeserverClient,
        room: &str,
    ) -> Result<Option<RoomEncryptionEventContent>, CryptoError> {
        if let Some(known) = self.with(room, |r| r.encryption.clone()) {
            return Ok(known);
        }
        let content = client.get_state(room, "m.room.encryption", "").await?;
        let settings = content.and_then(|c| serde_json::from_value(c).ok());
        self.with(room, |r| {
            r.encryption.get_or_insert(settings.clone());
        });
        Ok(settings)
    }

    /// Marks a room encrypted (the bridge created it so, or turned encryption on).
    pub(crate) fn set_encrypted(&self, room: &str, content: RoomEncryptionEventContent) {
        self.with(room, |r| r.encryption = Some(Some(content)));
    }

    /// The real Matrix users of a room who must receive its keys.
    pub(crate) async fn members(
        &self,
        client: &HomeserverClient,
        room: &str,
    ) -> Result<BTreeSet<OwnedUserId>, CryptoError> {
        if let Some(known) = self.with(room, |r| r.members.clone()) {
            return Ok(known);
        }
        let room_id = OwnedRoomId::try_from(room)
            .map_err(|e| CryptoError::Olm(format!("invalid room id {room}: {e}")))?;
        let response = client
            .send(
                get_member_events::v3::Request::new(room_id),
                client.bot_user_id(),
            )
            .await?;
        let mut members = BTreeSet::new();
        for raw in response.chunk {
            let Ok(event) = raw.deserialize() else {
                continue;
            };
            let user = event.state_key().to_owned();
            let membership = event.membership().clone();
            if receives_keys(&membership) && !client.is_bridge_user(user.as_str()) {
                members.insert(user);
            }
        }
        self.with(room, |r| {
            r.members.get_or_insert(members.clone());
        });
        Ok(members)
    }

    /// Keeps the facts current from a room event the appservice received.
    pub(crate) fn observe(&self, client: &HomeserverClient, event: &Value) {
        let (Some(room), Some(kind)) = (
            event.get("room_id").and_then(Value::as_str),
            event.get("type").and_then(Value::as_str),
        ) else {
            return;
        };
        if event.get("state_key").is_none() {
            return;
        }
        match kind {
            "m.room.encryption" => {
                if let Ok(content) = serde_json::from_value(event["content"].clone()) {
                    self.set_encrypted(room, content);
                }
            }
            "m.room.member" => {
                let Some(user) = event
                    .get("state_key")
                    .and_then(Value::as_str)
                    .and_then(|u| OwnedUserId::try_from(u).ok())
                else {
                    return;
                };
                if client.is_bridge_user(user.as_str()) {
                    return;
                }
                let membership = event["content"]["membership"]
                    .as_str()
                    .map(MembershipState::from)
                    .unwrap_or(MembershipState::Leave);
                let mut info = self.info.lock().expect("room facts");
                if let Some(members) = info.get_mut(room).and_then(|r| r.members.as_mut()) {
                    if receives_keys(&membership) {
                        members.insert(user);
                    } else {
                        members.remove(&user);
                    }
                }
            }
            _ => {}
        }
    }

    /// The lock that serializes key sharing and encryption in one room.
    pub(crate) fn sharing_lock(&self, room: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.sharing
            .lock()
            .expect("sharing locks")
            .entry(room.to_owned())
            .or_default()
            .clone()
    }

    fn with<T>(&self, room: &str, f: impl FnOnce(&mut RoomInfo) -> T) -> T {
        let mut info = self.info.lock().expect("room facts");
        f(info.entry(room.to_owned()).or_default())
    }
}

/// Joined and invited members get room keys; invited ones so they can read what was sent
/// before they accept.
fn receives_keys(membership: &MembershipState) -> bool {
    matches!(membership, MembershipState::Join | MembershipState::Invite)
}
