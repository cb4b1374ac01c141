//! The `platforms.slack.events_api` config section: receiving through the Events API over
//! HTTP. Kept apart from `config.rs` so the HTTP transport's settings live in one place.

use serde::Deserialize;

/// Environment variable that overrides [`EventsApiConfig::signing_secret`], so the secret can
/// stay out of the config file.
pub const SIGNING_SECRET_ENV: &str = "AQUEDUCT_SLACK_SIGNING_SECRET";

/// Settings of the Events API over HTTP. Slack POSTs events to
/// `https://<bridge>/_aqueduct/slack/events`, the Request URL set in the app's settings.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsApiConfig {
    /// The app's signing secret ("Basic Information" -> "App Credentials"), with which every
    /// request from Slack is checked. `AQUEDUCT_SLACK_SIGNING_SECRET` overrides it.
    #[serde(default)]
    pub signing_secret: String,
}

/// Leaves the signing secret out.
impl std::fmt::Debug for EventsApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsApiConfig")
            .field("signing_secret", &"<redacted>")
            .finish()
    }
}

impl EventsApiConfig {
    /// Applies the environment override and refuses a missing secret: without it no request
    /// could be verified, so every event would be refused.
    pub fn resolve_secret(&mut self) -> Result<(), String> {
        if let Some(v) = std::env::var(SIGNING_SECRET_ENV)
            .ok()
            .filter(|v| !v.is_empty())
        {
            self.signing_secret = v;
        }
        if self.signing_secret.is_empty() {
            return Err(format!(
                "events_api.signing_secret is empty (set it, or {SIGNING_SECRET_ENV})"
            ));
        }
        Ok(())
    }
}

impl crate::SlackConfig {
    /// Applies environment overrides of the Slack section's secrets and checks them.
    pub fn resolve_env(mut self) -> Result<Self, String> {
        if let Some(events) = &mut self.events_api {
            events.resolve_secret()?;
        }
        Ok(self)
    }
}
