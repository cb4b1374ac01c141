//! Unbridging a Teams channel ends the bridge's watch on it: in notifications mode its
//! change-notification subscription is deleted from Graph, in polling mode its delta query is
//! no longer asked, and either way what is said in the channel afterwards stays on Teams (no
//! fresh room is opened for it). `unlink` of a channel from a hub room does the same.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::fake_teams::FakeTeams;
use aqueduct_testkit::matrix_client::MatrixClient;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const TEAM: &str = "6f0c2f3e-team-engineering";
const CHANNEL: &str = "19:releases@thread.tacv2";
const CHAT: &str = "19:chatter@thread.v2";

struct Setup {
    env: BridgeEnv,
    teams: FakeTeams,
    alice: MatrixClient,
    mgmt: String,
}

/// A tenant with Alice and Bob in one channel and one group chat; Alice signed in. With
/// `notifications` the bridge has a public URL (so it subscribes) and polls once an hour;
/// without, it polls every second.
async fn setup(
    notifications: bool,
) -> anyhow::Result<(Setup, aqueduct_testkit::bridge_env::RunningBridge)> {
    let teams = FakeTeams::start().await?;
    teams.add_user("u-alice", "Alice Teams", "alice@contoso.com");
    teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    teams.add_chat(CHAT, "group", Some("Chatter"), &["u-alice", "u-bob"]);
    teams.add_team(TEAM, "Engineering");
    teams.add_channel(TEAM, CHANNEL, "Releases", None, &["u-alice", "u-bob"]);
    let poll = if notifications {
        "    poll_interval_secs: 3600\n    fallback_poll_secs: 3600\n"
    } else {
        "    poll_interval_secs: 1\n"
    };
    let env = BridgeEnv::new(EnvOptions {
        public_url: notifications,
        extra_platforms: Some(format!(
            "  teams:\n    client_id: aqueduct-test\n    tenant: contoso\n    authority: {}\n    graph_url: {}\n{poll}",
            teams.authority(),
            teams.graph_url()
        )),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    // Unbridging is for bridge admins.
    let alice = env.user("admin").await?;
    let mgmt = env.management_room(&alice).await?;
    let shown = env
        .command(&alice, &mgmt, "login teams", "enter the code")
        .await?;
    let text = shown["content"]["body"].as_str().unwrap_or_default();
    let code = text
        .split_whitespace()
        .find(|w| w.starts_with("CODE"))
        .ok_or_else(|| anyhow::anyhow!("no code in {text}"))?;
    anyhow::ensure!(teams.approve_device_code(code, "u-alice"));
    alice
        .wait_for_event(&mgmt, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("Logged in"))
        })
        .await?;
    Ok((
        Setup {
            env,
            teams,
            alice,
            mgmt,
        },
        bridge,
    ))
}

impl Setup {
    /// Bridges the channel and waits for a first post to cross; answers the portal.
    async fn bridge_channel(&self) -> anyhow::Result<String> {
        self.env
            .command(
                &self.alice,
                &self.mgmt,
                &format!("bridge teams {TEAM}/{CHANNEL}"),
                "Bridged",
            )
            .await?;
        let portal = self
            .alice
            .wait_for_invite_except(Some(&self.env.bot), &[&self.mgmt], WAIT)
            .await?;
        self.alice.join(&portal).await?;
        self.teams
            .post_channel(TEAM, CHANNEL, "u-bob", "<p>before</p>");
        self.alice
            .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "before")
            .await?;
        Ok(portal)
    }

    fn delta_queries(&self) -> usize {
        let wanted = format!("GET /teams/{TEAM}/channels/{CHANNEL}/messages/delta");
        self.teams
            .requests()
            .iter()
            .filter(|r| **r == wanted)
            .count()
    }

    /// Bob writes in the group chat and waits until it is in Matrix: the bridge has gone
    /// through at least one more receiving round (or notification) since.
    async fn a_chat_message_crosses(&self, text: &str, known: &[&str]) -> anyhow::Result<()> {
        self.teams.post(CHAT, "u-bob", &format!("<p>{text}</p>"));
        let room = self
            .alice
            .wait_for_invite_except(Some(&self.env.bot), known, WAIT)
            .await?;
        self.alice.join(&room).await?;
        self.alice
            .wait_for_event(&room, WAIT, |e| e["content"]["body"] == text)
            .await?;
        Ok(())
    }

    /// The rooms Alice was invited to or joined, by the bridge's doing.
    async fn rooms(&self) -> anyhow::Result<Vec<String>> {
        let sync = self.alice.sync_raw(None, "{}", Duration::ZERO).await?;
        let mut rooms: Vec<String> = Vec::new();
        for part in ["join", "invite"] {
            if let Some(map) = sync["rooms"][part].as_object() {
                rooms.extend(map.keys().cloned());
            }
        }
        Ok(rooms)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbridging_a_channel_deletes_its_subscription_and_stops_bridging_it() -> anyhow::Result<()>
{
    let (s, bridge) = setup(true).await?;
    let portal = s.bridge_channel().await?;
    let resource = format!("/teams/{TEAM}/channels/{CHANNEL}/messages");
    let subs = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.iter().any(|k| k.resource == resource))
        .await?;
    let channel_sub = subs
        .iter()
        .find(|k| k.resource == resource)
        .unwrap()
        .id
        .clone();

    s.env
        .command(&s.alice, &portal, "!aq unbridge", "no longer bridged")
        .await?;
    // Graph is asked to delete the channel's subscription, and it is gone.
    let deleted = format!("DELETE /subscriptions/{channel_sub}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !s.teams.requests().contains(&deleted) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the channel's subscription was never deleted: {:#?}",
            s.teams.subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        s.teams
            .subscriptions()
            .iter()
            .all(|k| k.resource != resource),
        "{:#?}",
        s.teams.subscriptions()
    );
    let deltas = s.delta_queries();

    // A post in the channel now stays on Teams: no delta query for it, no room for it. The
    // chat subscription still works, so a chat message crossing after it shows the bridge
    // had its chance.
    s.teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>after the unbridge</p>");
    s.a_chat_message_crosses("chat still bridged", &[&s.mgmt, &portal])
        .await?;
    assert_eq!(
        s.delta_queries(),
        deltas,
        "no delta query after the unbridge"
    );
    let rooms = s.rooms().await?;
    for room in rooms {
        let bodies: Vec<String> = s
            .alice
            .messages(&room)
            .await?
            .iter()
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .collect();
        assert!(
            !bodies.iter().any(|b| b == "after the unbridge"),
            "the channel's post reached Matrix in {room}: {bodies:?}"
        );
    }
    assert!(
        s.teams.violations().is_empty(),
        "{:#?}",
        s.teams.violations()
    );
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbridged_channel_is_no_longer_polled() -> anyhow::Result<()> {
    let (s, bridge) = setup(false).await?;
    let portal = s.bridge_channel().await?;
    s.env
        .command(&s.alice, &portal, "!aq unbridge", "no longer bridged")
        .await?;
    // A round may be under way while the unbridge happens; the first chat message to cross
    // after it marks a round that began afterwards.
    s.a_chat_message_crosses("one round later", &[&s.mgmt, &portal])
        .await?;
    let deltas = s.delta_queries();
    s.teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>after the unbridge</p>");
    // Two more rounds (each chat message is found by its own round).
    let chat_room = s
        .rooms()
        .await?
        .into_iter()
        .find(|r| r != &s.mgmt && r != &portal)
        .expect("the chat's room");
    for text in ["two rounds later", "three rounds later"] {
        s.teams.post(CHAT, "u-bob", &format!("<p>{text}</p>"));
        s.alice
            .wait_for_event(&chat_room, WAIT, |e| e["content"]["body"] == text)
            .await?;
    }
    assert_eq!(
        s.delta_queries(),
        deltas,
        "no delta query after the unbridge"
    );
    let invited = s
        .alice
        .wait_for_invite_except(
            Some(&s.env.bot),
            &[&s.mgmt, &portal, &chat_room],
            Duration::from_millis(500),
        )
        .await;
    assert!(invited.is_err(), "a new room for the channel: {invited:?}");
    // Unbridging is for good until the channel is bridged again, which watches it anew.
    s.env
        .command(
            &s.alice,
            &s.mgmt,
            &format!("bridge teams {TEAM}/{CHANNEL}"),
            "Bridged",
        )
        .await?;
    let again = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&s.mgmt, &portal, &chat_room], WAIT)
        .await?;
    s.alice.join(&again).await?;
    s.teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>bridged again</p>");
    s.alice
        .wait_for_event(&again, WAIT, |e| e["content"]["body"] == "bridged again")
        .await?;
    bridge.stop().await?;
    s.env.synapse.stop().await
}
