//! Forwarding one HTTP request unchanged to another server, for the loopback proxies that sit
//! in front of Synapse (the test kit's older-homeserver stand-in, the benchmark's counter).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, header};
use axum::response::Response;

/// Sends `req` to the same path and query under `target` (a base URL) and returns the answer.
pub async fn forward(
    http: &reqwest::Client,
    target: &str,
    req: Request,
) -> anyhow::Result<Response> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let body = axum::body::to_bytes(body, usize::MAX).await?;
    let mut out = http
        .request(parts.method, format!("{target}{path_and_query}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    let resp = out.send().await?;
    let mut builder = Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        // The body is re-framed here; hop-by-hop framing headers must not be copied.
        let hop = [
            header::TRANSFER_ENCODING,
            header::CONTENT_LENGTH,
            header::CONNECTION,
        ];
        if !hop.contains(name) && name != HeaderName::from_static("keep-alive") {
            builder = builder.header(name, value);
        }
    }
    Ok(builder.body(Body::from(resp.bytes().await?))?)
}
