//! The provisioning API, in the shape mautrix bridges give theirs (`/_matrix/provision/v3`),
//! on the appservice listener: an integration manager or web page holding the shared secret
//! (`provisioning.shared_secret`) acts for a Matrix user named by `?user_id=`, and a web
//! client with a Matrix OpenID token acts for its own user. Each route does
//! what the management room's command of the same job does, through the same engine code.
//! `docs/provisioning-openapi.yaml` describes it; `tests/e2e_provisioning.rs` checks the
//! routes against it. Off (every path 404) without a secret.

mod auth;
mod error;
mod pending;

use aqueduct_core::Bridge;
use aqueduct_core::login_start::{LoggedIn, LoginStart};
use aqueduct_core::metrics::Metrics;
use aqueduct_matrix::HomeserverClient;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Where the API lives.
pub const PREFIX: &str = "/_matrix/provision/v3";

/// Every route the API serves: (method, path under [`PREFIX`]), as
/// `docs/provisioning-openapi.yaml` names them (a test checks that it documents exactly
/// these).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/whoami"),
    ("GET", "/login/flows"),
    ("POST", "/login/start/{network}/{flow}"),
    ("POST", "/login/step/{login_id}/{step_id}/{step_type}"),
    ("POST", "/logout/{login_id}"),
    ("POST", "/bridge/{network}/{chat_id}"),
];

/// The step id of a login waiting for the user to act elsewhere.
const WAIT_STEP: &str = "io.aqueduct.wait";
/// The step id of a finished login.
const COMPLETE_STEP: &str = "io.aqueduct.complete";

#[derive(Clone)]
struct Api {
    bridge: Bridge,
    homeserver: HomeserverClient,
    secret: Arc<str>,
    metrics: Metrics,
    pending: Arc<pending::PendingLogins>,
}

type Params = Query<HashMap<String, String>>;

impl Api {
    async fn user(&self, headers: &HeaderMap, query: &Params) -> Result<String, ApiError> {
        auth::acting_user(&self.bridge, &self.homeserver, &self.secret, headers, query).await
    }
}

/// The API's routes, or none (404) when `secret` is `None`.
pub fn routes(
    bridge: Bridge,
    homeserver: HomeserverClient,
    secret: Option<&str>,
    metrics: Metrics,
) -> Router {
    let Some(secret) = secret else {
        return Router::new();
    };
    let api = Api {
        bridge,
        homeserver,
        secret: Arc::from(secret),
        metrics,
        pending: Default::default(),
    };
    let mut router = Router::new();
    for (method, path) in ROUTES {
        let handler = match (*method, *path) {
            ("GET", "/whoami") => get(whoami),
            ("GET", "/login/flows") => get(login_flows),
            ("POST", "/login/start/{network}/{flow}") => post(login_start),
            ("POST", "/login/step/{login_id}/{step_id}/{step_type}") => post(login_step),
            ("POST", "/logout/{login_id}") => post(logout),
            ("POST", "/bridge/{network}/{chat_id}") => post(bridge_chat),
            other => unreachable!("no handler for {other:?}"),
        };
        router = router.route(&format!("{PREFIX}{path}"), handler);
    }
    router.with_state(api)
}

/// `GET /whoami`: the bridge, its networks with their login flows, and the user's logins
/// with their connection state.
async fn whoami(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    let user = api.user(&headers, &query).await?;
    let states = crate::health::connection_states(&api.metrics);
    let logins: Vec<Value> = api
        .bridge
        .logins_of(&user)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|l| {
            let key = (l.connector.to_string(), l.id.to_string());
            let state = if !api.bridge.is_login_loaded(&l.connector, &l.id) {
                "UNKNOWN_ERROR"
            } else {
                match states.get(&key) {
                    Some(1) => "CONNECTED",
                    Some(-1) => "BAD_CREDENTIALS",
                    _ => "TRANSIENT_DISCONNECT",
                }
            };
            json!({
                "id": l.id.as_str(),
                "network": l.connector.as_str(),
                "name": l.remote_name,
                "remote_user": l.remote_user.as_str(),
                "state": {"state_event": state},
            })
        })
        .collect();
    Ok(Json(json!({
        "user_id": user,
        "permission": api.bridge.permission_level(&user).to_string(),
        "bridge_bot": api.bridge.bot_user_id(),
        "management_room": api.bridge.management_room(&user).await.map_err(ApiError::from)?,
        "networks": networks(&api.bridge, None),
        "logins": logins,
    })))
}

/// The enabled networks (or only `only`) with their login flows.
fn networks(bridge: &Bridge, only: Option<&str>) -> Vec<Value> {
    bridge
        .networks()
        .into_iter()
        .filter(|n| only.is_none_or(|o| n.id.as_str() == o))
        .map(|n| {
            let flows: Vec<Value> = n
                .flows
                .iter()
                .map(|f| json!({"id": f.id, "name": f.id, "description": f.description}))
                .collect();
            json!({"id": n.id.as_str(), "displayname": n.display_name, "login_flows": flows})
        })
        .collect()
}

/// `GET /login/flows[?network=]`: every network's login flows, each naming its network.
async fn login_flows(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    api.user(&headers, &query).await?;
    let only = query.get("network").map(String::as_str);
    let nets = networks(&api.bridge, only);
    if let Some(network) = only
        && nets.is_empty()
    {
        return Err(ApiError::not_found(format!(
            "no network {network} is enabled"
        )));
    }
    let flows: Vec<Value> = nets
        .iter()
        .flat_map(|n| {
            n["login_flows"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut f| {
                    f["network"] = n["id"].clone();
                    f
                })
        })
        .collect();
    Ok(Json(json!({ "flows": flows })))
}

/// The body of `login/start`: what `login <network> <flow>` takes after the flow's name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    args: Vec<String>,
}

/// `POST /login/start/{network}/{flow}`: starts a login as `login <network> <flow> <args>`
/// does; answers the finished login, or a step to wait on.
async fn login_start(
    State(api): State<Api>,
    Path((network, flow)): Path<(String, String)>,
    headers: HeaderMap,
    query: Params,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let user = api.user(&headers, &query).await?;
    let body: StartBody = if body.is_empty() {
        StartBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                format!("the body must be {{\"args\": [\"...\"]}}: {e}"),
            )
        })?
    };
    let Some(net) = api
        .bridge
        .networks()
        .into_iter()
        .find(|n| n.id.as_str() == network)
    else {
        return Err(ApiError::not_found(format!(
            "no network {network} is enabled"
        )));
    };
    if !net.flows.iter().any(|f| f.id == flow) {
        return Err(ApiError::not_found(format!(
            "{network} has no login flow {flow}"
        )));
    }
    match api
        .bridge
        .start_login(&user, &network, &flow, &body.args)
        .await?
    {
        LoginStart::Refused(why) => Err(ApiError::new(StatusCode::CONFLICT, "M_BAD_STATE", why)),
        LoginStart::Complete(done) => Ok(Json(complete_step(&done)).into_response()),
        LoginStart::Pending {
            instructions,
            completion,
        } => {
            let process = api.pending.add(&user, completion);
            Ok(Json(json!({
                "type": "display_and_wait",
                "login_id": process,
                "step_id": WAIT_STEP,
                "instructions": instructions,
                "display_and_wait": {"type": "nothing"},
            }))
            .into_response())
        }
    }
}

/// `POST /login/step/{process}/{step}/display_and_wait`: waits until a pending login
/// finished; answers it as a complete step.
async fn login_step(
    State(api): State<Api>,
    Path((process, step, step_type)): Path<(String, String, String)>,
    headers: HeaderMap,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    let user = api.user(&headers, &query).await?;
    if step != WAIT_STEP || step_type != "display_and_wait" {
        return Err(ApiError::not_found(format!(
            "login process {process} has no step {step}/{step_type}"
        )));
    }
    let done = api.pending.wait(&user, &process).await?;
    Ok(Json(complete_step(&done)))
}

fn complete_step(done: &LoggedIn) -> Value {
    json!({
        "type": "complete",
        "step_id": COMPLETE_STEP,
        "instructions": format!("Logged in to {} as {}.", done.network, done.remote_name),
        "complete": {"user_login_id": done.id.as_str(), "network": done.network.as_str()},
    })
}

/// `POST /logout/{login_id}`: logs one of the user's logins out, as `logout` does.
async fn logout(
    State(api): State<Api>,
    Path(login_id): Path<String>,
    headers: HeaderMap,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    let user = api.user(&headers, &query).await?;
    let id = aqueduct_core::ids::LoginId::new(login_id.as_str());
    if !api.bridge.log_out(&user, &id).await? {
        return Err(ApiError::not_found(format!("you have no login {login_id}")));
    }
    Ok(Json(json!({})))
}

/// `POST /bridge/{network}/{chat_id}`: bridges a chat the user's login sees into a room (its
/// existing room if it has one) and invites them, as `bridge <network> <chat id>` does.
async fn bridge_chat(
    State(api): State<Api>,
    Path((network, chat)): Path<(String, String)>,
    headers: HeaderMap,
    query: Params,
) -> Result<Json<Value>, ApiError> {
    let user = api.user(&headers, &query).await?;
    if !api
        .bridge
        .networks()
        .iter()
        .any(|n| n.id.as_str() == network)
    {
        return Err(ApiError::not_found(format!(
            "no network {network} is enabled"
        )));
    }
    let opened = api.bridge.bridge_chat(&user, &network, &chat).await?;
    Ok(Json(json!({
        "room_id": opened.portal.room_id,
        "network": network,
        "chat_id": chat,
        "name": opened.chat_name,
    })))
}

#[cfg(test)]
mod tests {
    use super::ROUTES;
    use std::collections::BTreeSet;

    #[test]
    fn the_openapi_description_documents_exactly_the_served_routes() {
        let spec: serde_norway::Value =
            serde_norway::from_str(include_str!("../../../../docs/provisioning-openapi.yaml"))
                .expect("the OpenAPI description parses");
        assert_eq!(spec["servers"][0]["url"].as_str(), Some(super::PREFIX));
        let mut documented = BTreeSet::new();
        for (path, ops) in spec["paths"].as_mapping().expect("paths") {
            for (method, _) in ops.as_mapping().expect("operations") {
                documented.insert((
                    method.as_str().expect("method").to_uppercase(),
                    path.as_str().expect("path").to_owned(),
                ));
            }
        }
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, served);
    }
}
