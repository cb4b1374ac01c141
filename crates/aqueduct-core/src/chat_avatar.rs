//! A chat's picture as its portal room's avatar. The room's `m.room.avatar` carries the
//! image's source (`io.aqueduct.avatar_source`, as the connector named it), so a sync uploads
//! the image again only when the chat's picture changed, without a column in the store.

use crate::Result;
use crate::bridge::Inner;
use crate::connector::RemoteAvatar;
use serde_json::{Value, json};

/// The field of `m.room.avatar` that names the source of the image.
const SOURCE_FIELD: &str = "io.aqueduct.avatar_source";

impl Inner {
    /// Uploads `avatar` as the bot and returns the `m.room.avatar` content for it.
    pub(crate) async fn room_avatar_content(&self, avatar: &RemoteAvatar) -> Result<Value> {
        let bot = self.matrix.bot_user_id().to_owned();
        let mxc = self
            .retry_matrix("upload room avatar", || {
                self.matrix
                    .upload(&bot, avatar.data.clone(), &avatar.mime, "avatar")
            })
            .await?;
        Ok(json!({ "url": mxc, SOURCE_FIELD: avatar.source }))
    }

    /// Sets the room's avatar to `avatar` unless it already shows that image. Returns the
    /// new image's `mxc://` URI when it changed.
    pub(crate) async fn apply_chat_avatar(
        &self,
        room: &str,
        avatar: Option<RemoteAvatar>,
    ) -> Result<Option<String>> {
        let Some(avatar) = avatar else {
            return Ok(None);
        };
        let current = self
            .retry_matrix("read room avatar", || {
                self.matrix.get_state(room, "m.room.avatar", "")
            })
            .await?;
        if current
            .as_ref()
            .and_then(|c| c.get(SOURCE_FIELD))
            .and_then(Value::as_str)
            == Some(avatar.source.as_str())
        {
            return Ok(None);
        }
        let content = self.room_avatar_content(&avatar).await?;
        let bot = self.matrix.bot_user_id().to_owned();
        self.retry_matrix("set room avatar", || {
            self.matrix
                .send_state(room, &bot, "m.room.avatar", "", &content)
        })
        .await?;
        Ok(content["url"].as_str().map(str::to_owned))
    }
}
