//! The fake tenant's second part: posted message bodies with files, inline images and
//! quotes checked as Microsoft documents them; quoted replies (`replyWithQuote`), chat
//! deletes under their author (`/users/{id}/chats/...`), inline images (`hostedContents`),
//! profile photos, read markers, and system messages for member and name changes.

use super::state::{HostedContent, Place, State, TeamsMessage, iso};
use super::{FakeTeams, Shared, caller, checked, csdl, find, graph_error};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A path segment percent-encoded as the bridge encodes it.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The routes of this part and of the channel and drive parts.
pub(crate) fn router(state: Shared) -> Router {
    let router = Router::new()
        .route(
            "/v1.0/chats/{chat}/messages/replyWithQuote",
            post(reply_with_quote),
        )
        .route(
            "/v1.0/users/{id}/chats/{chat}/messages/{message}/softDelete",
            post(soft_delete_under_user),
        )
        .route(
            "/v1.0/chats/{chat}/messages/{id}/hostedContents/{hosted}/{value}",
            get(chat_hosted_content),
        )
        .route("/v1.0/chats/{chat}/markChatReadForUser", post(mark_read))
        .route("/v1.0/users/{id}/photo", get(photo))
        .route("/v1.0/users/{id}/photo/{value}", get(photo_value));
    super::drive::routes(super::channels::routes(router)).with_state(state)
}

/// A posted message body, read and checked.
pub(crate) struct Posted {
    pub(crate) html: String,
    pub(crate) mentions: Value,
    pub(crate) attachments: Vec<Value>,
    pub(crate) hosted: Vec<HostedContent>,
}

/// Reads a posted chatMessage after checking it against the CSDL and Microsoft's rules:
/// every attachment is named by an `<attachment id>` of the body, every hosted content by
/// an `<img src="../hostedContents/{temporaryId}/$value">`, `contentBytes` is base64.
#[allow(clippy::result_large_err)] // the error is the answer itself, handed straight back
pub(crate) fn read_posted(s: &mut State, body: &Value) -> Result<Posted, Response> {
    let found = csdl::Csdl::graph().check(body, "chatMessage");
    if !found.is_empty() {
        let message = found.join("; ");
        s.violations.push(format!("request: {message}"));
        return Err(graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message));
    }
    let mut html = body["body"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if html.is_empty() {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is empty",
        ));
    }
    let attachments: Vec<Value> = body["attachments"].as_array().cloned().unwrap_or_default();
    for a in &attachments {
        let id = a["id"].as_str().unwrap_or_default();
        if id.is_empty() || !html.contains(&format!("<attachment id=\"{id}\"")) {
            let why = format!("attachment {id:?} is not named by an <attachment id> in the body");
            s.violations.push(format!("request: {why}"));
            return Err(graph_error(StatusCode::BAD_REQUEST, "BadRequest", &why));
        }
        if a["contentType"] == "reference"
            && (a["contentUrl"].as_str().is_none() || a["name"].as_str().is_none())
        {
            let why = "a reference attachment needs contentUrl and name";
            s.violations.push(format!("request: {why}"));
            return Err(graph_error(StatusCode::BAD_REQUEST, "BadRequest", why));
        }
    }
    let mut hosted = Vec::new();
    for h in body["hostedContents"].as_array().into_iter().flatten() {
        let temporary = h["@microsoft.graph.temporaryId"]
            .as_str()
            .unwrap_or_default();
        let placeholder = format!("../hostedContents/{temporary}/$value");
        let data = h["contentBytes"]
            .as_str()
            .and_then(aqueduct_teams::b64::decode);
        let (Some(data), false, true) = (data, temporary.is_empty(), html.contains(&placeholder))
        else {
            let why = format!(
                "hosted content {temporary:?} needs base64 contentBytes and an <img src=\"{placeholder}\"> in the body"
            );
            s.violations.push(format!("request: {why}"));
            return Err(graph_error(StatusCode::BAD_REQUEST, "BadRequest", &why));
        };
        let n = s.new_id("");
        let id = aqueduct_teams::b64::encode(format!("id=x_0-wus-{n},type=1").as_bytes());
        html = html.replace(&placeholder, &format!("../hostedContents/{id}/$value"));
        hosted.push(HostedContent {
            id,
            content_type: h["contentType"].as_str().unwrap_or("image/png").to_owned(),
            data,
        });
    }
    Ok(Posted {
        html,
        mentions: body.get("mentions").cloned().unwrap_or(json!([])),
        attachments,
        hosted,
    })
}

/// A new message from a posted body.
pub(crate) fn message_from(id: String, from: &str, posted: Posted, now: i64) -> TeamsMessage {
    TeamsMessage {
        mentions: posted.mentions,
        attachments: posted.attachments,
        hosted: posted.hosted,
        ..TeamsMessage::new(id, from, &posted.html, now)
    }
}

async fn reply_with_quote(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(
        &mut s,
        &headers,
        format!("POST /chats/{chat}/messages/replyWithQuote"),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !s
        .chats
        .get(&chat)
        .is_some_and(|c| c.members.contains(&user))
    {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "not a member of the chat",
        );
    }
    let ids: Vec<String> = body["messageIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if ids.is_empty() || ids.len() > 10 {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "messageIds needs 1 to 10 messages",
        );
    }
    let mut references = Vec::new();
    for id in &ids {
        let Some(quoted) = find(&mut s, &chat, id).cloned() else {
            return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message");
        };
        let name = s.users.get(&quoted.from).map(|u| u.0.clone());
        let content = json!({
            "messageId": quoted.id,
            "messagePreview": quoted.html,
            "messageSender": {"application": null, "device": null, "user": {"userIdentityType": "aadUser", "id": quoted.from, "displayName": name}},
        });
        references.push(json!({
            "id": quoted.id, "contentType": "messageReference", "contentUrl": null,
            "content": content.to_string(), "name": null, "thumbnailUrl": null, "teamsAppId": null,
        }));
    }
    let posted = match read_posted(&mut s, &body["replyMessage"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = s.tick();
    let mut m = message_from(now.to_string(), &user, posted, now);
    let tags: String = ids
        .iter()
        .map(|id| format!("<attachment id=\"{id}\"></attachment>\n"))
        .collect();
    m.html = format!("<p></p>\n{tags}{}\n<p></p>", m.html);
    references.append(&mut m.attachments);
    m.attachments = references;
    s.chats
        .get_mut(&chat)
        .expect("checked")
        .messages
        .push(m.clone());
    let v = s.message_json(&chat, &m);
    let found = csdl::Csdl::graph().check(&v, "chatMessage");
    s.violations.extend(found);
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn soft_delete_under_user(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((owner, chat, id)): Path<(String, String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(
        &mut s,
        &headers,
        format!("POST /users/{owner}/chats/{chat}/messages/{id}/softDelete"),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if owner != user {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "a delegated caller deletes as itself",
        );
    }
    let now = s.tick();
    match find(&mut s, &chat, &id) {
        Some(m) if m.from == user => {
            m.deleted_ms = Some(now);
            m.modified_ms = now;
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "only the author deletes",
        ),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

/// An inline image's bytes.
pub(crate) fn hosted_value(m: &TeamsMessage, hosted: &str, value: &str) -> Response {
    if value != "$value" {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such path");
    }
    match m.hosted.iter().find(|h| h.id == hosted) {
        Some(h) => (
            [(header::CONTENT_TYPE, h.content_type.clone())],
            h.data.clone(),
        )
            .into_response(),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such hosted content"),
    }
}

async fn chat_hosted_content(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((chat, id, hosted, value)): Path<(String, String, String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(
        &mut s,
        &headers,
        format!("GET /chats/{chat}/messages/{id}/hostedContents/{hosted}/{value}"),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !s
        .chats
        .get(&chat)
        .is_some_and(|c| c.members.contains(&user))
    {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "not a member of the chat",
        );
    }
    match find(&mut s, &chat, &id) {
        Some(m) => hosted_value(m, &hosted, &value),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

async fn mark_read(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match caller(
        &mut s,
        &headers,
        format!("POST /chats/{chat}/markChatReadForUser"),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if body["user"]["id"].as_str() != Some(user.as_str()) {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "a delegated caller marks its own read state",
        );
    }
    s.read_marks.push((chat, user));
    StatusCode::NO_CONTENT.into_response()
}

async fn photo(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /users/{id}/photo")) {
        return r;
    }
    let Some(p) = s.photos.get(&id).cloned() else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ImageNotFound",
            "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
        );
    };
    let v = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/photo/$entity"),
        "@odata.mediaContentType": p.mime,
        "@odata.mediaEtag": p.etag,
        "id": "240X240", "height": 240, "width": 240,
    });
    checked(&mut s, v, "profilePhoto")
}

async fn photo_value(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((id, value)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /users/{id}/photo/{value}")) {
        return r;
    }
    match (value.as_str(), s.photos.get(&id)) {
        ("$value", Some(p)) => {
            ([(header::CONTENT_TYPE, p.mime.clone())], p.data.clone()).into_response()
        }
        _ => graph_error(StatusCode::NOT_FOUND, "ImageNotFound", "no photo"),
    }
}

impl FakeTeams {
    /// Gives `user` a profile photo (a new one changes its etag).
    pub fn set_photo(&self, user: &str, mime: &str, data: Vec<u8>) {
        let mut s = self.lock();
        let etag = format!("W/\"{}\"", s.new_id("photo-"));
        s.photos.insert(
            user.to_owned(),
            super::state::Photo {
                mime: mime.to_owned(),
                data,
                etag,
            },
        );
    }

    /// `user` writes `html` in `chat` mentioning people as Teams clients do: each
    /// `<at id="n">` of the body is the `n`th `(user id, name)` of `mentioned` in the
    /// message's `mentions`; returns the message id.
    pub fn post_mentioning(
        &self,
        chat: &str,
        user: &str,
        html: &str,
        mentioned: &[(&str, &str)],
    ) -> String {
        let mut s = self.lock();
        let now = s.tick();
        let mut m = TeamsMessage::new(now.to_string(), user, html, now);
        m.mentions = serde_json::Value::Array(
            mentioned
                .iter()
                .enumerate()
                .map(|(n, (id, name))| {
                    serde_json::json!({
                        "id": n, "mentionText": name,
                        "mentioned": {"application": null, "device": null, "conversation": null,
                                      "user": {"id": id, "displayName": name, "userIdentityType": "aadUser"}},
                    })
                })
                .collect(),
        );
        s.chats.get_mut(chat).expect("chat exists").messages.push(m);
        now.to_string()
    }

    /// `user` writes `html` in `chat` with inline images (`(MIME type, bytes)`), which the
    /// body shows as `<img>`s after the text; returns the message id.
    pub fn post_with_images(
        &self,
        chat: &str,
        user: &str,
        html: &str,
        images: &[(&str, Vec<u8>)],
    ) -> String {
        let mut s = self.lock();
        let now = s.tick();
        let mut m = TeamsMessage::new(now.to_string(), user, html, now);
        for (mime, data) in images {
            let n = s.new_id("");
            let id = aqueduct_teams::b64::encode(format!("id=x_0-wus-{n},type=1").as_bytes());
            m.html.push_str(&format!(
                "<div><span><img height=\"100\" src=\"../hostedContents/{id}/$value\" width=\"100\" style=\"vertical-align:bottom\"></span></div>"
            ));
            m.hosted.push(HostedContent {
                id,
                content_type: (*mime).to_owned(),
                data: data.clone(),
            });
        }
        s.chats.get_mut(chat).expect("chat exists").messages.push(m);
        now.to_string()
    }

    /// `user` quotes `quoted` in `chat` with a reply, as Teams clients do (a
    /// `messageReference` attachment); returns the message id.
    pub fn post_quote(&self, chat: &str, user: &str, quoted: &str, html: &str) -> String {
        let mut s = self.lock();
        let original = find(&mut s, chat, quoted).cloned().expect("quoted exists");
        let now = s.tick();
        let name = s.users.get(&original.from).map(|u| u.0.clone());
        let content = json!({
            "messageId": original.id, "messagePreview": original.html,
            "messageSender": {"application": null, "device": null, "user": {"userIdentityType": "aadUser", "id": original.from, "displayName": name}},
        });
        let mut m = TeamsMessage::new(
            now.to_string(),
            user,
            &format!("<p></p>\n<attachment id=\"{quoted}\"></attachment>\n{html}\n<p></p>"),
            now,
        );
        m.attachments.push(json!({
            "id": quoted, "contentType": "messageReference", "contentUrl": null,
            "content": content.to_string(), "name": null, "thumbnailUrl": null, "teamsAppId": null,
        }));
        s.chats.get_mut(chat).expect("chat exists").messages.push(m);
        now.to_string()
    }

    /// Posts a system message (`systemEventMessage` with `eventDetail`) in a chat.
    pub(crate) fn system_message(&self, place: Place<'_>, detail: Value) -> String {
        self.lock().system_message(place, detail)
    }

    /// `by` adds `user` to a group chat (a system message says so).
    pub fn add_chat_member(&self, chat: &str, by: &str, user: &str) {
        let identity = self.identity_json(user);
        self.lock()
            .chats
            .get_mut(chat)
            .expect("chat exists")
            .members
            .push(user.to_owned());
        let detail = json!({
            "@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
            "visibleHistoryStartDateTime": iso(0),
            "members": [identity],
            "initiator": {"user": self.identity_json(by), "application": null, "device": null},
        });
        self.system_message(Place::Chat(chat), detail);
    }

    /// `by` removes `user` from a group chat (a system message says so).
    pub fn remove_chat_member(&self, chat: &str, by: &str, user: &str) {
        let identity = self.identity_json(user);
        self.lock()
            .chats
            .get_mut(chat)
            .expect("chat exists")
            .members
            .retain(|m| m != user);
        let detail = json!({
            "@odata.type": "#microsoft.graph.membersDeletedEventMessageDetail",
            "members": [identity],
            "initiator": {"user": self.identity_json(by), "application": null, "device": null},
        });
        self.system_message(Place::Chat(chat), detail);
    }

    /// `by` renames a group chat (a system message says so).
    pub fn rename_chat(&self, chat: &str, by: &str, topic: &str) {
        self.lock().chats.get_mut(chat).expect("chat exists").topic = Some(topic.to_owned());
        let detail = json!({
            "@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail",
            "chatId": chat,
            "chatDisplayName": topic,
            "initiator": {"user": self.identity_json(by), "application": null, "device": null},
        });
        self.system_message(Place::Chat(chat), detail);
    }

    pub(crate) fn identity_json(&self, user: &str) -> Value {
        let name = self.lock().users.get(user).map(|u| u.0.clone());
        json!({"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user, "displayName": name, "userIdentityType": "aadUser"})
    }

    /// The (chat, user) of every read marker set so far.
    pub fn read_marks(&self) -> Vec<(String, String)> {
        self.lock().read_marks.clone()
    }
}
