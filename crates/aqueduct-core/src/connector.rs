//! The boundary between the engine and a network: one [`NetworkConnector`] per process and one
//! [`NetworkApi`] per logged-in account, after mautrix bridgev2. Optional abilities are separate
//! traits the engine probes with the `as_*` methods; a missing one becomes a visible notice in
//! the Matrix room, never a silent drop.

use crate::event::{MatrixMessage, MessageContent, RemoteEvent, SentMessage};
use crate::ids::{ConnectorId, LoginId, PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};
use crate::records::{Login, Portal};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// A failure reported by a connector. The text is shown to the Matrix user, so it must say
/// what went wrong in their words.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The credentials no longer work (revoked, expired). The engine logs the user out of
    /// that account and tells them.
    #[error("the remote network refused the credentials: {0}")]
    BadCredentials(String),
    /// The remote network refused the request for a reason the user should see
    /// ("channel_not_found", "message too long").
    #[error("{0}")]
    Refused(String),
    /// A transient failure (network down, server error) that may succeed later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The connector cannot do this.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Bad input from the user (a login command with the wrong arguments).
    #[error("{0}")]
    BadInput(String),
}

/// Result of a connector call.
pub type ConnectorResult<T> = std::result::Result<T, ConnectorError>;

/// What a connector can carry, for notices and for the engine's choices.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    /// The connector shows a relayed Matrix user's name and avatar itself (as Slack's
    /// `username`/`icon_url`); otherwise the engine prefixes the text with the name.
    pub relay_identity: bool,
    /// Largest attachment the network accepts, in bytes; `None` for no known limit.
    pub max_attachment_bytes: Option<u64>,
}

/// What one portal's chat can carry, as its connector declares it (a Teams channel has
/// threads where a Teams chat has none; a server may forbid edits after some minutes). The
/// engine adapts to what a portal cannot carry: the nearest equivalent or a notice, never a
/// silent drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalCapabilities {
    /// Replies to a message.
    pub replies: bool,
    /// Threads.
    pub threads: bool,
    /// Edits of a sent message.
    pub edits: bool,
    /// How long after it was sent a message may still be edited; `None` for no limit.
    pub edit_window: Option<std::time::Duration>,
    /// Deleting a sent message.
    pub deletes: bool,
    /// Reactions.
    pub reactions: bool,
    /// The largest file this chat takes, in bytes; `None` for the connector's limit.
    pub max_file_bytes: Option<u64>,
}

/// The workspace, server or tenant a login's chats belong to, as the rooms' bridge info
/// (MSC2346 `network`) names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    /// A stable id (a Slack team id, a server's URL).
    pub id: String,
    /// A human name ("Acme", "chat.example.com").
    pub display_name: String,
}

/// A way to log in, offered by `login <connector>`.
#[derive(Clone, Debug)]
pub struct LoginFlow {
    /// Short id typed by the user (`token`, `oauth`).
    pub id: String,
    /// What the flow needs, shown in `help`.
    pub description: String,
}

/// A login that succeeded: what the engine stores. Its `Debug` leaves the secret out.
#[derive(Clone)]
pub struct NewLogin {
    /// The account's id, unique within the connector.
    pub id: LoginId,
    /// The account's own remote user id.
    pub remote_user: RemoteUserId,
    /// A human name for the account.
    pub remote_name: String,
    /// Credentials to keep (never logged).
    pub secret: serde_json::Value,
}

impl std::fmt::Debug for NewLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLogin")
            .field("id", &self.id)
            .field("remote_user", &self.remote_user)
            .field("remote_name", &self.remote_name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The outcome of starting a login flow.
pub enum LoginStep {
    /// Logged in at once.
    Complete(NewLogin),
    /// The user must act elsewhere (open a link); `completion` resolves when they have.
    Pending {
        /// What to tell the user.
        instructions: String,
        /// Resolves when the flow finishes.
        completion: BoxFuture<'static, ConnectorResult<NewLogin>>,
    },
}

/// Facts about a remote chat, for creating or syncing its room.
#[derive(Clone, Debug, Default)]
pub struct ChatInfo {
    /// The chat's name; `None` for DMs, which Matrix clients name after the other member.
    pub name: Option<String>,
    /// The chat's topic.
    pub topic: Option<String>,
    /// Whether this is a one-to-one direct chat.
    pub is_direct: bool,
    /// Remote members to show in the room as ghosts.
    pub members: Vec<RemoteUserId>,
    /// The chat's picture, shown as the room's avatar; `None` when it has none (or for DMs,
    /// which Matrix clients show with the other member's avatar).
    pub avatar: Option<RemoteAvatar>,
}

/// Facts about a remote user, for their ghost's profile.
#[derive(Clone, Debug, Default)]
pub struct UserInfo {
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar image, with an identifier of its source so it is re-uploaded only on change.
    pub avatar: Option<RemoteAvatar>,
}

/// An avatar image fetched from the remote network.
#[derive(Clone, Debug)]
pub struct RemoteAvatar {
    /// Identifies the image (URL or hash); unchanged means no re-upload.
    pub source: String,
    /// MIME type.
    pub mime: String,
    /// The image bytes.
    pub data: Vec<u8>,
}

/// The connector's state, reported to the engine for metrics and for telling the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteState {
    /// Connected and receiving.
    Connected,
    /// Trying to (re)connect.
    Connecting,
    /// Disconnected for a reason that may pass.
    TransientDisconnect(String),
    /// The credentials no longer work; the engine logs the account out.
    BadCredentials(String),
}

/// The completion of a queued remote event: resolves once the event is in Matrix (or has
/// failed for good). Connectors acknowledge or checkpoint only after this resolves `Ok`.
pub type EventReceipt = BoxFuture<'static, Result<(), crate::Error>>;

/// What the engine offers a logged-in account's [`NetworkApi`].
pub trait BridgeHandle: Send + Sync {
    /// Queues a remote event for its portal. Events queued one after another by the same
    /// caller for the same chat are bridged in that order.
    fn queue_remote_event(&self, login: &LoginId, event: RemoteEvent) -> EventReceipt;
    /// Persists connector-owned state for the login (a checkpoint, a cursor).
    fn save_login_state(
        &self,
        login: &LoginId,
        state: serde_json::Value,
    ) -> BoxFuture<'static, Result<(), crate::Error>>;
    /// Replaces the login's credentials (a rotated refresh token), durably, before it
    /// resolves: a credential that rotates on use must never be lost to a restart.
    fn save_login_secret(
        &self,
        login: &LoginId,
        secret: serde_json::Value,
    ) -> BoxFuture<'static, Result<(), crate::Error>>;
    /// Reports the connection state; `BadCredentials` logs the account out and tells its owner.
    fn report_state(&self, login: &LoginId, state: RemoteState);
    /// The Matrix user id that stands for a remote user (their ghost), for building mentions.
    fn matrix_id_for(&self, user: &RemoteUserId) -> String;
    /// The Matrix room of `chat`'s shared portal (not a per-login one such as a DM), if it is
    /// bridged, for turning mentions of the chat into links to its room.
    fn matrix_room_for(&self, chat: &RemoteChatId) -> BoxFuture<'static, Option<String>>;
}

/// One network, once per process.
#[async_trait]
pub trait NetworkConnector: Send + Sync + 'static {
    /// The connector's id: its config key and the prefix of its ghosts.
    fn id(&self) -> ConnectorId;
    /// A human name ("Slack").
    fn display_name(&self) -> &str;
    /// The network's public web address (`https://slack.com`), for the rooms' bridge info
    /// (MSC2346 `protocol.external_url`). `None` (the default) leaves it out.
    fn external_url(&self) -> Option<String> {
        None
    }
    /// What the network can carry.
    fn capabilities(&self) -> Capabilities;
    /// The ways to log in.
    fn login_flows(&self) -> Vec<LoginFlow>;
    /// Starts login flow `flow` for Matrix user `matrix_user` with the words the user typed
    /// after `login <connector> <flow>`. Errors are shown to the user.
    async fn start_login(
        &self,
        matrix_user: &str,
        flow: &str,
        args: &[String],
    ) -> ConnectorResult<LoginStep>;
    /// Builds the API for a stored login. Must not connect yet; the engine calls `connect`.
    async fn load_login(
        &self,
        login: &Login,
        bridge: Arc<dyn BridgeHandle>,
    ) -> ConnectorResult<Arc<dyn NetworkApi>>;
    /// Extra bot commands this connector offers (typed as `<connector> <command> ...`).
    fn commands(&self) -> Vec<CommandSpec> {
        Vec::new()
    }
    /// Runs one of [`NetworkConnector::commands`] for a user, with their login on this
    /// connector if they have one. The returned text is the bot's reply.
    async fn run_command(
        &self,
        command: &str,
        _args: &[String],
        _login: Option<&Login>,
    ) -> ConnectorResult<String> {
        Err(ConnectorError::Unsupported(format!("command {command}")))
    }
    /// HTTP endpoints the connector serves on the bridge's listener, under
    /// `/_aqueduct/<connector id>/` (OAuth redirects, webhook deliveries). `None` for none.
    fn web_handler(&self) -> Option<Arc<dyn crate::web::WebHandler>> {
        None
    }
}

/// A bot command offered by a connector.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    /// The word that runs it.
    pub name: String,
    /// One line of help.
    pub help: String,
    /// The lowest permission level that may run it.
    pub level: crate::permissions::Level,
}

/// One logged-in remote account.
#[async_trait]
pub trait NetworkApi: Send + Sync + 'static {
    /// Starts receiving events; returns once the connection is up or has failed. Must keep
    /// reconnecting by itself after later losses, and catch up on what it missed.
    async fn connect(&self) -> ConnectorResult<()>;
    /// Stops receiving, releases connections and saves connector state not yet saved.
    /// Idempotent: the engine calls it again after in-flight work has drained.
    async fn disconnect(&self);
    /// The account is being logged out for good (its owner's `logout`, or credentials that
    /// stopped working), unlike [`NetworkApi::disconnect`], which a restart follows: release
    /// what the platform keeps for this login (webhook subscriptions, sessions). Best
    /// effort: failures are logged, never raised. Called before `disconnect`. The default
    /// does nothing.
    async fn log_out(&self) {}
    /// The engine stopped bridging `portal`: its room was unbridged, or its network unlinked
    /// from a hub room. Called after the portal is gone from the store, on every loaded login
    /// of the portal's network (only its receiver's, when the portal has one), so a login
    /// that never watched the chat gets a call it ignores. Release what this login keeps for
    /// that chat alone (its webhook or change-notification subscription, its polling) and
    /// stop bringing its messages to the engine where the chat was bridged on request (a
    /// channel the login watches only because someone bridged it); a chat the platform
    /// delivers anyway may go on (its next message opens a fresh portal, as for a new chat).
    /// **Idempotent**: the same portal may be named again, or one the login never knew. An
    /// error is logged, never shown, and the portal stays unbridged. The default does
    /// nothing.
    async fn portal_unbridged(&self, portal: &PortalKey) -> ConnectorResult<()> {
        let _ = portal;
        Ok(())
    }
    /// The workspace, server or tenant this account's chats belong to, for the rooms' bridge
    /// info (MSC2346 `network`). `None` (the default) where the network has no such level or
    /// it cannot be learnt now; the engine then keeps what the room's bridge info said before.
    async fn network_info(&self) -> Option<NetworkInfo> {
        None
    }
    /// Facts about a chat this account can see.
    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo>;
    /// Facts about a remote user.
    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo>;
    /// Sends a Matrix message (text, attachments) to the portal's chat. `reply_to` and
    /// `thread_root` are only set when the connector offers [`NetworkApi::as_replies`] /
    /// [`NetworkApi::as_threads`].
    async fn send_message(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage>;

    /// What `portal` can carry. The default reads this login's `as_*` probes, with no edit
    /// window and no file limit of its own; a connector whose chats differ (or whose server
    /// says so) overrides it. Cheap: called for each Matrix event bridged into the portal.
    fn portal_capabilities(&self, _portal: &Portal) -> PortalCapabilities {
        PortalCapabilities {
            replies: self.as_replies().is_some(),
            threads: self.as_threads().is_some(),
            edits: self.as_edits().is_some(),
            edit_window: None,
            deletes: self.as_deletes().is_some(),
            reactions: self.as_reactions().is_some(),
            max_file_bytes: None,
        }
    }

    /// Whether messages sent through this login appear on the network as its owner. `false`
    /// for logins that post as an app or bot: the engine then gives every message the Matrix
    /// sender's name (as for relayed messages), owner's included.
    fn sends_as_owner(&self) -> bool {
        true
    }

    /// Edits, when the network has them.
    fn as_edits(&self) -> Option<&dyn EditHandler> {
        None
    }
    /// Deletes, when the network has them.
    fn as_deletes(&self) -> Option<&dyn DeleteHandler> {
        None
    }
    /// Reactions, when the network has them.
    fn as_reactions(&self) -> Option<&dyn ReactionHandler> {
        None
    }
    /// Replies, when the network has them.
    fn as_replies(&self) -> Option<&dyn ReplyHandler> {
        None
    }
    /// Threads, when the network has them.
    fn as_threads(&self) -> Option<&dyn ThreadHandler> {
        None
    }
    /// Typing notifications, when the network has them.
    fn as_typing(&self) -> Option<&dyn TypingHandler> {
        None
    }
    /// Read markers, when the network has them.
    fn as_read_receipts(&self) -> Option<&dyn ReadReceiptHandler> {
        None
    }
    /// Room name and topic changes, when the network has them.
    fn as_chat_info_changes(&self) -> Option<&dyn ChatInfoHandler> {
        None
    }
    /// Membership changes from Matrix, when the network takes them.
    fn as_membership(&self) -> Option<&dyn MembershipHandler> {
        None
    }
    /// Backfill of history, when the network offers it.
    fn as_backfill(&self) -> Option<&dyn BackfillHandler> {
        None
    }
    /// Custom emoji images, when the network has them.
    fn as_custom_emoji(&self) -> Option<&dyn CustomEmojiHandler> {
        None
    }
}

/// A custom emoji's image, fetched from the network.
#[derive(Clone, Debug)]
pub struct EmojiImage {
    /// MIME type.
    pub mime: String,
    /// The image bytes.
    pub data: Vec<u8>,
}

/// Fetches the images of the network's custom emoji, for the engine to upload to Matrix.
#[async_trait]
pub trait CustomEmojiHandler: Send + Sync {
    /// The image of `emoji` (as the connector named it in a message or reaction). The engine
    /// calls this once per [`crate::event::CustomEmoji::source`] and keeps the upload.
    async fn fetch_custom_emoji(
        &self,
        emoji: &crate::event::CustomEmoji,
    ) -> ConnectorResult<EmojiImage>;
}

/// Edits a remote message.
#[async_trait]
pub trait EditHandler: Send + Sync {
    /// Replaces the text of `target` with `content`.
    async fn edit_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
        relayed_for: Option<&crate::event::RelayedSender>,
    ) -> ConnectorResult<()>;
}

/// Deletes a remote message.
#[async_trait]
pub trait DeleteHandler: Send + Sync {
    /// Deletes `target`.
    async fn delete_message(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
    ) -> ConnectorResult<()>;
}

/// Adds and removes reactions.
#[async_trait]
pub trait ReactionHandler: Send + Sync {
    /// Adds reaction `key` (Unicode emoji or a custom key) to `target`.
    async fn add_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()>;
    /// Removes reaction `key` from `target`.
    async fn remove_reaction(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()>;
}

/// Marks that the network supports replies: `send_message` honours `reply_to`.
pub trait ReplyHandler: Send + Sync {}

/// Marks that the network supports threads: `send_message` honours `thread_root`.
pub trait ThreadHandler: Send + Sync {}

/// Sends typing notifications.
#[async_trait]
pub trait TypingHandler: Send + Sync {
    /// Says the account is (or stopped) typing in the portal's chat.
    async fn set_typing(&self, portal: &Portal, typing: bool) -> ConnectorResult<()>;
}

/// Marks chats read.
#[async_trait]
pub trait ReadReceiptHandler: Send + Sync {
    /// Marks the portal's chat read up to `up_to`.
    async fn mark_read(&self, portal: &Portal, up_to: &RemoteMessageId) -> ConnectorResult<()>;
}

/// Renames chats and changes their topics.
#[async_trait]
pub trait ChatInfoHandler: Send + Sync {
    /// Sets the chat's name.
    async fn set_name(&self, portal: &Portal, name: &str) -> ConnectorResult<()>;
    /// Sets the chat's topic.
    async fn set_topic(&self, portal: &Portal, topic: &str) -> ConnectorResult<()>;
}

/// Carries Matrix membership changes.
#[async_trait]
pub trait MembershipHandler: Send + Sync {
    /// Invites a remote user (whose ghost was invited in Matrix) to the chat.
    async fn invite(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()>;
    /// Removes a remote user (whose ghost was kicked in Matrix) from the chat.
    async fn kick(&self, portal: &Portal, user: &RemoteUserId) -> ConnectorResult<()>;
}

/// Fetches history.
#[async_trait]
pub trait BackfillHandler: Send + Sync {
    /// Up to `limit` messages of `chat` sent before `before` (exclusive), or the newest ones
    /// when `None`, oldest first, as remote events. The engine passes the message that made
    /// it create the portal, so history never overtakes live messages.
    async fn fetch_messages(
        &self,
        chat: &RemoteChatId,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<RemoteEvent>>;
}
