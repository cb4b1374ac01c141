//! The `platforms.slack` config section.

use serde::Deserialize;

/// Settings for the Slack connector.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Base URL of the Web API. Only tests and proxies change it.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Largest file the connector downloads from or uploads to Slack, in bytes.
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
    /// Receive through the Events API over HTTP instead of Socket Mode. `None` (the default)
    /// keeps Socket Mode.
    #[serde(default)]
    pub events_api: Option<crate::events_config::EventsApiConfig>,
    /// The Slack app's OAuth settings, for `login slack oauth`. Without them, users log in
    /// with `login slack token <xoxp-...>`.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// How fast messages are posted into one channel (default: bursts of 3, then 1 per
    /// second, near Slack's documented limit). Posts over it wait; none are dropped.
    #[serde(default)]
    pub send_pace: crate::pacing::SendPace,
    /// Most live events (Socket Mode or Events API) a workspace login keeps on their way to
    /// Matrix. Past it, further ones are not taken and are fetched from the channels' history
    /// once the backlog is handled, so memory stays bounded when Matrix is slow.
    #[serde(default = "default_realtime_backlog")]
    pub realtime_backlog: usize,
}

/// OAuth v2 settings of the Slack app that personal logins authorize.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The app's client id (Basic Information in the app's settings).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The bridge's externally reachable base URL (`https://bridge.example.com`); Slack
    /// redirects browsers to `<public_url>/_aqueduct/slack/oauth`, which must be listed among
    /// the app's redirect URLs. Unset: `appservice.public_url` (see
    /// [`SlackConfig::with_default_public_url`]).
    #[serde(default)]
    pub public_url: String,
}

/// Leaves the client secret out.
impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl SlackConfig {
    /// Fills an unset `oauth.public_url` with the bridge's own public URL
    /// (`appservice.public_url`); an error if OAuth is configured and neither is set, since
    /// Slack would have nowhere to send the browser back to.
    pub fn with_default_public_url(
        mut self,
        bridge_public_url: Option<&str>,
    ) -> Result<Self, String> {
        if let Some(oauth) = &mut self.oauth
            && oauth.public_url.is_empty()
        {
            oauth.public_url = bridge_public_url
                .filter(|u| !u.is_empty())
                .ok_or("oauth.public_url is unset and so is appservice.public_url: set either, so Slack can send the browser back to the bridge")?
                .to_owned();
        }
        Ok(self)
    }
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

fn default_realtime_backlog() -> usize {
    2_000
}

fn default_max_file() -> u64 {
    50 * 1024 * 1024
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            api_url: default_api_url(),
            max_file_bytes: default_max_file(),
            events_api: None,
            oauth: None,
            send_pace: crate::pacing::SendPace::default(),
            realtime_backlog: default_realtime_backlog(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_secrets_out() {
        let mut config = parse(
            r#"{"oauth":{"client_id":"1.2","client_secret":"oauth-not-for-logs","public_url":"https://b"}}"#,
        );
        config.events_api = Some(crate::events_config::EventsApiConfig {
            signing_secret: "signing-not-for-logs".into(),
        });
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("not-for-logs"), "{shown}");
        assert!(shown.contains("client_secret") && shown.contains("signing_secret"));
    }

    fn parse(yaml: &str) -> SlackConfig {
        serde_json::from_str(yaml).expect("valid config")
    }

    #[test]
    fn oauth_public_url_defaults_to_the_bridges() {
        let unset = r#"{"oauth": {"client_id": "1", "client_secret": "s"}}"#;
        let config = parse(unset)
            .with_default_public_url(Some("https://bridge.example.com"))
            .unwrap();
        assert_eq!(
            config.oauth.unwrap().public_url,
            "https://bridge.example.com"
        );
        let own = r#"{"oauth": {"client_id": "1", "client_secret": "s", "public_url": "https://own.example.com"}}"#;
        let config = parse(own)
            .with_default_public_url(Some("https://bridge.example.com"))
            .unwrap();
        assert_eq!(config.oauth.unwrap().public_url, "https://own.example.com");
        let err = parse(unset).with_default_public_url(None).unwrap_err();
        assert!(err.contains("appservice.public_url"), "{err}");
        assert!(
            parse("{}").with_default_public_url(None).is_ok(),
            "no OAuth, no URL needed"
        );
    }
}
