//! The fake tenant's teams and channels: a channel's facts and members, its messages as
//! Graph lists them (roots only, `$top`, `$expand=replies`, nothing else), its delta query
//! (`$filter=lastModifiedDateTime gt`, `$expand=replies`, `$top`, `@odata.nextLink` pages and an
//! `@odata.deltaLink` whose token is the time of the round), replies, posting, editing,
//! deleting and reacting, inline images, and system messages for renames and descriptions.

use super::extras::{hosted_value, message_from, read_posted};
use super::state::{Place, State, TeamsChannel, TeamsMessage, TeamsTeam, iso};
use super::{FakeTeams, Shared, caller, checked, collection, csdl, graph_error};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;

mod writes;
use writes::{
    patch_reply, patch_root, post_reply, post_root, reply_action, reply_hosted, root_action,
    root_hosted,
};

pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router
        .route("/v1.0/teams/{team}", get(team))
        .route("/v1.0/teams/{team}/channels/{channel}", get(channel))
        .route(
            "/v1.0/teams/{team}/channels/{channel}/members",
            get(channel_members),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages",
            get(list).post(post_root),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/delta",
            get(delta),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}",
            get(get_root).patch(patch_root),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}/replies",
            get(list_replies).post(post_reply),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}/{action}",
            post(root_action),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}/replies/{reply}",
            get(get_reply).patch(patch_reply),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}/replies/{reply}/{action}",
            post(reply_action),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}/hostedContents/{hosted}/{value}",
            get(root_hosted),
        )
        .route(
            "/v1.0/teams/{team}/channels/{channel}/messages/{id}/replies/{reply}/hostedContents/{hosted}/{value}",
            get(reply_hosted),
        )
}

type Key = (String, String);

/// The caller, who must be a member of the channel.
#[allow(clippy::result_large_err)] // the error is the answer itself, handed straight back
fn member(s: &mut State, headers: &HeaderMap, key: &Key, what: String) -> Result<String, Response> {
    let user = caller(s, headers, what)?;
    match s.channels.get(key) {
        Some(c) if c.members.contains(&user) => Ok(user),
        Some(_) => Err(graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "not a member of the channel",
        )),
        None => Err(graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no such channel",
        )),
    }
}

fn msg<'a>(
    s: &'a mut State,
    key: &Key,
    id: &str,
    reply: Option<&str>,
) -> Option<&'a mut TeamsMessage> {
    s.channels
        .get_mut(key)?
        .messages
        .iter_mut()
        .find(|m| match reply {
            None => m.id == id && m.reply_to_id.is_none(),
            Some(r) => m.id == r && m.reply_to_id.as_deref() == Some(id),
        })
}

/// A root's JSON, with its replies when asked.
fn root_json(s: &State, key: &Key, root: &TeamsMessage, expand: bool) -> Value {
    let place = Place::Channel(&key.0, &key.1);
    let mut v = s.message_json_at(place, root);
    if expand {
        let replies: Vec<Value> = s.channels[key]
            .messages
            .iter()
            .filter(|m| m.reply_to_id.as_deref() == Some(root.id.as_str()))
            .map(|m| s.message_json_at(place, m))
            .collect();
        v["replies@odata.context"] =
            json!("https://graph.microsoft.com/v1.0/$metadata#teams/channels/messages/replies");
        v["replies"] = json!(replies);
    }
    v
}

/// When a thread last changed: its root or any reply.
fn chain_modified(c: &TeamsChannel, root: &TeamsMessage) -> i64 {
    c.messages
        .iter()
        .filter(|m| m.reply_to_id.as_deref() == Some(root.id.as_str()))
        .map(|m| m.modified_ms)
        .fold(root.modified_ms, i64::max)
}

fn check_all(s: &mut State, items: &[Value]) {
    for item in items {
        let found = csdl::Csdl::graph().check(item, "chatMessage");
        s.violations.extend(found);
    }
}

async fn team(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = caller(&mut s, &headers, format!("GET /teams/{id}")) {
        return r;
    }
    let Some(t) = s.teams.get(&id).cloned() else {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such team");
    };
    let v = json!({"id": id, "displayName": t.name, "description": null, "isArchived": false, "visibility": "private", "tenantId": "tenant"});
    checked(&mut s, v, "team")
}

async fn channel(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(key): Path<Key>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!("GET /teams/{}/channels/{}", key.0, key.1),
    ) {
        return r;
    }
    let c = s.channels[&key].clone();
    let v = json!({
        "id": key.1, "displayName": c.name, "description": c.description,
        "membershipType": "standard", "createdDateTime": iso(0), "tenantId": "tenant",
        "webUrl": format!("https://teams.microsoft.com/l/channel/{}/{}?groupId={}", super::extras::enc(&key.1), super::extras::enc(&c.name), key.0),
    });
    checked(&mut s, v, "channel")
}

async fn channel_members(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(key): Path<Key>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!("GET /teams/{}/channels/{}/members", key.0, key.1),
    ) {
        return r;
    }
    let items: Vec<Value> = s.channels[&key]
        .members
        .iter()
        .map(|m| {
            json!({
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": format!("member-{m}"), "roles": [], "displayName": s.users.get(m).map(|u| u.0.clone()),
                "userId": m, "email": s.users.get(m).map(|u| u.1.clone()), "tenantId": "tenant",
            })
        })
        .collect();
    collection(&mut s, items, "conversationMember")
}

fn bad_request(why: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "BadRequest", why)
}

#[allow(clippy::result_large_err)] // the error is the answer itself
fn top_of(q: &HashMap<String, String>) -> Result<usize, Response> {
    match q.get("$top") {
        None => Ok(20),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=50).contains(&n) => Ok(n),
            _ => Err(bad_request("$top must be 1 to 50")),
        },
    }
}

#[allow(clippy::result_large_err)] // the error is the answer itself
fn expand_of(q: &HashMap<String, String>) -> Result<bool, Response> {
    match q.get("$expand").map(String::as_str) {
        None => Ok(false),
        Some("replies") => Ok(true),
        Some(_) => Err(bad_request("only replies can be expanded")),
    }
}

/// `GET .../messages`: roots, newest first, `$top` and `$expand=replies` only.
async fn list(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(key): Path<Key>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!("GET /teams/{}/channels/{}/messages", key.0, key.1),
    ) {
        return r;
    }
    if let Some(other) = q
        .keys()
        .find(|k| !matches!(k.as_str(), "$top" | "$expand" | "$skiptoken"))
    {
        return bad_request(&format!("{other} is not supported on channel messages"));
    }
    let (top, expand) = match (top_of(&q), expand_of(&q)) {
        (Ok(t), Ok(e)) => (t, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let mut roots: Vec<TeamsMessage> = s.channels[&key]
        .messages
        .iter()
        .filter(|m| m.reply_to_id.is_none())
        .cloned()
        .collect();
    roots.sort_by_key(|m| std::cmp::Reverse(m.created_ms));
    let items: Vec<Value> = roots
        .iter()
        .skip(skip)
        .take(top)
        .map(|m| root_json(&s, &key, m, expand))
        .collect();
    check_all(&mut s, &items);
    let mut page = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#teams/channels/messages", "value": items});
    if skip + top < roots.len() {
        page["@odata.nextLink"] = json!(format!(
            "{}/v1.0/teams/{}/channels/{}/messages?$top={top}{}&$skiptoken={}",
            s.base_url,
            super::extras::enc(&key.0),
            super::extras::enc(&key.1),
            if expand { "&$expand=replies" } else { "" },
            skip + top
        ));
    }
    Json(page).into_response()
}

/// `GET .../messages/delta`: the threads changed since a time (`$filter`, or the token of
/// an earlier round), oldest change first, in pages.
async fn delta(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(key): Path<Key>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!("GET /teams/{}/channels/{}/messages/delta", key.0, key.1),
    ) {
        return r;
    }
    // A token: `since.offset.expand.top.high` (next page) or `high.expand.top` (next round).
    let (since, offset, expand, top, high) = if let Some(t) = q.get("$skiptoken") {
        let p: Vec<i64> = t.split('.').filter_map(|x| x.parse().ok()).collect();
        if p.len() != 5 {
            return bad_request("bad $skiptoken");
        }
        (Some(p[0]), p[1] as usize, p[2] == 1, p[3] as usize, p[4])
    } else if let Some(t) = q.get("$deltatoken") {
        let p: Vec<i64> = t.split('.').filter_map(|x| x.parse().ok()).collect();
        if p.len() != 3 {
            return graph_error(StatusCode::GONE, "SyncStateNotFound", "bad $deltatoken");
        }
        let high = s.last_ms;
        (Some(p[0]), 0, p[1] == 1, p[2] as usize, high)
    } else {
        if let Some(other) = q
            .keys()
            .find(|k| !matches!(k.as_str(), "$top" | "$expand" | "$filter" | "$skip"))
        {
            return bad_request(&format!("{other} is not supported on delta"));
        }
        let since = match q.get("$filter") {
            None => None,
            Some(f) => match f
                .strip_prefix("lastModifiedDateTime gt ")
                .and_then(aqueduct_teams::iso_time::parse_ms)
            {
                Some(ms) => Some(ms),
                None => return bad_request("only lastModifiedDateTime gt is supported"),
            },
        };
        let (top, expand) = match (top_of(&q), expand_of(&q)) {
            (Ok(t), Ok(e)) => (t, e),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let high = s.last_ms;
        (since, 0, expand, top, high)
    };
    let c = s.channels[&key].clone();
    let mut changed: Vec<(i64, TeamsMessage)> = c
        .messages
        .iter()
        .filter(|m| m.reply_to_id.is_none())
        .map(|m| (chain_modified(&c, m), m.clone()))
        .filter(|(at, _)| since.is_none_or(|since| *at > since) && *at <= high)
        .collect();
    changed.sort_by_key(|(at, _)| *at);
    let items: Vec<Value> = changed
        .iter()
        .skip(offset)
        .take(top)
        .map(|(_, m)| root_json(&s, &key, m, expand))
        .collect();
    check_all(&mut s, &items);
    let path = format!(
        "{}/v1.0/teams/{}/channels/{}/messages/delta",
        s.base_url,
        super::extras::enc(&key.0),
        super::extras::enc(&key.1)
    );
    let e = i64::from(expand);
    let mut page = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(chatMessage)", "value": items});
    if offset + top < changed.len() {
        page["@odata.nextLink"] = json!(format!(
            "{path}?$skiptoken={}.{}.{e}.{top}.{high}",
            since.unwrap_or(0),
            offset + top
        ));
    } else {
        page["@odata.deltaLink"] = json!(format!("{path}?$deltatoken={high}.{e}.{top}"));
    }
    Json(page).into_response()
}

async fn get_root(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id)): Path<(String, String, String)>,
) -> Response {
    let key = (team, channel);
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!("GET /teams/{}/channels/{}/messages/{id}", key.0, key.1),
    ) {
        return r;
    }
    match msg(&mut s, &key, &id, None).cloned() {
        Some(m) => {
            let v = s.message_json_at(Place::Channel(&key.0, &key.1), &m);
            checked(&mut s, v, "chatMessage")
        }
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

async fn get_reply(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id, reply)): Path<(String, String, String, String)>,
) -> Response {
    let key = (team, channel);
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!(
            "GET /teams/{}/channels/{}/messages/{id}/replies/{reply}",
            key.0, key.1
        ),
    ) {
        return r;
    }
    match msg(&mut s, &key, &id, Some(&reply)).cloned() {
        Some(m) => {
            let v = s.message_json_at(Place::Channel(&key.0, &key.1), &m);
            checked(&mut s, v, "chatMessage")
        }
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such reply"),
    }
}

async fn list_replies(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id)): Path<(String, String, String)>,
) -> Response {
    let key = (team, channel);
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!(
            "GET /teams/{}/channels/{}/messages/{id}/replies",
            key.0, key.1
        ),
    ) {
        return r;
    }
    let mut replies: Vec<TeamsMessage> = s.channels[&key]
        .messages
        .iter()
        .filter(|m| m.reply_to_id.as_deref() == Some(id.as_str()))
        .cloned()
        .collect();
    replies.sort_by_key(|m| std::cmp::Reverse(m.created_ms));
    let items: Vec<Value> = replies
        .iter()
        .map(|m| s.message_json_at(Place::Channel(&key.0, &key.1), m))
        .collect();
    collection(&mut s, items, "chatMessage")
}

impl FakeTeams {
    /// Adds a team.
    pub fn add_team(&self, id: &str, name: &str) {
        self.lock().teams.insert(
            id.to_owned(),
            TeamsTeam {
                name: name.to_owned(),
            },
        );
    }

    /// Adds a standard channel to a team, with its members.
    pub fn add_channel(
        &self,
        team: &str,
        id: &str,
        name: &str,
        description: Option<&str>,
        members: &[&str],
    ) {
        self.lock().channels.insert(
            (team.to_owned(), id.to_owned()),
            TeamsChannel {
                name: name.to_owned(),
                description: description.map(str::to_owned),
                members: members.iter().map(|m| (*m).to_owned()).collect(),
                messages: Vec::new(),
            },
        );
    }

    /// `user` starts a thread in a channel; returns the root's id.
    pub fn post_channel(&self, team: &str, channel: &str, user: &str, html: &str) -> String {
        self.post_in_channel(team, channel, None, user, html)
    }

    /// `user` replies in a channel thread; returns the reply's id.
    pub fn reply_channel(
        &self,
        team: &str,
        channel: &str,
        root: &str,
        user: &str,
        html: &str,
    ) -> String {
        self.post_in_channel(team, channel, Some(root), user, html)
    }

    fn post_in_channel(
        &self,
        team: &str,
        channel: &str,
        root: Option<&str>,
        user: &str,
        html: &str,
    ) -> String {
        let mut s = self.lock();
        let now = s.tick();
        let mut m = TeamsMessage::new(now.to_string(), user, html, now);
        m.reply_to_id = root.map(str::to_owned);
        s.channels
            .get_mut(&(team.to_owned(), channel.to_owned()))
            .expect("channel exists")
            .messages
            .push(m);
        now.to_string()
    }

    /// The messages of a channel (roots and replies), oldest first.
    pub fn channel_messages(&self, team: &str, channel: &str) -> Vec<TeamsMessage> {
        self.lock()
            .channels
            .get(&(team.to_owned(), channel.to_owned()))
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// Waits until `pred` holds for the channel's messages.
    pub async fn wait_for_channel(
        &self,
        team: &str,
        channel: &str,
        timeout: std::time::Duration,
        pred: impl Fn(&[TeamsMessage]) -> bool,
    ) -> anyhow::Result<Vec<TeamsMessage>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msgs = self.channel_messages(team, channel);
            if pred(&msgs) {
                return Ok(msgs);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on Teams channel {channel}; messages: {msgs:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Changes a channel message as its author would: `edit` its text, `delete` it, or
    /// `react` (user, reactionType). `reply` addresses a reply of thread `id`.
    pub fn edit_channel(
        &self,
        team: &str,
        channel: &str,
        id: &str,
        reply: Option<&str>,
        html: &str,
    ) {
        let mut s = self.lock();
        let now = s.tick();
        let m =
            msg(&mut s, &(team.to_owned(), channel.to_owned()), id, reply).expect("message exists");
        m.html = html.to_owned();
        m.edited_ms = Some(now);
        m.modified_ms = now;
    }

    /// Deletes a channel message (or reply) as its author would.
    pub fn delete_channel(&self, team: &str, channel: &str, id: &str, reply: Option<&str>) {
        let mut s = self.lock();
        let now = s.tick();
        let m =
            msg(&mut s, &(team.to_owned(), channel.to_owned()), id, reply).expect("message exists");
        m.deleted_ms = Some(now);
        m.modified_ms = now;
    }

    /// `user` reacts to a channel message (or reply).
    pub fn react_channel(
        &self,
        team: &str,
        channel: &str,
        id: &str,
        reply: Option<&str>,
        user: &str,
        reaction: &str,
    ) {
        let mut s = self.lock();
        let now = s.tick();
        let m =
            msg(&mut s, &(team.to_owned(), channel.to_owned()), id, reply).expect("message exists");
        m.reactions.push((user.to_owned(), reaction.to_owned()));
        m.modified_ms = now;
    }

    /// `by` renames a channel (a system message says so).
    pub fn rename_channel(&self, team: &str, channel: &str, by: &str, name: &str) {
        self.lock()
            .channels
            .get_mut(&(team.to_owned(), channel.to_owned()))
            .expect("channel exists")
            .name = name.to_owned();
        let detail = json!({
            "@odata.type": "#microsoft.graph.channelRenamedEventMessageDetail",
            "channelId": channel, "channelDisplayName": name,
            "initiator": {"user": self.identity_json(by), "application": null, "device": null},
        });
        self.system_message(Place::Channel(team, channel), detail);
    }

    /// `by` changes a channel's description (a system message says so).
    pub fn describe_channel(&self, team: &str, channel: &str, by: &str, description: &str) {
        self.lock()
            .channels
            .get_mut(&(team.to_owned(), channel.to_owned()))
            .expect("channel exists")
            .description = Some(description.to_owned());
        let detail = json!({
            "@odata.type": "#microsoft.graph.channelDescriptionUpdatedEventMessageDetail",
            "channelId": channel, "channelDescription": description,
            "initiator": {"user": self.identity_json(by), "application": null, "device": null},
        });
        self.system_message(Place::Channel(team, channel), detail);
    }

    /// `by` adds `user` to a channel's team (a system message in the channel says so).
    pub fn add_channel_member(&self, team: &str, channel: &str, by: &str, user: &str) {
        self.lock()
            .channels
            .get_mut(&(team.to_owned(), channel.to_owned()))
            .expect("channel exists")
            .members
            .push(user.to_owned());
        let detail = json!({
            "@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
            "visibleHistoryStartDateTime": iso(0),
            "members": [self.identity_json(user)],
            "initiator": {"user": self.identity_json(by), "application": null, "device": null},
        });
        self.system_message(Place::Channel(team, channel), detail);
    }
}
