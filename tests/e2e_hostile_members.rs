//! Room members who try to do on the platform what their power in the room does not allow:
//! edit or delete someone else's message through the relay, remove someone else's reaction,
//! take over the relay; and a platform's passing failures, which must not cost a message.
//! Real Synapse, the test network as the platform.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::testnet_server::NetMessage;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn ends_with<'a>(msgs: &'a [NetMessage], text: &str) -> Option<&'a NetMessage> {
    msgs.iter().find(|m| m.text.ends_with(text))
}

/// Waits for a notice of the bot in `room` whose text contains `expect`.
async fn bot_notice(
    env: &BridgeEnv,
    user: &MatrixClient,
    room: &str,
    expect: &str,
) -> anyhow::Result<Value> {
    user.wait_for_event(room, WAIT, |e| {
        e["sender"] == env.bot.as_str()
            && e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains(expect))
    })
    .await
}

/// Pushes one event to the bridge as the homeserver would, in its own transaction: how a
/// redaction from another homeserver arrives, which this Synapse's client API would have
/// refused its own user (it checks the redact power of local users only).
async fn push_event(env: &BridgeEnv, event: Value) -> anyhow::Result<()> {
    let txn = format!(
        "hostile-{}",
        event["event_id"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('$')
    );
    let r = reqwest::Client::new()
        .put(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/transactions/{txn}",
            env.bridge_port
        ))
        .bearer_auth(&env.hs_token)
        .json(&json!({ "events": [event] }))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "transaction refused: {}",
        r.status()
    );
    Ok(())
}

fn redaction(id: &str, room: &str, sender: &str, redacts: &str) -> Value {
    json!({
        "type": "m.room.redaction", "event_id": id, "room_id": room, "sender": sender,
        "origin_server_ts": 1, "redacts": redacts, "content": { "redacts": redacts },
    })
}

/// Alice (logged in, the portal's moderator) bridges `team` and turns the relay on; Carol and
/// Mallory join without logins and without power.
struct Room {
    env: BridgeEnv,
    alice: MatrixClient,
    carol: MatrixClient,
    mallory: MatrixClient,
    room: String,
}

async fn relayed_room(
    mallory_token: bool,
) -> anyhow::Result<(Room, aqueduct_testkit::bridge_env::RunningBridge)> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let alice_token = env.net.add_user("alice_r", "Alice Remote");
    let mallory_remote = env.net.add_user("mallory_r", "Mallory Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net.add_chat(
        "team",
        Some("Team"),
        &["alice_r", "bob", "mallory_r"],
        false,
    );
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let mgmt = env.login(&alice, &alice_token).await?;
    env.command(&alice, &mgmt, "bridge testnet team", "Bridged Team")
        .await?;
    let room = env.accept_portal_invite(&alice).await?;
    env.command(
        &alice,
        &room,
        "!aq set-relay",
        "relayed through Alice Remote",
    )
    .await?;
    let carol = env.user("carol").await?;
    let mallory = env.user("mallory").await?;
    for u in [&carol, &mallory] {
        alice.invite(&room, u.user_id()).await?;
        u.join(&room).await?;
    }
    if mallory_token {
        env.login(&mallory, &mallory_remote).await?;
    }
    Ok((
        Room {
            env,
            alice,
            carol,
            mallory,
            room,
        },
        bridge,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_cannot_edit_or_delete_others_messages_through_the_relay() -> anyhow::Result<()> {
    let (r, bridge) = relayed_room(false).await?;
    let (env, room) = (&r.env, r.room.as_str());

    let carols = r.carol.send_text(room, "carol original").await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| ends_with(m, "carol original").is_some())
        .await?;
    let carol_net = ends_with(&msgs, "carol original").unwrap().clone();

    // Mallory edits Carol's message: Matrix carries it, the platform must not.
    r.mallory
        .send(
            room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* carol says mallory is right",
                "m.new_content": {"msgtype": "m.text", "body": "carol says mallory is right"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": carols}
            }),
        )
        .await?;
    bot_notice(
        env,
        &r.alice,
        room,
        "only the author of a message can edit it",
    )
    .await?;

    // Mallory redacts Carol's message (as another homeserver would let her) and a remote
    // user's message: neither is deleted on the platform.
    let bobs = env.net.post("team", "bob", "bob stays");
    let bob_event = r
        .alice
        .wait_for_event(room, WAIT, |e| e["content"]["body"] == "bob stays")
        .await?;
    let bob_event = bob_event["event_id"].as_str().unwrap().to_owned();
    push_event(
        env,
        redaction("$hostile1", room, r.mallory.user_id(), &carols),
    )
    .await?;
    push_event(
        env,
        redaction("$hostile2", room, r.mallory.user_id(), &bob_event),
    )
    .await?;
    let refusals = |e: &Value| {
        e["sender"] == env.bot.as_str()
            && e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("may not remove other people's messages"))
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = r.alice.messages(room).await?;
        if seen.iter().filter(|e| refusals(e)).count() >= 2 {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no two refusals");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A moderator's redaction of Carol's message is bridged; Carol edits and deletes her own.
    let carols2 = r.carol.send_text(room, "carol second").await?;
    env.net
        .wait_for("team", WAIT, |m| ends_with(m, "carol second").is_some())
        .await?;
    r.carol
        .send(
            room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* carol second, edited",
                "m.new_content": {"msgtype": "m.text", "body": "carol second, edited"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": carols2}
            }),
        )
        .await?;
    env.net
        .wait_for("team", WAIT, |m| {
            ends_with(m, "carol second, edited").is_some()
        })
        .await?;
    r.carol.redact(room, &carols2, None).await?;
    r.alice.redact(room, &carols, Some("moderated")).await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| x.id == carol_net.id && x.deleted)
                && ends_with(m, "carol second, edited").is_some_and(|x| x.deleted)
        })
        .await?;
    // Mallory's edit never reached the platform, and Bob's message is still there.
    let carol_now = msgs.iter().find(|x| x.id == carol_net.id).unwrap();
    assert_eq!(carol_now.edits, 0, "{carol_now:?}");
    assert!(carol_now.text.ends_with("carol original"));
    assert!(msgs.iter().any(|x| x.id == bobs && !x.deleted));
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_power_cannot_take_over_the_relay_or_remove_others_reactions()
-> anyhow::Result<()> {
    let (r, bridge) = relayed_room(true).await?;
    let (env, room) = (&r.env, r.room.as_str());

    // Mallory has a login and the user level, but no power in the room.
    env.command(
        &r.mallory,
        room,
        "!aq set-relay",
        "Only bridge admins and the room's moderators",
    )
    .await?;
    env.command(
        &r.mallory,
        room,
        "!aq unset-relay",
        "Only bridge admins and the room's moderators",
    )
    .await?;
    r.carol.send_text(room, "still through alice").await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| {
            ends_with(m, "still through alice").is_some()
        })
        .await?;
    assert_eq!(
        ends_with(&msgs, "still through alice").unwrap().sender,
        "alice_r"
    );

    // Alice reacts to Bob's message; Mallory's redaction of that reaction would otherwise
    // remove Mallory's own reaction with the same key, or Alice's.
    let bobs = env.net.post("team", "bob", "react to me");
    let bob_event = r
        .alice
        .wait_for_event(room, WAIT, |e| e["content"]["body"] == "react to me")
        .await?;
    let bob_event = bob_event["event_id"].as_str().unwrap().to_owned();
    let alices_reaction = r.alice.react(room, &bob_event, "👍").await?;
    r.mallory.react(room, &bob_event, "👍").await?;
    env.net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| {
                x.id == bobs
                    && x.reactions.contains(&("alice_r".into(), "👍".into()))
                    && x.reactions.contains(&("mallory_r".into(), "👍".into()))
            })
        })
        .await?;
    push_event(
        env,
        redaction("$hostile3", room, r.mallory.user_id(), &alices_reaction),
    )
    .await?;
    bot_notice(
        env,
        &r.alice,
        room,
        "may not remove other people's reactions",
    )
    .await?;
    let msgs = env.net.messages("team");
    let bob_now = msgs.iter().find(|x| x.id == bobs).unwrap();
    assert!(bob_now.reactions.contains(&("alice_r".into(), "👍".into())));
    assert!(
        bob_now
            .reactions
            .contains(&("mallory_r".into(), "👍".into()))
    );

    // Alice, the room's moderator, still manages the relay.
    env.command(&r.alice, room, "!aq unset-relay", "Relay turned off")
        .await?;
    bridge.stop().await?;
    Ok(())
}

/// The bridge's Prometheus counter `name` (summed over labels), or 0 before its first count.
async fn metric(env: &BridgeEnv, name: &str) -> anyhow::Result<f64> {
    let text = env.metrics().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_survives_passing_platform_failures_and_a_refusal_is_told_at_once()
-> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_chat("team", Some("Team"), &["alice_r"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let mgmt = env.login(&alice, &token).await?;
    env.command(&alice, &mgmt, "bridge testnet team", "Bridged Team")
        .await?;
    let room = env.accept_portal_invite(&alice).await?;
    alice.send_text(&room, "before").await?;
    env.net
        .wait_for("team", WAIT, |m| ends_with(m, "before").is_some())
        .await?;

    // The platform answers the next two sends with HTTP 500.
    env.net.fail_next_sends(2);
    alice.send_text(&room, "through the storm").await?;
    alice.send_text(&room, "after the storm").await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| ends_with(m, "after the storm").is_some())
        .await?;
    let storm: Vec<_> = msgs
        .iter()
        .filter(|m| m.text == "through the storm")
        .collect();
    assert_eq!(storm.len(), 1, "exactly once: {msgs:?}");
    let at = |t: &str| msgs.iter().position(|m| m.text == t).unwrap();
    assert!(at("through the storm") < at("after the storm"), "in order");
    assert!(metric(&env, "aqueduct_remote_send_retries_total").await? >= 1.0);
    let notices = alice.messages(&room).await?;
    assert!(
        !notices.iter().any(|e| e["sender"] == env.bot.as_str()
            && e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("Not bridged"))),
        "no failure notice"
    );

    // A failure that cannot pass is not retried: the notice comes at once.
    let retries = metric(&env, "aqueduct_remote_send_retries_total").await?;
    alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"}),
        )
        .await?;
    bot_notice(&env, &alice, &room, "Not bridged to testnet").await?;
    assert_eq!(
        metric(&env, "aqueduct_remote_send_retries_total").await?,
        retries
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_with_the_power_to_notify_the_room_ping_the_slack_channel()
-> anyhow::Result<()> {
    use aqueduct_testkit::slack_env::SlackEnv;
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "start", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "start")
        .await?;
    s.env
        .command(&s.alice, &room, "!aq set-relay", "relayed through")
        .await?;
    let carol = s.env.user("carol").await?;
    s.alice.invite(&room, carol.user_id()).await?;
    carol.join(&room).await?;

    // Carol has no power in the room: neither the mention nor the text pings everyone.
    carol
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "@room wake up", "m.mentions": {"room": true}}),
        )
        .await?;
    carol
        .send_html(
            &room,
            "@here and @channel too",
            "<p>@here and @channel too</p>",
        )
        .await?;
    // Alice, the room's moderator, may.
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "@room meeting now", "m.mentions": {"room": true}}),
        )
        .await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text.contains("meeting now"))
                && m.iter().any(|x| x.text.contains("too"))
        })
        .await?;
    let text_of = |t: &str| {
        msgs.iter()
            .find(|x| x.text.contains(t))
            .unwrap()
            .text
            .clone()
    };
    let carols = [text_of("wake up"), text_of("too")];
    for t in &carols {
        assert!(
            !t.contains("<!channel>") && !t.contains("<!here>") && !t.contains("<!everyone>"),
            "{t}"
        );
    }
    assert!(
        carols[0].contains("room wake up"),
        "the text stays: {}",
        carols[0]
    );
    assert!(
        text_of("meeting now").contains("<!channel>"),
        "{}",
        text_of("meeting now")
    );
    bridge.stop().await?;
    Ok(())
}
