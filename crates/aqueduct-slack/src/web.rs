//! One client for Slack's Web API: form-encoded calls with a bearer token, `{ok, error}`
//! answers mapped to connector errors, and HTTP 429 waited out per method, never dropped.
//! Files, avatars and emoji images are fetched through the media guard
//! ([`aqueduct_connector::MediaGuard`]): the token goes only to Slack's own origins
//! ([`slack_origins`]).

use aqueduct_connector::rate_limit::{RateLimits, retry_after};
use aqueduct_connector::{Credentials, MediaGuard};
use aqueduct_core::connector::ConnectorError;
use serde_json::Value;
use std::sync::Arc;

/// Errors Slack answers that mean the token is dead.
const DEAD_TOKEN: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_permission_token",
];

/// The origins that get the token with a file download: the configured API base's (a proxy
/// or, in tests, a fake), `https://slack.com` and `https://files.slack.com`, where Slack
/// serves `url_private`. Every other host (avatars on Gravatar or `avatars.slack-edge.com`,
/// emoji on `emoji.slack-edge.com`, any link a message carries) gets no credentials.
pub fn slack_origins(api_base: &str) -> [String; 3] {
    [
        api_base.to_owned(),
        "https://slack.com".to_owned(),
        "https://files.slack.com".to_owned(),
    ]
}

/// Where Slack serves files to a token: `url_private` and `url_private_download`
/// (`/files-pri/...`) and their thumbnails (`/files-tmb/...`).
pub const FILE_PATHS: &[&str] = &["/files-pri/", "/files-tmb/"];

/// A Web API client for one token.
#[derive(Clone)]
pub struct SlackWeb {
    http: reqwest::Client,
    base: Arc<str>,
    token: Arc<str>,
    /// Every download and upload of a file goes through it.
    media: MediaGuard,
    /// Per method, when its rate limit ends, so calls wait instead of hammering.
    limits: RateLimits,
    /// Paces posts per channel (see [`crate::pacing`]).
    pacer: aqueduct_connector::pacing::ChatPacer,
    /// The files of the latest uploads, for retried uploads (see [`crate::earlier_posts`]).
    recent_uploads: crate::earlier_posts::RecentUploads,
    /// Reads of channels kept for replayed posts (see [`crate::replay_lookups`]).
    replay_lookups: crate::replay_lookups::ReplayLookups,
}

impl SlackWeb {
    /// A client calling `base` (`https://slack.com/api`) with `token`.
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Self {
            http,
            base: Arc::from(base.trim_end_matches('/')),
            token: Arc::from(token),
            media: MediaGuard::new(slack_origins(base)),
            limits: RateLimits::default(),
            pacer: aqueduct_connector::pacing::ChatPacer::new(
                crate::pacing::SendPace::default().into(),
            ),
            recent_uploads: Default::default(),
            replay_lookups: Default::default(),
        }
    }

    /// The same client posting at `pace` per channel instead of the default.
    pub fn with_send_pace(mut self, pace: crate::pacing::SendPace) -> Self {
        self.pacer = aqueduct_connector::pacing::ChatPacer::new(pace.into());
        self
    }

    /// Whether the client has a token at all (an app login receiving over HTTP may have no
    /// app-level token).
    pub(crate) fn has_token(&self) -> bool {
        !self.token.is_empty()
    }

    /// The files of the latest uploads through this client, by Matrix event.
    pub(crate) fn recent_uploads(&self) -> &crate::earlier_posts::RecentUploads {
        &self.recent_uploads
    }

    /// The reads of channels kept for replayed posts through this client.
    pub(crate) fn replay_lookups(&self) -> &crate::replay_lookups::ReplayLookups {
        &self.replay_lookups
    }

    /// Waits until posting one more message into `channel` keeps to the pace.
    pub(crate) async fn wait_send_turn(&self, channel: &str) {
        self.pacer.wait_turn(channel).await;
    }

    /// Calls `method` with form parameters; returns the answer when `ok` is true.
    pub async fn call(
        &self,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        loop {
            self.limits.wait_turn(method).await;
            let response = self
                .http
                .post(format!("{}/{method}", self.base))
                .bearer_auth(&*self.token)
                .form(params)
                .send()
                .await
                .map_err(|e| ConnectorError::Temporary(format!("{method}: {e}")))?;
            if response.status().as_u16() == 429 {
                let wait = self
                    .limits
                    .limit(method, retry_after(response.headers()))
                    .await;
                tracing::info!(
                    method,
                    retry_after_secs = wait.as_secs(),
                    "Slack rate limit; waiting"
                );
                continue;
            }
            if response.status().is_server_error() {
                return Err(ConnectorError::Temporary(format!(
                    "{method}: HTTP {}",
                    response.status()
                )));
            }
            let body: Value = response.json().await.map_err(|e| {
                ConnectorError::Temporary(format!("{method}: unreadable answer: {e}"))
            })?;
            if body["ok"].as_bool() == Some(true) {
                return Ok(body);
            }
            let error = body["error"].as_str().unwrap_or("unknown_error").to_owned();
            return Err(if DEAD_TOKEN.contains(&error.as_str()) {
                ConnectorError::BadCredentials(format!("Slack says {error}"))
            } else {
                ConnectorError::Refused(format!("Slack refused {method}: {error}"))
            });
        }
    }

    /// Downloads a private file URL (`url_private`), refusing more than `max` bytes. The
    /// token goes with it only to Slack's own origins ([`slack_origins`]) and there only to
    /// its file paths ([`FILE_PATHS`]): a "file" at `/api/...` would post the answers of the
    /// Web API into Matrix. The rest of the media guard's rules apply too.
    pub async fn download(&self, url: &str, max: u64) -> Result<Vec<u8>, ConnectorError> {
        let on_slack = self.media.is_platform(url);
        if on_slack
            && !url::Url::parse(url)
                .is_ok_and(|u| FILE_PATHS.iter().any(|p| u.path().starts_with(p)))
        {
            return Err(ConnectorError::Refused(
                "its link is not a file on Slack".into(),
            ));
        }
        let fetched = self
            .media
            .fetch(url, &Credentials::bearer(&self.token), max)
            .await?;
        Ok(fetched.data)
    }

    /// Downloads public media (an avatar, an emoji image) without any credentials, under the
    /// media guard's rules; returns the bytes and their `Content-Type`.
    pub async fn download_public(
        &self,
        url: &str,
        max: u64,
    ) -> Result<(Vec<u8>, Option<String>), ConnectorError> {
        let fetched = self.media.fetch(url, &Credentials::none(), max).await?;
        Ok((fetched.data, fetched.content_type))
    }

    /// Uploads bytes to an upload URL from `files.getUploadURLExternal` (no credentials; the
    /// URL is checked like any media destination).
    pub async fn upload(&self, url: &str, bytes: Vec<u8>) -> Result<(), ConnectorError> {
        self.media.upload(url, bytes).await?;
        Ok(())
    }
}
