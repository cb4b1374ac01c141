//! The appservice API the homeserver calls: transactions, user and alias queries, ping.
//! Every answer carries `Content-Length` (Synapse treats a response without it as failed).

use crate::auth::tokens_match;
use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use ruma::api::IncomingRequest;
use ruma::api::appservice::event::push_events;
use std::sync::Arc;

/// What the appservice server asks of the bridge.
#[async_trait]
pub trait AppserviceHandler: Send + Sync + 'static {
    /// Stores a transaction's events durably, each as (room id, event JSON), and returns once
    /// they are safe. A repeated `txn_id` must succeed without storing anything. `Err` makes
    /// the homeserver retry the transaction later.
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

/// The appservice routes, both the `/_matrix/app/v1` ones and the legacy unprefixed ones.
pub fn router(handler: Arc<dyn AppserviceHandler>, hs_token: &str) -> Router {
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
    let mut request = http::Request::builder()
        .method(http::Method::PUT)
        .uri(format!("/_matrix/app/v1/transactions/{txn_id}"));
    if let Some(h) = request.headers_mut() {
        *h = headers;
    }
    let request = request.body(body).expect("valid request parts");
    let parsed = match push_events::v1::Request::try_from_http_request(request, &[txn_id.as_str()])
    {
        Ok(p) => p,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                &format!("the transaction body is not valid: {e}"),
            );
        }
    };
    state.handler.observe_transaction(&parsed).await;
    // Room events, then ephemeral data (typing, receipts), each with its room.
    let timeline = parsed.events.iter().map(|raw| {
        (
            raw.get_field::<String>("room_id").ok().flatten(),
            raw.json().get().to_owned(),
        )
    });
    let ephemeral = parsed.ephemeral.iter().map(|raw| {
        (
            raw.get_field::<String>("room_id").ok().flatten(),
            raw.json().get().to_owned(),
        )
    });
    let events: Vec<(Option<String>, String)> = timeline.chain(ephemeral).collect();
    match state.handler.receive_transaction(&txn_id, events).await {
        Ok(()) => json(StatusCode::OK, serde_json::json!({})),
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
