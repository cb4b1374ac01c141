//! The Rocket.Chat connector: each login is one Rocket.Chat account (a personal access token,
//! or a username and password exchanged for a resume token). It receives through the realtime
//! API (DDP over a websocket), catches up through the history endpoints after any gap, and
//! sends through REST v1. A bot account with the `message-impersonate` permission can serve
//! as a room's relay, showing Matrix users' names through `alias`. The server URL is
//! configurable, as every self-hosted Rocket.Chat needs.

mod api;
mod backfill;
mod catch_up;
mod checkpoints;
mod config;
mod connector;
mod convert;
mod ddp;
mod files;
mod inbound;
mod iso_time;
mod quote;
mod rest;
mod room_admin;
mod seen;
mod sending;
mod sync;
mod uploads;

pub use api::RocketLogin;
pub use config::RocketChatConfig;
pub use connector::RocketChatConnector;
pub use rest::Rest;
