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
mod login_state;
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

/// Converts one pushed message (untrusted JSON, as `stream-room-messages` delivers it) the way
/// the connector does when it has seen nothing of it before, returning how many changes it
/// found. Pure and network-free; exists so `fuzz/` can feed the connector's parser arbitrary
/// JSON.
#[doc(hidden)]
pub fn convert_message_for_fuzzing(m: &serde_json::Value) -> usize {
    convert::seen_state(m);
    convert::ts_millis(m);
    quote::quoted_id(m);
    quote::quoted_text(m);
    files::description(m);
    convert::changes(m, None, &|m| {
        let text = quote::strip_quote_links(m["msg"].as_str().unwrap_or_default());
        let converted = aqueduct_format::rocketchat::markdown_to_matrix(&text, &|_| None);
        aqueduct_core::event::MessageContent {
            body: converted.body,
            html: converted.html,
            ..Default::default()
        }
    })
    .len()
}
