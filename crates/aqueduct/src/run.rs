//! Wiring: config -> store, homeserver client, connectors, engine, listener; then run until
//! told to stop.

use crate::config::Config;
use crate::connectors::{ConnectorFactory, build_enabled};
use anyhow::{Context, bail};
use aqueduct_core::matrix::MatrixApi;
use aqueduct_core::metrics::Metrics;
use aqueduct_core::{Bridge, BridgeConfig};
use aqueduct_matrix::{ClientConfig, HomeserverClient, ping_homeserver};
use aqueduct_store::SqlStore;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs the bridge until `shutdown` resolves, then finishes in-flight work and returns.
pub async fn run(
    config: Config,
    factories: &[ConnectorFactory],
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let store = SqlStore::connect(&config.database.uri)
        .await
        .context("opening the database")?;
    // Login secrets are always sealed; without the key the bridge stops here.
    let store = crate::secrets_key::seal_store(store, &config.database).await?;
    let client = HomeserverClient::new(ClientConfig {
        homeserver_url: config.homeserver.url.clone(),
        server_name: config.homeserver.server_name.clone(),
        as_token: config.appservice.as_token.clone(),
        appservice_id: config.appservice.id.clone(),
        bot_localpart: config.appservice.bot_localpart.clone(),
        ghost_prefix: config.appservice.ghost_prefix.clone(),
        double_puppet: config.double_puppet_secrets(),
    });
    let settings = crate::connectors::BridgeSettings::from_config(&config);
    let connectors =
        build_enabled(factories, &config.platforms, &settings).map_err(anyhow::Error::msg)?;
    let web: crate::server::WebHandlers = Arc::new(
        connectors
            .iter()
            .filter_map(|c| c.web_handler().map(|h| (c.id().to_string(), h)))
            .collect(),
    );
    let bridge_config = BridgeConfig {
        ghost_prefix: config.appservice.ghost_prefix.clone(),
        command_prefix: config.bridge.command_prefix.clone(),
        permissions: aqueduct_core::permissions::Permissions::new(
            config.bridge.permissions.clone(),
        ),
        max_attachment_bytes: config.bridge.max_attachment_bytes,
        bridge_id: config.appservice.id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        backfill_limit: config.bridge.backfill_limit,
        public_media: public_media(&config),
    };
    // Encryption opens its store before anything else runs, so a second process on the same
    // store stops here; it reaches the homeserver only once that is up.
    let crypto = if config.encryption.allow {
        let options = crate::encryption_config::crypto_options(&config);
        Some(
            aqueduct_crypto::BridgeCrypto::open(client.clone(), options)
                .await
                .context("opening the crypto store")?,
        )
    } else {
        None
    };
    let matrix: Arc<dyn MatrixApi> = match &crypto {
        Some(crypto) => Arc::new(aqueduct_crypto::EncryptingMatrix::new(
            Arc::new(client.clone()),
            crypto.clone(),
        )),
        None => Arc::new(client.clone()),
    };
    let metrics = Metrics::new();
    let health = crate::health::Health::new(
        store.clone(),
        client.clone(),
        metrics.clone(),
        config.platforms.keys().cloned().collect(),
    );
    let record_key = if config.record.enabled {
        let path = config.record.signing_key_path(&config.database.uri);
        Some(Arc::new(
            crate::record::signing_key::load_or_create(&path)
                .context("loading the record's signing key (record.signing_key_file)")?,
        ))
    } else {
        None
    };
    let bridge = Bridge::new(
        bridge_config,
        Arc::new(match crate::record::content_key::load_or_create(&config)? {
            Some(key) => store
                .clone()
                .keep_record(config.record.enabled)
                .keep_record_content(key),
            None => store.clone().keep_record(config.record.enabled),
        }),
        matrix,
        connectors,
        metrics.clone(),
    );
    if let Some(crypto) = &crypto {
        bridge.set_decryptor(crypto.clone());
    }
    bridge.set_max_queued_matrix_events(config.bridge.max_queued_matrix_events);

    let listener = tokio::net::TcpListener::bind(&config.appservice.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.appservice.listen))?;
    tracing::info!(listen = %config.appservice.listen, "appservice listener up");
    // Bound before anything is served, so a taken port stops the start with nothing running.
    let metrics_listener = match &config.metrics.listen {
        Some(listen) => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
            tracing::info!(listen = %listen, "metrics listener up: /metrics, /health/live, /health/ready");
            Some(listener)
        }
        None => {
            tracing::warn!(
                "metrics are not served: set metrics.listen (e.g. 127.0.0.1:9330) to serve /metrics \
                 (the appservice listener does not serve it)"
            );
            None
        }
    };
    let app = crate::server::router(
        bridge.clone(),
        client.clone(),
        &config.appservice.hs_token,
        web,
        public_media(&config),
        crypto.clone(),
        config.appservice.max_transaction_bytes,
        &health,
    )
    .merge(crate::provisioning::routes(
        bridge.clone(),
        client.clone(),
        config.provisioning.secret(),
        metrics.clone(),
    ));
    let (stop_server, server_stopped) = tokio::sync::watch::channel(false);
    let server = serve(listener, app, server_stopped.clone());
    let metrics_server = metrics_listener.map(|listener| {
        let app = crate::metrics_listener::router(metrics.registry().clone(), &health);
        serve(listener, app, server_stopped)
    });

    wait_for_homeserver(&client).await?;
    // The bot is a namespace user, not the registration's sender, so the homeserver does not
    // create it by itself (an old registration whose sender is the bot answers "in use").
    if let Err(e) = client
        .ensure_registered(&config.appservice.bot_localpart)
        .await
    {
        tracing::warn!(error = %e, "cannot register the bridge bot's user");
    }
    if let Some(crypto) = &crypto {
        crypto
            .connect()
            .await
            .context("setting up the bridge bot's encryption device")?;
    }
    let bot = client.bot_user_id().to_owned();
    if let Err(e) = client
        .set_display_name(&bot, &config.appservice.bot_display_name)
        .await
    {
        tracing::warn!(error = %e, "cannot set the bot's display name");
    }
    bridge.start().await.context("starting the engine")?;
    let (stop_sealing, sealing_stopped) = tokio::sync::watch::channel(false);
    let sealer = record_key.map(|key| {
        crate::record::sealer::spawn(
            store.clone(),
            key,
            Duration::from_secs(config.record.seal_interval_secs),
            config
                .record
                .retention_days
                .map(|d| Duration::from_secs(d * 86_400)),
            sealing_stopped,
        )
    });
    health.set_phase(crate::health::Phase::Running);
    tracing::info!(bot = %bot, "bridge running; start a chat with the bot to use it");
    crate::sd_notify::notify("READY=1\nSTATUS=bridge running");

    shutdown.await;
    health.set_phase(crate::health::Phase::Stopping);
    crate::sd_notify::notify("STOPPING=1\nSTATUS=stopping: finishing in-flight work");
    tracing::info!("stopping: finishing in-flight work");
    bridge
        .shutdown(Duration::from_secs(config.bridge.shutdown_grace_secs))
        .await;
    // Sealed last, so the final seal covers what the grace period finished.
    let _ = stop_sealing.send(true);
    if let Some(sealer) = sealer {
        let _ = sealer.await;
    }
    let _ = stop_server.send(true);
    let _ = server.await;
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    if let Some(crypto) = &crypto {
        crypto.stop();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves `app` on `listener` in a task until `stop` turns true.
fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await
    })
}

/// Signed public URLs for media, when a public URL is configured. The key comes from the
/// `as_token`, a secret the bridge has anyway and never shows to the internet.
fn public_media(config: &Config) -> Option<aqueduct_core::public_media::PublicMedia> {
    config
        .appservice
        .public_url
        .as_deref()
        .map(|url| aqueduct_core::public_media::PublicMedia::new(url, &config.appservice.as_token))
}

/// Pings the homeserver until it confirms it can reach the bridge. Wrong tokens end the start
/// with a plain explanation; an unreachable homeserver is retried for a while.
async fn wait_for_homeserver(client: &HomeserverClient) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        match ping_homeserver(client).await {
            Ok(rtt) => {
                tracing::info!(
                    round_trip_ms = rtt.as_millis() as u64,
                    "the homeserver reached the bridge"
                );
                return Ok(());
            }
            Err(e) => {
                let text = e.to_string();
                if text.contains("as_token")
                    || text.contains("hs_token")
                    || text.contains("registration id")
                {
                    bail!("{text}");
                }
                attempts += 1;
                if attempts >= 30 {
                    bail!("{text}");
                }
                tracing::error!("{text} (retrying in 2 s)");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Dependencies whose debug and trace lines carry what the bridge sends and receives:
/// request headers (`Authorization`, Rocket.Chat's `X-Auth-Token`), URLs with their query
/// (Slack's Socket Mode ticket), WebSocket frames (Rocket.Chat's login by token), SQL with its
/// values (the logins' secrets). A filter asking for `debug` or `trace` everywhere would put
/// secrets in the log through them, so they stay at `warn` unless the filter names them
/// (`RUST_LOG=trace,hyper=trace` is an operator's deliberate choice).
pub const QUIET_DEPENDENCIES: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "sqlx",
    "tokio_tungstenite",
    "tungstenite",
];

/// The tracing filter for a requested one (`RUST_LOG` or `logging.level`): it, plus `warn`
/// for each of [`QUIET_DEPENDENCIES`] it does not name as a target.
pub fn log_filter(requested: &str) -> String {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let named: Vec<&str> = requested
        .split(',')
        .filter_map(|directive| {
            let target = directive.split(['[', '=']).next()?.trim();
            (!target.is_empty() && !LEVELS.contains(&target.to_ascii_lowercase().as_str()))
                .then_some(target)
        })
        .collect();
    let mut filter = requested.trim().to_owned();
    for dependency in QUIET_DEPENDENCIES {
        if !named.contains(dependency) {
            if !filter.is_empty() {
                filter.push(',');
            }
            filter.push_str(dependency);
            filter.push_str("=warn");
        }
    }
    filter
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("can install a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Sets up logging as the config says (`RUST_LOG` overrides the level). Either way the
/// dependencies of [`QUIET_DEPENDENCIES`] stay at `warn` unless the filter names them.
pub fn init_logging(config: &crate::config::LoggingConfig) {
    let requested = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| config.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(&requested))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(&config.level)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if config.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod log_filter_tests {
    use super::*;

    #[test]
    fn trace_everywhere_keeps_the_dependencies_that_log_secrets_at_warn() {
        let filter = log_filter("trace");
        assert!(filter.starts_with("trace,"), "{filter}");
        for dependency in QUIET_DEPENDENCIES {
            assert!(filter.contains(&format!(",{dependency}=warn")), "{filter}");
        }
        let parsed = tracing_subscriber::EnvFilter::try_new(&filter).expect("a valid filter");
        assert!(parsed.to_string().contains("hyper=warn"), "{parsed}");
    }

    #[test]
    fn a_dependency_the_filter_names_is_left_as_asked() {
        let filter = log_filter("info,hyper=trace,aqueduct_slack[login]=debug");
        assert!(!filter.contains("hyper=warn"), "{filter}");
        assert!(filter.contains("hyper=trace") && filter.contains("reqwest=warn"));
        assert!(log_filter("debug,sqlx").ends_with("tungstenite=warn"));
        assert!(!log_filter("debug,sqlx").contains("sqlx=warn"));
        // A sub-target of a dependency is more specific than its `warn`, so it still applies.
        assert!(log_filter("hyper::proto=trace").contains("hyper=warn"));
        assert!(log_filter("").starts_with("h2=warn"));
    }
}
