//! How the binary builds connectors from their config sections.

use aqueduct_core::connector::NetworkConnector;
use std::sync::Arc;

/// What the bridge's own config tells every connector, for the defaults of its section.
#[derive(Clone, Debug, Default)]
pub struct BridgeSettings {
    /// `appservice.public_url`: where the internet reaches the bridge's listener.
    pub public_url: Option<String>,
}

impl BridgeSettings {
    /// The settings `config` gives.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            public_url: config.appservice.public_url.clone(),
        }
    }
}

/// A connector's constructor: its config section and the bridge's settings in, the connector
/// (or why the section is wrong) out.
pub type BuildConnector =
    fn(serde_norway::Value, &BridgeSettings) -> Result<Arc<dyn NetworkConnector>, String>;

/// Builds one connector from its `platforms.<id>` config section.
pub struct ConnectorFactory {
    /// The connector id, which is also its config key.
    pub id: &'static str,
    /// Parses the section (refusing unknown fields), fills its defaults from the bridge's
    /// settings and builds the connector.
    pub build: BuildConnector,
}

/// The connectors compiled into this binary, one per enabled Cargo feature.
pub fn compiled_in() -> Vec<ConnectorFactory> {
    #[allow(unused_mut)] // empty when built without any connector feature
    let mut factories = Vec::new();
    #[cfg(feature = "slack")]
    factories.push(ConnectorFactory {
        id: "slack",
        build: |section, bridge| {
            let config = serde_norway::from_value::<aqueduct_slack::SlackConfig>(section)
                .map_err(|e| e.to_string())?
                .resolve_env()?
                .with_default_public_url(bridge.public_url.as_deref())?;
            Ok(Arc::new(aqueduct_slack::SlackConnector::new(config)) as Arc<dyn NetworkConnector>)
        },
    });
    #[cfg(feature = "rocketchat")]
    factories.push(ConnectorFactory {
        id: "rocketchat",
        build: |section, _| {
            let config = serde_norway::from_value::<aqueduct_rocketchat::RocketChatConfig>(section)
                .map_err(|e| e.to_string())?;
            Ok(
                Arc::new(aqueduct_rocketchat::RocketChatConnector::new(config))
                    as Arc<dyn NetworkConnector>,
            )
        },
    });
    #[cfg(feature = "teams")]
    factories.push(ConnectorFactory {
        id: "teams",
        build: |section, bridge| {
            let config = serde_norway::from_value::<aqueduct_teams::TeamsConfig>(section)
                .map_err(|e| e.to_string())?
                .with_default_public_url(bridge.public_url.as_deref())?;
            Ok(Arc::new(aqueduct_teams::TeamsConnector::new(config)) as Arc<dyn NetworkConnector>)
        },
    });
    factories
}

/// Builds the connectors the config enables; an unknown section is an error, not a no-op.
pub fn build_enabled(
    factories: &[ConnectorFactory],
    sections: &std::collections::BTreeMap<String, serde_norway::Value>,
    bridge: &BridgeSettings,
) -> Result<Vec<Arc<dyn NetworkConnector>>, String> {
    let mut out = Vec::new();
    for (id, section) in sections {
        let factory = factories.iter().find(|f| f.id == id).ok_or_else(|| {
            let known: Vec<&str> = factories.iter().map(|f| f.id).collect();
            format!(
                "platforms.{id}: no such connector in this build (compiled in: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })?;
        out.push(
            (factory.build)(section.clone(), bridge).map_err(|e| format!("platforms.{id}: {e}"))?,
        );
    }
    Ok(out)
}
