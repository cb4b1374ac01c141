//! The metrics listener (`metrics.listen`): `/metrics` in Prometheus' text format, and the
//! health endpoints so that probes and scrapes can share one private port.

use crate::health::Health;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry};

/// `/metrics` for `registry`, plus [`Health::routes`].
pub(crate) fn router(registry: Registry, health: &Health) -> Router {
    health.routes().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move { encode(&registry) }
        }),
    )
}

fn encode(registry: &Registry) -> Response {
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode(&registry.gather(), &mut buf) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            buf,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
