//! The Rocket.Chat end-to-end setup: a real Synapse and bridge, the fake Rocket.Chat with two
//! users (`RCALICE` "alice", who is the Matrix user alice's own account, and `RCBOB` "bob")
//! in one channel (`GENERAL`), and the Matrix user `alice`.

use crate::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use crate::fake_rocketchat::{
    FakeRocketChat, check_rocketchat_requests, check_rocketchat_responses, load_rocketchat_specs,
};
use crate::matrix_client::MatrixClient;
use aqueduct_core::ghost_ids::GhostNamer;
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use serde_json::Value;
use std::time::Duration;

/// How long a test waits for something to cross.
pub const WAIT: Duration = Duration::from_secs(30);

/// The channel every test starts with.
pub const GENERAL: &str = "GENERAL";

/// The Matrix id of the ghost of Rocket.Chat user `id`.
pub fn ghost(id: &str) -> String {
    GhostNamer::new("aqueduct_", "localhost")
        .user_id(&ConnectorId::new("rocketchat"), &RemoteUserId::new(id))
}

/// The environment.
pub struct RocketChatEnv {
    /// Synapse and the bridge's config.
    pub env: BridgeEnv,
    /// The fake Rocket.Chat.
    pub rc: FakeRocketChat,
    /// The Matrix user.
    pub alice: MatrixClient,
    /// Alice's personal access token on Rocket.Chat.
    pub alice_token: String,
}

impl RocketChatEnv {
    /// Starts the fake and Synapse with the bridge configured for it; the bridge itself is
    /// not started.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(EnvOptions::default(), "").await
    }

    /// As [`RocketChatEnv::start`], with `options` for the bridge and `extra` lines of the
    /// `rocketchat:` config section (YAML indented by four spaces, e.g.
    /// `"    max_file_bytes: 100\n"`).
    pub async fn start_with(options: EnvOptions, extra: &str) -> anyhow::Result<Self> {
        let rc = FakeRocketChat::start().await?;
        let alice_token = rc.add_user("RCALICE", "alice", "Alice Rocket");
        rc.add_user("RCBOB", "bob", "Bob Rocket");
        rc.add_room(GENERAL, "c", "general", &["RCALICE", "RCBOB"]);
        let env = BridgeEnv::new(EnvOptions {
            extra_platforms: Some(format!(
                "  rocketchat:\n    server_url: {}\n{extra}",
                rc.url()
            )),
            ..options
        })
        .await?;
        let alice = env.user("alice").await?;
        Ok(Self {
            env,
            rc,
            alice,
            alice_token,
        })
    }

    /// Logs alice in with her personal access token; returns her management room.
    pub async fn login_alice(&self) -> anyhow::Result<String> {
        let room = self.env.management_room(&self.alice).await?;
        self.env
            .command(
                &self.alice,
                &room,
                &format!("login rocketchat token RCALICE {}", self.alice_token),
                "Logged in",
            )
            .await?;
        Ok(room)
    }

    /// Starts the bridge, logs alice in and opens the portal of `GENERAL` with a first message
    /// from bob ("opening"); returns the bridge and the room.
    pub async fn open_general(&self) -> anyhow::Result<(RunningBridge, String)> {
        let bridge = self.env.start_in_process().await?;
        self.login_alice().await?;
        self.rc.post(GENERAL, "RCBOB", "opening", None);
        let room = self.env.accept_portal_invite(&self.alice).await?;
        self.alice
            .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "opening")
            .await?;
        Ok((bridge, room))
    }

    /// Waits until the bridge's portal queues are empty (`aqueduct_queue_depth` 0 on its
    /// `/metrics`): everything queued so far has been handled.
    pub async fn queues_drained(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let metrics = self.env.metrics().await?;
            if metrics
                .lines()
                .any(|l| l.trim() == "aqueduct_queue_depth 0")
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "portal queues not drained within {WAIT:?}"
            );
            // A gauge has no change to wait on: poll it.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails unless every REST request the connector made matches the parameters and request
    /// schemas of Rocket.Chat's OpenAPI files, and every answer of the fake matches the
    /// response schemas.
    pub fn check_conformance(&self) -> anyhow::Result<()> {
        self.check_conformance_except(&[])
    }

    /// As [`RocketChatEnv::check_conformance`], leaving out the traffic of endpoints
    /// starting with one of `outside_the_spec`: for servers older than the one the OpenAPI
    /// files describe (which answer 404 where a newer one serves, and serve endpoints the
    /// files no longer list).
    pub fn check_conformance_except(&self, outside_the_spec: &[&str]) -> anyhow::Result<()> {
        let outside = |endpoint: &str| outside_the_spec.iter().any(|p| endpoint.starts_with(p));
        let requests: Vec<_> = self
            .rc
            .requests()
            .into_iter()
            .filter(|r| !outside(&r.endpoint))
            .collect();
        let responses: Vec<_> = self
            .rc
            .responses()
            .into_iter()
            .filter(|r| !outside(&r.endpoint))
            .collect();
        let specs = load_rocketchat_specs()?;
        let problems = check_rocketchat_requests(&requests, &specs);
        anyhow::ensure!(
            problems.is_empty(),
            "requests that disagree with Rocket.Chat's OpenAPI: {problems:#?}"
        );
        let problems = check_rocketchat_responses(&responses, &specs);
        anyhow::ensure!(
            problems.is_empty(),
            "fake answers that disagree with Rocket.Chat's OpenAPI: {problems:#?}"
        );
        Ok(())
    }
}

/// Counts the events of `room` (as `client` sees them) that `pred` accepts.
pub async fn count_events(
    client: &MatrixClient,
    room: &str,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<usize> {
    Ok(client
        .messages(room)
        .await?
        .iter()
        .filter(|e| pred(e))
        .count())
}
