//! Typing, read receipts, room names and topics, membership, and backfill, through a real
//! Synapse and the test network.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::{MatrixClient, enc};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BOB: &str = "@aqueduct_testnet_bob:localhost";

/// Syncs until an ephemeral event of `room` matches `pred`.
async fn wait_for_ephemeral(
    user: &MatrixClient,
    room: &str,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut since: Option<String> = None;
    while tokio::time::Instant::now() < deadline {
        let sync = user
            .sync_raw(
                since.as_deref(),
                r#"{"room":{"timeline":{"limit":0}}}"#,
                Duration::from_secs(5),
            )
            .await?;
        if let Some(events) = sync["rooms"]["join"][room]["ephemeral"]["events"].as_array()
            && events.iter().any(&pred)
        {
            return Ok(());
        }
        since = sync["next_batch"].as_str().map(str::to_owned);
    }
    anyhow::bail!("no matching ephemeral event in {room}")
}

async fn members(user: &MatrixClient, room: &str) -> anyhow::Result<Vec<String>> {
    user.joined_members(room).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_receipts_names_topics_and_members_cross_both_ways() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net.add_user("carol_r", "Carol Remote");
    env.net.add_user("dave", "Dave Remote");
    env.net
        .add_chat("room", Some("Room"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    let hello = env.net.post("room", "bob", "hi");
    let room = env.accept_portal_invite(&alice).await?;
    let hello_event = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == BOB && e["content"]["body"] == "hi"
        })
        .await?;
    let hello_event = hello_event["event_id"].as_str().unwrap().to_owned();

    // Typing, both ways.
    env.net.set_typing("room", "bob", true);
    wait_for_ephemeral(&alice, &room, |e| {
        e["type"] == "m.typing"
            && e["content"]["user_ids"]
                .as_array()
                .is_some_and(|u| u.iter().any(|x| x == BOB))
    })
    .await?;
    let path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        enc(&room),
        enc(alice.user_id())
    );
    alice
        .request(
            reqwest::Method::PUT,
            &path,
            Some(&json!({ "typing": true, "timeout": 30000 })),
        )
        .await?;
    env.net
        .wait_until(WAIT, |n| n.is_typing("room", "alice_r"))
        .await?;
    alice
        .request(
            reqwest::Method::PUT,
            &path,
            Some(&json!({ "typing": false })),
        )
        .await?;
    env.net
        .wait_until(WAIT, |n| !n.is_typing("room", "alice_r"))
        .await?;

    // Read receipts, both ways.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&hello_event)
    );
    alice
        .request(reqwest::Method::POST, &path, Some(&json!({})))
        .await?;
    env.net
        .wait_until(WAIT, |n| {
            n.read_marker("room", "alice_r").as_deref() == Some(hello.as_str())
        })
        .await?;
    let mine = alice.send_text(&room, "read me").await?;
    let msgs = env
        .net
        .wait_for("room", WAIT, |m| m.iter().any(|x| x.text == "read me"))
        .await?;
    let mine_remote = msgs
        .iter()
        .find(|x| x.text == "read me")
        .unwrap()
        .id
        .clone();
    env.net.mark_read("room", "bob", &mine_remote);
    wait_for_ephemeral(&alice, &room, |e| {
        e["type"] == "m.receipt" && e["content"][mine.as_str()]["m.read"][BOB].is_object()
    })
    .await?;

    // Name and topic, both ways.
    env.net.set_chat_info(
        "room",
        "bob",
        Some("Renamed remotely"),
        Some("Remote topic"),
    );
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.topic" && e["content"]["topic"] == "Remote topic"
        })
        .await?;
    assert_eq!(
        alice.state_event(&room, "m.room.name", "").await?.unwrap()["name"],
        "Renamed remotely"
    );
    alice
        .set_state(
            &room,
            "m.room.name",
            "",
            json!({ "name": "Renamed in Matrix" }),
        )
        .await?;
    alice
        .set_state(
            &room,
            "m.room.topic",
            "",
            json!({ "topic": "Matrix topic" }),
        )
        .await?;
    env.net
        .wait_until(WAIT, |n| {
            n.chat("room")
                .is_some_and(|c| c["name"] == "Renamed in Matrix" && c["topic"] == "Matrix topic")
        })
        .await?;

    // Membership, remote -> Matrix.
    let carol = "@aqueduct_testnet_carol__r:localhost";
    env.net.set_member("room", "bob", "carol_r", true);
    wait_for_membership(&alice, &room, carol, "join").await?;
    env.net.set_member("room", "bob", "carol_r", false);
    wait_for_membership(&alice, &room, carol, "leave").await?;
    assert!(!members(&alice, &room).await?.iter().any(|x| x == carol));

    // Membership, Matrix -> remote: inviting a ghost adds the remote user; kicking removes them.
    let dave = "@aqueduct_testnet_dave:localhost";
    alice.invite(&room, dave).await?;
    env.net
        .wait_until(WAIT, |n| {
            n.chat("room")
                .is_some_and(|c| c["members"].as_array().unwrap().iter().any(|m| m == "dave"))
        })
        .await?;
    // The bridge's echo of the remote join makes the invited ghost accept.
    wait_for_membership(&alice, &room, dave, "join").await?;
    let path = format!("/_matrix/client/v3/rooms/{}/kick", enc(&room));
    alice
        .request(
            reqwest::Method::POST,
            &path,
            Some(&json!({ "user_id": dave })),
        )
        .await?;
    env.net
        .wait_until(WAIT, |n| {
            n.chat("room")
                .is_some_and(|c| !c["members"].as_array().unwrap().iter().any(|m| m == "dave"))
        })
        .await?;
    bridge.stop().await?;
    Ok(())
}

/// Waits for `user_id`'s membership in `room` to become `membership`.
async fn wait_for_membership(
    user: &MatrixClient,
    room: &str,
    user_id: &str,
    membership: &str,
) -> anyhow::Result<()> {
    user.wait_for_event(room, WAIT, |e| {
        e["type"] == "m.room.member"
            && e["state_key"] == user_id
            && e["content"]["membership"] == membership
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridging_a_chat_backfills_its_recent_history_in_order() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("old", Some("Old chat"), &["alice_r", "bob"], false);
    let mut stamps = Vec::new();
    for i in 0..5 {
        let id = env.net.post("old", "bob", &format!("history {i}"));
        stamps.push(
            env.net
                .messages("old")
                .into_iter()
                .find(|m| m.id == id)
                .unwrap()
                .ts,
        );
    }
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let mgmt = env.login(&alice, &token).await?;
    env.command(&alice, &mgmt, "bridge testnet old", "Bridged Old chat")
        .await?;
    let room = env.accept_portal_invite(&alice).await?;
    env.net.post("old", "bob", "live after backfill");
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "live after backfill"
        })
        .await?;
    let history: Vec<Value> = alice
        .messages(&room)
        .await?
        .into_iter()
        .filter(|e| e["sender"] == BOB && e["type"] == "m.room.message")
        .collect();
    let bodies: Vec<&str> = history
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        [
            "history 0",
            "history 1",
            "history 2",
            "history 3",
            "history 4",
            "live after backfill"
        ]
    );
    for (event, ts) in history.iter().zip(&stamps) {
        assert_eq!(
            event["origin_server_ts"].as_i64(),
            Some(*ts),
            "backfilled messages keep their remote time"
        );
    }
    bridge.stop().await?;
    Ok(())
}
