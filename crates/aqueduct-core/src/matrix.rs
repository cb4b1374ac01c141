//! What the engine needs from the Matrix side. `aqueduct-matrix` implements it over the
//! client-server API with the appservice token; the engine never does HTTP itself.

use async_trait::async_trait;
use serde_json::Value;

/// A failure on the Matrix side, with the homeserver's error code when it gave one.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with an error.
    #[error("homeserver refused ({status} {errcode}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Matrix error code (`M_FORBIDDEN`, ...).
        errcode: String,
        /// The homeserver's explanation.
        message: String,
    },
    /// The homeserver could not be reached or answered nonsense.
    #[error("homeserver unreachable: {0}")]
    Transport(String),
    /// The bridge cannot act as this user (outside the namespace, no double puppet).
    #[error("cannot act as {0}")]
    CannotActAs(String),
}

impl MatrixError {
    /// The Matrix error code, if the homeserver sent one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            MatrixError::Refused { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            MatrixError::Transport(_) => true,
            MatrixError::Refused { status, .. } => *status >= 500,
            MatrixError::CannotActAs(_) => false,
        }
    }
}

/// Result of a Matrix call.
pub type MatrixResult<T> = std::result::Result<T, MatrixError>;

/// A room to create.
#[derive(Clone, Debug, Default)]
pub struct NewRoom {
    /// Room name, if any (DMs have none).
    pub name: Option<String>,
    /// Room topic.
    pub topic: Option<String>,
    /// Users to invite at creation.
    pub invite: Vec<String>,
    /// Whether clients should list it as a direct chat.
    pub is_direct: bool,
    /// Users who get power level 50 (may rename the room and set its topic).
    pub moderators: Vec<String>,
    /// Extra initial state events: (type, state key, content).
    pub initial_state: Vec<(String, String, Value)>,
}

/// The Matrix side of the bridge: acts as the bot, as ghosts, or as double-puppeted users.
/// Every `sender`/`user` is a Matrix user id; implementations choose the right token.
#[async_trait]
pub trait MatrixApi: Send + Sync + 'static {
    /// The bridge bot's user id.
    fn bot_user_id(&self) -> &str;
    /// The homeserver's server name.
    fn server_name(&self) -> &str;
    /// Whether the bridge can act as `user_id` through double puppeting.
    fn can_double_puppet(&self, user_id: &str) -> bool;

    /// Registers a user in the appservice namespace. Already registered is success.
    async fn ensure_registered(&self, localpart: &str) -> MatrixResult<()>;
    /// Sets a user's global display name.
    async fn set_display_name(&self, user: &str, name: &str) -> MatrixResult<()>;
    /// Sets a user's global avatar.
    async fn set_avatar_url(&self, user: &str, mxc: &str) -> MatrixResult<()>;
    /// Creates a room as the bot; returns its id.
    async fn create_room(&self, room: &NewRoom) -> MatrixResult<String>;
    /// `inviter` invites `invitee` to `room`.
    async fn invite(&self, room: &str, inviter: &str, invitee: &str) -> MatrixResult<()>;
    /// `user` joins `room` (must be invited or the room public).
    async fn join(&self, room: &str, user: &str) -> MatrixResult<()>;
    /// `user` leaves `room`.
    async fn leave(&self, room: &str, user: &str) -> MatrixResult<()>;
    /// Sends a message-like event as `sender`. The same `txn_id` from the same sender yields
    /// the same event, so retries cannot duplicate. `timestamp_ms` backdates (backfill only).
    async fn send_event(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        content: &Value,
        txn_id: &str,
        timestamp_ms: Option<i64>,
    ) -> MatrixResult<String>;
    /// Sends a state event as `sender`; returns its event id.
    async fn send_state(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> MatrixResult<String>;
    /// Reads a state event's content, `None` if absent.
    async fn get_state(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
    ) -> MatrixResult<Option<Value>>;
    /// Redacts `event_id` as `sender`; idempotent per `txn_id`.
    async fn redact(
        &self,
        room: &str,
        sender: &str,
        event_id: &str,
        txn_id: &str,
        reason: Option<&str>,
    ) -> MatrixResult<String>;
    /// Uploads media as `sender`; returns its `mxc://` URI.
    async fn upload(
        &self,
        sender: &str,
        data: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> MatrixResult<String>;
    /// Uploads media that will be sent into `room`: where the room is encrypted the
    /// implementation encrypts it first and returns the encrypted file's source, so the
    /// homeserver never holds the plaintext. The default uploads it as it is.
    async fn upload_for_room(
        &self,
        _room: &str,
        sender: &str,
        data: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> MatrixResult<ruma::events::room::MediaSource> {
        let mxc = self.upload(sender, data, mime, filename).await?;
        Ok(ruma::events::room::MediaSource::Plain(mxc.into()))
    }
    /// Downloads media by `mxc://` URI, refusing anything larger than `max_bytes`.
    async fn download(&self, mxc: &str, max_bytes: u64) -> MatrixResult<Vec<u8>>;
    /// Starts or stops `user`'s typing notification.
    async fn set_typing(&self, room: &str, user: &str, typing: bool) -> MatrixResult<()>;
    /// Sends a read receipt for `event_id` as `user`.
    async fn send_receipt(&self, room: &str, user: &str, event_id: &str) -> MatrixResult<()>;
    /// A member's display name and avatar (`mxc://`) in a room, each if set.
    async fn member_profile(
        &self,
        room: &str,
        user: &str,
    ) -> MatrixResult<(Option<String>, Option<String>)>;
    /// Users currently joined to `room`.
    async fn joined_members(&self, room: &str) -> MatrixResult<Vec<String>>;
}
