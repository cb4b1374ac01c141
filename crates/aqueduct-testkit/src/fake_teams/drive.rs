//! The fake tenant's files: each user's OneDrive folder `Microsoft Teams Chat Files` and each
//! channel's SharePoint folder (`filesFolder`); simple uploads (`PUT {item}:/content`, up to
//! 4 MB as Microsoft documents) and upload sessions (`createUploadSession`, then pieces `PUT`
//! with `Content-Range` to a pre-authenticated URL that must not get a bearer token); sharing
//! (`invite`); and reading a file by its sharing URL (`/shares/u!{base64url}/driveItem` and
//! its `/content`, which redirects to a pre-authenticated download).

use super::state::{DriveFile, DriveFolder, PendingUpload, State, TeamsMessage, iso};
use super::{FakeTeams, Shared, caller, checked, csdl, graph_error};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The largest simple upload Graph takes.
const SIMPLE_UPLOAD_MAX: usize = 4 * 1024 * 1024;
/// The chat files folder's name.
const CHAT_FILES: &str = "Microsoft Teams Chat Files";

pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router
        .route(
            "/v1.0/me/drive/{*rest}",
            get(me_drive_get).put(me_drive_put).post(me_drive_post),
        )
        .route(
            "/v1.0/drives/{drive}/{*rest}",
            put(drives_put).post(drives_post),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/filesFolder",
            get(files_folder),
        )
        .route("/v1.0/shares/{share}/driveItem", get(share_item))
        .route("/v1.0/shares/{share}/driveItem/content", get(share_content))
        .route("/_fake/download/{item}", get(download))
        .route("/_fake/upload/{token}", put(upload_piece))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The user's chat files folder, made on first use.
fn chat_folder(s: &mut State, user: &str) -> String {
    let id = format!("folder-{user}-chatfiles");
    if !s.folders.contains_key(&id) {
        let upn = s
            .users
            .get(user)
            .map(|u| u.1.replace(['@', '.'], "_"))
            .unwrap_or_else(|| user.to_owned());
        s.folders.insert(
            id.clone(),
            DriveFolder {
                name: CHAT_FILES.into(),
                drive: format!("drive-{user}"),
                web_url: format!(
                    "https://contoso-my.sharepoint.com/personal/{upn}/Documents/Microsoft%20Teams%20Chat%20Files"
                ),
            },
        );
    }
    id
}

/// A channel's files folder, made on first use.
fn channel_folder(s: &mut State, team: &str, channel: &str) -> Option<String> {
    let name = s
        .channels
        .get(&(team.to_owned(), channel.to_owned()))?
        .name
        .clone();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{team}/{channel}").as_bytes());
    let id = format!("folder-{}", hex::encode(&digest[..8]));
    s.folders.entry(id.clone()).or_insert_with(|| DriveFolder {
        web_url: format!(
            "https://contoso.sharepoint.com/sites/{team}/Shared%20Documents/{}",
            super::extras::enc(&name)
        ),
        name,
        drive: format!("drive-{team}"),
    });
    Some(id)
}

fn folder_json(id: &str, f: &DriveFolder) -> Value {
    json!({
        "id": id, "name": f.name, "webUrl": f.web_url, "createdDateTime": iso(0),
        "lastModifiedDateTime": iso(0), "folder": {"childCount": 0},
        "parentReference": {"driveId": f.drive, "driveType": "business"},
    })
}

fn file_json(s: &State, f: &DriveFile) -> Value {
    let folder = &s.folders[&f.folder];
    json!({
        "id": f.id, "name": f.name, "size": f.data.len(),
        "eTag": format!("\"{{{}}},1\"", f.guid.to_uppercase()),
        "cTag": format!("\"c:{{{}}},1\"", f.guid.to_uppercase()),
        "webUrl": format!("{}/{}", folder.web_url, super::extras::enc(&f.name)),
        "createdDateTime": iso(0), "lastModifiedDateTime": iso(0),
        "file": {"mimeType": f.mime},
        "parentReference": {"driveId": folder.drive, "driveType": "business", "id": f.folder},
    })
}

/// Stores a new file in a folder (renamed `name 1.ext` when the name is taken).
fn store(
    s: &mut State,
    folder: &str,
    name: &str,
    mime: &str,
    data: Vec<u8>,
    in_pieces: bool,
) -> DriveFile {
    let taken = |s: &State, n: &str| s.files.values().any(|f| f.folder == folder && f.name == n);
    let mut final_name = name.to_owned();
    let mut n = 1;
    while taken(s, &final_name) {
        final_name = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem} {n}.{ext}"),
            None => format!("{name} {n}"),
        };
        n += 1;
    }
    let id = s.new_id("item-");
    let guid = format!("{:08x}-0000-4000-8000-{:012x}", s.next_id, s.next_id * 7919);
    let file = DriveFile {
        id: id.clone(),
        name: final_name,
        folder: folder.to_owned(),
        mime: mime.to_owned(),
        data,
        guid,
        shared_with: Vec::new(),
        in_pieces,
    };
    s.files.insert(id, file.clone());
    file
}

/// `root:/{folder}/{name}:/{action}` or `items/{id}:/{name}:/{action}` -> (folder path or id,
/// name, action).
fn item_address(rest: &str) -> Option<(String, String, String)> {
    let (item, action) = rest.rsplit_once(":/")?;
    let (folder, name) = item.rsplit_once('/')?;
    Some((folder.to_owned(), name.to_owned(), action.to_owned()))
}

fn created(s: &mut State, file: &DriveFile) -> Response {
    let v = file_json(s, file);
    let found = csdl::Csdl::graph().check(&v, "driveItem");
    s.violations.extend(found);
    (StatusCode::CREATED, Json(v)).into_response()
}

fn simple_upload(
    s: &mut State,
    folder: &str,
    name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > SIMPLE_UPLOAD_MAX {
        s.violations.push(format!(
            "a simple upload of {} bytes (Graph takes up to 4 MB)",
            body.len()
        ));
        return graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "requestBodyTooLarge",
            "use an upload session",
        );
    }
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let file = store(s, folder, name, &mime, body.to_vec(), false);
    created(s, &file)
}

fn start_session(s: &mut State, folder: &str, name: &str) -> Response {
    let token = s.new_id("upload-");
    s.uploads.insert(
        token.clone(),
        PendingUpload {
            folder: folder.to_owned(),
            name: name.to_owned(),
            received: Vec::new(),
        },
    );
    let v = json!({
        "uploadUrl": format!("{}/_fake/upload/{token}", s.base_url),
        "expirationDateTime": iso(s.last_ms + 3_600_000),
        "nextExpectedRanges": ["0-"],
    });
    checked(s, v, "uploadSession")
}

async fn me_drive_put(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(rest): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(&mut s, &headers, format!("PUT /me/drive/{rest}")) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match rest.strip_prefix("root:/").and_then(item_address) {
        Some((folder, name, action)) if folder == CHAT_FILES && action == "content" => {
            let folder = chat_folder(&mut s, &user);
            simple_upload(&mut s, &folder, &name, &headers, body)
        }
        _ => graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "the fake keeps chat files only",
        ),
    }
}

async fn me_drive_post(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(rest): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(&mut s, &headers, format!("POST /me/drive/{rest}")) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Some((folder, name, action)) = rest.strip_prefix("root:/").and_then(item_address)
        && folder == CHAT_FILES
        && action == "createUploadSession"
    {
        let folder = chat_folder(&mut s, &user);
        return start_session(&mut s, &folder, &name);
    }
    if let Some(item) = rest
        .strip_prefix("items/")
        .and_then(|r| r.strip_suffix("/invite"))
    {
        let recipients: Vec<String> = body["recipients"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                r["objectId"]
                    .as_str()
                    .or(r["email"].as_str())
                    .map(str::to_owned)
            })
            .collect();
        let Some(file) = s.files.get_mut(item) else {
            return graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such item");
        };
        file.shared_with.extend(recipients.iter().cloned());
        let items: Vec<Value> = recipients
            .iter()
            .map(|r| json!({"id": format!("perm-{r}"), "roles": ["read"], "grantedTo": {"user": {"id": r}}}))
            .collect();
        for i in &items {
            let found = csdl::Csdl::graph().check(i, "permission");
            s.violations.extend(found);
        }
        return Json(json!({"value": items})).into_response();
    }
    graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such drive path")
}

async fn me_drive_get(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /me/drive/{rest}")) {
        return r;
    }
    let Some(id) = rest.strip_prefix("items/") else {
        return graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such drive path");
    };
    if let Some(f) = s.folders.get(id) {
        let v = folder_json(id, f);
        return checked(&mut s, v, "driveItem");
    }
    if let Some(f) = s.files.get(id).cloned() {
        let v = file_json(&s, &f);
        return checked(&mut s, v, "driveItem");
    }
    graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such item")
}

/// `/drives/{drive}/items/{folder}:/{name}:/...`, for channel folders.
fn drive_folder(s: &State, drive: &str, rest: &str) -> Option<(String, String, String)> {
    let (folder, name, action) = item_address(rest.strip_prefix("items/")?)?;
    // `{folder-id}:/{name}:`: the folder's id ends at its colon.
    let folder = folder.strip_suffix(':')?.to_owned();
    let f = s.folders.get(&folder)?;
    (f.drive == drive).then_some((folder, name, action))
}

async fn drives_put(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((drive, rest)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("PUT /drives/{drive}/{rest}")) {
        return r;
    }
    match drive_folder(&s, &drive, &rest) {
        Some((folder, name, action)) if action == "content" => {
            simple_upload(&mut s, &folder, &name, &headers, body)
        }
        _ => graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such folder"),
    }
}

async fn drives_post(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((drive, rest)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("POST /drives/{drive}/{rest}")) {
        return r;
    }
    match drive_folder(&s, &drive, &rest) {
        Some((folder, name, action)) if action == "createUploadSession" => {
            start_session(&mut s, &folder, &name)
        }
        _ => graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such folder"),
    }
}

async fn files_folder(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(
        &mut s,
        &headers,
        format!("GET /teams/{team}/channels/{channel}/filesFolder"),
    ) {
        return r;
    }
    match channel_folder(&mut s, &team, &channel) {
        Some(id) => {
            let v = folder_json(&id, &s.folders[&id]);
            checked(&mut s, v, "driveItem")
        }
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such channel"),
    }
}

/// The file a sharing URL (`u!` + unpadded base64url) names.
fn shared(s: &State, share: &str) -> Option<DriveFile> {
    let url = String::from_utf8(aqueduct_teams::b64::decode(share.strip_prefix("u!")?)?).ok()?;
    let url = percent_decode(&url);
    s.files
        .values()
        .find(|f| {
            let folder = percent_decode(&s.folders[&f.folder].web_url);
            url == format!("{folder}/{}", f.name)
        })
        .cloned()
}

async fn share_item(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(share): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /shares/{share}/driveItem")) {
        return r;
    }
    match shared(&s, &share) {
        Some(f) => {
            let v = file_json(&s, &f);
            checked(&mut s, v, "driveItem")
        }
        None => graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such shared item"),
    }
}

async fn share_content(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(share): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(
        &mut s,
        &headers,
        format!("GET /shares/{share}/driveItem/content"),
    ) {
        return r;
    }
    match shared(&s, &share) {
        Some(f) => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!("{}/_fake/download/{}", s.base_url, f.id),
            )],
        )
            .into_response(),
        None => graph_error(StatusCode::NOT_FOUND, "itemNotFound", "no such shared item"),
    }
}

/// The pre-authenticated download a file's `/content` redirects to.
async fn download(AxumState(state): AxumState<Shared>, Path(item): Path<String>) -> Response {
    let s = state.lock().expect("state");
    match s.files.get(&item) {
        Some(f) => ([(header::CONTENT_TYPE, f.mime.clone())], f.data.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One piece of an upload session.
async fn upload_piece(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(_q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut s = state.lock().expect("state");
    s.record(format!("PUT /_fake/upload/{token}"));
    if headers.contains_key(header::AUTHORIZATION) {
        s.violations
            .push("an upload session piece carried an Authorization header".into());
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "upload URLs are pre-authenticated",
        );
    }
    let range = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| {
            let (span, total) = v.split_once('/')?;
            let (a, b) = span.split_once('-')?;
            Some((
                a.parse::<usize>().ok()?,
                b.parse::<usize>().ok()?,
                total.parse::<usize>().ok()?,
            ))
        });
    let Some((start, end, total)) = range else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "invalidRange",
            "Content-Range needed",
        );
    };
    let Some(pending) = s.uploads.get_mut(&token) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "no such upload session",
        );
    };
    if start != pending.received.len() || end + 1 - start != body.len() || end >= total {
        return graph_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "invalidRange",
            "unexpected range",
        );
    }
    if end + 1 < total && !body.len().is_multiple_of(320 * 1024) {
        let why = "a piece that is not a multiple of 320 KiB".to_owned();
        s.violations.push(why.clone());
        return graph_error(StatusCode::BAD_REQUEST, "invalidRange", &why);
    }
    pending.received.extend_from_slice(&body);
    if end + 1 < total {
        return (
            StatusCode::ACCEPTED,
            Json(json!({"expirationDateTime": iso(0), "nextExpectedRanges": [format!("{}-", end + 1)]})),
        )
            .into_response();
    }
    let done = s.uploads.remove(&token).expect("present");
    let mime = "application/octet-stream";
    let file = store(&mut s, &done.folder, &done.name, mime, done.received, true);
    created(&mut s, &file)
}

/// A file a Teams user sends.
pub struct NewFile<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its MIME type.
    pub mime: &'a str,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl FakeTeams {
    /// Every file stored in a drive.
    pub fn files(&self) -> Vec<DriveFile> {
        let mut files: Vec<DriveFile> = self.lock().files.values().cloned().collect();
        files.sort_by(|a, b| a.id.cmp(&b.id));
        files
    }

    /// `user` sends a file in a chat as Teams clients do: stored in their OneDrive's chat
    /// files folder and attached by reference; returns the message id.
    pub fn post_file(&self, chat: &str, user: &str, html: &str, file: NewFile<'_>) -> String {
        let NewFile { name, mime, data } = file;
        let mut s = self.lock();
        let folder = chat_folder(&mut s, user);
        let file = store(&mut s, &folder, name, mime, data, false);
        let m = file_message(&mut s, user, html, &file);
        let id = m.id.clone();
        s.chats.get_mut(chat).expect("chat exists").messages.push(m);
        id
    }

    /// `user` sends a file in a channel thread (`root`) or as a new thread.
    pub fn post_channel_file(
        &self,
        (team, channel): (&str, &str),
        root: Option<&str>,
        user: &str,
        html: &str,
        file: NewFile<'_>,
    ) -> String {
        let NewFile { name, mime, data } = file;
        let mut s = self.lock();
        let folder = channel_folder(&mut s, team, channel).expect("channel exists");
        let file = store(&mut s, &folder, name, mime, data, false);
        let mut m = file_message(&mut s, user, html, &file);
        m.reply_to_id = root.map(str::to_owned);
        let id = m.id.clone();
        s.channels
            .get_mut(&(team.to_owned(), channel.to_owned()))
            .expect("channel exists")
            .messages
            .push(m);
        id
    }
}

fn file_message(s: &mut State, user: &str, html: &str, file: &DriveFile) -> TeamsMessage {
    let now = s.tick();
    let url = format!(
        "{}/{}",
        s.folders[&file.folder].web_url,
        super::extras::enc(&file.name)
    );
    let mut m = TeamsMessage::new(
        now.to_string(),
        user,
        &format!("{html}<attachment id=\"{}\"></attachment>", file.guid),
        now,
    );
    m.attachments.push(json!({
        "id": file.guid, "contentType": "reference", "contentUrl": url,
        "content": null, "name": file.name, "thumbnailUrl": null, "teamsAppId": null,
    }));
    m
}
