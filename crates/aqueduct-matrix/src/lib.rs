//! The Matrix side of the bridge: the appservice HTTP server the homeserver pushes to, and
//! the intents that act as the bot, ghosts and double-puppeted users through the
//! client-server API with the appservice token.

mod appservice_server;
mod auth;
mod client;
mod error;
mod intents;
mod openid;
mod shared_secret_login;
mod startup_ping;
mod transaction_key;

pub use appservice_server::{
    AppserviceHandler, DEFAULT_MAX_TRANSACTION_BYTES, router, router_with_limit,
};
pub use client::{ClientConfig, DeviceAuth, DoublePuppetSecret, HomeserverClient};
pub use error::{Error, Result};
pub use startup_ping::ping_homeserver;
