//! The Slack connector: a workspace app (bot token + app-level token) receives through Socket
//! Mode, or through the Events API over HTTP when configured, and sends through the Web API;
//! users may add a personal login (a user token, pasted or through OAuth) so their messages
//! reach Slack as themselves. Speaks only Slack's documented protocol; the API base URL is
//! configurable so tests can point it at a fake.

mod acks;
mod api;
mod app_logins;
mod backfill;
mod backlog;
mod calls;
mod catch_up;
mod channel_handlers;
mod checkpoints;
mod config;
mod connector;
mod convert;
mod custom_emoji;
mod earlier_posts;
mod events_config;
mod events_http;
mod events_login;
mod mention_names;
mod oauth;
mod pacing;
mod puppet;
mod puppets;
mod recent;
mod recent_changes;
mod relay_identity;
mod replay_lookups;
mod routing;
mod seen_events;
mod signature;
mod socket;
mod socket_lanes;
mod web;
mod web_routes;
mod workspace;

pub use api::SlackLogin;
pub use config::{OAuthConfig, SlackConfig};
pub use connector::SlackConnector;
pub use events_config::{EventsApiConfig, SIGNING_SECRET_ENV};
pub use pacing::SendPace;
pub use puppet::SlackPuppet;
pub use web::SlackWeb;

/// Converts one Events API `event` payload (untrusted JSON, as Slack delivers it) the way
/// the connector does for a login of team `T0`, returning whether it became a neutral event.
/// Pure and network-free; exists so `fuzz/` can feed the connector's parser arbitrary JSON.
#[doc(hidden)]
pub fn convert_event_for_fuzzing(ev: &serde_json::Value) -> bool {
    let (login, rooms) = (aqueduct_core::ids::LoginId::new("T0"), Default::default());
    let cx = convert::Context {
        team: "T0",
        bot_user: "UBOT",
        bot_id: Some("BBOT"),
        login: &login,
        matrix_id: &|u| format!("@slack_{}:example.org", u.as_str()),
        channel_rooms: &rooms,
        user_names: &rooms,
    };
    routing::authorized_user(&ev["authorizations"]);
    convert::event(&ev["event"], &cx).is_some()
}
