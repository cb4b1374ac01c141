//! The connector's HTTP endpoints on the bridge's listener, under `/_aqueduct/slack/`: a
//! dispatcher by path, so each endpoint (the OAuth redirect, webhook deliveries) lives in its
//! own module.

use crate::oauth::{OAuth, REDIRECT_PATH};
use aqueduct_core::web::{WebHandler, WebRequest, WebResponse};
use async_trait::async_trait;
use std::sync::Arc;

/// Routes a request to the endpoint its path names.
pub(crate) struct Endpoints {
    pub oauth: Arc<OAuth>,
}

#[async_trait]
impl WebHandler for Endpoints {
    async fn handle(&self, request: WebRequest) -> WebResponse {
        match request.path.as_str() {
            REDIRECT_PATH => self.oauth.handle_redirect(&request).await,
            _ => WebResponse::text(404, "no such Slack endpoint"),
        }
    }
}
