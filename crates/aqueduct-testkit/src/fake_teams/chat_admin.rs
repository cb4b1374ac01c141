//! The fake tenant's chat settings and members, as Microsoft documents them ("Update chat",
//! "Add member to a chat", "Remove member from chat"):
//!
//! - `PATCH /chats/{id}` takes a `chat` whose only property is `topic`: for group chats
//!   only, at most 250 characters, no `:`; answered 200 with the chat, and a
//!   `chatRenamedEventMessageDetail` system message in the chat.
//! - `POST /chats/{id}/members` takes an `aadUserConversationMember` with
//!   `user@odata.bind` (`.../users/{id}` or `.../users('{id}')`) and `roles`; not in 1:1
//!   chats; answered 201 with a `Location` header and no body, and a
//!   `membersAddedEventMessageDetail` system message.
//! - `DELETE /chats/{id}/members/{membership-id}` takes the membership's own id (opaque,
//!   as `GET .../members` lists it, never the user's id); 204, and a
//!   `membersDeletedEventMessageDetail` system message.
//!
//! The caller must be a member of the chat. Every request body is checked against the CSDL.

use super::state::{Place, State, iso};
use super::{FakeTeams, Shared, caller, csdl, graph_error};
use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A membership's id as Graph makes them: opaque (base64 of the member's place), so a
/// client can only learn it from the members list.
pub(crate) fn membership_id(chat: &str, user: &str) -> String {
    aqueduct_teams::b64::encode(format!("0##{chat}##{user}").as_bytes())
}

/// Checks a request body against the CSDL as `ty`; departures are violations.
fn check_request(s: &mut State, body: &Value, ty: &str) {
    let found = csdl::Csdl::graph().check(body, ty);
    s.violations
        .extend(found.into_iter().map(|f| format!("request: {f}")));
}

/// The caller, when it is a member of `chat`; else the error answer.
#[allow(clippy::result_large_err)] // the error is the answer itself, handed straight back
fn member_caller(
    s: &mut State,
    headers: &HeaderMap,
    what: String,
    chat: &str,
) -> Result<String, Response> {
    let user = caller(s, headers, what)?;
    match s.chats.get(chat) {
        Some(c) if c.members.contains(&user) => Ok(user),
        _ => Err(graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such chat",
        )),
    }
}

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

pub(crate) async fn update_chat(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match member_caller(&mut s, &headers, format!("PATCH /chats/{chat}"), &chat) {
        Ok(u) => u,
        Err(r) => return r,
    };
    check_request(&mut s, &body, "chat");
    let Some(fields) = body.as_object() else {
        return bad_request("the body is not a chat");
    };
    if let Some(other) = fields.keys().find(|k| *k != "topic") {
        s.violations.push(format!(
            "request: PATCH /chats takes only topic, not {other}"
        ));
        return bad_request("only topic can be updated");
    }
    let Some(topic) = fields.get("topic").and_then(Value::as_str) else {
        return bad_request("topic is missing");
    };
    if s.chats[&chat].chat_type != "group" {
        return bad_request("Topic can be set only for group chats.");
    }
    if topic.contains(':') || topic.chars().count() > 250 {
        return bad_request("Topic must be at most 250 characters and cannot contain ':'.");
    }
    s.chats.get_mut(&chat).expect("chat").topic = Some(topic.to_owned());
    let initiator = s.identity(&user);
    s.system_message(
        Place::Chat(&chat),
        json!({
            "@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail",
            "chatId": chat,
            "chatDisplayName": topic,
            "initiator": {"user": initiator, "application": null, "device": null},
        }),
    );
    let v = super::chat_json(&s, &chat, &s.chats[&chat], false);
    super::checked(&mut s, v, "chat")
}

/// The user id an `@odata.bind` names (`.../users/{id}` or `.../users('{id}')`).
fn bound_user(bind: &str) -> Option<String> {
    let tail = bind.rsplit_once("/users")?.1;
    let id = match tail.strip_prefix("('") {
        Some(quoted) => quoted.strip_suffix("')")?.replace("''", "'"),
        None => {
            let raw = tail.strip_prefix('/')?;
            url::form_urlencoded::parse(format!("x={raw}").as_bytes())
                .next()?
                .1
                .into_owned()
        }
    };
    (!id.is_empty()).then_some(id)
}

pub(crate) async fn add_member(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let by = match member_caller(
        &mut s,
        &headers,
        format!("POST /chats/{chat}/members"),
        &chat,
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    check_request(&mut s, &body, "conversationMember");
    if body["@odata.type"] != "#microsoft.graph.aadUserConversationMember" {
        return bad_request("@odata.type must name aadUserConversationMember");
    }
    let Some(user) = body["user@odata.bind"].as_str().and_then(bound_user) else {
        return bad_request("user@odata.bind must name a user");
    };
    if !s.users.contains_key(&user) {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such user");
    }
    if s.chats[&chat].chat_type == "oneOnOne" {
        return bad_request("Members cannot be added to a oneOnOne chat.");
    }
    let members = &mut s.chats.get_mut(&chat).expect("chat").members;
    if !members.contains(&user) {
        members.push(user.clone());
        let (member, initiator) = (s.identity(&user), s.identity(&by));
        s.system_message(
            Place::Chat(&chat),
            json!({
                "@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
                "visibleHistoryStartDateTime": iso(0),
                "members": [member],
                "initiator": {"user": initiator, "application": null, "device": null},
            }),
        );
    }
    let location = format!(
        "/chats/{chat}/members/{}",
        super::enc(&membership_id(&chat, &user))
    );
    (StatusCode::CREATED, [(header::LOCATION, location)]).into_response()
}

pub(crate) async fn remove_member(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((chat, membership)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().expect("state");
    let by = match member_caller(
        &mut s,
        &headers,
        format!("DELETE /chats/{chat}/members/{membership}"),
        &chat,
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(user) = s.chats[&chat]
        .members
        .iter()
        .find(|m| membership_id(&chat, m) == membership)
        .cloned()
    else {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such member");
    };
    if s.chats[&chat].chat_type == "oneOnOne" {
        return bad_request("Members cannot be removed from a oneOnOne chat.");
    }
    s.chats
        .get_mut(&chat)
        .expect("chat")
        .members
        .retain(|m| *m != user);
    let (member, initiator) = (s.identity(&user), s.identity(&by));
    s.system_message(
        Place::Chat(&chat),
        json!({
            "@odata.type": "#microsoft.graph.membersDeletedEventMessageDetail",
            "members": [member],
            "initiator": {"user": initiator, "application": null, "device": null},
        }),
    );
    StatusCode::NO_CONTENT.into_response()
}

impl FakeTeams {
    /// A chat's topic.
    pub fn chat_topic(&self, chat: &str) -> Option<String> {
        self.lock().chats.get(chat)?.topic.clone()
    }

    /// A chat's members' user ids.
    pub fn chat_members(&self, chat: &str) -> Vec<String> {
        self.lock()
            .chats
            .get(chat)
            .map(|c| c.members.clone())
            .unwrap_or_default()
    }

    /// Waits until `pred` holds for the fake (its chats, members, subscriptions).
    pub async fn wait_until(
        &self,
        timeout: std::time::Duration,
        what: &str,
        pred: impl Fn(&FakeTeams) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred(self) {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
