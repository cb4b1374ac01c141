//! The Aqueduct binary's library half: config, registration, wiring and the HTTP listener, so
//! that test harnesses can run the same bridge with their own connectors.

pub mod audit_cli;
pub mod config;
pub mod connectors;
pub mod encryption_config;
pub mod health;
pub mod metrics_config;
mod metrics_listener;
pub mod process;
pub mod provisioning;
pub mod provisioning_config;
mod public_media_route;
pub mod record;
pub mod record_config;
pub mod registration;
pub mod rotate_key;
pub mod run;
pub mod sd_notify;
pub mod secrets_key;
pub mod server;

pub use config::Config;
pub use connectors::ConnectorFactory;
