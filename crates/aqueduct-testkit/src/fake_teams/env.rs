//! A Teams test setting: the fake tenant, a real Synapse, the bridge in this process with a
//! `teams` platform pointed at the fake, and a device-code sign-in as a Matrix user does it.

use super::FakeTeams;
use crate::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use crate::matrix_client::MatrixClient;
use aqueduct_core::ghost_ids::GhostNamer;
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use std::time::Duration;

/// How long a test waits for something to cross.
pub const WAIT: Duration = Duration::from_secs(30);

/// The Matrix id of a Teams user's ghost.
pub fn ghost(id: &str) -> String {
    GhostNamer::new("aqueduct_", "localhost")
        .user_id(&ConnectorId::new("teams"), &RemoteUserId::new(id))
}

/// The fake tenant, Synapse and the running bridge.
pub struct TeamsEnv {
    /// The fake tenant.
    pub teams: FakeTeams,
    /// Synapse and the bridge's config.
    pub env: BridgeEnv,
    /// The bridge.
    pub bridge: RunningBridge,
}

impl TeamsEnv {
    /// Starts everything; `extra` is added to the `teams:` section (lines indented by 4).
    pub async fn start(extra: &str) -> anyhow::Result<Self> {
        let teams = FakeTeams::start().await?;
        let env = BridgeEnv::new(EnvOptions {
            extra_platforms: Some(format!(
                "  teams:\n    client_id: aqueduct-test\n    tenant: contoso\n    authority: {}\n    graph_url: {}\n    poll_interval_secs: 1\n{extra}",
                teams.authority(),
                teams.graph_url()
            )),
            ..EnvOptions::default()
        })
        .await?;
        let bridge = env.start_in_process().await?;
        Ok(Self { teams, env, bridge })
    }

    /// Signs `user` in as Teams user `remote` (`login teams`, the code entered on
    /// "Microsoft's page"); returns their management room.
    pub async fn login(&self, user: &MatrixClient, remote: &str) -> anyhow::Result<String> {
        let room = self.env.management_room(user).await?;
        sign_in(&self.env, &self.teams, user, &room, remote).await?;
        Ok(room)
    }

    /// Waits for the bot's invite to a portal other than the `known` rooms and joins it.
    pub async fn accept_new_portal(
        &self,
        user: &MatrixClient,
        known: &[&str],
    ) -> anyhow::Result<String> {
        let room = user
            .wait_for_invite_except(Some(&self.env.bot), known, WAIT)
            .await?;
        user.join(&room).await?;
        Ok(room)
    }

    /// Fails when the fake's answers or the bridge's requests departed from the CSDL or
    /// Microsoft's documented rules.
    pub fn check_conformance(&self) -> anyhow::Result<()> {
        let found = self.teams.violations();
        anyhow::ensure!(found.is_empty(), "Graph conformance: {found:#?}");
        Ok(())
    }

    /// Stops the bridge and Synapse.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.bridge.stop().await?;
        self.env.synapse.stop().await
    }
}

/// Signs `user` in to Teams as `remote` from their management room `room`, as a person does
/// it: `login teams`, then the shown code entered on "Microsoft's page" (the fake's).
pub async fn sign_in(
    env: &BridgeEnv,
    teams: &FakeTeams,
    user: &MatrixClient,
    room: &str,
    remote: &str,
) -> anyhow::Result<()> {
    let shown = env
        .command(user, room, "login teams", "enter the code")
        .await?;
    let text = shown["content"]["body"].as_str().unwrap_or_default();
    let code = text
        .split_whitespace()
        .find(|w| w.starts_with("CODE"))
        .ok_or_else(|| anyhow::anyhow!("no code in {text}"))?;
    anyhow::ensure!(
        teams.approve_device_code(code, remote),
        "the code {code} is not pending"
    );
    user.wait_for_event(room, WAIT, |e| {
        e["sender"] == env.bot.as_str()
            && e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("Logged in") && b.to_lowercase().contains("teams"))
    })
    .await?;
    Ok(())
}
