//! The room a hub-room test links to several chats.

use crate::bridge_env::BridgeEnv;
use crate::matrix_client::MatrixClient;
use serde_json::{Value, json};
use std::time::Duration;

/// How long the set-up waits for the bridge bot to join.
const WAIT: Duration = Duration::from_secs(30);

impl BridgeEnv {
    /// A private room `admin` makes to link to several chats: the bridge bot has joined it
    /// with power to change the room's state (names, members), and each of `members` is in.
    pub async fn hub_room(
        &self,
        admin: &MatrixClient,
        members: &[&MatrixClient],
    ) -> anyhow::Result<String> {
        self.make_hub_room(admin, members, json!([])).await
    }

    /// As [`hub_room`](Self::hub_room), end-to-end encrypted (Megolm) from its creation.
    pub async fn encrypted_hub_room(
        &self,
        admin: &MatrixClient,
        members: &[&MatrixClient],
    ) -> anyhow::Result<String> {
        let encryption = json!({
            "type": "m.room.encryption",
            "state_key": "",
            "content": { "algorithm": "m.megolm.v1.aes-sha2" },
        });
        self.make_hub_room(admin, members, json!([encryption]))
            .await
    }

    async fn make_hub_room(
        &self,
        admin: &MatrixClient,
        members: &[&MatrixClient],
        initial_state: Value,
    ) -> anyhow::Result<String> {
        let room = admin
            .create_room(json!({
                "name": "Hub",
                "preset": "private_chat",
                "invite": [self.bot],
                "initial_state": initial_state,
            }))
            .await?;
        admin
            .wait_for_event(&room, WAIT, |e| {
                e["type"] == "m.room.member"
                    && e["state_key"] == self.bot.as_str()
                    && e["content"]["membership"] == "join"
            })
            .await?;
        let mut power = admin
            .state_event(&room, "m.room.power_levels", "")
            .await?
            .ok_or_else(|| anyhow::anyhow!("the new room has no power levels"))?;
        power["users"][self.bot.as_str()] = json!(50);
        admin
            .set_state(&room, "m.room.power_levels", "", power)
            .await?;
        for member in members {
            admin.invite(&room, member.user_id()).await?;
            member.join(&room).await?;
        }
        Ok(room)
    }
}
