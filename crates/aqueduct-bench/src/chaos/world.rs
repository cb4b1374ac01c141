//! The chaos run's world: a real Synapse, the fake Slack and Rocket.Chat, and the test bridge
//! as a process that can be killed, with one Matrix user logged in to both platforms and a
//! portal on each. The bridge's store is SQLite, or a scratch PostgreSQL database reached
//! through the run's own proxy ([`DbProxy`]) so the database can restart under it.

use super::db_proxy::{DbProxy, Refusal};
use crate::env::ScratchDatabase;
use crate::platforms::Fakes;
use crate::scenarios::Portal;
use anyhow::Context;
use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::MatrixClient;
use sqlx::Connection;
use std::path::PathBuf;
use std::time::Duration;

/// The bridge's PostgreSQL database: made for the run, dropped after it, reached through
/// the proxy.
pub struct PostgresDatabase {
    scratch: ScratchDatabase,
    proxy: DbProxy,
    /// The URI the bridge is configured with (the proxy's address, the scratch database).
    pub bridge_uri: String,
}

impl PostgresDatabase {
    /// Creates a scratch database on the server `admin_url` names (a database there that may
    /// create databases) and a proxy in front of the server.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let scratch = ScratchDatabase::create(admin_url).await.with_context(|| {
            format!(
                "cannot create the bridge's scratch database on the PostgreSQL server at {} \
                 (a chaos run on PostgreSQL needs a server it may create databases on: start \
                 it, or set AQUEDUCT_TEST_POSTGRES or --postgres URL)",
                shown(admin_url)
            )
        })?;
        let parts = (
            scratch.options.get_host().to_owned(),
            scratch.options.get_port(),
            scratch.name.clone(),
        );
        match Self::proxied(parts, admin_url).await {
            Ok((proxy, bridge_uri)) => Ok(Self {
                scratch,
                proxy,
                bridge_uri,
            }),
            Err(e) => {
                let _ = scratch.drop_now().await;
                Err(e)
            }
        }
    }

    async fn proxied(
        (host, port, name): (String, u16, String),
        admin_url: &str,
    ) -> anyhow::Result<(DbProxy, String)> {
        anyhow::ensure!(
            !host.starts_with('/'),
            "the chaos run reaches PostgreSQL over TCP; {host} is a socket directory"
        );
        let target = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        let proxy = DbProxy::start(target).await?;
        let mut url = reqwest::Url::parse(admin_url)?;
        url.set_host(Some("127.0.0.1"))?;
        url.set_port(Some(proxy.addr().port()))
            .map_err(|()| anyhow::anyhow!("{} takes no port", shown(admin_url)))?;
        url.set_path(&format!("/{name}"));
        Ok((proxy, url.to_string()))
    }

    /// The server restarts: open connections are cut and new ones refused for `outage`.
    pub async fn restart(&self, outage: Duration, refusal: Refusal) -> anyhow::Result<()> {
        self.proxy.restart(outage, refusal).await
    }

    /// Drops the scratch database (and with it any connection still open).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        drop(self.proxy);
        self.scratch.drop_now().await
    }
}

/// `host:port` of a PostgreSQL URL, for messages (no password).
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432)
        ),
        Err(_) => "(an unparsable URL)".into(),
    }
}

/// Everything the run needs, up and connected.
pub struct World {
    /// Synapse and the bridge's config and directory.
    pub env: BridgeEnv,
    /// The two platforms.
    pub fakes: Fakes,
    /// The Matrix user, logged in to both platforms.
    pub alice: MatrixClient,
    /// The Slack channel's portal.
    pub slack: Portal,
    /// The Rocket.Chat room's portal.
    pub rocketchat: Portal,
    /// The bridge's PostgreSQL database; `None` when it runs on SQLite.
    pub postgres: Option<PostgresDatabase>,
    bridge_bin: PathBuf,
    bridge: Option<tokio::process::Child>,
}

impl World {
    /// Starts Synapse, both fakes and the bridge, logs the user in and opens both portals.
    /// With `postgres` (an admin URL) the bridge runs on a scratch database on that server,
    /// through the run's proxy; otherwise on SQLite.
    pub async fn start(bridge_bin: PathBuf, postgres: Option<&str>) -> anyhow::Result<Self> {
        let postgres = match postgres {
            Some(admin_url) => Some(PostgresDatabase::create(admin_url).await?),
            None => None,
        };
        let database_uri = postgres.as_ref().map(|p| p.bridge_uri.clone());
        let started = async {
            let fakes = Fakes::start().await?;
            let env = BridgeEnv::new(EnvOptions {
                extra_platforms: Some(fakes.config_yaml()),
                database_uri,
                ..EnvOptions::default()
            })
            .await?;
            // The appservice listener's debug lines say in which order Synapse delivered the
            // events, which the verdict needs (see `check::excuse_homeserver_order`).
            let config = std::fs::read_to_string(&env.config_path)?.replace(
                "logging:\n  level: info\n",
                "logging:\n  level: \"info,aqueduct_matrix::appservice_server=debug\"\n",
            );
            std::fs::write(&env.config_path, config)?;
            let bridge = env.spawn_process(&bridge_bin).await?;
            let opened = async {
                let alice = env.user("alice").await?;
                let (slack, rocketchat) = fakes
                    .open_portals(&env, &alice, &[], Duration::from_secs(120))
                    .await?;
                anyhow::Ok((alice, slack, rocketchat))
            }
            .await;
            // A world that never opened its portals is a failure to read about later (a CI
            // run keeps nothing else): the bridge's log goes with the error.
            let (alice, slack, rocketchat) = opened.map_err(|e| {
                let kept = keep_log(&env.bridge_log(), "start");
                e.context(format!(
                    "the chaos world did not start; the bridge's whole log is kept in {}, \
                     it ends with:\n{}",
                    kept.display(),
                    log_tail(&env.bridge_log(), 60)
                ))
            })?;
            anyhow::Ok((env, fakes, alice, slack, rocketchat, bridge))
        }
        .await;
        let (env, fakes, alice, slack, rocketchat, bridge) = match started {
            Ok(parts) => parts,
            Err(e) => {
                if let Some(p) = postgres {
                    let _ = p.drop_now().await;
                }
                return Err(e);
            }
        };
        Ok(Self {
            env,
            fakes,
            alice,
            slack,
            rocketchat,
            postgres,
            bridge_bin,
            bridge: Some(bridge),
        })
    }

    /// SIGKILLs the bridge process and reaps it.
    pub async fn kill_bridge(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.bridge.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts the bridge process (again) and waits until it serves.
    pub async fn start_bridge(&mut self) -> anyhow::Result<()> {
        self.bridge = Some(self.env.spawn_process(&self.bridge_bin).await?);
        Ok(())
    }

    /// Holds the bridge's SQLite database in an exclusive transaction for `hold`, as another
    /// process would (a backup tool, a careless operator), so the bridge meets "database is
    /// busy" for as long.
    pub async fn hold_database(&self, hold: Duration) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.postgres.is_none(),
            "the database is held busy only on SQLite"
        );
        let path = self.env.dir.path().join("aqueduct.db");
        let mut conn =
            sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await?;
        sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut conn).await?;
        tokio::time::sleep(hold).await;
        sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// Restarts the bridge's PostgreSQL database as seen from the bridge: every connection
    /// cut at once, new ones refused for `outage`.
    pub async fn restart_database(&self, outage: Duration, refusal: Refusal) -> anyhow::Result<()> {
        let postgres = self
            .postgres
            .as_ref()
            .context("the database restarts only on a PostgreSQL run")?;
        postgres.restart(outage, refusal).await
    }

    /// The end of the bridge's log, for a report that failed.
    pub fn bridge_log_tail(&self, lines: usize) -> String {
        log_tail(&self.env.bridge_log(), lines)
    }

    /// Stops the bridge (SIGKILL: nothing is left to finish) and Synapse, and drops the
    /// scratch database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let killed = self.kill_bridge().await;
        let stopped = self.env.synapse.stop().await;
        if let Some(p) = self.postgres.take() {
            p.drop_now().await?;
        }
        killed?;
        stopped
    }
}

/// The last `lines` lines of `log`.
fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Writes the bridge's whole `log` to a file in the temporary directory named after `what`
/// (and the process, so parallel runs keep theirs) and returns its path.
pub(crate) fn keep_log(log: &str, what: &str) -> PathBuf {
    let kept = std::env::temp_dir().join(format!(
        "aqueduct-chaos-{what}-{}-bridge.log",
        std::process::id()
    ));
    if let Err(e) = std::fs::write(&kept, log) {
        eprintln!(
            "chaos: cannot keep the bridge's log in {}: {e}",
            kept.display()
        );
    }
    kept
}
