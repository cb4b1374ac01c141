//! The Slack connector: a workspace app (bot token + app-level token) receives through Socket
//! Mode, or through the Events API over HTTP when configured, and sends through the Web API;
//! users may add a personal login (a user token, pasted or through OAuth) so their messages
//! reach Slack as themselves. Speaks only Slack's documented protocol; the API base URL is
//! configurable so tests can point it at a fake.

mod acks;
mod api;
mod app_logins;
mod backfill;
mod calls;
mod catch_up;
mod channel_handlers;
mod checkpoints;
mod config;
mod connector;
mod convert;
mod custom_emoji;
mod events_config;
mod events_http;
mod events_login;
mod oauth;
mod pacing;
mod puppet;
mod puppets;
mod recent;
mod recent_changes;
mod relay_identity;
mod routing;
mod seen_events;
mod signature;
mod socket;
mod web;
mod web_routes;

pub use api::SlackLogin;
pub use config::{OAuthConfig, SlackConfig};
pub use connector::SlackConnector;
pub use events_config::{EventsApiConfig, SIGNING_SECRET_ENV};
pub use pacing::SendPace;
pub use puppet::SlackPuppet;
pub use web::SlackWeb;
