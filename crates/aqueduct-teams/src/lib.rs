//! The Microsoft Teams connector, on Microsoft Graph v1.0 with delegated permissions (Graph's
//! application permissions cannot post outside migration): users sign in with the OAuth 2.0
//! device code flow and the bridge acts as them. Chats (1:1 and group) and team channels
//! (`channels.rs`, named as `ids.rs` says) cross both ways: text with formatting and
//! mentions, edits, deletes, reactions, channel threads, quoted replies, files and inline
//! images (`files.rs`), names, topics and members from system messages (`inbound.rs`) and,
//! for group chats, from Matrix (`room_admin.rs`),
//! backfill (`backfill.rs`) and chat read markers; relayed messages carry their sender's
//! name, which the engine adds. Chats are received through Graph's change notifications
//! where the bridge has a public URL (`subscriptions.rs`, `notifications.rs`, `web.rs`) and by
//! polling otherwise (`poll.rs`); channels likewise, each by its own subscription, or by
//! polling Graph's delta query.

mod api;
pub mod b64;
mod backfill;
pub mod certificate;
mod channels;
pub mod config;
mod connector;
pub mod convert;
mod earlier_posts;
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
mod room_admin;
mod subscriptions;
mod tokens;
mod web;

pub use api::TeamsLogin;
pub use config::TeamsConfig;
pub use connector::TeamsConnector;
pub use tokens::TeamsSecret;
