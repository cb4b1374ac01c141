//! The Slack connector: a workspace app (bot token + app-level token) receives through Socket
//! Mode and sends through the Web API. Speaks only Slack's documented protocol; the API base
//! URL is configurable so tests can point it at a fake.

mod api;
mod catch_up;
mod checkpoints;
mod config;
mod connector;
mod convert;
mod socket;
mod web;

pub use api::SlackLogin;
pub use config::SlackConfig;
pub use connector::SlackConnector;
pub use web::SlackWeb;
