//! The fake's file routes: uploads to the URL `files.getUploadURLExternal` hands out,
//! `url_private` downloads (bearer token required, as Slack does), and avatar images.

use super::api::bearer;
use super::{Shared, TokenKind};
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type Sh = Arc<Shared>;

/// Extracts the first part's body of a multipart/form-data request.
fn multipart_first(ctype: &str, body: &[u8]) -> Option<Vec<u8>> {
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let start = find(body, d, 0)? + d.len();
    let headers_end = find(body, b"\r\n\r\n", start)? + 4;
    let end = find(body, d, headers_end)?;
    let end = if end >= 2 && &body[end - 2..end] == b"\r\n" {
        end - 2
    } else {
        end
    };
    Some(body[headers_end..end].to_vec())
}

pub(crate) async fn upload(
    AxState(sh): AxState<Sh>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = if ctype
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        match multipart_first(&ctype, &body) {
            Some(b) => b,
            None => return (StatusCode::BAD_REQUEST, "bad multipart body").into_response(),
        }
    } else {
        body.to_vec()
    };
    let mut st = sh.lock();
    let Some(f) = st.files.get_mut(&file_id) else {
        return (StatusCode::NOT_FOUND, "file not found").into_response();
    };
    if bytes.len() as u64 != f.length {
        tracing::warn!(
            file_id,
            declared = f.length,
            got = bytes.len(),
            "fake slack: uploaded size differs from files.getUploadURLExternal length"
        );
    }
    let n = bytes.len();
    f.bytes = Some(bytes);
    (StatusCode::OK, format!("OK - {n}")).into_response()
}

pub(crate) async fn download(
    AxState(sh): AxState<Sh>,
    Path(params): Path<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let file_id = params
        .iter()
        .find(|(k, _)| k == "file_id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let delay = sh.lock().download_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let st = sh.lock();
    let caller = match bearer(&headers).and_then(|t| st.tokens.get(&t).cloned()) {
        Some(TokenKind::Bot) => Some(super::BOT_USER_ID.to_owned()),
        Some(TokenKind::User(u)) => Some(u),
        _ => None,
    };
    let Some(caller) = caller else {
        // Like Slack: without a valid bearer token, a 200 HTML sign-in page, not the file.
        let mut r = (
            StatusCode::OK,
            "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Fake Team</body></html>",
        )
            .into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    };
    // A file is visible to its uploader and to members of the conversations it is shared in
    // (a file in a DM between people is not the bot's to read).
    let visible = st.files.get(&file_id).is_some_and(|f| {
        f.user == caller
            || st.channels.values().any(|c| {
                c.members.contains(&caller) && c.messages.iter().any(|m| m.files.contains(&file_id))
            })
    });
    let Some(f) = st.files.get(&file_id).filter(|_| visible) else {
        return (StatusCode::NOT_FOUND, "file not found").into_response();
    };
    let Some(bytes) = f.bytes.clone() else {
        return (StatusCode::NOT_FOUND, "file not uploaded").into_response();
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&f.mime) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A 1x1 transparent PNG.
pub(crate) const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

pub(crate) async fn avatar(Path(_name): Path<String>) -> Response {
    let mut r = (StatusCode::OK, PNG_1X1).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    r
}
