//! The appservice API the homeserver calls: transactions, user and alias queries, ping.
//! Every answer carries `Content-Length` (Synapse treats a response without it as failed).
//!
//! A transaction the bridge refuses is retried by the homeserver forever and holds up every
//! later event, so the transaction endpoint refuses only what no homeserver sends: a wrong
//! token, a body that is not a JSON object, a body over the size limit (far above what a
//! homeserver puts in one transaction, see [`DEFAULT_MAX_TRANSACTION_BYTES`]). One bad event
//! inside a good transaction (too deeply nested for the JSON parser, not an object, a number
//! out of range) is skipped and logged, and the rest is stored.

use crate::auth::tokens_match;
use crate::transaction_key::transaction_key;
use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use ruma::api::IncomingRequest;
use ruma::api::appservice::event::push_events;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The default limit on a request body to the appservice API, in bytes: 32 MiB. A Synapse
/// transaction holds at most 100 room events (each at most 64 KiB) plus ephemeral events and
/// to-device messages, about 7 MiB at worst; axum's own default (2 MB) would refuse such a
/// transaction with 413, which Synapse retries forever.
pub const DEFAULT_MAX_TRANSACTION_BYTES: usize = 32 * 1024 * 1024;

/// What the appservice server asks of the bridge.
#[async_trait]
pub trait AppserviceHandler: Send + Sync + 'static {
    /// Stores a transaction's events durably, each as (room id, event JSON), and returns once
    /// they are safe. `txn_id` is the transaction's id and a digest of its room events
    /// (`transaction_key.rs`: homeservers reuse ids after a restart), so a repeated `txn_id`
    /// is a retry: it must succeed without storing anything. `Err` makes the homeserver retry
    /// the transaction later.
    async fn receive_transaction(
        &self,
        txn_id: &str,
        events: Vec<(Option<String>, String)>,
    ) -> Result<(), String>;
    /// Sees the whole parsed transaction before its events are stored: encryption reads its
    /// to-device messages (MSC2409), device-list changes and one-time-key counts (MSC3202) and
    /// the membership and encryption state of rooms from here. Must not fail the push: what it
    /// cannot use it logs. The default ignores the transaction.
    async fn observe_transaction(&self, _transaction: &push_events::v1::Request) {}
    /// Whether `user_id` exists (or can be created) in the bridge's namespace.
    async fn query_user(&self, user_id: &str) -> bool;
    /// Whether room alias `alias` exists (or can be created) in the bridge's namespace.
    async fn query_room_alias(&self, alias: &str) -> bool;
}

#[derive(Clone)]
struct ServerState {
    handler: Arc<dyn AppserviceHandler>,
    hs_token: Arc<str>,
}

/// The appservice routes, both the `/_matrix/app/v1` ones and the legacy unprefixed ones,
/// taking bodies up to [`DEFAULT_MAX_TRANSACTION_BYTES`].
pub fn router(handler: Arc<dyn AppserviceHandler>, hs_token: &str) -> Router {
    router_with_limit(handler, hs_token, DEFAULT_MAX_TRANSACTION_BYTES)
}

/// [`router`] taking request bodies up to `max_body_bytes` (larger ones get 413). The limit
/// covers only these routes, not routes added to the returned router later.
pub fn router_with_limit(
    handler: Arc<dyn AppserviceHandler>,
    hs_token: &str,
    max_body_bytes: usize,
) -> Router {
    let state = ServerState {
        handler,
        hs_token: Arc::from(hs_token),
    };
    Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn_id}",
            put(put_transaction),
        )
        .route("/transactions/{txn_id}", put(put_transaction))
        .route("/_matrix/app/v1/users/{user_id}", get(get_user))
        .route("/users/{user_id}", get(get_user))
        .route("/_matrix/app/v1/rooms/{alias}", get(get_room_alias))
        .route("/rooms/{alias}", get(get_room_alias))
        .route("/_matrix/app/v1/ping", post(post_ping))
        .fallback(unknown_route)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// A JSON response with an explicit `Content-Length`.
fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let body = serde_json::to_vec(&value).expect("JSON values serialize");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("valid response")
}

fn error(status: StatusCode, errcode: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "errcode": errcode, "error": message }),
    )
}

/// Checks the homeserver's token from `Authorization: Bearer` or the legacy `access_token`
/// query parameter. `Err` is the response to send.
fn authorize(
    state: &ServerState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), Box<Response>> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    match from_header.or(from_query) {
        None => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "no homeserver token in the request",
        ))),
        Some(t) if tokens_match(&t, &state.hs_token) => Ok(()),
        Some(_) => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "the homeserver token is wrong",
        ))),
    }
}

/// # PUT /_matrix/app/v1/transactions/{txnId}
async fn put_transaction(
    State(state): State<ServerState>,
    Path(txn_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&state, &headers, query.as_deref()) {
        return *r;
    }
    let txn = match LenientTransaction::parse(&body) {
        Ok(t) => t,
        Err(why) => {
            return error(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                &format!("the transaction body is not valid: {why}"),
            );
        }
    };
    if txn.skipped > 0 {
        tracing::warn!(
            txn_id,
            skipped = txn.skipped,
            "skipped malformed events in a transaction; the rest is stored"
        );
    }
    match txn.typed(&txn_id, headers) {
        Some(parsed) => state.handler.observe_transaction(&parsed).await,
        None => tracing::warn!(
            txn_id,
            "the transaction's extra fields are malformed; its to-device and device-list data are ignored"
        ),
    }
    let key = transaction_key(&txn_id, &txn.timeline, &txn.ephemeral);
    // The order the homeserver delivered events in, for telling its reordering from the
    // bridge's (the chaos suite reads it); only built when someone listens.
    let delivered = tracing::enabled!(tracing::Level::DEBUG).then(|| event_ids(&txn.timeline));
    let events = txn.events;
    match state.handler.receive_transaction(&key, events).await {
        Ok(()) => {
            if let Some(ids) = delivered {
                tracing::debug!(txn_id, event_ids = %ids, "transaction stored");
            }
            json(StatusCode::OK, serde_json::json!({}))
        }
        Err(e) => {
            tracing::error!(txn_id, error = %e, "could not store a transaction; the homeserver will retry it");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "M_UNKNOWN",
                "could not store the transaction; retry later",
            )
        }
    }
}

/// The ids of a transaction's room events, comma-separated, in the transaction's order.
fn event_ids(timeline: &[Box<RawValue>]) -> String {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        event_id: Option<std::borrow::Cow<'a, str>>,
    }
    timeline
        .iter()
        .filter_map(|raw| serde_json::from_str::<Id>(raw.get()).ok()?.event_id)
        .collect::<Vec<_>>()
        .join(",")
}

/// # GET /_matrix/app/v1/users/{userId}
async fn get_user(
    State(state): State<ServerState>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&state, &headers, query.as_deref()) {
        return *r;
    }
    exists_answer(state.handler.query_user(&user_id).await, "user")
}

/// # GET /_matrix/app/v1/rooms/{roomAlias}
async fn get_room_alias(
    State(state): State<ServerState>,
    Path(alias): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&state, &headers, query.as_deref()) {
        return *r;
    }
    exists_answer(state.handler.query_room_alias(&alias).await, "room alias")
}

/// 200 `{}` when the queried user or alias exists, else 404 `M_NOT_FOUND`.
fn exists_answer(exists: bool, what: &str) -> Response {
    if exists {
        json(StatusCode::OK, serde_json::json!({}))
    } else {
        error(
            StatusCode::NOT_FOUND,
            "M_NOT_FOUND",
            &format!("no such {what} in this bridge's namespace"),
        )
    }
}

/// # POST /_matrix/app/v1/ping
async fn post_ping(
    State(state): State<ServerState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&state, &headers, query.as_deref()) {
        return *r;
    }
    if !body.is_empty() && serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
            "the ping body is not JSON",
        );
    }
    json(StatusCode::OK, serde_json::json!({}))
}

async fn unknown_route() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "M_UNRECOGNIZED",
        "unknown appservice endpoint",
    )
}

/// A transaction parsed event by event, so one malformed event costs only itself.
struct LenientTransaction {
    /// The top-level fields other than the events, as sent.
    rest: BTreeMap<String, Box<RawValue>>,
    /// Room events then ephemeral events that parsed, each with its room.
    events: Vec<(Option<String>, String)>,
    /// The good room events and ephemeral events, for the typed view.
    timeline: Vec<Box<RawValue>>,
    ephemeral: Vec<Box<RawValue>>,
    /// How many events were skipped.
    skipped: usize,
}

impl LenientTransaction {
    /// Parses a body. `Err` only if it is not a JSON object or `events`/`ephemeral` are not
    /// arrays; a bad event inside them is skipped. The outer parse has no nesting limit (raw
    /// values are skipped over, not built), so a deeply nested event reaches the check below.
    fn parse(body: &[u8]) -> Result<Self, String> {
        let mut rest: BTreeMap<String, Box<RawValue>> =
            serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut take = |key: &str| -> Result<Vec<Box<RawValue>>, String> {
            match rest.remove(key) {
                None => Ok(Vec::new()),
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|e| format!("`{key}` is not a list of events: {e}")),
            }
        };
        // The unstable name of the ephemeral field (MSC2409) counts when the stable one is
        // missing; a homeserver configured for both sends the same events under each.
        let timeline_raw = take("events")?;
        let mut ephemeral_raw = take("ephemeral")?;
        let unstable = take("de.sorunome.msc2409.ephemeral")?;
        if ephemeral_raw.is_empty() {
            ephemeral_raw = unstable;
        }
        let mut txn = LenientTransaction {
            rest,
            events: Vec::new(),
            timeline: Vec::new(),
            ephemeral: Vec::new(),
            skipped: 0,
        };
        for (raw, is_timeline) in timeline_raw
            .into_iter()
            .map(|r| (r, true))
            .chain(ephemeral_raw.into_iter().map(|r| (r, false)))
        {
            // Parsing into a value applies serde_json's nesting limit (128) and refuses
            // numbers out of range: what the engine could not parse later either.
            let room = match serde_json::from_str::<serde_json::Value>(raw.get()) {
                Ok(serde_json::Value::Object(map)) => map
                    .get("room_id")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned),
                Ok(_) => {
                    tracing::warn!("skipping an event that is not a JSON object");
                    txn.skipped += 1;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an event that cannot be parsed");
                    txn.skipped += 1;
                    continue;
                }
            };
            txn.events.push((room, raw.get().to_owned()));
            if is_timeline {
                txn.timeline.push(raw);
            } else {
                txn.ephemeral.push(raw);
            }
        }
        Ok(txn)
    }

    /// The good part of the transaction as ruma's request, for observers. With extra fields
    /// ruma cannot read, a view without them; `None` if even that fails.
    fn typed(&self, txn_id: &str, headers: HeaderMap) -> Option<push_events::v1::Request> {
        let with_rest = self.body(true);
        let without_rest = self.body(false);
        for body in [with_rest, without_rest] {
            let mut request = http::Request::builder()
                .method(http::Method::PUT)
                .uri(format!("/_matrix/app/v1/transactions/{txn_id}"));
            if let Some(h) = request.headers_mut() {
                *h = headers.clone();
            }
            let request = request.body(body).ok()?;
            if let Ok(parsed) = push_events::v1::Request::try_from_http_request(request, &[txn_id])
            {
                return Some(parsed);
            }
        }
        None
    }

    fn body(&self, with_rest: bool) -> Vec<u8> {
        let mut map: BTreeMap<&str, &RawValue> = BTreeMap::new();
        if with_rest {
            for (k, v) in &self.rest {
                map.insert(k, v);
            }
        }
        let timeline =
            serde_json::value::to_raw_value(&self.timeline).expect("raw values serialize");
        let ephemeral =
            serde_json::value::to_raw_value(&self.ephemeral).expect("raw values serialize");
        map.insert("events", &timeline);
        map.insert("ephemeral", &ephemeral);
        serde_json::to_vec(&map).expect("raw values serialize")
    }
}
