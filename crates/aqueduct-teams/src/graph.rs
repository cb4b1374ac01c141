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
    /// A delta query's last page: the URL that asks for the changes after this round.
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
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
    /// The tenant the chat lives in.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// `microsoft.graph.team`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// The team's id (its group's id).
    pub id: String,
    /// The team's name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `microsoft.graph.channel`: a team's channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// The channel's id (`19:...@thread.tacv2`).
    pub id: String,
    /// The channel's name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The channel's description.
    #[serde(default)]
    pub description: Option<String>,
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

/// `microsoft.graph.chatMessageAttachment`: a file (`reference`), a quoted message
/// (`messageReference`), a card, ...
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageAttachment {
    /// The id the body's `<attachment id>` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `reference` for a file, `messageReference` for a quote, a card type otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Where the file is (a SharePoint or OneDrive URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    /// The content: for a quote, JSON with `messageId`, `messagePreview`, `messageSender`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The JSON inside a `messageReference` attachment's `content`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReference {
    /// The quoted message.
    #[serde(default)]
    pub message_id: Option<String>,
    /// The start of its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_preview: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_sender: Option<ReferenceSender>,
}

/// `messageSender` of a [`MessageReference`] (an identity set).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ReferenceSender {
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Identity>,
}

/// `microsoft.graph.channelIdentity`: the team and channel of a channel message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelIdentity {
    /// The team's id.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The channel's id.
    #[serde(default)]
    pub channel_id: Option<String>,
}

/// `microsoft.graph.eventMessageDetail` and the kinds the bridge reads (`@odata.type`
/// says which): members added, removed, joined or left; a chat or channel renamed; a channel's
/// description changed. Each kind has some of these properties.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMessageDetail {
    /// `#microsoft.graph.membersAddedEventMessageDetail` and so on.
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    /// Who did it.
    #[serde(default)]
    pub initiator: Option<ChatMessageFromIdentitySet>,
    /// The members added or removed.
    #[serde(default)]
    pub members: Vec<Identity>,
    /// A chat's new name.
    #[serde(default)]
    pub chat_display_name: Option<String>,
    /// A channel's new name.
    #[serde(default)]
    pub channel_display_name: Option<String>,
    /// A channel's new description.
    #[serde(default)]
    pub channel_description: Option<String>,
}

impl EventMessageDetail {
    /// The kind without its namespace (`membersAddedEventMessageDetail`).
    pub fn kind(&self) -> &str {
        self.odata_type
            .as_deref()
            .map(|t| {
                t.trim_start_matches('#')
                    .trim_start_matches("microsoft.graph.")
            })
            .unwrap_or_default()
    }
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
    /// Its files, quotes and cards.
    #[serde(default)]
    pub attachments: Vec<ChatMessageAttachment>,
    /// What a system message (`systemEventMessage`) reports.
    #[serde(default)]
    pub event_detail: Option<EventMessageDetail>,
    /// For a channel message, its team and channel.
    #[serde(default)]
    pub channel_identity: Option<ChannelIdentity>,
    /// A channel message's replies, when asked with `$expand=replies` (`None`: not expanded).
    #[serde(default)]
    pub replies: Option<Vec<ChatMessage>>,
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
    /// Files (`reference` attachments), each named by an `<attachment id>` of the body.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ChatMessageAttachment>,
    /// Inline images, each named by an `<img src="../hostedContents/{temporaryId}/$value">`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosted_contents: Vec<NewHostedContent>,
}

/// An inline image sent with a message (`microsoft.graph.chatMessageHostedContent`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewHostedContent {
    /// The id the body's `<img src>` uses until Graph gives the content its own.
    #[serde(rename = "@microsoft.graph.temporaryId")]
    pub temporary_id: String,
    /// The image, base64.
    pub content_bytes: String,
    /// Its MIME type.
    pub content_type: String,
}

/// The body of `POST /chats/{id}/messages/replyWithQuote`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyWithQuote {
    /// The quoted messages.
    pub message_ids: Vec<String>,
    /// The reply.
    pub reply_message: NewChatMessage,
}

/// `microsoft.graph.teamworkUserIdentity`, as `markChatReadForUser` takes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamworkUserIdentity {
    /// The user's id.
    pub id: String,
    /// The user's tenant (an open property Graph documents for this action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// The body of `POST /chats/{id}/markChatReadForUser`.
#[derive(Debug, Clone, Serialize)]
pub struct MarkChatRead {
    /// Whose read marker moves: the signed-in user.
    pub user: TeamworkUserIdentity,
}

/// The body of `PATCH /chats/{id}`: the only property Graph lets a chat change, its topic
/// (group chats only; at most 250 characters, no `:`).
#[derive(Debug, Clone, Serialize)]
pub struct ChatUpdate {
    /// The chat's new topic, which Teams shows as the group chat's name.
    pub topic: String,
}

/// The body of `POST /chats/{id}/members`: `microsoft.graph.aadUserConversationMember`
/// naming the user by an OData bind to `/users/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct NewChatMember {
    /// Always `#microsoft.graph.aadUserConversationMember`.
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    /// `{graph base}/users/{id}`.
    #[serde(rename = "user@odata.bind")]
    pub user_bind: String,
    /// `owner` (a member of the tenant) as Microsoft's examples give it.
    pub roles: Vec<String>,
}

/// The body of `POST /subscriptions`: a `microsoft.graph.subscription` as the bridge asks
/// for one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSubscription {
    /// `created,updated,deleted`.
    pub change_type: String,
    /// Where notifications go.
    pub notification_url: String,
    /// Where lifecycle notifications go.
    pub lifecycle_notification_url: String,
    /// What is watched (`/chats/{id}/messages`, ...).
    pub resource: String,
    /// When it ends (UTC).
    pub expiration_date_time: String,
    /// The secret each notification carries back.
    pub client_state: String,
    /// Resource data, when asked for.
    #[serde(flatten)]
    pub encryption: Option<SubscriptionEncryption>,
}

/// The body of `PATCH /subscriptions/{id}`: a renewal, with a new certificate when the
/// bridge's key changed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRenewal {
    /// The new end (UTC).
    pub expiration_date_time: String,
    /// The new certificate, when there is one.
    #[serde(flatten)]
    pub encryption: Option<SubscriptionEncryption>,
}

/// A subscription's resource data settings: the changed message in each notification,
/// encrypted for the certificate (`includeResourceData` needs one).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionEncryption {
    /// Always true here.
    pub include_resource_data: bool,
    /// The certificate (DER, base64).
    pub encryption_certificate: String,
    /// The bridge's name for it, which each notification's `encryptedContent` names.
    pub encryption_certificate_id: String,
}

/// `microsoft.graph.driveItem`: a file or folder in OneDrive or SharePoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveItem {
    /// The item's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its size in bytes.
    #[serde(default)]
    pub size: Option<i64>,
    /// `"{GUID},N"`: the GUID is what a message's `reference` attachment is named by.
    #[serde(rename = "eTag", default)]
    pub e_tag: Option<String>,
    /// Where people open it.
    #[serde(default)]
    pub web_url: Option<String>,
    /// Set for files.
    #[serde(default)]
    pub file: Option<FileFacet>,
    /// The folder it is in.
    #[serde(default)]
    pub parent_reference: Option<ItemReference>,
}

/// `microsoft.graph.file`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFacet {
    /// The file's MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
}

/// `microsoft.graph.itemReference`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReference {
    /// The drive.
    #[serde(default)]
    pub drive_id: Option<String>,
    /// The folder's item id.
    #[serde(default)]
    pub id: Option<String>,
}

/// `microsoft.graph.uploadSession`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    /// Where the pieces go (pre-authenticated: no bearer token is sent there).
    pub upload_url: String,
}

/// `microsoft.graph.profilePhoto`: a photo's metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct ProfilePhoto {
    /// The photo's id (its size, such as `240X240`).
    #[serde(default)]
    pub id: Option<String>,
    /// Changes whenever the photo does.
    #[serde(rename = "@odata.mediaEtag", default)]
    pub media_etag: Option<String>,
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
