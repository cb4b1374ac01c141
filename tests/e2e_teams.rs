//! Microsoft Teams end to end: the real Synapse, the bridge, and the fake Teams tenant
//! (identity platform and Graph, checked against Microsoft's CSDL). Sign-in with the device
//! code flow, then a group chat both ways: messages, mentions, edits, deletes and reactions,
//! a renewed access token and Graph's throttling on the way; posts kept to the configured
//! per-chat pace.

use aqueduct_core::ghost_ids::GhostNamer;
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::fake_teams::FakeTeams;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const CHAT: &str = "19:project@thread.v2";

fn ghost(id: &str) -> String {
    GhostNamer::new("aqueduct_", "localhost")
        .user_id(&ConnectorId::new("teams"), &RemoteUserId::new(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_chat_crosses_both_ways_after_a_device_code_sign_in() -> anyhow::Result<()> {
    let teams = FakeTeams::start().await?;
    teams.add_user("u-alice", "Alice Teams", "alice@contoso.com");
    teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    teams.add_chat(CHAT, "group", Some("Project"), &["u-alice", "u-bob"]);
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!(
            "  teams:\n    client_id: aqueduct-test\n    tenant: contoso\n    authority: {}\n    graph_url: {}\n    poll_interval_secs: 1\n",
            teams.authority(),
            teams.graph_url()
        )),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let room = env.management_room(&alice).await?;

    // The bot's help names Teams and how to log in to it.
    let help = env
        .command(&alice, &room, "help", "Networks and how to log in")
        .await?;
    let help = help["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        help.contains("Microsoft Teams") && help.contains("`login teams device`"),
        "{help}"
    );

    // Sign-in: the bot shows Microsoft's page and a code; once "Alice" enters it there, the
    // bot says she is logged in.
    let shown = env
        .command(&alice, &room, "login teams", "enter the code")
        .await?;
    let text = shown["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("https://microsoft.com/devicelogin"), "{text}");
    let code = text
        .split_whitespace()
        .find(|w| w.starts_with("CODE"))
        .expect("a code in the instructions")
        .to_owned();
    assert!(teams.approve_device_code(&code, "u-alice"));
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Logged in"))
        })
        .await?;

    // Teams -> Matrix: Bob's message (with a mention of Alice and bold text) opens the portal.
    let first = teams.post(CHAT, "u-bob", "<p>hello <b>team</b></p>");
    let portal = env.accept_portal_invite(&alice).await?;
    let hello = alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["body"] == "hello team" && e["sender"] == ghost("u-bob").as_str()
        })
        .await?;
    assert!(
        hello["content"]["formatted_body"]
            .as_str()
            .is_some_and(|h| h.contains("<b>team</b>")),
        "{hello}"
    );

    // Matrix -> Teams: Alice's reply arrives as her own Teams message, formatted.
    let sent = alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "hi Bob Teams", "format": "org.matrix.custom.html",
                   "formatted_body": format!("<em>hi</em> <a href=\"https://matrix.to/#/{}\">Bob Teams</a>", ghost("u-bob")),
                   "m.mentions": {"user_ids": [ghost("u-bob")]}}),
        )
        .await?;
    let msgs = teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| x.html.contains("<em>hi</em>"))
        })
        .await?;
    let mine = msgs
        .iter()
        .find(|x| x.html.contains("<em>hi</em>"))
        .unwrap()
        .clone();
    assert_eq!(mine.from, "u-alice", "sent as Alice herself");
    assert!(
        mine.html.contains("<at id=\"0\">Bob Teams</at>"),
        "{}",
        mine.html
    );
    assert_eq!(mine.mentions[0]["mentioned"]["user"]["id"], "u-bob");

    // Her edit and a reaction cross as well.
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "* hi again", "m.new_content": {"msgtype": "m.text", "body": "hi again"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": sent}}),
        )
        .await?;
    teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter()
                .any(|x| x.id == mine.id && x.html.contains("hi again"))
        })
        .await?;
    // A post whose answer was lost (Teams posted it, the gateway answered 504) is found by
    // the retry instead of posted again; the same words sent earlier stay a message of their
    // own.
    let ok_count = |m: &[aqueduct_testkit::fake_teams::TeamsMessage]| {
        m.iter()
            .filter(|x| x.html == "ok" && x.deleted_ms.is_none())
            .count()
    };
    alice.send_text(&portal, "ok").await?;
    teams.wait_for(CHAT, WAIT, |m| ok_count(m) == 1).await?;
    teams.lose_post_answers(1);
    let second_ok = alice.send_text(&portal, "ok").await?;
    teams.wait_for(CHAT, WAIT, |m| ok_count(m) == 2).await?;
    // The redaction of the second "ok" proves the mapping: it takes that message, once.
    alice.redact(&portal, &second_ok, None).await?;
    let msgs = teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().filter(|x| x.html == "ok").count() == 2 && ok_count(m) == 1
        })
        .await?;
    assert_eq!(
        msgs.iter().filter(|x| x.html == "ok").count(),
        2,
        "the retried post was not posted a third time"
    );

    let hello_id = hello["event_id"].as_str().unwrap().to_owned();
    alice
        .send(
            &portal,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hello_id, "key": "👍"}}),
        )
        .await?;
    teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter()
                .any(|x| x.id == first && x.reactions.contains(&("u-alice".into(), "👍".into())))
        })
        .await?;

    // An expired access token is renewed with the refresh token, and a throttled Graph is
    // waited out: Bob's edit, his reaction and his delete still reach Matrix.
    teams.expire_access_tokens();
    teams.throttle(2);
    teams.edit(CHAT, &first, "<p>hello everyone</p>");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "hello everyone"
                && e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
        })
        .await?;
    teams.react(CHAT, &first, "u-bob", "heart");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.reaction"
                && e["sender"] == ghost("u-bob").as_str()
                && e["content"]["m.relates_to"]["key"] == "❤️"
        })
        .await?;
    teams.delete(CHAT, &first);
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == hello_id.as_str()
        })
        .await?;

    // Nothing came back twice: Alice's own message and reaction were not echoed into Matrix.
    let timeline = alice.messages(&portal).await?;
    let echoes = timeline
        .iter()
        .filter(|e| e["sender"] == ghost("u-alice").as_str() && e["type"] == "m.room.message")
        .count();
    assert_eq!(echoes, 0, "Alice's own Teams messages are not bridged back");
    assert!(teams.violations().is_empty(), "{:?}", teams.violations());
    bridge.stop().await?;
    env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_teams_sign_in_is_told_to_its_owner() -> anyhow::Result<()> {
    let teams = FakeTeams::start().await?;
    teams.add_user("u-alice", "Alice Teams", "alice@contoso.com");
    teams.add_chat(CHAT, "group", Some("Project"), &["u-alice"]);
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!(
            "  teams:\n    client_id: aqueduct-test\n    authority: {}\n    graph_url: {}\n    poll_interval_secs: 1\n",
            teams.authority(),
            teams.graph_url()
        )),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let room = env.management_room(&alice).await?;
    let shown = env
        .command(&alice, &room, "login teams device", "enter the code")
        .await?;
    let text = shown["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = text
        .split_whitespace()
        .find(|w| w.starts_with("CODE"))
        .unwrap()
        .to_owned();
    teams.approve_device_code(&code, "u-alice");
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("Logged in"))
        })
        .await?;
    // Consent withdrawn: the access token dies and the refresh token is refused.
    teams.revoke_refresh_tokens("u-alice");
    let told = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Microsoft refused to renew the sign-in"))
        })
        .await?;
    assert!(
        told["content"]["body"].as_str().unwrap().contains("teams"),
        "{told}"
    );
    bridge.stop().await?;
    env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_a_page_arrives_whole_and_in_order() -> anyhow::Result<()> {
    use aqueduct_testkit::fake_teams::env::TeamsEnv;
    let t = TeamsEnv::start("").await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams
        .add_chat(CHAT, "group", Some("Project"), &["u-alice", "u-bob"]);
    let alice = t.env.user("alice").await?;
    t.login(&alice, "u-alice").await?;
    // A message written right after the sign-in, before the first polling round noted where
    // the chat stands, is new: it opens the portal.
    t.teams.post(CHAT, "u-bob", "<p>open</p>");
    let portal = t.accept_new_portal(&alice, &[]).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "open")
        .await?;
    // 120 messages at once: more than two of Graph's pages of 50.
    for i in 0..120 {
        t.teams.post(CHAT, "u-bob", &format!("<p>burst {i}</p>"));
    }
    alice
        .wait_for_event(&portal, Duration::from_secs(60), |e| {
            e["content"]["body"] == "burst 119"
        })
        .await?;
    let bodies: Vec<String> = alice
        .messages(&portal)
        .await?
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .filter(|b| b.starts_with("burst "))
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..120).map(|i| format!("burst {i}")).collect();
    assert_eq!(bodies, expected, "every message once, in order");
    t.check_conformance()?;
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_keep_to_the_configured_send_pace() -> anyhow::Result<()> {
    use aqueduct_testkit::fake_teams::env::TeamsEnv;
    // One at once, then two a second: three messages sent together take a second to post.
    let t = TeamsEnv::start("    send_pace:\n      burst: 1\n      per_second: 2\n").await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams
        .add_chat(CHAT, "group", Some("Project"), &["u-alice", "u-bob"]);
    let alice = t.env.user("alice").await?;
    t.login(&alice, "u-alice").await?;
    t.teams.post(CHAT, "u-bob", "<p>open</p>");
    let portal = t.accept_new_portal(&alice, &[]).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "open")
        .await?;
    for i in 0..3 {
        alice.send_text(&portal, &format!("paced {i}")).await?;
    }
    let posted = t
        .teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().filter(|m| m.html.contains("paced")).count() == 3
        })
        .await?;
    let times: Vec<i64> = posted
        .iter()
        .filter(|m| m.html.contains("paced"))
        .map(|m| m.created_ms)
        .collect();
    // Two waits of half a second each (the default pace would post all three at once).
    assert!(
        times[2] - times[0] >= 900,
        "posted at {times:?}: faster than the configured pace"
    );
    t.check_conformance()?;
    t.stop().await
}
