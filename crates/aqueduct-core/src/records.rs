//! The rows the engine keeps: portals, ghosts, logins, message and reaction mappings, and the
//! durable inbox of Matrix events. Plain data; the store decides how they are kept.

use crate::ids::{ConnectorId, LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use serde_json::Value;

/// A remote chat and the Matrix room that mirrors it.
#[derive(Clone, Debug, PartialEq)]
pub struct Portal {
    /// Which remote chat this is.
    pub key: PortalKey,
    /// The Matrix room, once created.
    pub room_id: Option<String>,
    /// Last name bridged to the room.
    pub name: Option<String>,
    /// Last topic bridged to the room.
    pub topic: Option<String>,
    /// Whether the remote chat is a direct chat with one other person.
    pub is_direct: bool,
    /// The login that relays for Matrix users without one, if the room has a relay.
    pub relay_login: Option<LoginId>,
}

impl Portal {
    /// A portal that has no Matrix room yet.
    pub fn new(key: PortalKey) -> Self {
        Self {
            key,
            room_id: None,
            name: None,
            topic: None,
            is_direct: false,
            relay_login: None,
        }
    }
}

/// A remote user and the Matrix user that stands for them.
#[derive(Clone, Debug, PartialEq)]
pub struct Ghost {
    /// The connector the user lives on.
    pub connector: ConnectorId,
    /// The remote user.
    pub remote_user: RemoteUserId,
    /// The Matrix user id in the registration's namespace.
    pub mxid: String,
    /// Display name last set on the Matrix profile.
    pub display_name: Option<String>,
    /// Avatar content URI last set on the Matrix profile.
    pub avatar_mxc: Option<String>,
    /// What the avatar was made from (a remote URL or hash), to know when it changed.
    pub avatar_source: Option<String>,
    /// Whether the Matrix account has been registered.
    pub registered: bool,
}

/// A Matrix user's credentials for one remote account. Its `Debug` leaves the secret out.
#[derive(Clone, PartialEq)]
pub struct Login {
    /// The connector the account lives on.
    pub connector: ConnectorId,
    /// The account's id, unique within the connector.
    pub id: LoginId,
    /// The Matrix user who owns it.
    pub matrix_user: String,
    /// The account's own user id on the remote network.
    pub remote_user: RemoteUserId,
    /// A human name for the account ("alice@acme").
    pub remote_name: String,
    /// Connector-owned credentials (tokens). Never logged.
    pub secret: Value,
    /// Connector-owned state that survives restarts (checkpoints, cursors).
    pub state: Value,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("connector", &self.connector)
            .field("id", &self.id)
            .field("matrix_user", &self.matrix_user)
            .field("remote_user", &self.remote_user)
            .field("remote_name", &self.remote_name)
            .field("secret", &"<redacted>")
            .field("state", &self.state)
            .finish()
    }
}

/// One Matrix event that carries (part of) one remote message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRecord {
    /// The portal the message lives in.
    pub portal: PortalKey,
    /// The remote message.
    pub remote_id: RemoteMessageId,
    /// Which part of the remote message ("" for the first or only part).
    pub part: String,
    /// The Matrix event.
    pub event_id: String,
    /// The Matrix room.
    pub room_id: String,
    /// The Matrix user who sent the event.
    pub sender_mxid: String,
    /// The remote author.
    pub remote_sender: RemoteUserId,
    /// The thread the message belongs to, by its root's remote id.
    pub thread_root: Option<RemoteMessageId>,
    /// Milliseconds since the epoch, as the remote network stamped it.
    pub timestamp_ms: i64,
}

/// One reaction, known on both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct ReactionRecord {
    /// The portal the reaction lives in.
    pub portal: PortalKey,
    /// The message reacted to.
    pub target: RemoteMessageId,
    /// The remote user who reacted.
    pub remote_sender: RemoteUserId,
    /// The reaction key (an emoji, or a shortcode the connector understands).
    pub key: String,
    /// The Matrix `m.reaction` event.
    pub event_id: String,
}

/// A Matrix event from an appservice transaction, kept until the engine has handled it.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxEvent {
    /// Order of arrival, assigned by the store.
    pub seq: i64,
    /// The room the event is in, if any.
    pub room_id: Option<String>,
    /// The event as the homeserver sent it.
    pub json: String,
    /// Attempts at handling it recorded so far: those that failed, and those under way when
    /// the bridge stopped (see [`crate::store::Store::count_inbox_attempt`]).
    pub attempts: i64,
}

/// A Matrix event set aside after repeated failures to handle it, kept for an operator.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// Its sequence number in the inbox it came from.
    pub seq: i64,
    /// The room the event is in, if any.
    pub room_id: Option<String>,
    /// The event as the homeserver sent it.
    pub json: String,
    /// Why it was set aside.
    pub reason: String,
    /// Attempts made at handling it.
    pub attempts: i64,
    /// When it was set aside, in milliseconds since the epoch.
    pub failed_at_ms: i64,
}

/// A network's custom emoji image and its upload to Matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomEmojiRecord {
    /// The connector whose emoji it is.
    pub connector: ConnectorId,
    /// The image's source on the network (its URL); one upload per source.
    pub source: String,
    /// The uploaded image.
    pub mxc: String,
    /// The shortcode with colons (`:partyparrot:`), to name it on the network again.
    pub shortcode: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::NewLogin;

    #[test]
    fn debug_output_of_a_login_leaves_its_secret_out() {
        let secret =
            serde_json::json!({ "token": "xoxp-not-for-logs", "password": "pw-not-for-logs" });
        let login = Login {
            connector: ConnectorId::new("slack"),
            id: LoginId::new("T1:U1"),
            matrix_user: "@alice:hs".into(),
            remote_user: RemoteUserId::new("U1"),
            remote_name: "alice".into(),
            secret: secret.clone(),
            state: serde_json::json!({ "cursor": 7 }),
        };
        let new = NewLogin {
            id: LoginId::new("T1:U1"),
            remote_user: RemoteUserId::new("U1"),
            remote_name: "alice".into(),
            secret,
        };
        let shown = format!("{login:?} {new:#?}");
        assert!(!shown.contains("not-for-logs"), "{shown}");
        assert!(
            shown.contains("@alice:hs") && shown.contains("cursor"),
            "{shown}"
        );
    }
}
