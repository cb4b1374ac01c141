//! The shipped connectors in the benchmark: Slack (Socket Mode and the Web API) and
//! Rocket.Chat (the realtime API and REST), each against its fake from the test kit, in the
//! same bridge process as the test network. Each gets one channel with one remote user (Bob)
//! besides the benchmark's Matrix user's own account.

use crate::proxy::RouteCounts;
use crate::scenarios::Portal;
use aqueduct_testkit::bridge_env::BridgeEnv;
use aqueduct_testkit::fake_rocketchat::FakeRocketChat;
use aqueduct_testkit::fake_slack::FakeSlack;
use aqueduct_testkit::matrix_client::MatrixClient;
use std::time::Duration;

/// Which remote side a portal is bridged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The test network (the test kit's minimal platform).
    TestNet,
    /// The fake Slack.
    Slack,
    /// The fake Rocket.Chat.
    RocketChat,
}

/// The Slack channel of the benchmark.
pub const SLACK_CHANNEL: &str = "CBENCH";
/// Its name, which the portal's room takes.
const SLACK_CHANNEL_NAME: &str = "slackbench";
/// The Slack user whose messages the Slack scenarios send.
pub const SLACK_BOB: &str = "UBOB";
/// The Rocket.Chat room of the benchmark.
pub const ROCKETCHAT_ROOM: &str = "RCBENCH";
/// Its name, which the portal's room takes.
const ROCKETCHAT_ROOM_NAME: &str = "rcbench";
/// The Rocket.Chat user whose messages the Rocket.Chat scenarios send.
pub const ROCKETCHAT_BOB: &str = "RCBOB";
/// The Rocket.Chat account the Matrix user logs in as.
const ROCKETCHAT_ALICE: &str = "RCALICE";

/// The two platform fakes, started before the bridge's config is written.
pub struct Fakes {
    /// The fake Slack.
    pub slack: FakeSlack,
    /// The fake Rocket.Chat.
    pub rocketchat: FakeRocketChat,
    /// The Matrix user's personal access token on Rocket.Chat.
    rocketchat_token: String,
}

impl Fakes {
    /// Starts both fakes with the benchmark's users and one channel each.
    pub async fn start() -> anyhow::Result<Self> {
        let slack = FakeSlack::start().await?;
        slack.add_user(SLACK_BOB, "bob", "Bob Slack");
        slack.add_channel(
            SLACK_CHANNEL,
            SLACK_CHANNEL_NAME,
            &["UBOT", SLACK_BOB],
            false,
        );
        let rocketchat = FakeRocketChat::start().await?;
        let rocketchat_token = rocketchat.add_user(ROCKETCHAT_ALICE, "alice", "Alice Rocket");
        rocketchat.add_user(ROCKETCHAT_BOB, "bob", "Bob Rocket");
        rocketchat.add_room(
            ROCKETCHAT_ROOM,
            "c",
            ROCKETCHAT_ROOM_NAME,
            &[ROCKETCHAT_ALICE, ROCKETCHAT_BOB],
        );
        Ok(Self {
            slack,
            rocketchat,
            rocketchat_token,
        })
    }

    /// The `platforms:` entries for both (indented for the section). Slack's posting pace is
    /// raised far above its default of one message per second per channel (Slack's own
    /// limit), which would otherwise be all that Matrix -> Slack measures.
    pub fn config_yaml(&self) -> String {
        format!(
            "  slack:\n    api_url: {}\n    send_pace:\n      burst: 100000\n      per_second: 100000\n\
             \x20 rocketchat:\n    server_url: {}\n",
            self.slack.api_base(),
            self.rocketchat.url(),
        )
    }

    /// Logs `user` in to both platforms and opens both portals with a first message from
    /// Bob; `known` are the rooms `user` is already in. Returns (Slack, Rocket.Chat).
    pub async fn open_portals(
        &self,
        env: &BridgeEnv,
        user: &MatrixClient,
        known: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<(Portal, Portal)> {
        let management = env.management_room(user).await?;
        let mut known: Vec<String> = known.iter().map(|r| (*r).to_owned()).collect();
        known.push(management.clone());
        env.command(
            user,
            &management,
            &self.slack.app_login_command(),
            "Logged in",
        )
        .await?;
        self.slack
            .post(SLACK_CHANNEL, SLACK_BOB, "warm-up slack", None);
        let slack = join_portal(user, &env.bot, &mut known, SLACK_CHANNEL_NAME, timeout).await?;
        env.command(
            user,
            &management,
            &format!(
                "login rocketchat token {ROCKETCHAT_ALICE} {}",
                self.rocketchat_token
            ),
            "Logged in",
        )
        .await?;
        self.rocketchat
            .post(ROCKETCHAT_ROOM, ROCKETCHAT_BOB, "warm-up rocketchat", None);
        let rocketchat =
            join_portal(user, &env.bot, &mut known, ROCKETCHAT_ROOM_NAME, timeout).await?;
        Ok((
            Portal {
                chat: SLACK_CHANNEL.into(),
                room: slack,
                side: Side::Slack,
            },
            Portal {
                chat: ROCKETCHAT_ROOM.into(),
                room: rocketchat,
                side: Side::RocketChat,
            },
        ))
    }
}

impl Fakes {
    /// The requests the fake of `side` has received so far, by method (Slack) or by HTTP
    /// method and endpoint (Rocket.Chat); nothing for the test network.
    pub fn request_counts(&self, side: Side) -> RouteCounts {
        let mut counts = RouteCounts::new();
        let names: Vec<String> = match side {
            Side::Slack => self
                .slack
                .requests()
                .into_iter()
                .map(|r| r.method)
                .collect(),
            Side::RocketChat => self
                .rocketchat
                .requests()
                .into_iter()
                .map(|r| format!("{} {}", r.http_method, r.endpoint))
                .collect(),
            Side::TestNet => Vec::new(),
        };
        for name in names {
            *counts.entry(name).or_default() += 1;
        }
        counts
    }
}

/// Waits for the bot's next portal invite (to a room not in `known`), joins it and checks
/// that it is the portal of the chat named `name`.
async fn join_portal(
    user: &MatrixClient,
    bot: &str,
    known: &mut Vec<String>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let skip: Vec<&str> = known.iter().map(String::as_str).collect();
    let room = user
        .wait_for_invite_except(Some(bot), &skip, timeout)
        .await?;
    user.join(&room).await?;
    let named = user.state_event(&room, "m.room.name", "").await?;
    let got = named.as_ref().and_then(|n| n["name"].as_str());
    anyhow::ensure!(
        got == Some(name),
        "expected the portal of {name}, got room {room} named {got:?}"
    );
    known.push(room.clone());
    Ok(room)
}
