//! The Slack connector: a workspace app (bot token + app-level token) receives through Socket
//! Mode and sends through the Web API; users may add a personal login (a user token, pasted or
//! through OAuth) so their messages reach Slack as themselves. Speaks only Slack's documented
//! protocol; the API base URL is configurable so tests can point it at a fake.

mod api;
mod calls;
mod config;
mod connector;
mod convert;
mod endpoints;
mod oauth;
mod puppet;
mod puppets;
mod routing;
mod socket;
mod web;

pub use api::SlackLogin;
pub use config::{OAuthConfig, SlackConfig};
pub use connector::SlackConnector;
pub use puppet::SlackPuppet;
pub use web::SlackWeb;
