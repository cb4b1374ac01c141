//! Files in the fake: `rooms.media/<rid>` takes a `multipart/form-data` upload and keeps it,
//! `rooms.mediaConfirm/<rid>/<fileId>` posts it as a message, and `/file-upload/<id>/<name>`
//! serves it to members of its room who send their token headers.

use super::rest::{Answer, can_see, fail, ok};
use super::state::{Dates, Shared, State};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// One part of a `multipart/form-data` body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Splits a `multipart/form-data` body into its parts (RFC 7578).
pub(crate) fn multipart_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let find = |from: usize| {
        body[from..]
            .windows(d.len())
            .position(|w| w == d)
            .map(|i| i + from)
    };
    let mut parts = Vec::new();
    let Some(mut at) = find(0) else {
        return parts;
    };
    loop {
        let start = at + d.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let Some(next) = find(start) else { break };
        // Each part: CRLF, headers, CRLF CRLF, data, CRLF before the next delimiter.
        let raw = &body[start..next];
        let raw = raw.strip_prefix(b"\r\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_string();
            let mut part = Part {
                data: raw[split + 4..].to_vec(),
                ..Part::default()
            };
            for line in head.split("\r\n") {
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("content-disposition:") {
                    let param = |key: &str| {
                        line.split(';')
                            .map(str::trim)
                            .find_map(|p| p.strip_prefix(&format!("{key}=")))
                            .map(|v| v.trim_matches('"').to_owned())
                    };
                    part.name = param("name").unwrap_or_default();
                    part.filename = param("filename");
                } else if lower.starts_with("content-type:") {
                    part.content_type = Some(line["content-type:".len()..].trim().to_owned());
                }
            }
            parts.push(part);
        }
        at = next;
    }
    parts
}

/// `rooms.media/<rid>`: keeps the uploaded `file` until it is posted.
pub(crate) fn media(st: &mut State, user: &str, rid: &str, parts: &[Part]) -> Answer {
    if !can_see(st, user, rid) {
        return fail("error-not-allowed");
    }
    let Some(part) = parts.iter().find(|p| p.name == "file") else {
        return fail("[invalid-field]");
    };
    let name = part.filename.clone().unwrap_or_else(|| "file".into());
    let file = super::FakeFile {
        id: st.new_id(),
        name: name.clone(),
        mime: part
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
        data: part.data.clone(),
    };
    let id = file.id.clone();
    st.uploads.insert(
        id.clone(),
        super::state::Upload {
            rid: rid.into(),
            user: user.into(),
            file,
        },
    );
    ok(json!({ "file": { "_id": id, "url": format!("/file-upload/{id}/{name}") } }))
}

/// `rooms.mediaConfirm/<rid>/<fileId>`: posts an uploaded file as a message, by the same user
/// in the same room within its lifetime, else `invalid-file`.
pub(crate) fn media_confirm(
    st: &mut State,
    user: &str,
    rid: &str,
    file: &str,
    body: &Value,
) -> Answer {
    let upload = st.uploads.get(file).cloned();
    let Some(upload) = upload.filter(|u| u.rid == rid && u.user == user) else {
        return (
            StatusCode::BAD_REQUEST,
            json!({ "success": false, "error": "[invalid-file]", "errorType": "invalid-file" }),
        );
    };
    let impersonating = body.get("alias").is_some() || body.get("avatar").is_some();
    if impersonating && !st.users[user].impersonate {
        return fail("Not enough permission [error-action-not-allowed]");
    }
    st.uploads.remove(file);
    let tmid = body["tmid"].as_str().map(str::to_owned);
    let i = st.add_message_with(
        None,
        rid,
        user,
        body["msg"].as_str().unwrap_or_default(),
        tmid,
        body["alias"].as_str().map(str::to_owned),
        body["avatar"].as_str().map(str::to_owned),
        vec![upload.file],
    );
    ok(json!({ "message": st.message_json(&st.messages[i], Dates::Rest) }))
}

/// `rooms.upload/<rid>` (deprecated since 6.8, the only way before it): uploads `file` and
/// posts it at once, with the text parts `msg`, `description` and `tmid`.
pub(crate) fn upload(st: &mut State, user: &str, rid: &str, parts: &[Part]) -> Answer {
    if !can_see(st, user, rid) {
        return fail("error-not-allowed");
    }
    let Some(part) = parts.iter().find(|p| p.name == "file") else {
        return fail("[invalid-field]");
    };
    let field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    if let Some(unknown) = parts.iter().find(|p| {
        !["file", "msg", "description", "tmid", "customFields"].contains(&p.name.as_str())
    }) {
        return fail(format!(
            "the fake takes no field {} in rooms.upload",
            unknown.name
        ));
    }
    let file = super::FakeFile {
        id: st.new_id(),
        name: part.filename.clone().unwrap_or_else(|| "file".into()),
        mime: part
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
        data: part.data.clone(),
    };
    let i = st.add_message_with(
        None,
        rid,
        user,
        &field("msg").unwrap_or_default(),
        field("tmid"),
        None,
        None,
        vec![file],
    );
    ok(json!({ "message": st.message_json(&st.messages[i], Dates::Rest) }))
}

/// `/file-upload/<id>/<name>`: the file, to users of its room who send their
/// `X-User-Id`/`X-Auth-Token` (Rocket.Chat also takes the `rc_uid`/`rc_token` cookies, which the
/// bridge does not use); 403 otherwise.
pub(crate) async fn file_upload(
    AxState(sh): AxState<Arc<Shared>>,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let delay = sh.lock().download_delay_ms;
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let mut st = sh.lock();
    let user = match (header("x-user-id"), header("x-auth-token")) {
        (Some(u), Some(t)) if st.tokens.get(&t) == Some(&u) => u,
        _ => return StatusCode::FORBIDDEN.into_response(),
    };
    let found = st
        .messages
        .iter()
        .filter(|m| !m.deleted && can_see(&st, &user, &m.rid))
        .flat_map(|m| m.files.iter())
        .find(|f| f.id == id)
        .cloned();
    match found {
        Some(f) => {
            st.downloads += 1;
            ([("content-type", f.mime.clone())], f.data).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
