//! What every connector needs, written once beside the engine (issue 15). For now: the media
//! fetch guard ([`MediaGuard`]), through which every download a connector makes from a link
//! its platform gave (files, avatars, emoji images) goes, so that a link written by a message
//! author cannot make the bridge reach its own network, leak the platform's credentials to
//! another host, or swallow unbounded data. The contract is in `docs/connectors.md`.

pub mod address;
mod error;
mod media;
pub mod pacing;
pub mod rate_limit;
pub mod recent;
pub mod reconnect;
mod resolver;
pub mod save_throttle;

pub use error::MediaError;
pub use media::{
    Credentials, DEFAULT_TIMEOUT, Fetched, MAX_FILES_PER_MESSAGE, MAX_REDIRECTS, MediaGuard,
};
