//! The chaos run's world: a real Synapse, the fake Slack and Rocket.Chat, and the test bridge
//! as a process that can be killed, with one Matrix user logged in to both platforms and a
//! portal on each.

use crate::platforms::Fakes;
use crate::scenarios::Portal;
use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::MatrixClient;
use sqlx::Connection;
use std::path::PathBuf;
use std::time::Duration;

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
    bridge_bin: PathBuf,
    bridge: Option<tokio::process::Child>,
}

impl World {
    /// Starts Synapse, both fakes and the bridge, logs the user in and opens both portals.
    pub async fn start(bridge_bin: PathBuf) -> anyhow::Result<Self> {
        let fakes = Fakes::start().await?;
        let env = BridgeEnv::new(EnvOptions {
            extra_platforms: Some(fakes.config_yaml()),
            ..EnvOptions::default()
        })
        .await?;
        let bridge = env.spawn_process(&bridge_bin).await?;
        let alice = env.user("alice").await?;
        let (slack, rocketchat) = fakes
            .open_portals(&env, &alice, &[], Duration::from_secs(120))
            .await?;
        Ok(Self {
            env,
            fakes,
            alice,
            slack,
            rocketchat,
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

    /// The end of the bridge's log, for a report that failed.
    pub fn bridge_log_tail(&self, lines: usize) -> String {
        let log = self.env.bridge_log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the bridge (SIGKILL: nothing is left to finish) and Synapse.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.kill_bridge().await?;
        self.env.synapse.stop().await
    }
}
