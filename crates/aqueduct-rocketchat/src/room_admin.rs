//! Matrix -> Rocket.Chat room changes: a room's name and topic (`channels.rename` /
//! `groups.rename`, `channels.setTopic` / `groups.setTopic` / `dm.setTopic`) and a Matrix user
//! inviting or kicking a ghost (`channels.invite` / `groups.invite`, `channels.kick` /
//! `groups.kick`), all with the acting user's own login. Rocket.Chat records each as a
//! system message (`r`, `room_changed_topic`, `au`, `ru`), whose echo the engine finds
//! already applied.

use crate::api::RocketLogin;
use aqueduct_core::connector::{
    ChatInfoHandler, ConnectorError, ConnectorResult, MembershipHandler,
};
use aqueduct_core::ids::RemoteUserId;
use aqueduct_core::records::Portal;
use async_trait::async_trait;
use serde_json::json;

impl RocketLogin {
    /// The REST family for the portal's room (`channels` or `groups`), or why there is none.
    async fn family(&self, portal: &Portal, what: &str) -> ConnectorResult<&'static str> {
        match self.room_type(portal.key.chat.as_str()).await.as_str() {
            "p" => Ok("groups"),
            "d" => Err(ConnectorError::Unsupported(format!(
                "{what} in a Rocket.Chat direct message"
            ))),
            _ => Ok("channels"),
        }
    }
}

#[async_trait]
impl ChatInfoHandler for RocketLogin {
    async fn set_name(&self, portal: &Portal, name: &str) -> ConnectorResult<()> {
        let family = self.family(portal, "names").await?;
        self.rest
            .post(
                &format!("{family}.rename"),
                json!({ "roomId": portal.key.chat.as_str(), "name": name }),
            )
            .await?;
        self.room_names
            .lock()
            .expect("room names")
            .insert(portal.key.chat.to_string(), name.to_owned());
        Ok(())
    }

    async fn set_topic(&self, portal: &Portal, topic: &str) -> ConnectorResult<()> {
        let rid = portal.key.chat.as_str();
        let endpoint = match self.room_type(rid).await.as_str() {
            "p" => "groups.setTopic",
            "d" => "dm.setTopic",
            _ => "channels.setTopic",
        };
        self.rest
            .post(endpoint, json!({ "roomId": rid, "topic": topic }))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl MembershipHandler for RocketLogin {
    async fn invite(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        let family = self.family(portal, "invites").await?;
        self.rest
            .post(
                &format!("{family}.invite"),
                json!({ "roomId": portal.key.chat.as_str(), "userId": user.as_str() }),
            )
            .await?;
        Ok(())
    }

    async fn kick(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        let family = self.family(portal, "removing members").await?;
        self.rest
            .post(
                &format!("{family}.kick"),
                json!({ "roomId": portal.key.chat.as_str(), "userId": user.as_str() }),
            )
            .await?;
        Ok(())
    }
}
