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
    /// How messages are received: `notifications` (Graph's change notifications, delivered
    /// to the bridge's listener, which must be reachable at `public_url` over https) or
    /// `poll`. Unset: `notifications` when there is a public URL, else `poll`.
    #[serde(default)]
    pub receive: Option<Receive>,
    /// Where Graph reaches the bridge's listener (notifications go to
    /// `<public_url>/_aqueduct/teams/notifications`). Unset: `appservice.public_url`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// In notifications mode, seconds between full rounds over every chat, which catch what
    /// notifications did not tell (while no subscription is live, `poll_interval_secs`).
    #[serde(default = "default_fallback_poll")]
    pub fallback_poll_secs: u64,
    /// In notifications mode, whether Graph sends the changed message with each
    /// notification (encrypted for a key pair the bridge makes), sparing a request when
    /// there is nothing new in it.
    #[serde(default = "default_true")]
    pub resource_data: bool,
    /// The lifetime asked for each subscription, in seconds (at most 3540: Graph keeps chat
    /// message subscriptions an hour at most); each is renewed well before it ends.
    #[serde(default = "default_subscription_lifetime")]
    pub subscription_lifetime_secs: u64,
    /// How fast one login posts into one chat or channel (default: bursts of 5, then 1 per
    /// second, within Graph's documented "about ten messages per ten seconds per chat").
    /// Posts over it wait; none are dropped.
    #[serde(default)]
    pub send_pace: SendPace,
}

/// A per-chat posting pace: a token bucket holding up to `burst` posts, refilled at
/// `per_second` (the connector kit's [`aqueduct_connector::pacing::Pace`]).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SendPace {
    /// Posts allowed back to back after a quiet spell (at least 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Posts per second in the long run (more than 0).
    #[serde(default = "default_per_second")]
    pub per_second: f64,
}

fn default_burst() -> u32 {
    5
}

fn default_per_second() -> f64 {
    1.0
}

impl Default for SendPace {
    fn default() -> Self {
        Self {
            burst: default_burst(),
            per_second: default_per_second(),
        }
    }
}

impl From<SendPace> for aqueduct_connector::pacing::Pace {
    fn from(p: SendPace) -> Self {
        Self {
            burst: p.burst,
            per_second: p.per_second,
        }
    }
}

/// How a login receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Receive {
    /// Polling Graph every `poll_interval_secs`.
    Poll,
    /// Graph's change notifications, polling only to catch up.
    Notifications,
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

fn default_fallback_poll() -> u64 {
    300
}

fn default_true() -> bool {
    true
}

fn default_subscription_lifetime() -> u64 {
    crate::subscriptions::MAX_LIFETIME_SECS
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
            receive: None,
            public_url: None,
            fallback_poll_secs: default_fallback_poll(),
            resource_data: true,
            subscription_lifetime_secs: default_subscription_lifetime(),
            send_pace: SendPace::default(),
        }
    }

    /// Graph's base URL without a trailing slash.
    pub(crate) fn graph_base(&self) -> &str {
        self.graph_url.trim_end_matches('/')
    }

    /// Fills an unset `public_url` with the bridge's own (`appservice.public_url`); an error
    /// when `receive: notifications` is asked for and neither is set.
    pub fn with_default_public_url(
        mut self,
        bridge_public_url: Option<&str>,
    ) -> Result<Self, String> {
        if self.public_url.is_none() {
            self.public_url = bridge_public_url.map(str::to_owned);
        }
        if self.receive == Some(Receive::Notifications) && self.public_url.is_none() {
            return Err("receive: notifications needs a public URL (public_url here, or appservice.public_url) for Graph to deliver to".into());
        }
        Ok(self)
    }

    /// How logins receive.
    pub fn receive_mode(&self) -> Receive {
        match (self.receive, &self.public_url) {
            (Some(mode), _) => mode,
            (None, Some(_)) => Receive::Notifications,
            (None, None) => Receive::Poll,
        }
    }

    /// The subscriptions' settings in notifications mode, `None` in polling mode.
    pub(crate) fn notification_settings(&self) -> Option<crate::subscriptions::Settings> {
        if self.receive_mode() != Receive::Notifications {
            return None;
        }
        let base = format!(
            "{}{}/teams",
            self.public_url.as_deref()?.trim_end_matches('/'),
            aqueduct_core::web::WEB_PREFIX
        );
        Some(crate::subscriptions::Settings {
            notification_url: format!("{base}{}", crate::web::NOTIFICATIONS_PATH),
            lifecycle_url: format!("{base}{}", crate::web::LIFECYCLE_PATH),
            lifetime_ms: self
                .subscription_lifetime_secs
                .clamp(5, crate::subscriptions::MAX_LIFETIME_SECS) as i64
                * 1000,
            resource_data: self.resource_data,
            max_chats: self.max_chats_polled,
        })
    }
}

#[cfg(test)]
mod receive_tests {
    use super::*;

    fn parse(yaml: &str) -> TeamsConfig {
        serde_json::from_str(yaml).expect("a config")
    }

    #[test]
    fn notifications_when_the_bridge_has_a_public_url_unless_told_otherwise() {
        let plain = parse(r#"{"client_id": "c"}"#);
        assert_eq!(
            plain
                .clone()
                .with_default_public_url(None)
                .unwrap()
                .receive_mode(),
            Receive::Poll
        );
        let public = plain
            .with_default_public_url(Some("https://bridge.example.com/"))
            .unwrap();
        assert_eq!(public.receive_mode(), Receive::Notifications);
        let settings = public.notification_settings().unwrap();
        assert_eq!(
            settings.notification_url,
            "https://bridge.example.com/_aqueduct/teams/notifications"
        );
        assert_eq!(
            settings.lifecycle_url,
            "https://bridge.example.com/_aqueduct/teams/lifecycle"
        );
        assert_eq!(settings.lifetime_ms, 3_540_000);
        let polling = parse(r#"{"client_id": "c", "receive": "poll"}"#)
            .with_default_public_url(Some("https://bridge.example.com"))
            .unwrap();
        assert_eq!(polling.receive_mode(), Receive::Poll);
        assert!(polling.notification_settings().is_none());
        let own = parse(r#"{"client_id": "c", "public_url": "https://own.example.com", "subscription_lifetime_secs": 7200}"#)
            .with_default_public_url(Some("https://bridge.example.com"))
            .unwrap();
        let settings = own.notification_settings().unwrap();
        assert!(
            settings
                .notification_url
                .starts_with("https://own.example.com/")
        );
        assert_eq!(settings.lifetime_ms, 3_540_000, "capped at Graph's hour");
        let err = parse(r#"{"client_id": "c", "receive": "notifications"}"#)
            .with_default_public_url(None)
            .unwrap_err();
        assert!(err.contains("public URL"), "{err}");
        assert!(
            serde_json::from_str::<TeamsConfig>(r#"{"client_id": "c", "receive": "push"}"#)
                .is_err()
        );
    }

    #[test]
    fn the_send_pace_defaults_to_five_at_once_then_one_a_second() {
        let plain = parse(r#"{"client_id": "c"}"#);
        assert_eq!(
            plain.send_pace,
            SendPace {
                burst: 5,
                per_second: 1.0
            }
        );
        let faster = parse(r#"{"client_id": "c", "send_pace": {"per_second": 20}}"#);
        assert_eq!(
            faster.send_pace,
            SendPace {
                burst: 5,
                per_second: 20.0
            }
        );
        assert!(
            serde_json::from_str::<TeamsConfig>(r#"{"client_id": "c", "send_pace": {"rate": 2}}"#)
                .is_err()
        );
    }
}
