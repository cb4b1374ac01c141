//! The shipped connectors in the benchmark: Slack (Socket Mode and the Web API),
//! Rocket.Chat (the realtime API and REST) and Microsoft Teams (Graph, polled), each against
//! its fake from the test kit, in the same bridge process as the test network. Each gets one
//! channel (a group chat for Teams) with one remote user (Bob) besides the benchmark's Matrix
//! user's own account.

use crate::proxy::RouteCounts;
use crate::scenarios::Portal;
use aqueduct_testkit::bridge_env::BridgeEnv;
use aqueduct_testkit::fake_rocketchat::FakeRocketChat;
use aqueduct_testkit::fake_slack::FakeSlack;
use aqueduct_testkit::fake_teams::FakeTeams;
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
    /// The fake Teams tenant (identity platform and Graph).
    Teams,
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
pub const ROCKETCHAT_ALICE: &str = "RCALICE";
/// The Teams group chat of the benchmark.
pub const TEAMS_CHAT: &str = "19:teamsbench@thread.v2";
/// Its topic, which the portal's room takes.
const TEAMS_CHAT_TOPIC: &str = "teamsbench";
/// The Teams user whose messages the Teams scenarios send.
pub const TEAMS_BOB: &str = "u-bob";
/// The Teams account the Matrix user signs in as (device code flow).
const TEAMS_ALICE: &str = "u-alice";
/// Seconds between the Teams connector's polling rounds in the benchmark. Teams receives by
/// polling here (change notifications need a public https URL Graph can reach), so a message
/// from Teams waits up to this long before the bridge sees it.
pub const TEAMS_POLL_INTERVAL_SECS: u64 = 1;
/// The most messages a Teams -> Matrix burst holds: one page of a chat's changes (Graph's
/// largest `$top` for chat messages). The connector asks each chat for one page per round
/// and moves its mark past everything on it, without following `@odata.nextLink` (nor does
/// the fake offer one), so more messages than this within one poll interval would be lost,
/// not measured.
pub const TEAMS_BURST_MAX: usize = 50;
/// The Teams connector's default per-chat posting pace, which the benchmark raises (as
/// Slack's) so that Matrix -> Teams measures the bridge rather than Graph's per-chat limit.
pub const TEAMS_DEFAULT_SEND_PACE: &str = "five at once, then one a second";

/// The platform fakes, started before the bridge's config is written.
pub struct Fakes {
    /// The fake Slack.
    pub slack: FakeSlack,
    /// The fake Rocket.Chat.
    pub rocketchat: FakeRocketChat,
    /// The fake Teams tenant.
    pub teams: FakeTeams,
    /// The Matrix user's personal access token on Rocket.Chat.
    rocketchat_token: String,
}

impl Fakes {
    /// Starts the fakes with the benchmark's users and one channel (or chat) each.
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
        let teams = FakeTeams::start().await?;
        teams.add_user(TEAMS_ALICE, "Alice Teams", "alice@bench.example");
        teams.add_user(TEAMS_BOB, "Bob Teams", "bob@bench.example");
        teams.add_chat(
            TEAMS_CHAT,
            "group",
            Some(TEAMS_CHAT_TOPIC),
            &[TEAMS_ALICE, TEAMS_BOB],
        );
        Ok(Self {
            slack,
            rocketchat,
            teams,
            rocketchat_token,
        })
    }

    /// The `platforms:` entries for all three (indented for the section). Slack's and
    /// Teams' posting paces are raised far above their defaults (about their platforms' own
    /// per-chat limits), which would otherwise be all that Matrix -> Slack and Matrix -> Teams
    /// measure. Teams polls
    /// every [`TEAMS_POLL_INTERVAL_SECS`] (the bridge has no public URL, so its default is
    /// polling, not change notifications); it does nothing until someone signs in.
    pub fn config_yaml(&self) -> String {
        format!(
            "  slack:\n    api_url: {}\n    send_pace:\n      burst: 100000\n      per_second: 100000\n\
             \x20 rocketchat:\n    server_url: {}\n\
             \x20 teams:\n    client_id: aqueduct-bench\n    authority: {}\n    graph_url: {}\n    \
             poll_interval_secs: {TEAMS_POLL_INTERVAL_SECS}\n    send_pace:\n      burst: 100000\n      \
             per_second: 100000\n",
            self.slack.api_base(),
            self.rocketchat.url(),
            self.teams.authority(),
            self.teams.graph_url(),
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
    /// Signs `user` in to Teams through the device code flow (`login teams` in a management
    /// room, the code the bot names approved as Alice) and opens the chat's portal with
    /// Bob's first message; `known` are the rooms `user` is already in.
    ///
    /// The connector's first polling round after sign-in only notes where each chat stands,
    /// so a message posted before it is never bridged: Bob posts again every few seconds
    /// until the portal's invite comes, then the last of his warm-up messages is waited for.
    pub async fn open_teams_portal(
        &self,
        env: &BridgeEnv,
        user: &MatrixClient,
        known: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<Portal> {
        let management = env.management_room(user).await?;
        let mut known: Vec<String> = known.iter().map(|r| (*r).to_owned()).collect();
        known.push(management.clone());
        let shown = env
            .command(user, &management, "login teams", "enter the code")
            .await?;
        let text = shown["content"]["body"].as_str().unwrap_or_default();
        let code = text
            .split_whitespace()
            .find(|w| w.starts_with("CODE"))
            .ok_or_else(|| anyhow::anyhow!("no sign-in code in the bot's answer: {text}"))?;
        anyhow::ensure!(
            self.teams.approve_device_code(code, TEAMS_ALICE),
            "the Teams sign-in code {code} is not pending"
        );
        let bot = env.bot.as_str();
        user.wait_for_event(&management, timeout, |e| {
            e["sender"] == bot
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Logged in"))
        })
        .await?;
        let retry = Duration::from_secs(5);
        let attempts = (timeout.as_secs() / retry.as_secs()).max(1);
        let mut attempt = 0;
        let (room, last) = loop {
            let body = format!("warm-up teams {attempt}");
            self.teams.post(TEAMS_CHAT, TEAMS_BOB, &body);
            let skip: Vec<&str> = known.iter().map(String::as_str).collect();
            match user.wait_for_invite_except(Some(bot), &skip, retry).await {
                Ok(room) => break (room, body),
                Err(e) if attempt + 1 >= attempts => return Err(e),
                Err(_) => attempt += 1,
            }
        };
        user.join(&room).await?;
        let named = user.state_event(&room, "m.room.name", "").await?;
        let got = named.as_ref().and_then(|n| n["name"].as_str());
        anyhow::ensure!(
            got == Some(TEAMS_CHAT_TOPIC),
            "expected the portal of {TEAMS_CHAT_TOPIC}, got room {room} named {got:?}"
        );
        user.wait_for_event(&room, timeout, |e| e["content"]["body"] == last.as_str())
            .await?;
        Ok(Portal {
            chat: TEAMS_CHAT.into(),
            room,
            side: Side::Teams,
        })
    }

    /// The requests the fake of `side` has received so far, by method (Slack), by HTTP
    /// method and endpoint (Rocket.Chat) or by HTTP method and Graph path with its ids as
    /// `{id}` (Teams); nothing for the test network.
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
            Side::Teams => self
                .teams
                .requests()
                .iter()
                .map(|r| graph_route(r))
                .collect(),
            Side::TestNet => Vec::new(),
        };
        for name in names {
            *counts.entry(name).or_default() += 1;
        }
        counts
    }
}

/// A Graph request as the fake Teams records it (`GET /chats/19:x@thread.v2/messages`) with
/// each id replaced by `{id}` (`GET /chats/{id}/messages`), so requests add up by route.
pub fn graph_route(request: &str) -> String {
    const COLLECTIONS: [&str; 12] = [
        "chats",
        "messages",
        "replies",
        "users",
        "teams",
        "channels",
        "drives",
        "items",
        "shares",
        "subscriptions",
        "hostedContents",
        "members",
    ];
    let (method, path) = request.split_once(' ').unwrap_or(("", request));
    let mut out = Vec::new();
    let mut previous = "";
    for segment in path.split('/') {
        out.push(if COLLECTIONS.contains(&previous) && !segment.is_empty() {
            "{id}"
        } else {
            segment
        });
        previous = segment;
    }
    format!("{method} {}", out.join("/"))
        .trim_start()
        .to_owned()
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
