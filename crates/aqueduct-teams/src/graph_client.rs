//! Requests to Microsoft Graph for one login: the bearer token (renewed on 401 once), 429 and
//! 503 waited out as `Retry-After` says, Graph's error answers mapped to connector errors.

use crate::graph::ErrorAnswer;
use crate::tokens::Tokens;
use aqueduct_connector::pacing::{ChatPacer, Pace};
use aqueduct_connector::rate_limit::{RateLimits, retry_after};
use aqueduct_core::connector::ConnectorError;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// How many throttled answers one request waits out before it reports a passing failure.
const MAX_THROTTLED: u32 = 8;
/// The wait when a throttled answer names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Graph for one login.
#[derive(Clone)]
pub(crate) struct Graph {
    http: reqwest::Client,
    base: Arc<str>,
    tokens: Arc<Tokens>,
    /// When Graph said to come back (shared by clones: one login's requests).
    limits: RateLimits,
    /// Posts per chat kept to a pace (Graph allows about ten per ten seconds per chat).
    pacer: ChatPacer,
}

impl Graph {
    /// Graph at `base` for the login whose tokens are `tokens`, posting into each chat at
    /// `pace` (`send_pace` in the config).
    pub(crate) fn new(http: reqwest::Client, base: &str, tokens: Arc<Tokens>, pace: Pace) -> Self {
        Self {
            http,
            base: Arc::from(base.trim_end_matches('/')),
            tokens,
            limits: RateLimits::default(),
            pacer: ChatPacer::new(pace),
        }
    }

    /// Waits until one more post into `chat` keeps to Graph's per-chat pace.
    pub(crate) async fn wait_post_turn(&self, chat: &str) {
        self.pacer.wait_turn(chat).await;
    }

    /// The full URL of `path` (`/me/chats`); a full URL (a `@odata.nextLink`) is kept as it
    /// is when it points into Graph's own base, and refused otherwise, so a forged next link
    /// cannot carry the token elsewhere.
    fn url(&self, path: &str) -> Result<String, ConnectorError> {
        if path.starts_with('/') {
            return Ok(format!("{}{path}", self.base));
        }
        if path.starts_with(&*self.base) {
            return Ok(path.to_owned());
        }
        Err(ConnectorError::Refused(format!(
            "Graph named a link outside Graph: {path}"
        )))
    }

    /// `GET` a resource.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ConnectorError> {
        self.call::<(), T>(Method::GET, path, query, None).await
    }

    /// `POST` a JSON body and read the answer.
    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ConnectorError> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    /// A request whose answer has no body to read (`PATCH`, `softDelete`, `setReaction`).
    pub(crate) async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ConnectorError> {
        self.call::<B, serde::de::IgnoredAny>(method, path, &[], body)
            .await
            .map(|_| ())
    }

    /// `PUT` raw bytes (a file's content) and read the answer.
    pub(crate) async fn put_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        data: Vec<u8>,
        content_type: &str,
    ) -> Result<T, ConnectorError> {
        let (status, text) = self
            .exchange(
                Method::PUT,
                path,
                query,
                Payload::Bytes(data, content_type.to_owned()),
            )
            .await?;
        read_answer(path, status, &text)
    }

    /// A request answered with its status and body whatever the status (after 401, 429 and
    /// 503 were dealt with), for callers that treat some refusals as an answer.
    pub(crate) async fn try_call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(u16, String), ConnectorError> {
        let payload = match body {
            Some(b) => Payload::Json(
                serde_json::to_vec(b).map_err(|e| ConnectorError::Temporary(e.to_string()))?,
            ),
            None => Payload::None,
        };
        let (status, text) = self.exchange(method, path, &[], payload).await?;
        Ok((status.as_u16(), text))
    }

    /// A valid access token, for downloads through the media guard.
    pub(crate) async fn bearer(&self) -> Result<String, ConnectorError> {
        self.tokens.bearer().await
    }

    /// Graph's base URL (`https://graph.microsoft.com/v1.0`).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client (no redirects), for upload sessions' pre-authenticated URLs.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ConnectorError> {
        let payload = match body {
            Some(b) => Payload::Json(
                serde_json::to_vec(b).map_err(|e| ConnectorError::Temporary(e.to_string()))?,
            ),
            None => Payload::None,
        };
        let (status, text) = self.exchange(method, path, query, payload).await?;
        read_answer(path, status, &text)
    }

    /// Sends a request with the bearer token (renewed once on 401), waiting out 429 and 503 as
    /// `Retry-After` says; answers the final status and body.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        payload: Payload,
    ) -> Result<(reqwest::StatusCode, String), ConnectorError> {
        let url = self.url(path)?;
        let what = what(path);
        let mut throttled = 0;
        let mut renewed = false;
        let mut token = self.tokens.bearer().await?;
        loop {
            // Graph throttles per app, tenant and user: while one request of this login waits
            // out a 429, the others wait too instead of meeting it again.
            self.limits.wait_turn("graph").await;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .query(query);
            match &payload {
                Payload::None => {}
                Payload::Json(bytes) => {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(bytes.clone());
                }
                Payload::Bytes(bytes, content_type) => {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                        .body(bytes.clone());
                }
            }
            let response = request
                .send()
                .await
                .map_err(|e| ConnectorError::Temporary(format!("Graph {what}: {e}")))?;
            let status = response.status();
            if status.as_u16() == 429 || status.as_u16() == 503 {
                throttled += 1;
                if throttled > MAX_THROTTLED {
                    return Err(ConnectorError::Temporary(format!(
                        "Graph {what}: throttled {throttled} times"
                    )));
                }
                let wait = self
                    .limits
                    .limit(
                        "graph",
                        Some(retry_after(response.headers()).unwrap_or(DEFAULT_RETRY_AFTER)),
                    )
                    .await;
                tracing::info!(path = %what, wait_secs = wait.as_secs(), "Graph throttled a request; waiting");
                continue;
            }
            if status.as_u16() == 401 && !renewed {
                renewed = true;
                token = self.tokens.renew_now().await?;
                continue;
            }
            let text = response
                .text()
                .await
                .map_err(|e| ConnectorError::Temporary(format!("Graph {what}: {e}")))?;
            return Ok((status, text));
        }
    }
}

/// A request's body.
enum Payload {
    None,
    Json(Vec<u8>),
    Bytes(Vec<u8>, String),
}

/// The path without its query, for messages.
fn what(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    // A full URL (a next link) is named by its path.
    match url::Url::parse(path) {
        Ok(u) => u.path().to_owned(),
        Err(_) => path.to_owned(),
    }
}

/// Reads a final answer: its JSON on success, the connector error Graph's refusal maps to.
pub(crate) fn read_answer<T: DeserializeOwned>(
    path: &str,
    status: reqwest::StatusCode,
    text: &str,
) -> Result<T, ConnectorError> {
    let what = what(path);
    if status.is_success() {
        let text = if text.trim().is_empty() { "null" } else { text };
        return serde_json::from_str(text).map_err(|e| {
            ConnectorError::Temporary(format!("Graph {what}: unreadable answer: {e}"))
        });
    }
    let error = serde_json::from_str::<ErrorAnswer>(text)
        .unwrap_or_default()
        .error;
    let detail = if error.message.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("{} ({})", error.message, error.code)
    };
    Err(match status.as_u16() {
        401 => ConnectorError::BadCredentials(format!("Graph refused the sign-in: {detail}")),
        400..=499 => ConnectorError::Refused(format!("Teams refused {what}: {detail}")),
        _ => ConnectorError::Temporary(format!("Graph {what}: {detail}")),
    })
}
