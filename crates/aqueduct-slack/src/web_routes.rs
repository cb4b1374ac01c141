//! The connector's HTTP endpoints under `/_aqueduct/slack/`, dispatched by path. Each route
//! is its own module; this one only picks it.

use crate::events_http::EventsEndpoint;
use aqueduct_core::web::{WebHandler, WebRequest, WebResponse};
use async_trait::async_trait;

/// The Slack connector's [`WebHandler`].
pub(crate) struct SlackRoutes {
    /// `/events`: the Events API over HTTP, when configured.
    pub events: Option<EventsEndpoint>,
}

impl SlackRoutes {
    /// Whether any route is served; with none the connector offers no handler.
    pub fn is_empty(&self) -> bool {
        self.events.is_none()
    }
}

#[async_trait]
impl WebHandler for SlackRoutes {
    async fn handle(&self, request: WebRequest) -> WebResponse {
        match (request.path.as_str(), &self.events) {
            ("/events", Some(events)) => events.handle(request).await,
            _ => WebResponse::text(404, "no such Slack endpoint"),
        }
    }
}
