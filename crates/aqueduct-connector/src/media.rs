//! The media fetch guard: the one way a connector downloads a file, an avatar or an emoji
//! image named by a link from its platform. Links come from message authors, so every rule
//! below holds for every download (`docs/connectors.md`, "Fetching media"):
//!
//! - Credentials ([`Credentials`]: a bearer token, `X-Auth-Token`/`X-User-Id`, a cookie) go
//!   only to the platform's own origins ([`MediaGuard::new`]), compared as whole origins
//!   (scheme, host, port): never to another host, port or scheme.
//! - Redirects are followed by hand, at most [`MAX_REDIRECTS`], each hop checked again; a hop
//!   to another origin goes without credentials.
//! - Only `http` and `https`. A destination that is not one of the platform's origins must
//!   be a public address: IP-literal hosts are checked directly (after the URL parser has
//!   normalised tricks such as `0x7f000001` or `[::ffff:127.0.0.1]`), names through a
//!   resolver that hands the connection only public addresses, so DNS rebinding cannot
//!   slip a private one in. The platform's configured origins are exempt (an operator may
//!   run the platform on the LAN); another port or host on the same network is not.
//! - The body is streamed against the caller's size cap (and refused early when its
//!   `Content-Length` says it is over), and the whole fetch has a time limit.
//! - No cookie jar and no proxy from the environment: nothing is sent that the caller did
//!   not give, and the address checks apply to the real destination.

use crate::error::MediaError;
use crate::resolver::{PrivateName, PublicOnly};
use reqwest::header::{HeaderName, HeaderValue, LOCATION};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Origin, Url};

/// Most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;
/// Most files taken from one remote message; further ones are named in the text instead.
pub const MAX_FILES_PER_MESSAGE: usize = 20;
/// Default time limit for one whole fetch, redirects included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Time limit for opening one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while reading a response.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that prove who the bridge is on the platform; sent only to its own origins.
#[derive(Clone, Debug, Default)]
pub struct Credentials(Vec<(HeaderName, HeaderValue)>);

impl Credentials {
    /// No credentials: for public media (avatars and emoji on CDNs).
    pub fn none() -> Self {
        Self::default()
    }

    /// `Authorization: Bearer <token>` (Slack).
    pub fn bearer(token: &str) -> Self {
        Self::headers([("authorization", format!("Bearer {token}"))])
    }

    /// Arbitrary headers (Rocket.Chat's `X-User-Id` and `X-Auth-Token`). Headers whose name or
    /// value is not valid HTTP are left out (a token with a newline cannot be sent anyway).
    pub fn headers<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut out = Vec::new();
        for (name, value) in pairs {
            let (Ok(name), Ok(mut value)) = (
                HeaderName::try_from(name.as_ref()),
                HeaderValue::try_from(value.as_ref()),
            ) else {
                continue;
            };
            value.set_sensitive(true);
            out.push((name, value));
        }
        Self(out)
    }
}

/// A fetched body.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The bytes, at most the cap the caller gave.
    pub data: Vec<u8>,
    /// The final response's `Content-Type`, when it had one.
    pub content_type: Option<String>,
}

/// The guard for one platform: its own origins, and the HTTP clients that enforce the rules.
/// Cheap to clone.
#[derive(Clone)]
pub struct MediaGuard {
    inner: Arc<Inner>,
}

struct Inner {
    /// Origins that get credentials and may be private (the platform's configured servers).
    trusted: Vec<Origin>,
    /// Origins that may be private but get no credentials (operator-configured media hosts).
    reachable: Vec<Origin>,
    /// For trusted and reachable origins: the system resolver.
    direct: reqwest::Client,
    /// For everything else: public addresses only.
    public: reqwest::Client,
    timeout: Duration,
}

impl MediaGuard {
    /// A guard whose credentialed origins are those of `platform_urls` (each URL's scheme,
    /// host and port; paths are ignored). URLs that do not parse are left out.
    pub fn new<S: AsRef<str>>(platform_urls: impl IntoIterator<Item = S>) -> Self {
        Self::build(origins(platform_urls), Vec::new(), DEFAULT_TIMEOUT)
    }

    /// The same guard that may also reach `urls`' origins when they are on a private network
    /// (a LAN media store the platform redirects to), without ever sending them credentials.
    pub fn with_reachable<S: AsRef<str>>(self, urls: impl IntoIterator<Item = S>) -> Self {
        let mut reachable = self.inner.reachable.clone();
        reachable.extend(origins(urls));
        Self::build(self.inner.trusted.clone(), reachable, self.inner.timeout)
    }

    /// The same guard with `timeout` for a whole fetch instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self::build(
            self.inner.trusted.clone(),
            self.inner.reachable.clone(),
            timeout,
        )
    }

    fn build(trusted: Vec<Origin>, reachable: Vec<Origin>, timeout: Duration) -> Self {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
        };
        let direct = builder().build().expect("TLS backend available");
        let public = builder()
            .dns_resolver(Arc::new(PublicOnly))
            .build()
            .expect("TLS backend available");
        Self {
            inner: Arc::new(Inner {
                trusted,
                reachable,
                direct,
                public,
                timeout,
            }),
        }
    }

    /// Whether `url` is on one of the platform's own (credentialed) origins.
    pub fn is_platform(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| self.inner.trusted.contains(&u.origin()))
    }

    /// Downloads `url`, sending `credentials` only to the platform's origins, refusing more
    /// than `max_bytes`, by the rules in this module's header.
    pub async fn fetch(
        &self,
        url: &str,
        credentials: &Credentials,
        max_bytes: u64,
    ) -> Result<Fetched, MediaError> {
        let timeout = self.inner.timeout;
        tokio::time::timeout(timeout, self.fetch_within(url, credentials, max_bytes))
            .await
            .unwrap_or(Err(MediaError::TimedOut(timeout.as_secs())))
    }

    /// Posts `body` to `url` (an upload URL the platform handed out) without credentials,
    /// under the same destination rules, following no redirect.
    pub async fn upload(&self, url: &str, body: Vec<u8>) -> Result<(), MediaError> {
        let url = Url::parse(url).map_err(|_| MediaError::BadUrl)?;
        let client = self.client_for(&url)?;
        let host = host_of(&url);
        let response = tokio::time::timeout(self.inner.timeout, client.post(url).body(body).send())
            .await
            .map_err(|_| MediaError::TimedOut(self.inner.timeout.as_secs()))?
            .map_err(|e| network_error(&host, e))?;
        if !response.status().is_success() {
            return Err(MediaError::Status {
                host,
                status: response.status().as_u16(),
            });
        }
        Ok(())
    }

    async fn fetch_within(
        &self,
        url: &str,
        credentials: &Credentials,
        max_bytes: u64,
    ) -> Result<Fetched, MediaError> {
        let mut url = Url::parse(url).map_err(|_| MediaError::BadUrl)?;
        for _hop in 0..=MAX_REDIRECTS {
            let client = self.client_for(&url)?;
            let host = host_of(&url);
            let mut request = client.get(url.clone());
            if self.inner.trusted.contains(&url.origin()) {
                for (name, value) in &credentials.0 {
                    request = request.header(name, value);
                }
            }
            let mut response = request.send().await.map_err(|e| network_error(&host, e))?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| MediaError::BadRedirect(host.clone()))?;
                tracing::debug!(from = %host, to = %host_of(&next), "media fetch redirected");
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(MediaError::Status {
                    host,
                    status: status.as_u16(),
                });
            }
            if response.content_length().is_some_and(|n| n > max_bytes) {
                return Err(MediaError::TooLarge(max_bytes));
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut data = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| network_error(&host, e))?
            {
                if (data.len() + chunk.len()) as u64 > max_bytes {
                    return Err(MediaError::TooLarge(max_bytes));
                }
                data.extend_from_slice(&chunk);
            }
            return Ok(Fetched { data, content_type });
        }
        Err(MediaError::TooManyRedirects(MAX_REDIRECTS))
    }

    /// The client allowed to reach `url`, or why none is.
    fn client_for(&self, url: &Url) -> Result<&reqwest::Client, MediaError> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(MediaError::Scheme(other.to_owned())),
        }
        let origin = url.origin();
        if self.inner.trusted.contains(&origin) || self.inner.reachable.contains(&origin) {
            return Ok(&self.inner.direct);
        }
        // The connector resolves IP literals itself, bypassing the resolver: check them here.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
            None => return Err(MediaError::BadUrl),
        };
        if literal.is_some_and(|ip| !crate::address::is_public(ip)) {
            return Err(MediaError::PrivateAddress(host_of(url)));
        }
        Ok(&self.inner.public)
    }
}

fn origins<S: AsRef<str>>(urls: impl IntoIterator<Item = S>) -> Vec<Origin> {
    urls.into_iter()
        .filter_map(|u| Url::parse(u.as_ref()).ok())
        .map(|u| u.origin())
        .filter(Origin::is_tuple)
        .collect()
}

/// `host[:port]` of `url`, for messages (never the path or query).
fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A reqwest error as a media error: the resolver's refusal is the guard's, not the network's.
fn network_error(host: &str, e: reqwest::Error) -> MediaError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<PrivateName>().is_some() {
            return MediaError::PrivateAddress(host.to_owned());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return MediaError::TimedOut(READ_TIMEOUT.as_secs());
    }
    MediaError::Network {
        host: host.to_owned(),
        reason: e.without_url().to_string(),
    }
}
