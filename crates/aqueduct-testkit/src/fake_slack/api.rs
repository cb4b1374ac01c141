//! The Web API (`/api/{method}`) and the fake's route table.

use super::{
    AnswerFault, BOT_ID, BOT_USER_ID, MAX_TEXT_LEN, Msg, RecordedRequest, Shared, State,
    StoredFile, TEAM_ID, TEAM_NAME, TokenKind, guess_mime, now_secs, ts_key, uuid_like,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Map, Value, json};
use std::sync::Arc;

type Sh = Arc<Shared>;
type ApiResult = Result<Value, String>;

pub(crate) fn router(shared: Sh) -> Router {
    Router::new()
        .route("/api/{method}", any(api))
        .route("/api/oauth.v2.access", any(super::oauth::access))
        .route("/oauth/v2/authorize", get(super::oauth::authorize))
        .route("/upload/v1/{file_id}", post(super::files_http::upload))
        .route(
            "/files-pri/{file_id}/{name}",
            get(super::files_http::download),
        )
        .route(
            "/files-pri/{file_id}/download/{name}",
            get(super::files_http::download),
        )
        .route("/avatars/{name}", get(super::files_http::avatar))
        .route("/emoji/{team}/{name}/{file}", get(super::emoji::image))
        .route("/socket", get(super::socket::socket))
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(shared)
}

fn parse_form(s: &str, into: &mut Map<String, Value>) {
    for (k, v) in url::form_urlencoded::parse(s.as_bytes()) {
        into.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, tok) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| tok.trim().to_string())
}

fn slack_json(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

async fn api(
    AxState(sh): AxState<Sh>,
    Path(method): Path<String>,
    verb: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match answer(&sh, method, verb, headers, query, body) {
        Some(r) => r,
        // A stalled answer: the call was carried out, but nothing ever comes back.
        None => std::future::pending().await,
    }
}

/// Carries out one Web API call; `None` when its answer stalls (see `FakeSlack::stall_answers`).
fn answer(
    sh: &Sh,
    method: String,
    verb: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
) -> Option<Response> {
    let mut params = Map::new();
    let mut encoding = "none";
    if let Some(q) = &query
        && !q.is_empty()
    {
        parse_form(q, &mut params);
        encoding = "query";
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !body.is_empty() {
        if ctype.starts_with("application/json") {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(o)) => {
                    params.extend(o);
                    encoding = "json";
                }
                _ => return Some(slack_json(json!({"ok": false, "error": "invalid_json"}))),
            }
        } else if ctype.is_empty() || ctype.starts_with("application/x-www-form-urlencoded") {
            parse_form(&String::from_utf8_lossy(&body), &mut params);
            encoding = "form";
        } else {
            return Some(slack_json(
                json!({"ok": false, "error": "invalid_form_data"}),
            ));
        }
    }
    let token = bearer(&headers).or_else(|| params.get("token")?.as_str().map(str::to_string));

    let mut st = sh.lock();
    let kind = match &token {
        None => TokenKind::Missing,
        Some(t) => st.tokens.get(t).cloned().unwrap_or(TokenKind::Invalid),
    };
    st.requests.push(RecordedRequest {
        method: method.clone(),
        http_method: verb.to_string(),
        params: Value::Object(params.clone()),
        encoding: encoding.to_string(),
        token_kind: kind.clone(),
        received_at: std::time::Instant::now(),
    });
    if let Some((left, secs)) = st.rate_limits.get_mut(&method)
        && *left > 0
    {
        *left -= 1;
        let secs = *secs;
        drop(st);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            slack_json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&secs.to_string()).expect("digits"),
        );
        return Some(r);
    }
    let result = dispatch(&mut st, &method, &params, &kind);
    let fault = match st.answer_faults.get_mut(&method) {
        Some((left, fault)) if *left > 0 => {
            *left -= 1;
            Some(*fault)
        }
        _ => None,
    };
    drop(st);
    sh.changed();
    match fault {
        Some(AnswerFault::Lose) => return Some(lost_answer()),
        Some(AnswerFault::Stall) => return None,
        None => {}
    }
    Some(match result {
        Ok(Value::Object(mut o)) => {
            let mut out = Map::new();
            out.insert("ok".into(), json!(true));
            out.append(&mut o);
            slack_json(Value::Object(out))
        }
        Ok(_) => slack_json(json!({"ok": true})),
        Err(e) => slack_json(json!({"ok": false, "error": e})),
    })
}

/// An answer whose body breaks off after a few bytes: the server drops the connection, and
/// the caller cannot tell whether the call was carried out.
fn lost_answer() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"ok\":")),
        Err(std::io::Error::other("the fake lost this answer")),
    ];
    let mut r = Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
        chunks,
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Message metadata as `chat.postMessage` takes it (a JSON string in a form body, an object
/// in a JSON body): an object with a string `event_type` and an object `event_payload`
/// (https://docs.slack.dev/messaging/message-metadata).
fn p_metadata(p: &Map<String, Value>) -> Result<Option<Value>, String> {
    let metadata = p_json(p, "metadata").map_err(|_| "invalid_metadata_format".to_string())?;
    match &metadata {
        None => Ok(None),
        Some(m) if m["event_type"].is_string() && m["event_payload"].is_object() => Ok(metadata),
        Some(_) => Err("invalid_metadata_schema".into()),
    }
}

/// A message of `conversations.history` / `conversations.replies`, with its metadata when the
/// caller asked for it (`include_all_metadata`), as Slack does.
fn listed(st: &State, ch: &super::Channel, m: &Msg, with_metadata: bool) -> Value {
    let mut v = st.msg_json(ch, m, true);
    if with_metadata && let Some(metadata) = &m.metadata {
        v["metadata"] = metadata.clone();
    }
    v
}

/// Who is calling: user id and whether it is the bot.
struct Caller {
    user: String,
    bot: bool,
}

fn p_str(p: &Map<String, Value>, k: &str) -> Option<String> {
    match p.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn p_bool(p: &Map<String, Value>, k: &str) -> bool {
    match p.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn p_usize(p: &Map<String, Value>, k: &str) -> Option<usize> {
    p_str(p, k)?.parse().ok()
}

/// A JSON parameter that form bodies carry as a JSON string.
fn p_json(p: &Map<String, Value>, k: &str) -> Result<Option<Value>, String> {
    match p.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| format!("invalid_{k}")),
        Some(v) => Ok(Some(v.clone())),
    }
}

fn cursor_offset(p: &Map<String, Value>) -> usize {
    p_str(p, "cursor")
        .and_then(|c| c.strip_prefix("bmV4dF9").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn cursor_for(offset: usize) -> String {
    format!("bmV4dF9{offset}")
}

/// The conversation named by `channel` if the caller may read it.
fn readable(st: &State, p: &Map<String, Value>, key: &str, c: &Caller) -> Result<String, String> {
    let id = p_str(p, key).ok_or("channel_not_found")?;
    let id = st
        .resolve_channel(&id, &c.user)
        .ok_or("channel_not_found")?;
    let ch = &st.channels[&id];
    if ch.private && !ch.members.contains(&c.user) {
        return Err("channel_not_found".into());
    }
    Ok(id)
}

/// The conversation named by `channel` if the caller is a member.
fn member(st: &State, p: &Map<String, Value>, key: &str, c: &Caller) -> Result<String, String> {
    let id = readable(st, p, key, c)?;
    if !st.channels[&id].members.contains(&c.user) {
        return Err("not_in_channel".into());
    }
    Ok(id)
}

fn is_author(m: &Msg, c: &Caller) -> bool {
    if c.bot {
        m.bot_id.as_deref() == Some(BOT_ID)
    } else {
        m.bot_id.is_none() && m.user == c.user
    }
}

fn dispatch(st: &mut State, method: &str, p: &Map<String, Value>, kind: &TokenKind) -> ApiResult {
    let caller = match kind {
        TokenKind::Missing => return Err("not_authed".into()),
        TokenKind::Invalid => return Err("invalid_auth".into()),
        TokenKind::Revoked => return Err("token_revoked".into()),
        TokenKind::App if method == "apps.event.authorizations.list" => {
            return event_authorizations(st, p);
        }
        TokenKind::App if method == "apps.connections.open" => None,
        TokenKind::App => return Err("not_allowed_token_type".into()),
        TokenKind::Bot | TokenKind::User(_) if method == "apps.connections.open" => {
            return Err("not_allowed_token_type".into());
        }
        TokenKind::Bot => Some(Caller {
            user: BOT_USER_ID.into(),
            bot: true,
        }),
        TokenKind::User(u) => Some(Caller {
            user: u.clone(),
            bot: false,
        }),
    };
    let Some(c) = caller else {
        let ticket = uuid_like();
        st.tickets.insert(ticket.clone());
        return Ok(json!({
            "url": format!("ws://127.0.0.1:{}/socket?ticket={ticket}&app_id={}", st.port, super::APP_ID)
        }));
    };
    match method {
        "auth.test" => {
            let name = st
                .users
                .get(&c.user)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            let mut o = json!({
                "url": "https://fake.slack.com/", "team": TEAM_NAME, "user": name,
                "team_id": TEAM_ID, "user_id": c.user, "is_enterprise_install": false,
            });
            if c.bot {
                o["bot_id"] = json!(BOT_ID);
            }
            Ok(o)
        }
        "conversations.info" => {
            let id = readable(st, p, "channel", &c)?;
            let ch = &st.channels[&id];
            let mut info = st.channel_json(ch, &c.user);
            if p_bool(p, "include_num_members") && ch.im_user.is_none() {
                info["num_members"] = json!(ch.members.len());
            }
            Ok(json!({ "channel": info }))
        }
        "conversations.members" => {
            let id = readable(st, p, "channel", &c)?;
            let members = &st.channels[&id].members;
            let off = cursor_offset(p);
            let limit = p_usize(p, "limit").filter(|l| *l > 0).unwrap_or(100);
            let page: Vec<&String> = members.iter().skip(off).take(limit).collect();
            let next = if off + limit < members.len() {
                cursor_for(off + limit)
            } else {
                String::new()
            };
            Ok(json!({"members": page, "response_metadata": {"next_cursor": next}}))
        }
        "conversations.history" => {
            let id = member(st, p, "channel", &c)?;
            let ch = &st.channels[&id];
            let latest = p_str(p, "latest")
                .and_then(|t| ts_key(&t))
                .unwrap_or(u64::MAX);
            let oldest = p_str(p, "oldest").and_then(|t| ts_key(&t)).unwrap_or(0);
            let inclusive = p_bool(p, "inclusive");
            let with_metadata = p_bool(p, "include_all_metadata");
            let in_range = |k: u64| {
                if inclusive {
                    k >= oldest && k <= latest
                } else {
                    k > oldest && k < latest
                }
            };
            let mut list: Vec<Value> = Vec::new();
            for m in ch.messages.iter().rev() {
                let top = m.thread_ts.as_deref().is_none_or(|t| t == m.ts)
                    || m.subtype.as_deref() == Some("thread_broadcast");
                if !top || !in_range(ts_key(&m.ts).unwrap_or(0)) {
                    continue;
                }
                if m.deleted {
                    let has_replies = ch.messages.iter().any(|r| {
                        r.thread_ts.as_deref() == Some(&m.ts) && r.ts != m.ts && !r.deleted
                    });
                    if has_replies {
                        let mut t = st.msg_json(ch, m, true);
                        t["subtype"] = json!("tombstone");
                        t["text"] = json!("This message was deleted.");
                        t["user"] = json!("USLACKBOT");
                        t["hidden"] = json!(true);
                        if let Some(o) = t.as_object_mut() {
                            for k in ["files", "reactions", "bot_id", "bot_profile", "blocks"] {
                                o.remove(k);
                            }
                        }
                        list.push(t);
                    }
                    continue;
                }
                list.push(listed(st, ch, m, with_metadata));
            }
            page(list, p, 100, st.page_cap)
        }
        "conversations.replies" => {
            let id = member(st, p, "channel", &c)?;
            let ts = p_str(p, "ts").ok_or("thread_not_found")?;
            let ch = &st.channels[&id];
            let m = ch.find(&ts).ok_or("thread_not_found")?;
            let root = m.thread_ts.clone().unwrap_or(ts.clone());
            let latest = p_str(p, "latest")
                .and_then(|t| ts_key(&t))
                .unwrap_or(u64::MAX);
            let oldest = p_str(p, "oldest").and_then(|t| ts_key(&t)).unwrap_or(0);
            let inclusive = p_bool(p, "inclusive");
            let with_metadata = p_bool(p, "include_all_metadata");
            let mut list = Vec::new();
            for r in &ch.messages {
                let in_thread = r.ts == root || r.thread_ts.as_deref() == Some(root.as_str());
                if !in_thread || (r.deleted && r.ts != root) {
                    continue;
                }
                if r.ts != root {
                    let k = ts_key(&r.ts).unwrap_or(0);
                    let ok = if inclusive {
                        k >= oldest && k <= latest
                    } else {
                        k > oldest && k < latest
                    };
                    if !ok {
                        continue;
                    }
                }
                list.push(listed(st, ch, r, with_metadata));
            }
            if m.thread_ts.is_none() {
                list.truncate(1);
            }
            page(list, p, 1000, st.page_cap)
        }
        "users.info" => {
            let id = p_str(p, "user").ok_or("user_not_found")?;
            let u = st.users.get(&id).ok_or("user_not_found")?;
            Ok(json!({ "user": st.user_json(u) }))
        }
        "chat.postMessage" => {
            let id = p_str(p, "channel").ok_or("channel_not_found")?;
            let id = st
                .resolve_channel(&id, &c.user)
                .ok_or("channel_not_found")?;
            let mut q = p.clone();
            q.insert("channel".into(), json!(id));
            let id = member(st, &q, "channel", &c)?;
            let text = p_str(p, "text").unwrap_or_default();
            if text.chars().count() > MAX_TEXT_LEN {
                return Err("msg_too_long".into());
            }
            let blocks = p_json(p, "blocks")?;
            let attachments = p_json(p, "attachments")?;
            let metadata = p_metadata(p)?;
            if text.is_empty() && blocks.is_none() && attachments.is_none() {
                return Err("no_text".into());
            }
            let username = p_str(p, "username").filter(|s| !s.is_empty());
            let icon_url = p_str(p, "icon_url").filter(|s| !s.is_empty());
            let icon_emoji = p_str(p, "icon_emoji").filter(|s| !s.is_empty());
            let thread_ts = p_str(p, "thread_ts").filter(|s| !s.is_empty());
            let broadcast = thread_ts.is_some() && p_bool(p, "reply_broadcast");
            let overridden =
                c.bot && (username.is_some() || icon_url.is_some() || icon_emoji.is_some());
            let subtype = if overridden {
                Some("bot_message".to_string())
            } else if broadcast {
                Some("thread_broadcast".to_string())
            } else {
                None
            };
            let mut extra = Map::new();
            if let Some(a) = attachments {
                extra.insert("attachments".into(), a);
            }
            let msg = Msg {
                user: c.user.clone(),
                bot_id: c.bot.then(|| BOT_ID.to_string()),
                text,
                thread_ts,
                username: username.filter(|_| c.bot),
                icon_url: icon_url.filter(|_| c.bot),
                subtype,
                blocks,
                metadata,
                extra,
                ..Default::default()
            };
            let ts = st.add_message(&id, msg);
            let ch = &st.channels[&id];
            let m = st.msg_json(ch, ch.find(&ts).expect("just added"), true);
            Ok(json!({"channel": id, "ts": ts, "message": m}))
        }
        "chat.update" => {
            let id = readable(st, p, "channel", &c)?;
            let ts = p_str(p, "ts").ok_or("message_not_found")?;
            let m = st.channels[&id]
                .find(&ts)
                .filter(|m| !m.deleted)
                .ok_or("message_not_found")?;
            if !is_author(m, &c) {
                return Err("cant_update_message".into());
            }
            let text = p_str(p, "text").unwrap_or_else(|| m.text.clone());
            if text.chars().count() > MAX_TEXT_LEN {
                return Err("msg_too_long".into());
            }
            let blocks = p_json(p, "blocks")?;
            if let Some(b) = blocks
                && let Some(m) = st.channels.get_mut(&id).and_then(|c| c.find_mut(&ts))
            {
                m.blocks = Some(b);
            }
            let msg = st
                .edit_message(&id, &ts, &text, &c.user)
                .ok_or("message_not_found")?;
            Ok(json!({"channel": id, "ts": ts, "text": text, "message": msg}))
        }
        "chat.delete" => {
            let id = readable(st, p, "channel", &c)?;
            let ts = p_str(p, "ts").ok_or("message_not_found")?;
            let m = st.channels[&id]
                .find(&ts)
                .filter(|m| !m.deleted)
                .ok_or("message_not_found")?;
            if !is_author(m, &c) {
                return Err("cant_delete_message".into());
            }
            st.delete_message(&id, &ts);
            Ok(json!({"channel": id, "ts": ts}))
        }
        "reactions.add" | "reactions.remove" => {
            let id = readable(st, p, "channel", &c)?;
            let ts = p_str(p, "timestamp").ok_or("no_item_specified")?;
            let name = p_str(p, "name").unwrap_or_default();
            let valid = !name.is_empty()
                && !name.starts_with(':')
                && !name.ends_with(':')
                && name.chars().all(|ch| {
                    ch.is_ascii_lowercase()
                        || ch.is_ascii_digit()
                        || "_+-'".contains(ch)
                        || ch == ':'
                });
            if !valid {
                return Err("invalid_name".into());
            }
            st.react(&id, &ts, &c.user, &name, method == "reactions.add")
                .map_err(str::to_string)?;
            Ok(json!({}))
        }
        "emoji.list" => Ok(st.custom_emoji.list()),
        "apps.event.authorizations.list" => Err("not_allowed_token_type".into()),
        "conversations.mark" => {
            if c.bot {
                return Err("not_allowed_token_type".into());
            }
            let id = member(st, p, "channel", &c)?;
            let ts = p_str(p, "ts").ok_or("invalid_timestamp")?;
            if ts_key(&ts).is_none() {
                return Err("invalid_timestamp".into());
            }
            st.last_read.insert((id, c.user.clone()), ts);
            Ok(json!({}))
        }
        "conversations.setTopic" => {
            let id = member(st, p, "channel", &c)?;
            let topic = p_str(p, "topic").unwrap_or_default();
            if topic.chars().count() > 250 {
                return Err("too_long".into());
            }
            if st.channels[&id].im_user.is_some() {
                return Err("method_not_supported_for_channel_type".into());
            }
            st.set_topic(&id, &c.user, &topic);
            Ok(json!({ "channel": st.channel_json(&st.channels[&id], &c.user) }))
        }
        "conversations.rename" => {
            let id = member(st, p, "channel", &c)?;
            let name = p_str(p, "name").unwrap_or_default();
            validate_channel_name(&name)?;
            if st
                .channels
                .values()
                .any(|ch| ch.name == name && ch.id != id)
            {
                return Err("name_taken".into());
            }
            if st.channels[&id].im_user.is_some() {
                return Err("method_not_supported_for_channel_type".into());
            }
            st.rename(&id, &c.user, &name);
            Ok(json!({ "channel": st.channel_json(&st.channels[&id], &c.user) }))
        }
        "conversations.invite" => {
            let id = member(st, p, "channel", &c)?;
            if st.channels[&id].im_user.is_some() {
                return Err("method_not_supported_for_channel_type".into());
            }
            let users = p_str(p, "users").ok_or("no_user")?;
            for user in users.split(',').filter(|u| !u.is_empty()) {
                if user == c.user {
                    return Err("cant_invite_self".into());
                }
                if !st.users.contains_key(user) {
                    return Err("user_not_found".into());
                }
                if st.channels[&id].members.iter().any(|m| m == user) {
                    return Err("already_in_channel".into());
                }
            }
            for user in users.split(',').filter(|u| !u.is_empty()) {
                st.member_join(&id, user, Some(&c.user));
            }
            Ok(json!({ "channel": st.channel_json(&st.channels[&id], &c.user) }))
        }
        "conversations.kick" => {
            let id = member(st, p, "channel", &c)?;
            let user = p_str(p, "user").ok_or("user_not_found")?;
            if user == c.user {
                return Err("cant_kick_self".into());
            }
            if !st.member_leave(&id, &user) {
                return Err("not_in_channel".into());
            }
            Ok(json!({}))
        }
        "files.delete" => {
            let file = p_str(p, "file").ok_or("file_not_found")?;
            let owner = st.files.get(&file).ok_or("file_not_found")?.user.clone();
            if owner != c.user {
                return Err("cant_delete_file".into());
            }
            st.files.remove(&file);
            Ok(json!({}))
        }
        "files.getUploadURLExternal" => {
            let filename = p_str(p, "filename")
                .filter(|s| !s.is_empty())
                .ok_or("invalid_arguments")?;
            let length: u64 = p_str(p, "length")
                .and_then(|l| l.parse().ok())
                .ok_or("invalid_arguments")?;
            let id = st.next_id("F");
            st.files.insert(
                id.clone(),
                StoredFile {
                    id: id.clone(),
                    mime: guess_mime(&filename).to_string(),
                    title: filename.clone(),
                    name: filename,
                    length,
                    bytes: None,
                    user: c.user.clone(),
                    created: now_secs(),
                },
            );
            Ok(json!({"upload_url": format!("{}/upload/v1/{id}", st.root()), "file_id": id}))
        }
        "files.completeUploadExternal" => {
            let files = p_json(p, "files")?.ok_or("invalid_arguments")?;
            let files = files.as_array().ok_or("invalid_arguments")?.clone();
            if files.is_empty() {
                return Err("invalid_arguments".into());
            }
            let mut ids = Vec::new();
            for f in &files {
                let fid = f
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or("invalid_arguments")?;
                let stored = st.files.get(fid).ok_or("file_not_found")?;
                if stored.bytes.is_none() {
                    return Err("file_upload_not_found".into());
                }
                ids.push((fid.to_string(), f.get("title").and_then(Value::as_str)));
            }
            let channel = p_str(p, "channel_id").or_else(|| {
                p_str(p, "channels").and_then(|cs| cs.split(',').next().map(str::to_string))
            });
            let channel = match channel {
                Some(ch) => {
                    let mut q = Map::new();
                    q.insert("channel".into(), json!(ch));
                    Some(member(st, &q, "channel", &c)?)
                }
                None => None,
            };
            for (fid, title) in &ids {
                if let (Some(t), Some(f)) = (title, st.files.get_mut(fid)) {
                    f.title = t.to_string();
                }
            }
            if let Some(ch) = &channel {
                let msg = Msg {
                    user: c.user.clone(),
                    bot_id: c.bot.then(|| BOT_ID.to_string()),
                    text: p_str(p, "initial_comment").unwrap_or_default(),
                    thread_ts: p_str(p, "thread_ts").filter(|s| !s.is_empty()),
                    subtype: Some("file_share".into()),
                    files: ids.iter().map(|(f, _)| f.clone()).collect(),
                    ..Default::default()
                };
                st.add_message(ch, msg);
            }
            let out: Vec<Value> = ids
                .iter()
                .filter_map(|(f, _)| st.files.get(f))
                .map(|f| st.file_json(f))
                .collect();
            Ok(json!({ "files": out }))
        }
        _ => Err("unknown_method".into()),
    }
}

/// `apps.event.authorizations.list` (app-level token): every installation an event is
/// visible to, named by the `event_context` of its wrapper: the bot where it is a member, and
/// each member who authorized the app with user scopes.
fn event_authorizations(st: &State, p: &Map<String, Value>) -> ApiResult {
    let context = p_str(p, "event_context").ok_or("invalid_arguments")?;
    let decoded = context
        .strip_prefix("4-")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or("invalid_event_context")?;
    let mut authorizations = Vec::new();
    let entry = |user: &str, is_bot: bool| {
        json!({"enterprise_id": null, "team_id": TEAM_ID, "user_id": user, "is_bot": is_bot,
               "is_enterprise_install": false})
    };
    if let Some(ch) = decoded["cid"].as_str().and_then(|c| st.channels.get(c)) {
        if st.bot_in(ch) {
            authorizations.push(entry(BOT_USER_ID, true));
        }
        for m in ch.members.iter().filter(|m| st.authorized(m)) {
            authorizations.push(entry(m, false));
        }
    } else {
        authorizations.push(entry(BOT_USER_ID, true));
    }
    Ok(json!({"authorizations": authorizations, "response_metadata": {"next_cursor": ""}}))
}

fn page(
    list: Vec<Value>,
    p: &Map<String, Value>,
    default_limit: usize,
    cap: Option<usize>,
) -> ApiResult {
    let off = cursor_offset(p);
    let limit = p_usize(p, "limit")
        .filter(|l| *l > 0)
        .unwrap_or(default_limit)
        .min(999)
        .min(cap.unwrap_or(usize::MAX));
    let total = list.len();
    let page: Vec<Value> = list.into_iter().skip(off).take(limit).collect();
    let has_more = off + limit < total;
    let next = if has_more {
        cursor_for(off + limit)
    } else {
        String::new()
    };
    Ok(json!({
        "messages": page, "has_more": has_more, "pin_count": 0,
        "response_metadata": {"next_cursor": next},
    }))
}

fn validate_channel_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("invalid_name_required".into());
    }
    if name.chars().count() > 80 {
        return Err("invalid_name_maxlength".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err("invalid_name_specials".into());
    }
    if name.chars().all(|c| c == '-' || c == '_') {
        return Err("invalid_name_punctuation".into());
    }
    Ok(())
}
