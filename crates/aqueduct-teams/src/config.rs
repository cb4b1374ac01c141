//! The `platforms.teams` config section.

use serde::Deserialize;

/// Settings for the Teams connector. National clouds and tests change the authority and the
/// Graph base URL.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The app registration's application (client) id. The app must allow public client
    /// flows (device code) and hold the delegated permissions listed in the README.
    pub client_id: String,
    /// The tenant: its id or domain, or `organizations` for any work account.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The identity platform's authority.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// Microsoft Graph's base URL, version included.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// The delegated permissions asked for at sign-in.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Seconds between two looks for new messages in polling mode.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
    /// Chats looked at per round (the most recently active first).
    #[serde(default = "default_max_chats")]
    pub max_chats_polled: usize,
}

fn default_tenant() -> String {
    "organizations".into()
}

fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}

fn default_graph_url() -> String {
    "https://graph.microsoft.com/v1.0".into()
}

fn default_scopes() -> Vec<String> {
    [
        "offline_access",
        "User.Read",
        "User.ReadBasic.All",
        "Chat.ReadWrite",
    ]
    .map(String::from)
    .to_vec()
}

fn default_poll_interval() -> u64 {
    10
}

fn default_max_chats() -> usize {
    50
}

impl TeamsConfig {
    /// A config for `client_id` with every default.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            tenant: default_tenant(),
            authority: default_authority(),
            graph_url: default_graph_url(),
            scopes: default_scopes(),
            poll_interval_secs: default_poll_interval(),
            max_chats_polled: default_max_chats(),
        }
    }

    /// Graph's base URL without a trailing slash.
    pub(crate) fn graph_base(&self) -> &str {
        self.graph_url.trim_end_matches('/')
    }
}
