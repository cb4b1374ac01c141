pub mod bridge_env;
pub mod fake_slack;
pub mod matrix_client;
pub mod slack_env;
pub mod synapse;
pub mod testnet_connector;
pub mod testnet_server;
