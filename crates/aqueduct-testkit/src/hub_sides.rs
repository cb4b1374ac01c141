//! The platform sides of a hub-room test (a room made with
//! [`hub_room`](crate::bridge_env::BridgeEnv::hub_room), linked to several chats): each fake
//! with the hub's chat in it, and what the tests ask of that chat.
//!
//! - Slack: channel [`SLACK`] (`general`) with the bot and Bob (`UBOB`, "Bob Slack").
//! - Rocket.Chat: room [`RC`] (`general`) with the admin's own account (`RCADMIN`, `@admin`,
//!   allowed to impersonate) and Carol (`RCCAROL`, "Carol Rocket").
//! - Teams: the admin (`u-admin`) and Tina (`u-tina`) in group chat [`CHAT`] ("Hub"), or in
//!   channel [`CHANNEL`] of team [`TEAM`].
//!
//! Each side derefs to its fake, so the fake's own calls stay at hand, and adds the hub's:
//! `message` waits until a text is in the hub's chat and gives that message, `copies` counts
//! the messages holding a text there, `config` is the side's section of the bridge's
//! `platforms:` and `log_in` logs the admin in to the platform.

use crate::bridge_env::BridgeEnv;
use crate::fake_rocketchat::{self, FakeRocketChat};
use crate::fake_slack::{self, FakeSlack};
use crate::fake_teams::env::sign_in;
use crate::fake_teams::{FakeTeams, TeamsMessage};
use crate::matrix_client::MatrixClient;
use std::ops::Deref;
use std::time::Duration;

/// The hub's Slack channel.
pub const SLACK: &str = "C1";
/// The hub's Rocket.Chat room.
pub const RC: &str = "GENERAL";
/// The hub's Teams group chat.
pub const CHAT: &str = "19:hub@thread.v2";
/// The team holding the hub's Teams channel.
pub const TEAM: &str = "6f0c2f3e-team-hub";
/// The hub's Teams channel, in [`TEAM`].
pub const CHANNEL: &str = "19:hub@thread.tacv2";

/// The fake Slack with the hub's channel [`SLACK`].
pub struct SlackSide {
    fake: FakeSlack,
    wait: Duration,
}

impl SlackSide {
    /// Starts the fake: Bob (`UBOB`), then each of `others` (id, name, real name), and the
    /// channel [`SLACK`] (`general`, public) with the bot, Bob and `others` in it. `wait` is how
    /// long [`message`](Self::message) waits.
    pub async fn start(others: &[(&str, &str, &str)], wait: Duration) -> anyhow::Result<Self> {
        let fake = FakeSlack::start().await?;
        fake.add_user("UBOB", "bob", "Bob Slack");
        let mut members = vec!["UBOT", "UBOB"];
        for (id, name, real_name) in others {
            fake.add_user(id, name, real_name);
            members.push(*id);
        }
        fake.add_channel(SLACK, "general", &members, false);
        Ok(Self { fake, wait })
    }

    /// The `slack:` section of the bridge's `platforms:`, pointed at the fake.
    pub fn config(&self) -> String {
        format!("  slack:\n    api_url: {}\n", self.fake.api_base())
    }

    /// Logs `admin` in to the Slack app from their management room `mgmt`; waits for
    /// "Logged in".
    pub async fn log_in(
        &self,
        env: &BridgeEnv,
        admin: &MatrixClient,
        mgmt: &str,
    ) -> anyhow::Result<()> {
        env.command(admin, mgmt, &self.fake.app_login_command(), "Logged in")
            .await?;
        Ok(())
    }

    /// Waits (up to the side's `wait`) until a message of [`SLACK`] contains `text`, then
    /// gives the first such message.
    pub async fn message(&self, text: &str) -> anyhow::Result<fake_slack::FakeMessage> {
        let msgs = self
            .fake
            .wait_for(SLACK, self.wait, |m| {
                m.iter().any(|x| x.text.contains(text))
            })
            .await?;
        Ok(msgs.into_iter().find(|x| x.text.contains(text)).unwrap())
    }

    /// How many messages of [`SLACK`] (deleted ones aside) contain `text`, now.
    pub fn copies(&self, text: &str) -> usize {
        self.fake
            .messages(SLACK)
            .iter()
            .filter(|m| !m.deleted && m.text.contains(text))
            .count()
    }
}

impl Deref for SlackSide {
    type Target = FakeSlack;

    fn deref(&self) -> &FakeSlack {
        &self.fake
    }
}

/// The fake Rocket.Chat with the hub's room [`RC`].
pub struct RcSide {
    fake: FakeRocketChat,
    wait: Duration,
    admin_token: String,
}

impl RcSide {
    /// Starts the fake: the admin's account `RCADMIN` (`admin`, allowed to impersonate, so
    /// what it relays carries its author's name) and Carol (`RCCAROL`), both in room [`RC`]
    /// (`general`). `wait` is how long [`message`](Self::message) waits.
    pub async fn start(wait: Duration) -> anyhow::Result<Self> {
        let fake = FakeRocketChat::start().await?;
        let admin_token = fake.add_user("RCADMIN", "admin", "Admin Rocket");
        fake.add_user("RCCAROL", "carol", "Carol Rocket");
        fake.add_room(RC, "c", "general", &["RCADMIN", "RCCAROL"]);
        fake.allow_impersonation("RCADMIN");
        Ok(Self {
            fake,
            wait,
            admin_token,
        })
    }

    /// The `rocketchat:` section of the bridge's `platforms:`, pointed at the fake.
    pub fn config(&self) -> String {
        format!("  rocketchat:\n    server_url: {}\n", self.fake.url())
    }

    /// Logs `admin` in to their Rocket.Chat account `RCADMIN` (by token) from their
    /// management room `mgmt`; waits for "Logged in".
    pub async fn log_in(
        &self,
        env: &BridgeEnv,
        admin: &MatrixClient,
        mgmt: &str,
    ) -> anyhow::Result<()> {
        let login = format!("login rocketchat token RCADMIN {}", self.admin_token);
        env.command(admin, mgmt, &login, "Logged in").await?;
        Ok(())
    }

    /// Waits (up to the side's `wait`) until a message of [`RC`] contains `text`, then gives
    /// the first such message.
    pub async fn message(&self, text: &str) -> anyhow::Result<fake_rocketchat::FakeMessage> {
        let msgs = self
            .fake
            .wait_for(RC, self.wait, |m| m.iter().any(|x| x.text.contains(text)))
            .await?;
        Ok(msgs.into_iter().find(|x| x.text.contains(text)).unwrap())
    }

    /// How many messages of [`RC`] (deleted ones aside) contain `text`, now.
    pub fn copies(&self, text: &str) -> usize {
        self.fake
            .messages(RC)
            .iter()
            .filter(|m| !m.deleted && m.text.contains(text))
            .count()
    }
}

impl Deref for RcSide {
    type Target = FakeRocketChat;

    fn deref(&self) -> &FakeRocketChat {
        &self.fake
    }
}

/// Which Teams conversation a hub links.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TeamsConversation {
    /// The group chat [`CHAT`].
    GroupChat,
    /// The channel [`CHANNEL`] of team [`TEAM`].
    Channel,
}

/// The fake Teams tenant with the hub's conversation.
pub struct TeamsSide {
    fake: FakeTeams,
    conversation: TeamsConversation,
    wait: Duration,
}

impl TeamsSide {
    /// Starts the fake: the admin (`u-admin`) and Tina (`u-tina`), both in `conversation`
    /// (the group chat "Hub", or the channel "General" of team "Hub team"). `wait` is how long
    /// [`message`](Self::message) waits.
    pub async fn start(conversation: TeamsConversation, wait: Duration) -> anyhow::Result<Self> {
        let fake = FakeTeams::start().await?;
        fake.add_user("u-admin", "Admin Teams", "admin@contoso.com");
        fake.add_user("u-tina", "Tina Teams", "tina@contoso.com");
        match conversation {
            TeamsConversation::GroupChat => {
                fake.add_chat(CHAT, "group", Some("Hub"), &["u-admin", "u-tina"]);
            }
            TeamsConversation::Channel => {
                fake.add_team(TEAM, "Hub team");
                fake.add_channel(TEAM, CHANNEL, "General", None, &["u-admin", "u-tina"]);
            }
        }
        Ok(Self {
            fake,
            conversation,
            wait,
        })
    }

    /// The `teams:` section of the bridge's `platforms:`, pointed at the fake, polling every
    /// second.
    pub fn config(&self) -> String {
        format!(
            "  teams:\n    client_id: aqueduct-test\n    tenant: contoso\n    authority: {}\n    graph_url: {}\n    poll_interval_secs: 1\n",
            self.fake.authority(),
            self.fake.graph_url()
        )
    }

    /// Signs `admin` in as `u-admin` (device code) from their management room `mgmt`.
    pub async fn log_in(
        &self,
        env: &BridgeEnv,
        admin: &MatrixClient,
        mgmt: &str,
    ) -> anyhow::Result<()> {
        sign_in(env, &self.fake, admin, mgmt, "u-admin").await
    }

    /// The conversation as `!aq link` names it: `teams <chat>` or `teams <team>/<channel>`.
    pub fn link_target(&self) -> String {
        match self.conversation {
            TeamsConversation::GroupChat => format!("teams {CHAT}"),
            TeamsConversation::Channel => format!("teams {TEAM}/{CHANNEL}"),
        }
    }

    /// The conversation's messages, oldest first (a channel's roots and replies).
    pub fn conversation_messages(&self) -> Vec<TeamsMessage> {
        match self.conversation {
            TeamsConversation::GroupChat => self.fake.messages(CHAT),
            TeamsConversation::Channel => self.fake.channel_messages(TEAM, CHANNEL),
        }
    }

    /// `user` writes `html` in the conversation (a new thread in a channel); gives its id.
    pub fn post_as(&self, user: &str, html: &str) -> String {
        match self.conversation {
            TeamsConversation::GroupChat => self.fake.post(CHAT, user, html),
            TeamsConversation::Channel => self.fake.post_channel(TEAM, CHANNEL, user, html),
        }
    }

    /// Waits (up to `timeout`) until `pred` holds for the conversation's messages, then
    /// gives them.
    pub async fn wait_for_conversation(
        &self,
        timeout: Duration,
        pred: impl Fn(&[TeamsMessage]) -> bool,
    ) -> anyhow::Result<Vec<TeamsMessage>> {
        match self.conversation {
            TeamsConversation::GroupChat => self.fake.wait_for(CHAT, timeout, pred).await,
            TeamsConversation::Channel => {
                self.fake
                    .wait_for_channel(TEAM, CHANNEL, timeout, pred)
                    .await
            }
        }
    }

    /// Waits (up to the side's `wait`) until a message of the conversation holds `text` in
    /// its HTML, then gives the first such message.
    pub async fn message(&self, text: &str) -> anyhow::Result<TeamsMessage> {
        let msgs = self
            .wait_for_conversation(self.wait, |m| m.iter().any(|x| x.html.contains(text)))
            .await?;
        Ok(msgs.into_iter().find(|x| x.html.contains(text)).unwrap())
    }

    /// How many messages of the conversation (deleted ones aside) hold `text` in their HTML,
    /// now.
    pub fn copies(&self, text: &str) -> usize {
        self.conversation_messages()
            .iter()
            .filter(|m| m.deleted_ms.is_none() && m.html.contains(text))
            .count()
    }

    /// Fails when the fake saw requests (or gave answers) outside Graph's rules.
    pub fn check_conformance(&self) -> anyhow::Result<()> {
        let found = self.fake.violations();
        anyhow::ensure!(found.is_empty(), "Graph conformance: {found:#?}");
        Ok(())
    }
}

impl Deref for TeamsSide {
    type Target = FakeTeams;

    fn deref(&self) -> &FakeTeams {
        &self.fake
    }
}

impl BridgeEnv {
    /// `admin` links `room` to `target` (`!aq link <target>`, e.g. `slack C1`); waits for
    /// "Linked this room".
    pub async fn link(&self, admin: &MatrixClient, room: &str, target: &str) -> anyhow::Result<()> {
        self.command(
            admin,
            room,
            &format!("!aq link {target}"),
            "Linked this room",
        )
        .await?;
        Ok(())
    }
}

impl MatrixClient {
    /// How many message events of `room` (edits aside) have a body containing `text`, now.
    pub async fn messages_containing(&self, room: &str, text: &str) -> anyhow::Result<usize> {
        Ok(self
            .messages(room)
            .await?
            .iter()
            .filter(|e| {
                e["type"] == "m.room.message"
                    && e["content"]["m.relates_to"]["rel_type"] != "m.replace"
                    && e["content"]["body"]
                        .as_str()
                        .is_some_and(|b| b.contains(text))
            })
            .count())
    }

    /// The senders of `room`'s reactions (one a reaction), sorted.
    pub async fn reaction_senders(&self, room: &str) -> anyhow::Result<Vec<String>> {
        let mut senders: Vec<String> = self
            .messages(room)
            .await?
            .iter()
            .filter(|e| e["type"] == "m.reaction")
            .map(|e| e["sender"].as_str().unwrap_or_default().to_owned())
            .collect();
        senders.sort();
        Ok(senders)
    }
}
