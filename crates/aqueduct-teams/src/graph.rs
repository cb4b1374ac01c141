//! Microsoft Graph v1.0 resources as the connector reads and writes them, one serde type per
//! entity or complex type of Microsoft's CSDL (`specs/graph/`), with the CSDL's property
//! names. Only the properties the bridge uses are declared; Graph sends more, and they are
//! ignored.

use serde::{Deserialize, Serialize};

/// A page of a collection (`{"value": [...], "@odata.nextLink": ...}`).
#[derive(Debug, Clone, Deserialize)]
pub struct Collection<T> {
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page's URL, when there is one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// `microsoft.graph.user` (`GET /me`, `GET /users/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's object id in the tenant.
    pub id: String,
    /// The name shown for the user.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Their email address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Their sign-in name (`alice@contoso.com`).
    #[serde(default)]
    pub user_principal_name: Option<String>,
}

/// `microsoft.graph.chat`: a 1:1, group or meeting chat.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    /// The chat's id (`19:...@thread.v2`).
    pub id: String,
    /// The chat's subject, for group chats that have one.
    #[serde(default)]
    pub topic: Option<String>,
    /// `oneOnOne`, `group` or `meeting`.
    #[serde(default)]
    pub chat_type: Option<String>,
    /// The newest message, when asked with `$expand=lastMessagePreview`.
    #[serde(default)]
    pub last_message_preview: Option<ChatMessageInfo>,
}

/// `microsoft.graph.chatMessageInfo`: the preview of a chat's newest message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageInfo {
    /// The message's id.
    pub id: String,
    /// When it was created.
    #[serde(default)]
    pub created_date_time: Option<String>,
}

/// `microsoft.graph.aadUserConversationMember`: a chat member.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMember {
    /// The membership's id (not the user's).
    pub id: String,
    /// The member's name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The member's user object id.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `microsoft.graph.itemBody`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    /// `text` or `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `microsoft.graph.identity`: a user or application as a message names it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The user's (or app's) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `microsoft.graph.chatMessageFromIdentitySet`: who wrote a message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageFromIdentitySet {
    /// A user author.
    #[serde(default)]
    pub user: Option<Identity>,
    /// An application author (a bot, a connector).
    #[serde(default)]
    pub application: Option<Identity>,
}

/// `microsoft.graph.chatMessageMentionedIdentitySet`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageMentionedIdentitySet {
    /// The mentioned user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Identity>,
}

/// `microsoft.graph.chatMessageMention`: one `<at id="N">` of a message's HTML body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageMention {
    /// The `id` of the `<at>` element it explains.
    pub id: i32,
    /// The text shown for the mention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention_text: Option<String>,
    /// Who is mentioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentioned: Option<ChatMessageMentionedIdentitySet>,
}

/// `microsoft.graph.chatMessageReactionIdentitySet`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageReactionIdentitySet {
    /// The reacting user.
    #[serde(default)]
    pub user: Option<Identity>,
}

/// `microsoft.graph.chatMessageReaction`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageReaction {
    /// `like`, `heart`, `laugh`, `surprised`, `sad`, `angry`, or a Unicode emoji.
    pub reaction_type: String,
    /// Who reacted.
    #[serde(default)]
    pub user: ChatMessageReactionIdentitySet,
}

/// `microsoft.graph.chatMessage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// The message's id, unique within its chat.
    pub id: String,
    /// `message` for what people write; system events otherwise.
    #[serde(default)]
    pub message_type: Option<String>,
    /// When it was written (ISO 8601).
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// When it, its reactions included, last changed.
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    /// When its text was last edited, if ever.
    #[serde(default)]
    pub last_edited_date_time: Option<String>,
    /// When it was deleted, if it was.
    #[serde(default)]
    pub deleted_date_time: Option<String>,
    /// The chat it is in.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// For a channel reply, the thread's root message.
    #[serde(default)]
    pub reply_to_id: Option<String>,
    /// Its author.
    #[serde(default)]
    pub from: Option<ChatMessageFromIdentitySet>,
    /// Its text.
    #[serde(default)]
    pub body: ItemBody,
    /// The mentions of its HTML body.
    #[serde(default)]
    pub mentions: Vec<ChatMessageMention>,
    /// Its reactions.
    #[serde(default)]
    pub reactions: Vec<ChatMessageReaction>,
}

impl ChatMessage {
    /// The author's user id and name, when a user (not an app) wrote it.
    pub fn author(&self) -> Option<(&str, Option<&str>)> {
        let user = self.from.as_ref()?.user.as_ref()?;
        Some((user.id.as_deref()?, user.display_name.as_deref()))
    }
}

/// The body of `POST /chats/{id}/messages` and of `PATCH` on a message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewChatMessage {
    /// The HTML body.
    pub body: ItemBody,
    /// What each `<at id>` of the body names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<ChatMessageMention>,
}

/// The body of `POST .../setReaction` and `.../unsetReaction`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionRequest {
    /// A Unicode emoji.
    pub reaction_type: String,
}

/// A Graph error answer (`{"error": {"code", "message"}}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorAnswer {
    /// The error.
    #[serde(default)]
    pub error: ErrorDetail,
}

/// The inside of [`ErrorAnswer`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    /// A code such as `Forbidden` or `InvalidAuthenticationToken`.
    #[serde(default)]
    pub code: String,
    /// What went wrong, in English.
    #[serde(default)]
    pub message: String,
}
