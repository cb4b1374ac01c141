//! The bridge's appservice listener: the appservice API for the homeserver, connectors'
//! endpoints, signed public media and the health endpoints. `/metrics` is not here but on a
//! listener of its own (`metrics_listener.rs`), as this one may face the internet.

use aqueduct_core::Bridge;
use aqueduct_core::matrix::MatrixApi;
use aqueduct_core::public_media::{MEDIA_PATH, PublicMedia};
use aqueduct_core::web::{WEB_PREFIX, WebHandler, WebRequest};
use aqueduct_matrix::{AppserviceHandler, HomeserverClient};
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, Uri};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::collections::HashMap;
use std::sync::Arc;

/// Connects the appservice server to the engine.
pub struct EngineHandler {
    /// The engine.
    pub bridge: Bridge,
    /// For registering ghosts the homeserver asks about.
    pub client: HomeserverClient,
    /// End-to-bridge encryption, when allowed: it reads every transaction first.
    pub crypto: Option<Arc<aqueduct_crypto::BridgeCrypto>>,
}

#[async_trait]
impl AppserviceHandler for EngineHandler {
    async fn receive_transaction(
        &self,
        txn_id: &str,
        events: Vec<(Option<String>, String)>,
    ) -> Result<(), String> {
        self.bridge
            .receive_transaction(txn_id, events)
            .await
            .map_err(|e| e.to_string())
    }

    async fn observe_transaction(
        &self,
        transaction: &ruma::api::appservice::event::push_events::v1::Request,
    ) {
        if let Some(crypto) = &self.crypto {
            crypto.observe_transaction(transaction).await;
        }
    }

    async fn query_user(&self, user_id: &str) -> bool {
        if !self.bridge.ghost_namer().is_ghost(user_id) {
            return false;
        }
        // The homeserver asks before it lets anyone talk to a ghost: create it now.
        let localpart = user_id
            .trim_start_matches('@')
            .split(':')
            .next()
            .unwrap_or_default();
        self.client.ensure_registered(localpart).await.is_ok()
    }

    async fn query_room_alias(&self, _alias: &str) -> bool {
        false
    }
}

/// Connectors' HTTP endpoints by connector id.
pub type WebHandlers = Arc<HashMap<String, Arc<dyn WebHandler>>>;

/// The full router: appservice routes (bodies up to `max_transaction_bytes`), connectors'
/// endpoints under `/_aqueduct/<connector>/`, public media and `health`'s routes.
#[allow(clippy::too_many_arguments)] // each is one separate piece of the wiring
pub fn router(
    bridge: Bridge,
    client: HomeserverClient,
    hs_token: &str,
    web: WebHandlers,
    public_media: Option<PublicMedia>,
    crypto: Option<Arc<aqueduct_crypto::BridgeCrypto>>,
    max_transaction_bytes: usize,
    health: &crate::health::Health,
) -> Router {
    let media = crate::public_media_route::MediaRoute {
        signer: public_media,
        client: client.clone(),
    };
    let handler = Arc::new(EngineHandler {
        bridge,
        client,
        crypto,
    });
    aqueduct_matrix::router_with_limit(handler, hs_token, max_transaction_bytes)
        .route(
            &format!("{MEDIA_PATH}/{{signature}}/{{server}}/{{media_id}}"),
            get(move |path| crate::public_media_route::serve(media.clone(), path)),
        )
        .route(
            &format!("{WEB_PREFIX}/{{connector}}/{{*rest}}"),
            any(move |path, method, uri, headers, body| {
                connector_endpoint(web.clone(), path, method, uri, headers, body)
            }),
        )
        .merge(health.routes())
}

/// Hands a request to the connector that owns the path.
async fn connector_endpoint(
    web: WebHandlers,
    Path((connector, rest)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(handler) = web.get(&connector) else {
        return (StatusCode::NOT_FOUND, "no such connector endpoint").into_response();
    };
    let request = WebRequest {
        method: method.as_str().to_owned(),
        path: format!("/{rest}"),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let answer = handler.handle(request).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}
