//! HTTP endpoints a connector serves on the bridge's own listener (OAuth redirects, webhook
//! deliveries), in a form that names no HTTP framework. The binary mounts a connector's
//! handler under `/_aqueduct/<connector id>/`.

use async_trait::async_trait;

/// The path prefix under which the listener hands requests to connectors.
pub const WEB_PREFIX: &str = "/_aqueduct";

/// One HTTP request for a connector.
#[derive(Clone, Debug, Default)]
pub struct WebRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path below the connector's prefix, starting with `/` (`/oauth`, `/events`).
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// Headers with lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body, byte for byte (signature checks need the exact bytes).
    pub body: Vec<u8>,
}

impl WebRequest {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The answer to a [`WebRequest`].
#[derive(Clone, Debug)]
pub struct WebResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` of `body`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl WebResponse {
    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into().into_bytes(),
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json".into(),
            body: body.to_string().into_bytes(),
        }
    }

    /// A small HTML page for a person's browser (after an OAuth redirect).
    pub fn html(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8".into(),
            body: body.into().into_bytes(),
        }
    }
}

/// Serves a connector's HTTP endpoints.
#[async_trait]
pub trait WebHandler: Send + Sync {
    /// Answers one request. Must answer every request, with an error status for ones it does
    /// not know or refuses (a bad signature is 401, an unknown path 404); never panics on
    /// malformed input.
    async fn handle(&self, request: WebRequest) -> WebResponse;
}
