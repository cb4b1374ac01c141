//! The `platforms.rocketchat` config section.

use serde::Deserialize;

/// Settings for the Rocket.Chat connector.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketChatConfig {
    /// The server's base URL (`https://chat.example.com`); REST is under `/api/v1/` and the
    /// realtime API at `/websocket`.
    pub server_url: String,
    /// Largest file the connector takes from or sends to Rocket.Chat, in bytes.
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
    /// Most live changes (pushed messages, deletions) a login keeps waiting for the bridge.
    /// Past it, further ones are fetched again from the rooms' history once the backlog is
    /// handled, so memory stays bounded when Matrix is slow and the server is busy.
    #[serde(default = "default_realtime_backlog")]
    pub realtime_backlog: usize,
}

fn default_realtime_backlog() -> usize {
    2_000
}

fn default_max_file() -> u64 {
    // Rocket.Chat's default `FileUpload_MaxFileSize`.
    100 * 1024 * 1024
}

impl RocketChatConfig {
    /// A config for `server_url` with the default limits.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            max_file_bytes: default_max_file(),
            realtime_backlog: default_realtime_backlog(),
        }
    }

    /// The server URL without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.server_url.trim_end_matches('/')
    }

    /// The realtime API's websocket URL (`ws(s)://host/websocket`).
    pub(crate) fn websocket_url(&self) -> String {
        let base = self.base();
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_owned()
        };
        format!("{ws}/websocket")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_follows_the_server_scheme() {
        assert_eq!(
            RocketChatConfig::new("https://chat.example.com/").websocket_url(),
            "wss://chat.example.com/websocket"
        );
        assert_eq!(
            RocketChatConfig::new("http://127.0.0.1:3000").websocket_url(),
            "ws://127.0.0.1:3000/websocket"
        );
    }
}
