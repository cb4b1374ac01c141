//! One HTTP client for the homeserver's client-server API, with the appservice token. Serves
//! ruma's request types, picks the token for the user acted as, and waits out rate limits.

use aqueduct_core::matrix::{MatrixError, MatrixResult};
use ruma::api::auth_scheme::{AuthScheme, SendAccessToken};
use ruma::api::path_builder::PathBuilder;
use ruma::api::{IncomingResponse, MatrixVersion, OutgoingRequest, SupportedVersions};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How the client reaches and authenticates to the homeserver.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Client-server API base URL (`http://127.0.0.1:8008`).
    pub homeserver_url: String,
    /// The homeserver's server name.
    pub server_name: String,
    /// The registration's `as_token`.
    pub as_token: String,
    /// The registration's `id`, for the ping endpoint.
    pub appservice_id: String,
    /// The bot's localpart (`sender_localpart`).
    pub bot_localpart: String,
    /// Localparts starting with this are ghosts the appservice may act as.
    pub ghost_prefix: String,
    /// Double puppeting: server name -> `as_token` of a second registration whose
    /// non-exclusive namespace covers that server's users.
    pub double_puppet_tokens: HashMap<String, String>,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct HomeserverClient {
    pub(crate) config: std::sync::Arc<ClientConfig>,
    pub(crate) http: reqwest::Client,
    versions: std::sync::Arc<SupportedVersions>,
    pub(crate) bot: String,
}

/// Longest wait the client accepts from a rate limit before trying again anyway.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

impl HomeserverClient {
    /// A client for `config`.
    pub fn new(config: ClientConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(32)
            .build()
            .expect("TLS backend available");
        let versions = SupportedVersions {
            versions: BTreeSet::from([MatrixVersion::V1_11]),
            features: BTreeSet::new(),
        };
        let bot = format!("@{}:{}", config.bot_localpart, config.server_name);
        Self {
            config: std::sync::Arc::new(config),
            http,
            versions: std::sync::Arc::new(versions),
            bot,
        }
    }

    /// Whether `user_id` is the bot or in the ghost namespace.
    pub(crate) fn is_own_user(&self, user_id: &str) -> bool {
        let Some((local, server)) = user_id.strip_prefix('@').and_then(|u| u.split_once(':'))
        else {
            return false;
        };
        server == self.config.server_name
            && (local == self.config.bot_localpart || local.starts_with(&self.config.ghost_prefix))
    }

    /// The token to act as `user_id`, and whether to add `user_id` as the identity.
    pub(crate) fn token_for(&self, user_id: &str) -> MatrixResult<&str> {
        if self.is_own_user(user_id) {
            return Ok(&self.config.as_token);
        }
        let server = user_id.split_once(':').map(|(_, s)| s).unwrap_or_default();
        self.config
            .double_puppet_tokens
            .get(server)
            .map(String::as_str)
            .ok_or_else(|| MatrixError::CannotActAs(user_id.to_owned()))
    }

    /// Sends a ruma request as `user_id`, retrying after rate limits, and parses the answer.
    pub async fn send<R>(&self, request: R, user_id: &str) -> MatrixResult<R::IncomingResponse>
    where
        R: OutgoingRequest + Clone,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        let token = self.token_for(user_id)?;
        loop {
            let http_request = request
                .clone()
                .try_into_http_request::<Vec<u8>>(
                    &self.config.homeserver_url,
                    SendAccessToken::Always(token),
                    Cow::Borrowed(&*self.versions),
                )
                .map_err(|e| MatrixError::Transport(format!("cannot build request: {e}")))?;
            let (status, body) = self.execute(http_request, user_id).await?;
            if let Some(wait) = rate_limit_wait(status, &body) {
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    "rate limited by the homeserver; waiting"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(refusal(status, &body));
            }
            let response = http::Response::builder()
                .status(status)
                .body(body)
                .expect("valid response parts");
            return R::IncomingResponse::try_from_http_response(response)
                .map_err(|e| MatrixError::Transport(format!("unexpected answer: {e}")));
        }
    }

    /// Runs an HTTP request, adding `user_id` as the appservice identity; returns status and body.
    pub(crate) async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
        user_id: &str,
    ) -> MatrixResult<(u16, Vec<u8>)> {
        let (parts, body) = request.into_parts();
        let mut url = url::Url::parse(&parts.uri.to_string())
            .map_err(|e| MatrixError::Transport(e.to_string()))?;
        url.query_pairs_mut().append_pair("user_id", user_id);
        let mut builder = self.http.request(parts.method, url).body(body);
        for (k, v) in parts.headers.iter() {
            builder = builder.header(k, v);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| MatrixError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| MatrixError::Transport(e.to_string()))?;
        Ok((status, body.to_vec()))
    }
}

/// How long to wait before retrying, if the answer is a rate limit.
pub(crate) fn rate_limit_wait(status: u16, body: &[u8]) -> Option<Duration> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let limited =
        status == 429 || json.get("errcode").and_then(|e| e.as_str()) == Some("M_LIMIT_EXCEEDED");
    if !limited {
        return None;
    }
    let ms = json
        .get("retry_after_ms")
        .and_then(|v| v.as_u64())
        .unwrap_or(1000);
    Some(Duration::from_millis(ms).min(MAX_RATE_LIMIT_WAIT))
}

/// The homeserver's refusal as an error.
pub(crate) fn refusal(status: u16, body: &[u8]) -> MatrixError {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    MatrixError::Refused {
        status,
        errcode: json
            .get("errcode")
            .and_then(|e| e.as_str())
            .unwrap_or("M_UNKNOWN")
            .to_owned(),
        message: json
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rate_limits() {
        assert_eq!(
            rate_limit_wait(
                429,
                br#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}"#
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            rate_limit_wait(429, b"not json"),
            Some(Duration::from_millis(1000))
        );
        assert_eq!(rate_limit_wait(400, br#"{"errcode":"M_BAD_JSON"}"#), None);
        assert_eq!(
            rate_limit_wait(429, br#"{"retry_after_ms":999999999}"#),
            Some(MAX_RATE_LIMIT_WAIT)
        );
    }

    #[test]
    fn picks_tokens_by_namespace() {
        let c = HomeserverClient::new(ClientConfig {
            homeserver_url: "http://127.0.0.1:1".into(),
            server_name: "hs".into(),
            as_token: "as".into(),
            appservice_id: "aq".into(),
            bot_localpart: "bot".into(),
            ghost_prefix: "aq_".into(),
            double_puppet_tokens: HashMap::from([("hs".to_owned(), "dp".to_owned())]),
        });
        assert_eq!(c.token_for("@bot:hs").unwrap(), "as");
        assert_eq!(c.token_for("@aq_slack_x:hs").unwrap(), "as");
        assert_eq!(c.token_for("@alice:hs").unwrap(), "dp");
        assert!(c.token_for("@alice:other").is_err());
        assert_eq!(
            refusal(403, br#"{"errcode":"M_FORBIDDEN","error":"no"}"#).errcode(),
            Some("M_FORBIDDEN")
        );
    }
}
