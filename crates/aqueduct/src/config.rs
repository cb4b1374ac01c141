//! The YAML config. Every field is documented in `config/config.example.yaml`; unknown fields
//! are refused so a typo cannot silently fall back to a default.

use aqueduct_core::permissions::Level;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The whole config file. Its `Debug` shows each section through its own `Debug` (which
/// leaves secrets out) and of `platforms` only their names, as their raw sections hold their
/// secrets.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the homeserver is.
    pub homeserver: HomeserverConfig,
    /// The appservice registration and listener.
    pub appservice: AppserviceConfig,
    /// Where the bridge keeps its data.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Bridge behaviour.
    #[serde(default)]
    pub bridge: BridgeSection,
    /// Double puppeting, per homeserver.
    #[serde(default)]
    pub double_puppet: DoublePuppetConfig,
    /// Logging.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// End-to-bridge encryption.
    #[serde(default)]
    pub encryption: crate::encryption_config::EncryptionConfig,
    /// Where Prometheus metrics are served (default: nowhere).
    #[serde(default)]
    pub metrics: crate::metrics_config::MetricsConfig,
    /// The provisioning API (default: off).
    #[serde(default)]
    pub provisioning: crate::provisioning_config::ProvisioningConfig,
    /// The audit record of what crosses the bridge (default: kept, sealed every 5 minutes).
    #[serde(default)]
    pub record: crate::record_config::RecordConfig,
    /// One section per enabled platform, keyed by connector id; each connector reads its own.
    #[serde(default)]
    pub platforms: BTreeMap<String, serde_norway::Value>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("homeserver", &self.homeserver)
            .field("appservice", &self.appservice)
            .field("database", &self.database)
            .field("bridge", &self.bridge)
            .field("double_puppet", &self.double_puppet)
            .field("logging", &self.logging)
            .field("encryption", &self.encryption)
            .field("metrics", &self.metrics)
            .field("provisioning", &self.provisioning)
            .field("record", &self.record)
            .field("platforms", &self.platforms.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Where the homeserver is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeserverConfig {
    /// Client-server API URL the bridge calls.
    pub url: String,
    /// The homeserver's server name (the part after `:` in user ids).
    pub server_name: String,
}

/// The appservice registration and listener. Its `Debug` leaves the tokens out.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppserviceConfig {
    /// Registration id.
    #[serde(default = "default_id")]
    pub id: String,
    /// URL the homeserver uses to reach the bridge (the registration's `url`).
    pub address: String,
    /// Address the bridge listens on for the homeserver, connectors' endpoints and the health
    /// endpoints (not `/metrics`: see `metrics.listen`).
    pub listen: String,
    /// Token the bridge uses with the homeserver. `AQUEDUCT_AS_TOKEN` overrides it.
    #[serde(default)]
    pub as_token: String,
    /// Token the homeserver uses with the bridge. `AQUEDUCT_HS_TOKEN` overrides it.
    #[serde(default)]
    pub hs_token: String,
    /// The bot's localpart.
    #[serde(default = "default_bot")]
    pub bot_localpart: String,
    /// The registration's `sender_localpart`: the appservice's own user, which never appears
    /// in rooms. Default `<bot_localpart>-appservice`. It is not the bot because Synapse
    /// refuses `/sync` to that user, and the bot's encryption device syncs. An old
    /// registration whose sender is the bot still works: encryption then reads device data
    /// from the appservice transactions.
    #[serde(default)]
    pub sender_localpart: Option<String>,
    /// The bot's display name.
    #[serde(default = "default_bot_name")]
    pub bot_display_name: String,
    /// Start of every ghost's localpart; the registration's user namespace is built from it.
    #[serde(default = "default_ghost_prefix")]
    pub ghost_prefix: String,
    /// The listener's address as the internet reaches it (`https://bridge.example.com`), for
    /// networks that fetch images themselves: relayed senders' avatars are served under
    /// `<public_url>/_aqueduct/media/`. Unset: relayed messages carry no avatar.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Largest request body the appservice API takes, in bytes (default 32 MiB). A homeserver
    /// transaction (100 events of at most 64 KiB plus ephemeral and to-device data) stays
    /// well under it; a body over it is answered 413, which the homeserver retries forever.
    #[serde(default = "default_max_transaction_bytes")]
    pub max_transaction_bytes: usize,
}

impl std::fmt::Debug for AppserviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppserviceConfig")
            .field("id", &self.id)
            .field("address", &self.address)
            .field("listen", &self.listen)
            .field("as_token", &"<redacted>")
            .field("hs_token", &"<redacted>")
            .field("bot_localpart", &self.bot_localpart)
            .field("sender_localpart", &self.sender_localpart)
            .field("bot_display_name", &self.bot_display_name)
            .field("ghost_prefix", &self.ghost_prefix)
            .field("public_url", &self.public_url)
            .field("max_transaction_bytes", &self.max_transaction_bytes)
            .finish()
    }
}

impl AppserviceConfig {
    /// The registration's `sender_localpart` (see the field).
    pub fn sender_localpart(&self) -> String {
        self.sender_localpart
            .clone()
            .unwrap_or_else(|| format!("{}-appservice", self.bot_localpart))
    }
}

fn default_max_transaction_bytes() -> usize {
    aqueduct_matrix::DEFAULT_MAX_TRANSACTION_BYTES
}
fn default_id() -> String {
    "aqueduct".into()
}
fn default_bot() -> String {
    "aqueduct".into()
}
fn default_bot_name() -> String {
    "Aqueduct bridge".into()
}
fn default_ghost_prefix() -> String {
    "aqueduct_".into()
}

/// Where the bridge keeps its data. Its `Debug` shows the URI without a password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (default: `sqlite://aqueduct.db`) or `postgres://...`.
    /// `AQUEDUCT_DATABASE_URI` overrides it.
    #[serde(default = "default_db")]
    pub uri: String,
    /// The file holding the key that seals login secrets in the database (base64 of 32
    /// random bytes, mode 0600). Unset: `aqueduct-secrets.key` beside the SQLite database, or
    /// in the working directory for PostgreSQL, created on first start. The
    /// `AQUEDUCT_SECRETS_KEY` environment variable (the key itself) takes precedence.
    #[serde(default)]
    pub secrets_key_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("uri", &uri_without_password(&self.uri))
            .field("secrets_key_file", &self.secrets_key_file)
            .finish()
    }
}

/// `uri` with the password of its user info (`postgres://user:<redacted>@host/db`) and any
/// query holding a password (`?password=`) left out.
fn uri_without_password(uri: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((base, q)) if q.to_ascii_lowercase().contains("password") => {
            (base, Some("<redacted>"))
        }
        Some((base, q)) => (base, Some(q)),
        None => (uri, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user_info, host)) => {
                let user = user_info.split(':').next().unwrap_or_default();
                match user_info.contains(':') {
                    true => format!("{scheme}://{user}:<redacted>@{host}"),
                    false => format!("{scheme}://{user}@{host}"),
                }
            }
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            uri: default_db(),
            secrets_key_file: None,
        }
    }
}

fn default_db() -> String {
    "sqlite://aqueduct.db".into()
}

/// Bridge behaviour.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSection {
    /// Prefix of commands in bridged rooms.
    #[serde(default = "default_prefix")]
    pub command_prefix: String,
    /// Matrix user id, server name or `*` -> `relay` | `user` | `admin` (or `none`).
    #[serde(default)]
    pub permissions: HashMap<String, Level>,
    /// Largest file moved in either direction, in bytes.
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
    /// Seconds to let in-flight work finish on SIGTERM.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// Recent messages brought in when a chat is first bridged (0: none).
    #[serde(default = "default_backfill")]
    pub backfill_limit: usize,
    /// Most Matrix events read from the durable inbox into portal queues at once; the rest
    /// wait in the inbox, so memory stays bounded however large the backlog.
    #[serde(default = "default_max_queued_matrix_events")]
    pub max_queued_matrix_events: usize,
}

impl Default for BridgeSection {
    fn default() -> Self {
        Self {
            command_prefix: default_prefix(),
            permissions: HashMap::new(),
            max_attachment_bytes: default_max_attachment(),
            shutdown_grace_secs: default_grace(),
            backfill_limit: default_backfill(),
            max_queued_matrix_events: default_max_queued_matrix_events(),
        }
    }
}

fn default_prefix() -> String {
    "!aq".into()
}
fn default_max_attachment() -> u64 {
    50 * 1024 * 1024
}
fn default_grace() -> u64 {
    30
}
fn default_max_queued_matrix_events() -> usize {
    aqueduct_core::bridge::DEFAULT_MAX_QUEUED_MATRIX_EVENTS
}
fn default_backfill() -> usize {
    50
}

/// Double puppeting: make a user's messages from their own remote client appear as them.
/// Its `Debug` names the servers, not their secrets.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoublePuppetConfig {
    /// Server name -> `as_token:<token>` of a second registration whose non-exclusive user
    /// namespace covers that server's users, or the secret of the shared-secret login module.
    #[serde(default)]
    pub secrets: HashMap<String, String>,
}

impl std::fmt::Debug for DoublePuppetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: std::collections::BTreeMap<_, _> =
            self.secrets.keys().map(|k| (k, "<redacted>")).collect();
        f.debug_struct("DoublePuppetConfig")
            .field("secrets", &servers)
            .finish()
    }
}

/// Logging.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// `error` | `warn` | `info` | `debug` | `trace`, or a tracing filter (`RUST_LOG` overrides).
    #[serde(default = "default_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default = "default_format")]
    pub format: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: default_format(),
        }
    }
}

fn default_level() -> String {
    "info".into()
}
fn default_format() -> String {
    "text".into()
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown fields.
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The path.
        path: String,
        /// Why.
        source: serde_norway::Error,
    },
    /// A value is unusable.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads, parses, applies environment overrides and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut config: Config =
            serde_norway::from_str(text).map_err(|source| ConfigError::Parse {
                path: origin.to_owned(),
                source,
            })?;
        config.apply_env();
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self) {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = env("AQUEDUCT_AS_TOKEN") {
            self.appservice.as_token = v;
        }
        if let Some(v) = env("AQUEDUCT_HS_TOKEN") {
            self.appservice.hs_token = v;
        }
        if let Some(v) = env("AQUEDUCT_DATABASE_URI") {
            self.database.uri = v;
        }
        if let Some(v) = env("AQUEDUCT_CRYPTO_PICKLE_KEY") {
            self.encryption.pickle_key = Some(v);
        }
        if let Some(v) = env("AQUEDUCT_PROVISIONING_SECRET") {
            self.provisioning.shared_secret = Some(v);
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.appservice.as_token.len() < 16 || self.appservice.hs_token.len() < 16 {
            return bad("appservice.as_token and appservice.hs_token must be set (at least 16 characters); `aqueduct generate-registration` makes them".into());
        }
        if self.appservice.as_token == self.appservice.hs_token {
            return bad("appservice.as_token and appservice.hs_token must differ".into());
        }
        if url::Url::parse(&self.homeserver.url).is_err() {
            return bad(format!(
                "homeserver.url {:?} is not a URL",
                self.homeserver.url
            ));
        }
        if self
            .appservice
            .listen
            .parse::<std::net::SocketAddr>()
            .is_err()
        {
            return bad(format!(
                "appservice.listen {:?} is not host:port",
                self.appservice.listen
            ));
        }
        if self.appservice.ghost_prefix.is_empty()
            || self
                .appservice
                .bot_localpart
                .starts_with(&self.appservice.ghost_prefix)
        {
            return bad(
                "appservice.ghost_prefix must be non-empty and must not prefix the bot's localpart"
                    .into(),
            );
        }
        if self
            .appservice
            .sender_localpart()
            .starts_with(&self.appservice.ghost_prefix)
        {
            // The sender would sit in the ghost namespace and be taken for a remote user.
            return bad(format!(
                "appservice.sender_localpart {:?} must not start with appservice.ghost_prefix {:?}",
                self.appservice.sender_localpart(),
                self.appservice.ghost_prefix
            ));
        }
        for (server, secret) in &self.double_puppet.secrets {
            if secret.is_empty() || secret == "as_token:" {
                return bad(format!("double_puppet.secrets.{server} is empty"));
            }
        }
        if let Some(problem) = self.encryption.problem() {
            return bad(problem);
        }
        if let Some(problem) = self.metrics.problem(&self.appservice.listen) {
            return bad(problem);
        }
        if let Some(problem) = self.provisioning.problem() {
            return bad(problem);
        }
        if let Some(problem) = self.record.problem() {
            return bad(problem);
        }
        if !matches!(self.logging.format.as_str(), "text" | "json") {
            return bad(format!(
                "logging.format must be text or json, not {:?}",
                self.logging.format
            ));
        }
        Ok(())
    }

    /// The double-puppet secrets by server name.
    pub fn double_puppet_secrets(&self) -> HashMap<String, aqueduct_matrix::DoublePuppetSecret> {
        use aqueduct_matrix::DoublePuppetSecret;
        self.double_puppet
            .secrets
            .iter()
            .map(|(s, v)| {
                let secret = match v.strip_prefix("as_token:") {
                    Some(t) => DoublePuppetSecret::AsToken(t.to_owned()),
                    None => DoublePuppetSecret::SharedSecret(v.clone()),
                };
                (s.clone(), secret)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "homeserver: {url: 'http://127.0.0.1:8008', server_name: localhost}\nappservice: {address: 'http://127.0.0.1:29330', listen: '127.0.0.1:29330', as_token: aaaaaaaaaaaaaaaaaaaa, hs_token: bbbbbbbbbbbbbbbbbbbb}\n";

    #[test]
    fn debug_output_of_the_database_leaves_its_password_out() {
        for (uri, shown) in [
            (
                "postgres://aq:pw-not-for-logs@db:5432/aq",
                "postgres://aq:<redacted>@db:5432/aq",
            ),
            (
                "postgres://aq@db/aq?sslmode=require&password=pw-not-for-logs",
                "postgres://aq@db/aq?<redacted>",
            ),
            (
                "sqlite://aqueduct.db?mode=rwc",
                "sqlite://aqueduct.db?mode=rwc",
            ),
        ] {
            let config = DatabaseConfig {
                uri: uri.into(),
                secrets_key_file: None,
            };
            let debug = format!("{config:?}");
            assert!(!debug.contains("not-for-logs"), "{debug}");
            assert!(debug.contains(shown), "{debug}");
        }
    }

    #[test]
    fn debug_output_leaves_the_secrets_out() {
        let text = format!(
            "{MINIMAL}double_puppet: {{secrets: {{localhost: 'as_token:dddddddddddddddd'}}}}\n\
             provisioning: {{shared_secret: pppppppppppppppppppp}}\n\
             platforms: {{slack: {{oauth: {{client_id: '1', client_secret: ssssssssssssssss}}}}}}\n"
        );
        let c = Config::parse(&text, "t").unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in ["aaaaaaaa", "bbbbbbbb", "dddddddd", "pppppppp", "ssssssss"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("localhost") && shown.contains("slack"),
            "{shown}"
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL, "t").unwrap();
        assert_eq!(c.database.uri, "sqlite://aqueduct.db");
        assert_eq!(c.appservice.ghost_prefix, "aqueduct_");
        assert_eq!(c.bridge.command_prefix, "!aq");
        // Configs from before the metrics listener keep working: no metrics listener.
        assert_eq!(c.metrics.listen, None);
    }

    #[test]
    fn a_sender_in_the_ghost_namespace_is_refused() {
        let e = Config::parse(
            "homeserver: {url: 'http://127.0.0.1:8008', server_name: example.org}\nappservice: {address: 'http://127.0.0.1:29330', listen: '127.0.0.1:29330', as_token: aaaaaaaaaaaaaaaaaaaa, hs_token: bbbbbbbbbbbbbbbbbbbb, sender_localpart: aqueduct_as}\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sender_localpart"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Config::parse(&format!("{MINIMAL}bridge: {{comand_prefix: x}}\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("comand_prefix"), "{err}");
    }

    #[test]
    fn missing_tokens_are_explained() {
        let text = MINIMAL.replace("aaaaaaaaaaaaaaaaaaaa", "''");
        let err = Config::parse(&text, "t").unwrap_err().to_string();
        assert!(err.contains("generate-registration"), "{err}");
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../config/config.example.yaml");
        Config::parse(text, "example").unwrap();
    }
}
