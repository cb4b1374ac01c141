//! A login's tokens: the access token Graph takes, renewed with the refresh token before it
//! expires. Microsoft rotates the refresh token on use, so each renewal is saved as the
//! login's secret before the new access token is used.

use crate::identity::{Identity, TokenAnswer};
use aqueduct_core::connector::{BridgeHandle, ConnectorError};
use aqueduct_core::ids::LoginId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// Renew this long before the access token expires, so no request meets an expired token.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// What a Teams login keeps as its secret. Its `Debug` leaves the tokens out.
#[derive(Clone, Serialize, Deserialize)]
pub struct TeamsSecret {
    /// The current access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// When the access token expires, in seconds since the epoch.
    pub expires_at: u64,
}

impl std::fmt::Debug for TeamsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsSecret")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl TeamsSecret {
    /// The secret a token answer makes, `now` being seconds since the epoch.
    pub fn from_answer(answer: TokenAnswer, now: u64, previous_refresh: Option<String>) -> Self {
        Self {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token.or(previous_refresh),
            expires_at: now.saturating_add(answer.expires_in),
        }
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The tokens of one login, shared by its requests.
pub(crate) struct Tokens {
    secret: Mutex<TeamsSecret>,
    identity: Identity,
    login: LoginId,
    bridge: Arc<dyn BridgeHandle>,
}

impl Tokens {
    pub(crate) fn new(
        secret: TeamsSecret,
        identity: Identity,
        login: LoginId,
        bridge: Arc<dyn BridgeHandle>,
    ) -> Self {
        Self {
            secret: Mutex::new(secret),
            identity,
            login,
            bridge,
        }
    }

    /// An access token good for a few minutes at least, renewed first when needed. One
    /// renewal at a time: the lock keeps concurrent requests from spending the refresh token
    /// twice.
    pub(crate) async fn bearer(&self) -> Result<String, ConnectorError> {
        let mut secret = self.secret.lock().await;
        if secret.expires_at > now_secs() + RENEW_BEFORE.as_secs() {
            return Ok(secret.access_token.clone());
        }
        self.renew(&mut secret).await?;
        Ok(secret.access_token.clone())
    }

    /// Renews even though the token looked valid (Graph said it is not).
    pub(crate) async fn renew_now(&self) -> Result<String, ConnectorError> {
        let mut secret = self.secret.lock().await;
        self.renew(&mut secret).await?;
        Ok(secret.access_token.clone())
    }

    async fn renew(&self, secret: &mut TeamsSecret) -> Result<(), ConnectorError> {
        let refresh = secret.refresh_token.clone().ok_or_else(|| {
            ConnectorError::BadCredentials("the sign-in has expired; sign in again".into())
        })?;
        let answer = self.identity.refresh(&refresh).await?;
        let renewed = TeamsSecret::from_answer(answer, now_secs(), Some(refresh));
        let value = serde_json::to_value(&renewed)
            .map_err(|e| ConnectorError::Temporary(format!("cannot keep the tokens: {e}")))?;
        self.bridge
            .save_login_secret(&self.login, value)
            .await
            .map_err(|e| ConnectorError::Temporary(format!("cannot keep the tokens: {e}")))?;
        tracing::info!(login = %self.login.as_str(), "renewed the Teams sign-in");
        *secret = renewed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_tokens_out() {
        let secret = TeamsSecret {
            access_token: "access-not-for-logs".into(),
            refresh_token: Some("refresh-not-for-logs".into()),
            expires_at: 42,
        };
        let answer = crate::identity::TokenAnswer {
            access_token: "access-not-for-logs".into(),
            refresh_token: Some("refresh-not-for-logs".into()),
            expires_in: 3600,
        };
        let shown = format!("{secret:?} {answer:#?}");
        assert!(!shown.contains("not-for-logs"), "{shown}");
        assert!(shown.contains("42") && shown.contains("3600"), "{shown}");
    }
}
