//! Microsoft Teams receiving by change notifications, end to end: the real Synapse, the
//! bridge with a public URL (so the Teams connector subscribes), and the fake Graph, which
//! validates the bridge's endpoint before it accepts a subscription and POSTs notifications
//! (encrypted resource data included) and lifecycle notifications to it. Polling is set to an
//! hour, so only notifications can explain a message's arrival; every subscription, request
//! and notification is checked against Microsoft's CSDL.

use aqueduct_core::ghost_ids::GhostNamer;
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::fake_teams::{FakeSubscription, FakeTeams};
use aqueduct_testkit::matrix_client::MatrixClient;
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const CHAT: &str = "19:project@thread.v2";

fn ghost(id: &str) -> String {
    GhostNamer::new("aqueduct_", "localhost")
        .user_id(&ConnectorId::new("teams"), &RemoteUserId::new(id))
}

struct Setup {
    env: BridgeEnv,
    teams: FakeTeams,
    alice: MatrixClient,
}

/// A tenant with Alice and Bob in one group chat, and a bridge with a public URL whose
/// Teams section polls once an hour; `extra` adds to that section.
async fn setup(extra: &str) -> anyhow::Result<Setup> {
    setup_polling(3600, extra).await
}

/// [`setup`] with polling (where no subscription covers a chat or channel) every
/// `poll_secs`; full rounds stay an hour apart.
async fn setup_polling(poll_secs: u64, extra: &str) -> anyhow::Result<Setup> {
    let teams = FakeTeams::start().await?;
    teams.add_user("u-alice", "Alice Teams", "alice@contoso.com");
    teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    teams.add_chat(CHAT, "group", Some("Project"), &["u-alice", "u-bob"]);
    let env = BridgeEnv::new(EnvOptions {
        public_url: true,
        extra_platforms: Some(format!(
            "  teams:\n    client_id: aqueduct-test\n    tenant: contoso\n    authority: {}\n    graph_url: {}\n    poll_interval_secs: {poll_secs}\n    fallback_poll_secs: 3600\n{extra}",
            teams.authority(),
            teams.graph_url()
        )),
        ..EnvOptions::default()
    })
    .await?;
    let alice = env.user("alice").await?;
    Ok(Setup { env, teams, alice })
}

/// Alice signs in with the device code; answers once the fake has her subscription.
async fn sign_in(s: &Setup) -> anyhow::Result<FakeSubscription> {
    let room = s.env.management_room(&s.alice).await?;
    let shown = s
        .env
        .command(&s.alice, &room, "login teams", "enter the code")
        .await?;
    let text = shown["content"]["body"].as_str().unwrap_or_default();
    let code = text
        .split_whitespace()
        .find(|w| w.starts_with("CODE"))
        .expect("a code in the instructions")
        .to_owned();
    assert!(s.teams.approve_device_code(&code, "u-alice"));
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("Logged in"))
        })
        .await?;
    let subs = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.len() == 1)
        .await?;
    Ok(subs[0].clone())
}

/// Bob's first message opens the portal; answers the room.
async fn open_portal(s: &Setup) -> anyhow::Result<String> {
    s.teams.post(CHAT, "u-bob", "<p>first</p>");
    let portal = s.env.accept_portal_invite(&s.alice).await?;
    wait_body(s, &portal, "first").await?;
    Ok(portal)
}

async fn wait_body(s: &Setup, room: &str, body: &str) -> anyhow::Result<Value> {
    s.alice
        .wait_for_event(room, WAIT, |e| {
            e["type"] == "m.room.message" && e["content"]["body"] == body
        })
        .await
}

/// The bodies of Bob's messages in the room, in order.
async fn bobs_bodies(s: &Setup, room: &str) -> anyhow::Result<Vec<String>> {
    Ok(s.alice
        .messages(room)
        .await?
        .iter()
        .filter(|e| {
            e["type"] == "m.room.message"
                && e["sender"] == ghost("u-bob").as_str()
                && e["content"]["m.relates_to"].is_null()
        })
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect())
}

fn assert_conforms(teams: &FakeTeams) {
    assert!(teams.violations().is_empty(), "{:#?}", teams.violations());
    for d in teams.deliveries() {
        if d.kind == "validation" {
            continue;
        }
        if d.status.is_none() {
            continue; // the bridge was down
        }
        assert!(
            d.status.is_some_and(|s| (200..300).contains(&s)),
            "every notification is accepted: {d:#?}"
        );
        assert!(
            d.elapsed < Duration::from_secs(3),
            "and answered within Graph's 3 s: {d:#?}"
        );
    }
}

fn chat_message_gets(teams: &FakeTeams) -> usize {
    let wanted = format!("GET /chats/{CHAT}/messages");
    teams.requests().iter().filter(|r| **r == wanted).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_bring_messages_edits_and_deletes_without_polling() -> anyhow::Result<()> {
    let s = setup("").await?;
    let bridge = s.env.start_in_process().await?;

    // The validation handshake, as Graph performs it: answered at once, plain text, decoded.
    let token = "Validation: Testing client application reachability <&> for subscription";
    let url = format!(
        "http://127.0.0.1:{}/_aqueduct/teams/notifications?validationToken={}",
        s.env.bridge_port,
        aqueduct_testkit::matrix_client::enc(token)
    );
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .post(&url)
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .await?;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/plain");
    assert_eq!(answer.text().await?, token);
    assert!(started.elapsed() < Duration::from_secs(2));

    let sub = sign_in(&s).await?;
    assert_eq!(sub.resource, "/users/u-alice/chats/getAllMessages");
    assert!(sub.certificate.is_some(), "resource data is asked for");
    assert!(sub.lifecycle_url.is_some());
    let validations: Vec<_> = s
        .teams
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == "validation")
        .collect();
    assert_eq!(validations.len(), 2, "both URLs: {validations:#?}");
    assert!(validations.iter().all(|d| d.status == Some(200)));

    // Bob's message, his edit, reaction and delete arrive with no poll to find them.
    let portal = open_portal(&s).await?;
    let first = s.teams.messages(CHAT)[0].id.clone();
    let first_event = wait_body(&s, &portal, "first").await?;
    let first_event = first_event["event_id"].as_str().unwrap().to_owned();
    s.teams.edit(CHAT, &first, "<p>first, edited</p>");
    s.alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "first, edited"
        })
        .await?;
    s.teams.react(CHAT, &first, "u-bob", "like");
    s.alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.reaction" && e["sender"] == ghost("u-bob").as_str()
        })
        .await?;
    s.teams.delete(CHAT, &first);
    s.alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == first_event.as_str()
        })
        .await?;

    // Alice's own message comes back as a notification whose encrypted resource data shows
    // the bridge's own post: no request to Graph is needed for it.
    let gets = chat_message_gets(&s.teams);
    let notified = s
        .teams
        .deliveries()
        .iter()
        .filter(|d| d.kind == "notification")
        .count();
    s.alice.send_text(&portal, "hello from matrix").await?;
    s.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| x.html.contains("hello from matrix"))
        })
        .await?;
    let deadline = Instant::now() + WAIT;
    while s
        .teams
        .deliveries()
        .iter()
        .filter(|d| d.kind == "notification" && d.status.is_some())
        .count()
        <= notified
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no notification for Alice's post"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        chat_message_gets(&s.teams),
        gets,
        "the decrypted notification spared the look"
    );
    let echoes = s
        .alice
        .messages(&portal)
        .await?
        .iter()
        .filter(|e| e["sender"] == ghost("u-alice").as_str())
        .count();
    assert_eq!(echoes, 0, "Alice's own message is not bridged back");

    // Then Bob answers: a notification, a look, a message.
    s.teams.post(CHAT, "u-bob", "<p>second</p>");
    wait_body(&s, &portal, "second").await?;
    assert_eq!(bobs_bodies(&s, &portal).await?, ["second"]);
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_with_a_wrong_client_state_changes_nothing() -> anyhow::Result<()> {
    let s = setup("").await?;
    let bridge = s.env.start_in_process().await?;
    let sub = sign_in(&s).await?;
    let portal = open_portal(&s).await?;

    // A message Graph never told of, then a forged notification naming it.
    s.teams.pause_notifications(true);
    let hidden = s.teams.post(CHAT, "u-bob", "<p>hidden</p>");
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.teams.pause_notifications(false);
    let status = s
        .teams
        .send_notification_as(&sub.id, CHAT, &hidden, "not-the-secret")
        .await?;
    assert_eq!(status, Some(202), "accepted, as Graph asks, and ignored");
    let forged_missed = s
        .teams
        .send_lifecycle(&sub.id, "missed", Some("not-the-secret"))
        .await?;
    assert_eq!(forged_missed, Some(202));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        bobs_bodies(&s, &portal).await?,
        ["first"],
        "nothing was looked at because of the forgeries"
    );

    // The same notification with the subscription's secret brings the message.
    let genuine = sub.client_state.clone().expect("a clientState");
    let status = s
        .teams
        .send_notification_as(&sub.id, CHAT, &hidden, &genuine)
        .await?;
    assert_eq!(status, Some(202));
    wait_body(&s, &portal, "hidden").await?;
    assert_eq!(bobs_bodies(&s, &portal).await?, ["first", "hidden"]);
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_deletes_the_subscriptions() -> anyhow::Result<()> {
    let s = setup("").await?;
    let bridge = s.env.start_in_process().await?;
    let sub = sign_in(&s).await?;
    let room = s.env.management_room(&s.alice).await?;
    s.env
        .command(&s.alice, &room, "logout teams", "Logged out")
        .await?;
    // By the time the bot says so, Graph has no subscription of Alice's left.
    let left: Vec<_> = s
        .teams
        .subscriptions()
        .into_iter()
        .filter(|k| k.owner == "u-alice")
        .collect();
    assert!(left.is_empty(), "Alice's subscriptions are gone: {left:#?}");
    assert!(
        s.teams
            .requests()
            .contains(&format!("DELETE /subscriptions/{}", sub.id)),
        "{:#?}",
        s.teams.requests()
    );
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_renewed_before_they_end_and_replaced_when_graph_lost_one()
-> anyhow::Result<()> {
    // Six-second subscriptions, without resource data (each notification then means a look).
    let s = setup("    subscription_lifetime_secs: 6\n    resource_data: false\n").await?;
    let bridge = s.env.start_in_process().await?;
    let sub = sign_in(&s).await?;
    assert!(sub.certificate.is_none());
    let portal = open_portal(&s).await?;

    // Renewed twice (each time before its end), still the same subscription.
    let renewed = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.iter().any(|x| x.renewals >= 2))
        .await?;
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0].id, sub.id);
    s.teams.post(CHAT, "u-bob", "<p>after renewals</p>");
    wait_body(&s, &portal, "after renewals").await?;

    // Graph forgets it: the next renewal gets 404 and a new subscription replaces it.
    s.teams.forget_subscription(&sub.id);
    let replaced = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.len() == 1 && subs[0].id != sub.id)
        .await?;
    assert_eq!(replaced[0].resource, sub.resource);
    s.teams
        .post(CHAT, "u-bob", "<p>after a new subscription</p>");
    wait_body(&s, &portal, "after a new subscription").await?;
    assert_eq!(
        bobs_bodies(&s, &portal).await?,
        ["first", "after renewals", "after a new subscription"]
    );
    let requests = s.teams.requests();
    assert!(
        requests
            .iter()
            .any(|r| *r == format!("PATCH /subscriptions/{}", sub.id)),
        "{requests:#?}"
    );
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_notifications_are_answered() -> anyhow::Result<()> {
    let s = setup("").await?;
    let bridge = s.env.start_in_process().await?;
    let sub = sign_in(&s).await?;
    let portal = open_portal(&s).await?;

    // reauthorizationRequired: Graph pauses deliveries until the bridge reauthorizes.
    assert_eq!(
        s.teams
            .send_lifecycle(&sub.id, "reauthorizationRequired", None)
            .await?,
        Some(202)
    );
    s.teams
        .wait_for_subscriptions(WAIT, |subs| {
            subs.iter().any(|x| x.reauthorizations >= 1 && !x.paused)
        })
        .await?;
    s.teams.post(CHAT, "u-bob", "<p>two</p>");
    wait_body(&s, &portal, "two").await?;

    // missed: a change whose notification was lost is found by the catch-up.
    s.teams.pause_notifications(true);
    s.teams.post(CHAT, "u-bob", "<p>three</p>");
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.teams.pause_notifications(false);
    assert_eq!(
        s.teams.send_lifecycle(&sub.id, "missed", None).await?,
        Some(202)
    );
    wait_body(&s, &portal, "three").await?;

    // subscriptionRemoved: a new subscription, then a catch-up for what came meanwhile.
    assert_eq!(
        s.teams
            .send_lifecycle(&sub.id, "subscriptionRemoved", None)
            .await?,
        Some(202)
    );
    s.teams.post(CHAT, "u-bob", "<p>four</p>");
    let again = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.len() == 1 && subs[0].id != sub.id)
        .await?;
    wait_body(&s, &portal, "four").await?;

    // Removed again, and now Graph refuses user-wide subscriptions: one per chat instead.
    s.teams.refuse_user_wide_subscriptions(true);
    s.teams
        .send_lifecycle(&again[0].id, "subscriptionRemoved", None)
        .await?;
    let per_chat = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| {
            subs.iter().any(|x| x.resource.starts_with("/chats/"))
        })
        .await?;
    assert_eq!(per_chat.len(), 1, "{per_chat:#?}");
    s.teams.post(CHAT, "u-bob", "<p>five</p>");
    wait_body(&s, &portal, "five").await?;
    assert_eq!(
        bobs_bodies(&s, &portal).await?,
        ["first", "two", "three", "four", "five"]
    );
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_posted_while_the_bridge_was_down_arrive_once_in_order() -> anyhow::Result<()> {
    let s = setup("").await?;
    let bridge = s.env.start_in_process().await?;
    let sub = sign_in(&s).await?;
    let portal = open_portal(&s).await?;
    bridge.stop().await?;

    // While it is down: five messages and an edit of the first; the notifications find no
    // one.
    let first = s.teams.messages(CHAT)[0].id.clone();
    for i in 1..=5 {
        s.teams.post(CHAT, "u-bob", &format!("<p>down {i}</p>"));
    }
    s.teams.edit(CHAT, &first, "<p>first, edited</p>");
    // And a subscription the bridge lost track of (its record never saved).
    let orphan = s.teams.duplicate_subscription(&sub.id).expect("copied");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let bridge = s.env.start_in_process().await?;
    s.alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "first, edited"
        })
        .await?;
    wait_body(&s, &portal, "down 5").await?;
    // The saved subscription is still the one in use: no second one was made, and the one
    // it had lost track of is deleted.
    let subs = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.iter().all(|x| x.id != orphan))
        .await?;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].id, sub.id);
    // And it still delivers, its secret remembered across the restart.
    s.teams.post(CHAT, "u-bob", "<p>after</p>");
    wait_body(&s, &portal, "after").await?;
    assert_eq!(
        bobs_bodies(&s, &portal).await?,
        [
            "first", "down 1", "down 2", "down 3", "down 4", "down 5", "after"
        ]
    );
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

const TEAM: &str = "team-eng";
const CHANNEL: &str = "19:releases@thread.tacv2";

/// Alice signs in and bridges the team channel; answers the channel's room.
async fn bridge_channel(s: &Setup) -> anyhow::Result<String> {
    s.teams.add_team(TEAM, "Engineering");
    s.teams
        .add_channel(TEAM, CHANNEL, "Releases", None, &["u-alice", "u-bob"]);
    sign_in(s).await?;
    let room = s.env.management_room(&s.alice).await?;
    s.env
        .command(
            &s.alice,
            &room,
            &format!("bridge teams {TEAM}/{CHANNEL}"),
            "Bridged",
        )
        .await?;
    let portal = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&room], WAIT)
        .await?;
    s.alice.join(&portal).await?;
    Ok(portal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridged_channels_are_received_by_their_own_subscription() -> anyhow::Result<()> {
    let s = setup("").await?;
    let bridge = s.env.start_in_process().await?;
    let portal = bridge_channel(&s).await?;
    let resource = format!("/teams/{TEAM}/channels/{CHANNEL}/messages");
    let subs = s
        .teams
        .wait_for_subscriptions(WAIT, |subs| subs.iter().any(|k| k.resource == resource))
        .await?;
    let channel_sub = subs.iter().find(|k| k.resource == resource).unwrap();
    assert!(channel_sub.lifecycle_url.is_some());
    assert!(channel_sub.client_state.is_some());

    // Polling is an hour apart: only the channel's notifications bring these.
    let root = s
        .teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>v2 is out</p>");
    let root_event = wait_body(&s, &portal, "v2 is out").await?;
    s.teams
        .reply_channel(TEAM, CHANNEL, &root, "u-bob", "<p>notes follow</p>");
    let reply = wait_body(&s, &portal, "notes follow").await?;
    assert_eq!(reply["content"]["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(
        reply["content"]["m.relates_to"]["event_id"],
        root_event["event_id"]
    );
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_graph_will_not_subscribe_to_is_polled() -> anyhow::Result<()> {
    // Chats' full rounds stay an hour apart; a channel without a subscription is polled
    // every second.
    let s = setup_polling(1, "").await?;
    s.teams.refuse_channel_subscriptions(true);
    let bridge = s.env.start_in_process().await?;
    let portal = bridge_channel(&s).await?;
    s.teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>still heard</p>");
    wait_body(&s, &portal, "still heard").await?;
    assert!(
        s.teams
            .subscriptions()
            .iter()
            .all(|k| !k.resource.starts_with("/teams/")),
        "Graph refused the channel's subscription"
    );
    assert_conforms(&s.teams);
    bridge.stop().await?;
    s.env.synapse.stop().await
}
