//! The Microsoft Teams connector, on Microsoft Graph v1.0 with delegated permissions (Graph's
//! application permissions cannot post outside migration): users sign in with the OAuth 2.0
//! device code flow and the bridge acts as them. This first part sends and receives chat
//! messages (1:1 and group chats): text with formatting and mentions, edits, deletes and
//! reactions both ways, receiving through Graph's change notifications where the bridge has
//! a public URL (`subscriptions.rs`, `notifications.rs`, `web.rs`) and by polling otherwise.
//! Channels, files and relaying are tracked in issue 15.

mod api;
pub mod b64;
mod backfill;
pub mod certificate;
mod channels;
pub mod config;
mod connector;
pub mod convert;
mod files;
pub mod graph;
mod graph_client;
pub mod identity;
pub mod ids;
mod inbound;
pub mod iso_time;
mod notifications;
mod poll;
mod poll_state;
pub mod reactions;
pub mod resource_crypto;
mod subscriptions;
mod tokens;
mod web;

pub use api::TeamsLogin;
pub use config::TeamsConfig;
pub use connector::TeamsConnector;
pub use tokens::TeamsSecret;
