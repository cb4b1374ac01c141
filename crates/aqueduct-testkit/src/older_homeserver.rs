//! A loopback proxy in front of the real Synapse that answers `PUT /devices/{id}` the way a
//! homeserver without appservice device management (MSC4190) does: 404 "Unknown device" for a
//! device that does not exist yet. Everything else reaches Synapse unchanged, so a bridge
//! behind it must take the appservice-login path for its encryption device.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A running proxy.
#[derive(Clone)]
pub struct OlderHomeserver {
    url: String,
    refused: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    refused: Arc<AtomicU64>,
}

impl OlderHomeserver {
    /// Starts the proxy on a free loopback port in front of `target` (Synapse's base URL).
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let refused = Arc::new(AtomicU64::new(0));
        let forward = Forward {
            target: target.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()?,
            refused: refused.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(forward);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, refused })
    }

    /// The base URL to give the bridge instead of Synapse's.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many device creations it has refused.
    pub fn refused_device_creations(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

async fn handle(State(fwd): State<Forward>, req: Request) -> Response {
    let is_device_upsert =
        req.method() == Method::PUT && req.uri().path().contains("/client/v3/devices/");
    if is_device_upsert {
        fwd.refused.fetch_add(1, Ordering::SeqCst);
        return json(
            StatusCode::NOT_FOUND,
            r#"{"errcode":"M_NOT_FOUND","error":"Unknown device"}"#,
        );
    }
    match crate::http_forward::forward(&fwd.http, &fwd.target, req).await {
        Ok(r) => r,
        Err(e) => json(
            StatusCode::BAD_GATEWAY,
            &serde_json::json!({ "errcode": "M_UNKNOWN", "error": format!("proxy: {e}") })
                .to_string(),
        ),
    }
}

fn json(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("valid response")
}
