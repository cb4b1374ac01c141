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
    /// Largest file carried either way, in bytes; a larger one is named in its message
    /// (Teams -> Matrix) or refused with a notice (Matrix -> Teams).
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
    /// Files up to this size go to OneDrive or SharePoint in one request; larger ones in an
    /// upload session (Graph's simple upload takes files up to 4 MB).
    #[serde(default = "default_simple_upload")]
    pub simple_upload_max_bytes: u64,
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
        "Files.ReadWrite.All",
        "Team.ReadBasic.All",
        "Channel.ReadBasic.All",
        "ChannelMember.Read.All",
        "ChannelMessage.Read.All",
        "ChannelMessage.Send",
        "ChannelMessage.ReadWrite",
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

fn default_max_file() -> u64 {
    50 * 1024 * 1024
}

fn default_simple_upload() -> u64 {
    4_000_000
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
            max_file_bytes: default_max_file(),
            simple_upload_max_bytes: default_simple_upload(),
        }
    }

    /// Graph's base URL without a trailing slash.
    pub(crate) fn graph_base(&self) -> &str {
        self.graph_url.trim_end_matches('/')
    }
}
