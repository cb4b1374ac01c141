//! Matrix -> Teams room changes, made with the acting Matrix user's own sign-in:
//!
//! - **Name.** A group chat's `topic` (what Teams shows as its name): `PATCH /chats/{id}`
//!   (delegated `Chat.ReadWrite`). Graph sets a topic on group chats only, of at most 250
//!   characters and without `:`; anything else is refused with the reason.
//! - **Topic.** Teams chats have no description (their one text is the topic, which is the
//!   room's name), so a Matrix topic is refused with a notice saying so.
//! - **Members.** A ghost invited in Matrix is added to the group chat (`POST
//!   /chats/{id}/members`, an `aadUserConversationMember` bound to the user); a ghost kicked
//!   or banned is removed (`DELETE /chats/{id}/members/{membership-id}`, the membership's
//!   id read from the chat's members). Adding someone already there, or removing someone
//!   gone, changes nothing and succeeds. A 1:1 chat's two members are fixed (Teams makes a
//!   new group chat to add a third).
//! - **Channels.** Renaming a channel, changing its description and its members need the
//!   admin-consented `ChannelSettings.ReadWrite.All` / `ChannelMember.ReadWrite.All`, which
//!   the bridge does not ask for (and a standard channel's members are its team's): refused
//!   with a notice.
//!
//! Teams records each change as a system message (`chatRenamedEventMessageDetail`,
//! `membersAddedEventMessageDetail`, `membersDeletedEventMessageDetail`), whose echo the
//! engine finds already applied.

use crate::api::TeamsLogin;
use crate::graph::{Chat, ChatUpdate, Collection, ConversationMember, NewChatMember};
use crate::ids::Conversation;
use crate::poll::encode;
use aqueduct_core::connector::{
    ChatInfoHandler, ConnectorError, ConnectorResult, MembershipHandler,
};
use aqueduct_core::ids::RemoteUserId;
use aqueduct_core::records::Portal;
use async_trait::async_trait;
use reqwest::Method;

/// Graph's longest chat topic.
const MAX_TOPIC_CHARS: usize = 250;

/// Why a channel's settings are not changed from Matrix.
const CHANNEL_SETTINGS: &str = "changing a Teams channel's name or description from Matrix: Graph needs the admin-consented ChannelSettings.ReadWrite.All permission for it, which the bridge does not ask for; change it in Teams";
/// Why a channel's members are not changed from Matrix.
const CHANNEL_MEMBERS: &str = "adding or removing members of a Teams channel from Matrix: a standard channel's members are its team's, and a private channel's need the admin-consented ChannelMember.ReadWrite.All permission, which the bridge does not ask for; change them in Teams";

/// Whether a topic can be a Teams chat's: `Err` with the reason Graph would refuse it.
pub(crate) fn check_topic(name: &str) -> ConnectorResult<()> {
    if name.trim().is_empty() {
        return Err(ConnectorError::Refused(
            "a Teams group chat's name cannot be removed, only changed".into(),
        ));
    }
    if name.contains(':') {
        return Err(ConnectorError::Refused(
            "Teams does not allow ':' in a chat's name".into(),
        ));
    }
    if name.chars().count() > MAX_TOPIC_CHARS {
        return Err(ConnectorError::Refused(format!(
            "a Teams chat's name holds at most {MAX_TOPIC_CHARS} characters"
        )));
    }
    Ok(())
}

impl TeamsLogin {
    /// The chat `chat_id`, refused (naming `what` would change) unless it is a group chat:
    /// Graph sets topics and members of group chats only.
    async fn group_chat(&self, chat_id: &str, what: &str) -> ConnectorResult<Chat> {
        let chat: Chat = self
            .graph
            .get(&format!("/chats/{}", encode(chat_id)), &[])
            .await?;
        match chat.chat_type.as_deref() {
            Some("group") => Ok(chat),
            Some("oneOnOne") => Err(ConnectorError::Unsupported(format!(
                "{what} of a Teams 1:1 chat (Graph changes them for group chats only; start a group chat in Teams)"
            ))),
            other => Err(ConnectorError::Unsupported(format!(
                "{what} of a Teams {} chat (Graph changes them for group chats only)",
                other.unwrap_or("unknown")
            ))),
        }
    }

    /// The membership of `user` in chat `chat_id`, if they are a member.
    async fn membership_of(
        &self,
        chat_id: &str,
        user: &RemoteUserId,
    ) -> ConnectorResult<Option<ConversationMember>> {
        let members: Collection<ConversationMember> = self
            .graph
            .get(&format!("/chats/{}/members", encode(chat_id)), &[])
            .await?;
        Ok(members
            .value
            .into_iter()
            .find(|m| m.user_id.as_deref() == Some(user.as_str())))
    }
}

#[async_trait]
impl ChatInfoHandler for TeamsLogin {
    async fn set_name(&self, portal: &Portal, name: &str) -> ConnectorResult<()> {
        let Conversation::Chat(chat_id) = Conversation::of(portal.key.chat.as_str()) else {
            return Err(ConnectorError::Unsupported(CHANNEL_SETTINGS.into()));
        };
        check_topic(name)?;
        let chat = self.group_chat(chat_id, "the name").await?;
        if chat.topic.as_deref() == Some(name) {
            return Ok(()); // already so (a retry, or the echo of a Teams rename)
        }
        self.graph
            .send(
                Method::PATCH,
                &format!("/chats/{}", encode(chat_id)),
                Some(&ChatUpdate {
                    topic: name.to_owned(),
                }),
            )
            .await
    }

    async fn set_topic(&self, portal: &Portal, _topic: &str) -> ConnectorResult<()> {
        if Conversation::of(portal.key.chat.as_str()).is_channel() {
            return Err(ConnectorError::Unsupported(CHANNEL_SETTINGS.into()));
        }
        Err(ConnectorError::Unsupported(
            "a topic for a Teams chat: Teams chats have no description (a group chat's one text, its topic, is this room's name)".into(),
        ))
    }
}

#[async_trait]
impl MembershipHandler for TeamsLogin {
    async fn invite(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        let Conversation::Chat(chat_id) = Conversation::of(portal.key.chat.as_str()) else {
            return Err(ConnectorError::Unsupported(CHANNEL_MEMBERS.into()));
        };
        self.group_chat(chat_id, "the members").await?;
        if self.membership_of(chat_id, user).await?.is_some() {
            return Ok(());
        }
        let member = NewChatMember {
            odata_type: "#microsoft.graph.aadUserConversationMember",
            user_bind: format!("{}/users/{}", self.graph.base(), encode(user.as_str())),
            roles: vec!["owner".into()],
        };
        self.graph
            .send(
                Method::POST,
                &format!("/chats/{}/members", encode(chat_id)),
                Some(&member),
            )
            .await
    }

    async fn kick(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()> {
        let Conversation::Chat(chat_id) = Conversation::of(portal.key.chat.as_str()) else {
            return Err(ConnectorError::Unsupported(CHANNEL_MEMBERS.into()));
        };
        self.group_chat(chat_id, "the members").await?;
        let Some(member) = self.membership_of(chat_id, user).await? else {
            return Ok(()); // gone already
        };
        let path = format!("/chats/{}/members/{}", encode(chat_id), encode(&member.id));
        let (status, text) = self
            .graph
            .try_call::<()>(Method::DELETE, &path, None)
            .await?;
        if status == 404 {
            return Ok(()); // removed meanwhile
        }
        crate::graph_client::read_answer::<serde::de::IgnoredAny>(
            &path,
            reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
            &text,
        )
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_topics_follow_graphs_rules() {
        assert!(check_topic("Project X").is_ok());
        assert!(check_topic(&"x".repeat(250)).is_ok());
        for bad in ["", "  ", "Project: X", &"x".repeat(251)] {
            assert!(
                matches!(check_topic(bad), Err(ConnectorError::Refused(_))),
                "{bad:?}"
            );
        }
    }
}
