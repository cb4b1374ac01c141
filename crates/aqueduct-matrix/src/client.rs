//! One HTTP client for the homeserver's client-server API, with the appservice token. Serves
//! ruma's request types, picks the token for the user acted as, and waits out rate limits.

use aqueduct_core::matrix::{MatrixError, MatrixResult};
use ruma::api::auth_scheme::{AuthScheme, SendAccessToken};
use ruma::api::path_builder::PathBuilder;
use ruma::api::{IncomingResponse, MatrixVersion, OutgoingRequest, SupportedVersions};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How the client reaches and authenticates to the homeserver. Its `Debug` leaves the tokens
/// out.
#[derive(Clone)]
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
    /// Double puppeting, per server name.
    pub double_puppet: HashMap<String, DoublePuppetSecret>,
}

/// How the bridge acts as a homeserver's real users. Its `Debug` names the kind, not the
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub enum DoublePuppetSecret {
    /// The `as_token` of a second registration whose non-exclusive namespace covers the users.
    AsToken(String),
    /// The secret of the shared-secret login module (`com.devture.shared_secret_auth`): the
    /// bridge logs in as the user and keeps the access token.
    SharedSecret(String),
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("homeserver_url", &self.homeserver_url)
            .field("server_name", &self.server_name)
            .field("as_token", &"<redacted>")
            .field("appservice_id", &self.appservice_id)
            .field("bot_localpart", &self.bot_localpart)
            .field("ghost_prefix", &self.ghost_prefix)
            .field("double_puppet", &self.double_puppet)
            .finish()
    }
}

impl std::fmt::Debug for DoublePuppetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AsToken(_) => f.write_str("AsToken(<redacted>)"),
            Self::SharedSecret(_) => f.write_str("SharedSecret(<redacted>)"),
        }
    }
}

/// How requests reach one device of a user the bridge acts as. Its `Debug` shows a
/// masqueraded device's id, not an access token.
#[derive(Clone, PartialEq, Eq)]
pub enum DeviceAuth {
    /// The as_token with `device_id=<this>` (the homeserver supports device masquerading).
    Masquerade(String),
    /// The device's own access token, from an appservice login.
    AccessToken(String),
}

impl std::fmt::Debug for DeviceAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Masquerade(device) => f.debug_tuple("Masquerade").field(device).finish(),
            Self::AccessToken(_) => f.write_str("AccessToken(<redacted>)"),
        }
    }
}

/// The credential for one request: a token, and whether to name the user in `user_id`.
pub(crate) struct Credential {
    pub(crate) token: String,
    pub(crate) assert_user: bool,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct HomeserverClient {
    pub(crate) config: std::sync::Arc<ClientConfig>,
    pub(crate) http: reqwest::Client,
    versions: std::sync::Arc<SupportedVersions>,
    pub(crate) bot: String,
    /// Access tokens from shared-secret logins, by user id.
    pub(crate) puppet_logins: std::sync::Arc<tokio::sync::Mutex<HashMap<String, String>>>,
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
            puppet_logins: Default::default(),
        }
    }

    /// Whether `user_id` is the bot or one of its ghosts: users whose devices never get keys.
    pub fn is_bridge_user(&self, user_id: &str) -> bool {
        self.is_own_user(user_id)
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

    /// How the bridge may act as `user_id`, if at all.
    pub(crate) fn secret_for(&self, user_id: &str) -> MatrixResult<Option<&DoublePuppetSecret>> {
        if self.is_own_user(user_id) {
            return Ok(None);
        }
        let server = user_id.split_once(':').map(|(_, s)| s).unwrap_or_default();
        self.config
            .double_puppet
            .get(server)
            .map(Some)
            .ok_or_else(|| MatrixError::CannotActAs(user_id.to_owned()))
    }

    /// The credential to act as `user_id`: the as_token for the bridge's own users and for
    /// double puppets through a second registration, a login token for shared-secret ones.
    pub(crate) async fn credential(&self, user_id: &str) -> MatrixResult<Credential> {
        match self.secret_for(user_id)? {
            None => Ok(Credential {
                token: self.config.as_token.clone(),
                assert_user: true,
            }),
            Some(DoublePuppetSecret::AsToken(t)) => Ok(Credential {
                token: t.clone(),
                assert_user: true,
            }),
            Some(DoublePuppetSecret::SharedSecret(secret)) => Ok(Credential {
                token: self.shared_secret_token(user_id, secret).await?,
                assert_user: false,
            }),
        }
    }

    /// Sends a ruma request as `user_id`, retrying after rate limits, and parses the answer.
    pub async fn send<R>(&self, request: R, user_id: &str) -> MatrixResult<R::IncomingResponse>
    where
        R: OutgoingRequest + Clone,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        let credential = self.credential(user_id).await?;
        self.send_with(request, user_id, credential, None).await
    }

    /// Sends a ruma request as the appservice itself (the registration's sender user, no
    /// `user_id`), for requests about the registration rather than a user, such as the ping.
    pub(crate) async fn send_as_appservice<R>(
        &self,
        request: R,
    ) -> MatrixResult<R::IncomingResponse>
    where
        R: OutgoingRequest + Clone,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        let credential = Credential {
            token: self.config.as_token.clone(),
            assert_user: false,
        };
        let sender = self.bot.clone();
        self.send_with(request, &sender, credential, None).await
    }

    /// Sends a ruma request as one of `user_id`'s devices: with the as_token and the
    /// `device_id` query parameter (MSC3202/MSC4190 device masquerading), or with the device's
    /// own access token when it was made by an appservice login.
    pub async fn send_as_device<R>(
        &self,
        request: R,
        user_id: &str,
        device: &DeviceAuth,
    ) -> MatrixResult<R::IncomingResponse>
    where
        R: OutgoingRequest + Clone,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        match device {
            DeviceAuth::Masquerade(device_id) => {
                let credential = self.credential(user_id).await?;
                self.send_with(request, user_id, credential, Some(device_id))
                    .await
            }
            DeviceAuth::AccessToken(token) => {
                let credential = Credential {
                    token: token.clone(),
                    assert_user: false,
                };
                self.send_with(request, user_id, credential, None).await
            }
        }
    }

    async fn send_with<R>(
        &self,
        request: R,
        user_id: &str,
        mut credential: Credential,
        device_id: Option<&str>,
    ) -> MatrixResult<R::IncomingResponse>
    where
        R: OutgoingRequest + Clone,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        let mut relogged = false;
        loop {
            let token = credential.token.as_str();
            let http_request = request
                .clone()
                .try_into_http_request::<Vec<u8>>(
                    &self.config.homeserver_url,
                    SendAccessToken::Always(token),
                    Cow::Borrowed(&*self.versions),
                )
                .map_err(|e| MatrixError::Transport(format!("cannot build request: {e}")))?;
            let (status, body) = self
                .execute_as(
                    http_request,
                    credential.assert_user.then_some(user_id),
                    device_id,
                )
                .await?;
            let is_login_token =
                !credential.assert_user && credential.token != self.config.as_token;
            if status == 401 && is_login_token && !relogged {
                // The login token was logged out elsewhere: log in again, once.
                self.forget_login(user_id).await;
                credential = self.credential(user_id).await?;
                relogged = true;
                continue;
            }
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

    /// Runs an HTTP request, naming `user_id` as the appservice identity when given;
    /// returns status and body.
    pub(crate) async fn execute_as(
        &self,
        request: http::Request<Vec<u8>>,
        user_id: Option<&str>,
        device_id: Option<&str>,
    ) -> MatrixResult<(u16, Vec<u8>)> {
        let (parts, body) = request.into_parts();
        let mut url = url::Url::parse(&parts.uri.to_string())
            .map_err(|e| MatrixError::Transport(e.to_string()))?;
        if let Some(user_id) = user_id {
            url.query_pairs_mut().append_pair("user_id", user_id);
            if let Some(device_id) = device_id {
                url.query_pairs_mut().append_pair("device_id", device_id);
            }
        }
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

/// Sends a request built by hand (an endpoint outside ruma's typed ones) and reads its
/// answer whole: the status and the body.
pub(crate) async fn answer_of(
    request: reqwest::RequestBuilder,
) -> MatrixResult<(u16, bytes::Bytes)> {
    let response = request
        .send()
        .await
        .map_err(|e| MatrixError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| MatrixError::Transport(e.to_string()))?;
    Ok((status, body))
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
            double_puppet: HashMap::from([(
                "hs".to_owned(),
                DoublePuppetSecret::AsToken("dp".to_owned()),
            )]),
        });
        assert_eq!(c.secret_for("@bot:hs").unwrap(), None);
        assert_eq!(c.secret_for("@aq_slack_x:hs").unwrap(), None);
        assert_eq!(
            c.secret_for("@alice:hs").unwrap(),
            Some(&DoublePuppetSecret::AsToken("dp".to_owned()))
        );
        assert!(c.secret_for("@alice:other").is_err());
        assert_eq!(
            refusal(403, br#"{"errcode":"M_FORBIDDEN","error":"no"}"#).errcode(),
            Some("M_FORBIDDEN")
        );
    }

    #[test]
    fn debug_output_leaves_the_tokens_out() {
        let config = ClientConfig {
            homeserver_url: "http://127.0.0.1:1".into(),
            server_name: "hs".into(),
            as_token: "as-token-not-for-logs".into(),
            appservice_id: "aq".into(),
            bot_localpart: "bot".into(),
            ghost_prefix: "aq_".into(),
            double_puppet: HashMap::from([
                (
                    "hs".to_owned(),
                    DoublePuppetSecret::AsToken("dp-token-not-for-logs".to_owned()),
                ),
                (
                    "other".to_owned(),
                    DoublePuppetSecret::SharedSecret("shared-not-for-logs".to_owned()),
                ),
            ]),
        };
        let device = DeviceAuth::AccessToken("device-token-not-for-logs".into());
        let shown = format!("{config:?} {config:#?} {device:?}");
        assert!(!shown.contains("not-for-logs"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:1") && shown.contains("AsToken"));
        let masquerade = DeviceAuth::Masquerade("BRIDGEDEV".into());
        assert_eq!(format!("{masquerade:?}"), r#"Masquerade("BRIDGEDEV")"#);
    }
}
