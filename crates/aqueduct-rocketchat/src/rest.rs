//! One client for Rocket.Chat's REST API v1: `X-User-Id`/`X-Auth-Token` headers, JSON bodies,
//! `{success:false, error}` answers mapped to connector errors, and rate limits (HTTP 429 or
//! the `error-too-many-requests` error) waited out per endpoint until their reset time, never
//! dropped. Files and avatars are fetched through the media guard
//! ([`aqueduct_connector::MediaGuard`]), whose only credentialed origin is the server's.

use aqueduct_connector::rate_limit::RateLimits;
use aqueduct_connector::{Credentials, Fetched, MediaGuard};
use aqueduct_core::connector::ConnectorError;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a Rocket.Chat server serves uploaded files: `/file-upload/<id>/<name>`, and
/// `/ufs/<store>/<id>/<name>` on older servers.
pub const FILE_PATHS: &[&str] = &["/file-upload/", "/ufs/"];

/// Whether `url`'s path (after normalisation: `/file-upload/../api` is `/api`) is one of
/// [`FILE_PATHS`].
fn is_file_path(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| FILE_PATHS.iter().any(|p| u.path().starts_with(p)))
}

/// A REST client for one account.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: Arc<str>,
    user_id: Arc<str>,
    token: Arc<str>,
    /// Every file and avatar download goes through it.
    media: MediaGuard,
    /// Per endpoint, when its rate limit ends, so calls wait instead of hammering.
    limits: RateLimits,
}

impl Rest {
    /// The server, for the rooms' bridge info (MSC2346 `network`): its URL as the id, its
    /// host as the name.
    pub fn server_info(&self) -> aqueduct_core::connector::NetworkInfo {
        let host = url::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.base.to_string());
        aqueduct_core::connector::NetworkInfo {
            id: self.base.to_string(),
            display_name: host,
        }
    }

    /// A client calling the server at `base` (`https://chat.example.com`) as `user_id` with
    /// `token` (a personal access token or a login's resume token).
    pub fn new(http: reqwest::Client, base: &str, user_id: &str, token: &str) -> Self {
        Self {
            http,
            base: Arc::from(base.trim_end_matches('/')),
            user_id: Arc::from(user_id),
            token: Arc::from(token),
            media: MediaGuard::new([base]),
            limits: RateLimits::default(),
        }
    }

    /// The account's user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The account's token, for the realtime API's resume login.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// `GET /api/v1/<endpoint>` with query parameters.
    pub async fn get(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        self.call(endpoint, query, None).await
    }

    /// `POST /api/v1/<endpoint>` with a JSON body.
    pub async fn post(&self, endpoint: &str, body: Value) -> Result<Value, ConnectorError> {
        self.call(endpoint, &[], Some(Payload::Json(body))).await
    }

    /// `POST /api/v1/<endpoint>` with a `multipart/form-data` body whose one part, `file`,
    /// carries `data` (as `rooms.media/<rid>` takes uploads).
    pub async fn upload(
        &self,
        endpoint: &str,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<Value, ConnectorError> {
        let (boundary, body) = multipart_file(name, mime, data, &[]);
        self.call(endpoint, &[], Some(Payload::Form { boundary, body }))
            .await
    }

    /// Downloads a file a message links to (`title_link`: a path on the server, or a full
    /// URL), refusing more than `max` bytes. The account's `X-User-Id`/`X-Auth-Token` go only
    /// to the server's own origin (not through a redirect elsewhere), and only for its file
    /// paths ([`FILE_PATHS`]): a message author choosing `/api/v1/...` as a "file" must not
    /// make the bridge post the account's own API answers into Matrix. A link to anywhere
    /// else is fetched without them and only from a public address (the media guard's rules).
    pub async fn download(&self, link: &str, max: u64) -> Result<Vec<u8>, ConnectorError> {
        let url = self.absolute(link);
        if self.media.is_platform(&url) && !is_file_path(&url) {
            return Err(ConnectorError::Refused(
                "its link is not a file on the Rocket.Chat server".into(),
            ));
        }
        let credentials = Credentials::headers([
            ("X-User-Id", &*self.user_id),
            ("X-Auth-Token", &*self.token),
        ]);
        let fetched = self.media.fetch(&url, &credentials, max).await?;
        Ok(fetched.data)
    }

    /// Downloads public media (an avatar) without credentials, under the media guard's rules.
    pub(crate) async fn download_public(
        &self,
        link: &str,
        max: u64,
    ) -> Result<Fetched, ConnectorError> {
        Ok(self
            .media
            .fetch(&self.absolute(link), &Credentials::none(), max)
            .await?)
    }

    /// `link` as a URL: a path (or anything without a scheme) is taken on the server.
    fn absolute(&self, link: &str) -> String {
        if link.contains("://") {
            link.to_owned()
        } else {
            format!("{}/{}", self.base, link.trim_start_matches('/'))
        }
    }

    async fn call(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<Payload>,
    ) -> Result<Value, ConnectorError> {
        self.call_if_served(endpoint, query, body)
            .await?
            .ok_or_else(|| {
                ConnectorError::Refused(format!("this Rocket.Chat server has no {endpoint}"))
            })
    }

    /// As [`Rest::upload`], with `fields` as text parts beside the file; `None` when the
    /// server has no such endpoint (HTTP 404), as older servers lack newer endpoints.
    pub(crate) async fn upload_if_served(
        &self,
        endpoint: &str,
        name: &str,
        mime: &str,
        data: &[u8],
        fields: &[(&str, String)],
    ) -> Result<Option<Value>, ConnectorError> {
        let (boundary, body) = multipart_file(name, mime, data, fields);
        self.call_if_served(endpoint, &[], Some(Payload::Form { boundary, body }))
            .await
    }

    /// One call, waiting out rate limits; `None` when the endpoint does not exist (404).
    async fn call_if_served(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<Payload>,
    ) -> Result<Option<Value>, ConnectorError> {
        loop {
            self.limits.wait_turn(endpoint).await;
            let url = format!("{}/api/v1/{endpoint}", self.base);
            let request = match &body {
                Some(Payload::Json(b)) => self.http.post(url).json(b),
                Some(Payload::Form { boundary, body }) => self
                    .http
                    .post(url)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body.clone()),
                None => self.http.get(url).query(query),
            };
            let response = request
                .header("X-User-Id", &*self.user_id)
                .header("X-Auth-Token", &*self.token)
                .send()
                .await
                .map_err(|e| ConnectorError::Temporary(format!("{endpoint}: {e}")))?;
            let status = response.status();
            let reset_header = response
                .headers()
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok());
            if status.is_server_error() {
                return Err(ConnectorError::Temporary(format!(
                    "{endpoint}: HTTP {status}"
                )));
            }
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.as_u16() == 429 || is_rate_limited(&answer) {
                let wait = self
                    .limits
                    .limit(endpoint, rate_limit_wait(reset_header, &answer))
                    .await;
                tracing::info!(
                    endpoint,
                    wait_ms = wait.as_millis() as u64,
                    "Rocket.Chat rate limit; waiting"
                );
                continue;
            }
            if status.as_u16() == 401 {
                return Err(ConnectorError::BadCredentials(format!(
                    "Rocket.Chat refused the token ({})",
                    answer["message"].as_str().unwrap_or("unauthorized")
                )));
            }
            if status.is_success() && answer["success"] != false {
                return Ok(Some(answer));
            }
            if status.as_u16() == 404 {
                return Ok(None);
            }
            let error = answer["error"]
                .as_str()
                .or(answer["message"].as_str())
                .unwrap_or("unknown error");
            return Err(ConnectorError::Refused(format!(
                "Rocket.Chat refused {endpoint}: {error}"
            )));
        }
    }
}

/// A request body.
enum Payload {
    Json(Value),
    Form { boundary: String, body: Vec<u8> },
}

/// A `multipart/form-data` body with one file part named `file` and a text part for each of
/// `fields`; returns the boundary too.
fn multipart_file(
    name: &str,
    mime: &str,
    data: &[u8],
    fields: &[(&str, String)],
) -> (String, Vec<u8>) {
    use sha2::Digest;
    // A boundary derived from the bytes cannot occur in them (a hash of the data is not a
    // substring of it in any practical sense).
    let boundary = format!(
        "aqueduct-{}",
        hex::encode(&sha2::Sha256::digest(data)[..16])
    );
    // Quotes and line breaks would end the header early.
    let safe: String = name
        .chars()
        .map(|c| {
            if matches!(c, '"' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut body = Vec::with_capacity(data.len() + 256);
    for (field, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Whether an answer is Rocket.Chat's rate-limit error (REST `error-too-many-requests`, or
/// the DDP method error `too-many-requests` passed through).
fn is_rate_limited(answer: &Value) -> bool {
    ["errorType", "error"].iter().any(|k| {
        answer[*k]
            .as_str()
            .is_some_and(|e| e.contains("too-many-requests"))
    })
}

/// How long to wait: until `X-RateLimit-Reset` (milliseconds since the epoch), else the
/// error's `details.timeToReset` (milliseconds), else the seconds named in its text
/// ("You must wait 10 seconds"); `None` when the answer says nothing (the kit's default).
fn rate_limit_wait(reset_header: Option<i64>, answer: &Value) -> Option<Duration> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let from_header =
        reset_header.map(|reset| Duration::from_millis((reset - now_ms).max(0) as u64));
    let from_details = answer["details"]["timeToReset"]
        .as_u64()
        .map(Duration::from_millis);
    let from_text = answer["error"].as_str().and_then(|e| {
        let (_, after) = e.split_once("wait ")?;
        let secs: u64 = after.split_whitespace().next()?.parse().ok()?;
        Some(Duration::from_secs(secs))
    });
    from_header.or(from_details).or(from_text)
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_the_servers_file_paths_are_files() {
        let base = "https://chat.example.com";
        assert!(is_file_path(&format!("{base}/file-upload/F1/a.png")));
        assert!(is_file_path(&format!("{base}/ufs/GridFS:Uploads/F1/a.png")));
        assert!(!is_file_path(&format!("{base}/api/v1/me")));
        assert!(!is_file_path(&format!("{base}/file-upload/../api/v1/me")));
        assert!(!is_file_path(&format!(
            "{base}/file-upload%2F..%2Fapi/v1/me"
        )));
        assert!(!is_file_path(&format!("{base}/avatar/bob")));
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn rate_limit_waits_come_from_the_header_details_or_text() {
        let err = json!({"success": false, "error": "Error, too many requests. Please slow down. You must wait 7 seconds before trying this endpoint again. [error-too-many-requests]", "errorType": "error-too-many-requests"});
        assert!(is_rate_limited(&err));
        assert_eq!(rate_limit_wait(None, &err), Some(Duration::from_secs(7)));
        let ddp = json!({"error": "too-many-requests", "details": {"timeToReset": 2500}});
        assert!(is_rate_limited(&ddp));
        assert_eq!(
            rate_limit_wait(None, &ddp),
            Some(Duration::from_millis(2500))
        );
        assert!(!is_rate_limited(
            &json!({"success": false, "error": "error-room-not-found"})
        ));
        assert_eq!(rate_limit_wait(None, &json!({})), None);
    }
}
