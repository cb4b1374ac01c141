//! Opaque identifiers. Only a connector builds or parses the remote ones; the engine treats
//! them as keys.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string the connector (or the store) produced.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The raw string, for storage and for the connector that made it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// Names a connector ("slack", "rocketchat", ...); also the key of its config section.
    ConnectorId
);
string_id!(
    /// A chat (channel, group, DM) on the remote network.
    RemoteChatId
);
string_id!(
    /// A user on the remote network.
    RemoteUserId
);
string_id!(
    /// A message on the remote network.
    RemoteMessageId
);
string_id!(
    /// A logged-in remote account, unique within its connector.
    LoginId
);

/// Identifies a portal: one remote chat, seen through one connector. Direct chats are seen
/// differently by each account, so they also carry the login that receives them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortalKey {
    /// The connector the chat lives on.
    pub connector: ConnectorId,
    /// The chat on the remote network.
    pub chat: RemoteChatId,
    /// The login that receives the chat, for chats that only exist per account (DMs).
    pub receiver: Option<LoginId>,
}

impl PortalKey {
    /// A portal shared by every login that can see the chat.
    pub fn shared(connector: ConnectorId, chat: RemoteChatId) -> Self {
        Self {
            connector,
            chat,
            receiver: None,
        }
    }
}

impl fmt::Display for PortalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.receiver {
            Some(r) => write!(f, "{}:{}@{}", self.connector, self.chat, r),
            None => write!(f, "{}:{}", self.connector, self.chat),
        }
    }
}
