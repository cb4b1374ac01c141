//! A channel's writes: posting roots and replies, editing, deleting and reacting, and the
//! inline images (hosted contents) of a message (see the parent module for the reads).

use super::*;

fn post_in(
    state: &Shared,
    headers: &HeaderMap,
    key: Key,
    root: Option<String>,
    body: &Value,
) -> Response {
    let mut s = state.lock().expect("state");
    let what = match &root {
        None => format!("POST /teams/{}/channels/{}/messages", key.0, key.1),
        Some(r) => format!(
            "POST /teams/{}/channels/{}/messages/{r}/replies",
            key.0, key.1
        ),
    };
    let user = match member(&mut s, headers, &key, what) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Some(r) = &root
        && msg(&mut s, &key, r, None).is_none()
    {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such thread");
    }
    let posted = match read_posted(&mut s, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = s.tick();
    let mut m = message_from(now.to_string(), &user, posted, now);
    m.reply_to_id = root;
    s.channels
        .get_mut(&key)
        .expect("checked")
        .messages
        .push(m.clone());
    let v = s.message_json_at(Place::Channel(&key.0, &key.1), &m);
    let found = csdl::Csdl::graph().check(&v, "chatMessage");
    s.violations.extend(found);
    (StatusCode::CREATED, Json(v)).into_response()
}

pub(super) async fn post_root(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path(key): Path<Key>,
    Json(body): Json<Value>,
) -> Response {
    post_in(&state, &headers, key, None, &body)
}

pub(super) async fn post_reply(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    post_in(&state, &headers, (team, channel), Some(id), &body)
}

fn patch_in(
    state: &Shared,
    headers: &HeaderMap,
    key: Key,
    id: String,
    reply: Option<String>,
    body: &Value,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match member(
        &mut s,
        headers,
        &key,
        format!(
            "PATCH /teams/{}/channels/{}/messages/{id}{}",
            key.0,
            key.1,
            reply
                .as_deref()
                .map(|r| format!("/replies/{r}"))
                .unwrap_or_default()
        ),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let posted = match read_posted(&mut s, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = s.tick();
    match msg(&mut s, &key, &id, reply.as_deref()) {
        Some(m) if m.from == user => {
            m.html = posted.html;
            m.mentions = posted.mentions;
            m.edited_ms = Some(now);
            m.modified_ms = now;
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => graph_error(StatusCode::FORBIDDEN, "Forbidden", "only the author edits"),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

pub(super) async fn patch_root(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    patch_in(&state, &headers, (team, channel), id, None, &body)
}

pub(super) async fn patch_reply(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id, reply)): Path<(String, String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    patch_in(&state, &headers, (team, channel), id, Some(reply), &body)
}

fn act(
    state: &Shared,
    headers: &HeaderMap,
    key: Key,
    id: String,
    reply: Option<String>,
    action: String,
    body: Option<Value>,
) -> Response {
    let mut s = state.lock().expect("state");
    let user = match member(
        &mut s,
        headers,
        &key,
        format!(
            "POST /teams/{}/channels/{}/messages/{id}{}/{action}",
            key.0,
            key.1,
            reply
                .as_deref()
                .map(|r| format!("/replies/{r}"))
                .unwrap_or_default()
        ),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let now = s.tick();
    let reaction = body
        .as_ref()
        .and_then(|b| b["reactionType"].as_str())
        .map(str::to_owned);
    let Some(m) = msg(&mut s, &key, &id, reply.as_deref()) else {
        return graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message");
    };
    match (action.as_str(), reaction) {
        ("softDelete", _) if m.from == user => m.deleted_ms = Some(now),
        ("softDelete", _) => {
            return graph_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "only the author deletes",
            );
        }
        ("setReaction", Some(r)) => {
            if !m.reactions.iter().any(|(u, x)| *u == user && *x == r) {
                m.reactions.push((user, r));
            }
        }
        ("unsetReaction", Some(r)) => m.reactions.retain(|(u, x)| !(*u == user && *x == r)),
        _ => return bad_request("unknown action"),
    }
    m.modified_ms = now;
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn root_action(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id, action)): Path<(String, String, String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    act(
        &state,
        &headers,
        (team, channel),
        id,
        None,
        action,
        body.map(|b| b.0),
    )
}

pub(super) async fn reply_action(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id, reply, action)): Path<(String, String, String, String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    act(
        &state,
        &headers,
        (team, channel),
        id,
        Some(reply),
        action,
        body.map(|b| b.0),
    )
}

pub(super) async fn root_hosted(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id, hosted, value)): Path<(String, String, String, String, String)>,
) -> Response {
    let key = (team, channel);
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!(
            "GET /teams/{}/channels/{}/messages/{id}/hostedContents/{hosted}/{value}",
            key.0, key.1
        ),
    ) {
        return r;
    }
    match msg(&mut s, &key, &id, None) {
        Some(m) => hosted_value(m, &hosted, &value),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such message"),
    }
}

pub(super) async fn reply_hosted(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    Path((team, channel, id, reply, hosted, value)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
) -> Response {
    let key = (team, channel);
    let mut s = state.lock().expect("state");
    if let Err(r) = member(
        &mut s,
        &headers,
        &key,
        format!(
            "GET /teams/{}/channels/{}/messages/{id}/replies/{reply}/hostedContents/{hosted}/{value}",
            key.0, key.1
        ),
    ) {
        return r;
    }
    match msg(&mut s, &key, &id, Some(&reply)) {
        Some(m) => hosted_value(m, &hosted, &value),
        None => graph_error(StatusCode::NOT_FOUND, "NotFound", "no such reply"),
    }
}
