//! The Microsoft identity platform, OAuth 2.0 as the bridge uses it: the device code flow to
//! sign a user in (RFC 8628: the user types a short code on a page of Microsoft's, the bridge
//! polls the token endpoint meanwhile) and the refresh-token grant to keep their access.
//! Endpoints: `{authority}/{tenant}/oauth2/v2.0/devicecode` and `.../token`.

use crate::config::TeamsConfig;
use aqueduct_core::connector::ConnectorError;
use serde::Deserialize;
use std::time::Duration;

/// The answer of the device authorization endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCodeAnswer {
    /// The code the bridge polls with (never shown).
    pub device_code: String,
    /// The code the user types.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds to wait between two polls.
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// A successful token answer. Its `Debug` leaves the tokens out.
#[derive(Clone, Deserialize)]
pub struct TokenAnswer {
    /// The bearer token for Graph.
    pub access_token: String,
    /// The token that gets the next access token (with `offline_access`).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Seconds the access token lives.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// An error answer of the token endpoint (RFC 6749 section 5.2, RFC 8628 section 3.5).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenError {
    /// `authorization_pending`, `slow_down`, `expired_token`, `invalid_grant`, ...
    pub error: String,
    /// What went wrong, in English.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// What one poll of the token endpoint says about a device code.
#[derive(Debug)]
pub enum DevicePoll {
    /// Signed in.
    Done(TokenAnswer),
    /// The user has not finished yet.
    Pending,
    /// Poll less often (by 5 s, RFC 8628).
    SlowDown,
    /// The flow is over without a sign-in; the text says why, in the user's words.
    Failed(String),
}

/// Talks to the identity platform for one configured app registration.
#[derive(Clone)]
pub struct Identity {
    http: reqwest::Client,
    config: TeamsConfig,
}

impl Identity {
    /// An identity client for `config`'s authority, tenant and client id.
    pub fn new(http: reqwest::Client, config: TeamsConfig) -> Self {
        Self { http, config }
    }

    fn endpoint(&self, name: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{name}",
            self.config.authority.trim_end_matches('/'),
            self.config.tenant
        )
    }

    /// Starts a device code flow for the configured scopes.
    pub async fn start_device_code(&self) -> Result<DeviceCodeAnswer, ConnectorError> {
        let scope = self.config.scopes.join(" ");
        let response = self
            .http
            .post(self.endpoint("devicecode"))
            .form(&[
                ("client_id", self.config.client_id.as_str()),
                ("scope", &scope),
            ])
            .send()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("Microsoft sign-in: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("Microsoft sign-in: {e}")))?;
        if !status.is_success() {
            let why = serde_json::from_str::<TokenError>(&text)
                .map(|e| e.error_description.unwrap_or(e.error))
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(ConnectorError::Refused(format!(
                "Microsoft refused to start a sign-in: {why}"
            )));
        }
        serde_json::from_str(&text).map_err(|e| {
            ConnectorError::Temporary(format!("Microsoft sign-in answered unreadably: {e}"))
        })
    }

    /// Polls the token endpoint once for `device_code`.
    pub async fn poll_device_code(&self, device_code: &str) -> Result<DevicePoll, ConnectorError> {
        let answer = self
            .token_request(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &self.config.client_id),
                ("device_code", device_code),
            ])
            .await?;
        Ok(match answer {
            Ok(tokens) => DevicePoll::Done(tokens),
            Err(e) => match e.error.as_str() {
                "authorization_pending" => DevicePoll::Pending,
                "slow_down" => DevicePoll::SlowDown,
                "expired_token" | "code_expired" => {
                    DevicePoll::Failed("the sign-in code expired before it was used".into())
                }
                "authorization_declined" | "access_denied" => {
                    DevicePoll::Failed("the sign-in was declined".into())
                }
                _ => DevicePoll::Failed(format!(
                    "Microsoft ended the sign-in: {}",
                    e.error_description.unwrap_or(e.error)
                )),
            },
        })
    }

    /// Trades a refresh token for new tokens. A refused refresh (revoked consent, an expired
    /// or reused refresh token) is `BadCredentials`: the user must sign in again.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenAnswer, ConnectorError> {
        let scope = self.config.scopes.join(" ");
        match self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("client_id", &self.config.client_id),
                ("refresh_token", refresh_token),
                ("scope", &scope),
            ])
            .await?
        {
            Ok(tokens) => Ok(tokens),
            Err(e) => Err(ConnectorError::BadCredentials(format!(
                "Microsoft refused to renew the sign-in ({}): {}",
                e.error,
                e.error_description.unwrap_or_default()
            ))),
        }
    }

    /// Posts a form to the token endpoint: the tokens, the endpoint's error answer, or a
    /// temporary failure when the endpoint could not answer properly.
    async fn token_request(
        &self,
        form: &[(&str, &str)],
    ) -> Result<Result<TokenAnswer, TokenError>, ConnectorError> {
        let response = self
            .http
            .post(self.endpoint("token"))
            .form(form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("Microsoft sign-in: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("Microsoft sign-in: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ConnectorError::Temporary(format!(
                "Microsoft sign-in: HTTP {status}"
            )));
        }
        if status.is_success() {
            return serde_json::from_str(&text).map(Ok).map_err(|e| {
                ConnectorError::Temporary(format!("Microsoft sign-in answered unreadably: {e}"))
            });
        }
        serde_json::from_str(&text)
            .map(Err)
            .map_err(|_| ConnectorError::Temporary(format!("Microsoft sign-in: HTTP {status}")))
    }
}
