//! The bridge engine. It holds portals, ghosts and logins, runs one ordered queue per portal,
//! and talks to networks through the connector traits and to Matrix through
//! [`matrix::MatrixApi`]. It names no platform and does no HTTP.

pub mod audit;
pub mod bridge;
mod bridge_info;
mod chat_avatar;
mod clock;
mod commands;
pub mod connector;
mod crossed;
pub mod crypto;
pub mod custom_emoji;
mod engine_metrics;
mod engine_upkeep;
mod ephemeral;
mod error;
pub mod event;
pub mod ghost_ids;
mod hub_rooms;
pub mod ids;
mod inbox_drain;
mod key_strikes;
mod login_handle;
pub mod login_start;
pub mod matrix;
mod matrix_content;
mod matrix_decrypt;
mod matrix_to_remote;
mod member_metrics;
mod member_rights;
pub mod metrics;
mod own_echo;
pub mod permissions;
mod portal_link;
pub mod portal_open;
mod portal_room;
mod portal_sync;
mod portal_unbridge;
mod power_levels;
pub mod provisioning;
pub mod public_media;
pub mod queue;
mod record_writer;
pub mod records;
mod remote_to_matrix;
mod room_power;
mod send_retry;
pub mod store;
pub mod text;
pub mod txn_id;
mod typed_credentials;
mod unrelayed_chats;
pub mod web;

pub use bridge::{Bridge, BridgeConfig};
pub use error::{Error, Result};
