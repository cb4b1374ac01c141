//! The connector's HTTP endpoints under `/_aqueduct/slack/`, dispatched by path. Each route
//! is its own module; this one only picks it.

use crate::events_http::EventsEndpoint;
use crate::oauth::{OAuth, REDIRECT_PATH};
use aqueduct_core::web::{WebHandler, WebRequest, WebResponse};
use async_trait::async_trait;
use std::sync::Arc;

/// The Slack connector's [`WebHandler`].
pub(crate) struct SlackRoutes {
    /// `/events`: the Events API over HTTP, when configured.
    pub events: Option<EventsEndpoint>,
    /// `/oauth`: where Slack sends browsers back during `login slack oauth`.
    pub oauth: Arc<OAuth>,
}

#[async_trait]
impl WebHandler for SlackRoutes {
    async fn handle(&self, request: WebRequest) -> WebResponse {
        match (request.path.as_str(), &self.events) {
            ("/events", Some(events)) => events.handle(request).await,
            (REDIRECT_PATH, _) => self.oauth.handle_redirect(&request).await,
            _ => WebResponse::text(404, "no such Slack endpoint"),
        }
    }
}
