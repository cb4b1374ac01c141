//! The Slack end-to-end setup shared by the Slack test files: a real Synapse and bridge, the
//! fake Slack with one workspace user (`UBOB`) and one channel (`C1`), and a Matrix user
//! (`alice`) who logs the workspace app in.

use crate::bridge_env::{BridgeEnv, EnvOptions};
use crate::fake_slack::{
    FakeSlack, TEAM_ID, check_requests_against_spec, load_slack_spec, validate_event_wrapper,
};
use crate::matrix_client::MatrixClient;
use aqueduct_core::ghost_ids::GhostNamer;
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use std::time::Duration;

/// How long a test waits for something to cross.
pub const WAIT: Duration = Duration::from_secs(30);

/// The Matrix id of the ghost of Slack user `user` of team `team`.
pub fn ghost_of(team: &str, user: &str) -> String {
    GhostNamer::new("aqueduct_", "localhost").user_id(
        &ConnectorId::new("slack"),
        &RemoteUserId::new(format!("{team}-{user}")),
    )
}

/// The Matrix id of the ghost of Slack user `user` of the fake's own workspace.
pub fn ghost(user: &str) -> String {
    ghost_of(TEAM_ID, user)
}

/// The environment.
pub struct SlackEnv {
    /// Synapse and the bridge's config.
    pub env: BridgeEnv,
    /// The fake Slack.
    pub slack: FakeSlack,
    /// The Matrix user who logs the app in.
    pub alice: MatrixClient,
}

impl SlackEnv {
    /// Starts the fake Slack (user `UBOB`, channel `C1` with the bot and Bob) and Synapse with
    /// the bridge configured for it. The bridge itself is not started.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(EnvOptions::default(), "").await
    }

    /// As [`SlackEnv::start`], with environment options and extra lines for the `slack:`
    /// section (YAML indented by four spaces).
    pub async fn start_with(options: EnvOptions, extra_slack_yaml: &str) -> anyhow::Result<Self> {
        let slack = FakeSlack::start().await?;
        slack.add_user("UBOB", "bob", "Bob Slack");
        slack.add_channel("C1", "general", &["UBOT", "UBOB"], false);
        let env = BridgeEnv::new(EnvOptions {
            extra_platforms: Some(format!(
                "  slack:\n    api_url: {}\n{extra_slack_yaml}",
                slack.api_base()
            )),
            ..options
        })
        .await?;
        let alice = env.user("alice").await?;
        Ok(Self { env, slack, alice })
    }

    /// Logs the workspace app in as `alice`; returns her management room.
    pub async fn login_app(&self) -> anyhow::Result<String> {
        let room = self.env.management_room(&self.alice).await?;
        self.env
            .command(
                &self.alice,
                &room,
                &self.slack.app_login_command(),
                "Logged in",
            )
            .await?;
        Ok(room)
    }

    /// Fails unless every request the connector made carries parameters of the names and
    /// types Slack's OpenAPI description gives, and every event the fake emitted validates
    /// against Slack's event wrapper schema.
    pub fn check_conformance(&self) -> anyhow::Result<()> {
        let spec = load_slack_spec()?;
        let problems: Vec<String> = check_requests_against_spec(&self.slack.requests(), &spec)
            .into_iter()
            .filter(|p| !p.contains("not in spec"))
            .collect();
        anyhow::ensure!(
            problems.is_empty(),
            "requests that disagree with Slack's OpenAPI: {problems:#?}"
        );
        for wrapper in self.slack.emitted_events() {
            let problems = validate_event_wrapper(&wrapper);
            anyhow::ensure!(problems.is_empty(), "{problems:?} in {wrapper}");
        }
        Ok(())
    }
}

/// The signing secret of [`events_api_env`]'s Slack app.
pub const EVENTS_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A fake Slack with Bob in `C1` (`general`, the bot a member) and Synapse with the bridge
/// configured to receive through the Events API (signed with [`EVENTS_SIGNING_SECRET`]);
/// `extra` are more lines of the `slack:` section (indented by four spaces). The bridge is
/// not started. Returns the fake, the environment and the bridge's events URL, which
/// `FakeSlack::deliver_events_over_http` takes.
pub async fn events_api_env(extra: &str) -> anyhow::Result<(FakeSlack, BridgeEnv, String)> {
    let slack = FakeSlack::start().await?;
    slack.add_user("UBOB", "bob", "Bob Slack");
    slack.add_channel("C1", "general", &["UBOT", "UBOB"], false);
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!(
            "  slack:\n    api_url: {}\n{extra}    events_api:\n      signing_secret: {EVENTS_SIGNING_SECRET}\n",
            slack.api_base()
        )),
        ..Default::default()
    })
    .await?;
    let url = format!(
        "http://127.0.0.1:{}/_aqueduct/slack/events",
        env.bridge_port
    );
    Ok((slack, env, url))
}
