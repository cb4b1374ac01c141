//! Messages, edits, deletes, reactions, replies and threads in both directions, through a
//! real Synapse and the test network.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::testnet_server::NetMessage;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BOB: &str = "@aqueduct_testnet_bob:localhost";

fn by_ghost(e: &Value) -> bool {
    e["sender"] == BOB
}

fn find<'a>(msgs: &'a [NetMessage], text: &str) -> Option<&'a NetMessage> {
    msgs.iter().find(|m| m.text == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_event_crosses_both_ways() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("general", Some("General"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;

    // Remote -> Matrix: the first message creates the portal; the ghost has Bob's name.
    let first = env.net.post("general", "bob", "hello from bob");
    let room = env.accept_portal_invite(&alice).await?;
    let hello = alice
        .wait_for_event(&room, WAIT, |e| {
            by_ghost(e) && e["content"]["body"] == "hello from bob"
        })
        .await?;
    assert_eq!(
        alice.profile_displayname(BOB).await?.as_deref(),
        Some("Bob Remote")
    );
    let name = alice.state_event(&room, "m.room.name", "").await?;
    assert_eq!(name.unwrap()["name"], "General");
    let hello_id = hello["event_id"].as_str().unwrap().to_owned();

    // Matrix -> remote: formatting survives as HTML, the author is Alice's remote account.
    let mine = alice
        .send_html(&room, "hi **there**", "hi <strong>there</strong>")
        .await?;
    let msgs = env
        .net
        .wait_for("general", WAIT, |m| find(m, "hi **there**").is_some())
        .await?;
    let sent = find(&msgs, "hi **there**").unwrap().clone();
    assert_eq!(sent.sender, "alice_r");
    assert_eq!(sent.html.as_deref(), Some("hi <strong>there</strong>"));

    // Edits both ways.
    alice
        .send(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* hi again",
                "m.new_content": {"msgtype": "m.text", "body": "hi again"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": mine}
            }),
        )
        .await?;
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter()
                .any(|x| x.id == sent.id && x.text == "hi again" && x.edits == 1)
        })
        .await?;
    env.net
        .edit("general", &first, "bob", "hello from bob (edited)");
    alice
        .wait_for_event(&room, WAIT, |e| {
            by_ghost(e)
                && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
                && e["content"]["m.new_content"]["body"] == "hello from bob (edited)"
        })
        .await?;

    // Reactions both ways.
    alice.react(&room, &hello_id, "👍").await?;
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter()
                .any(|x| x.id == first && x.reactions.contains(&("alice_r".into(), "👍".into())))
        })
        .await?;
    env.net.react("general", &sent.id, "bob", "🎉", true);
    let reaction = alice
        .wait_for_event(&room, WAIT, |e| {
            by_ghost(e)
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["event_id"] == mine.as_str()
                && e["content"]["m.relates_to"]["key"] == "🎉"
        })
        .await?;
    env.net.react("general", &sent.id, "bob", "🎉", false);
    let reaction_id = reaction["event_id"].as_str().unwrap().to_owned();
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == reaction_id.as_str()
                    || e["content"]["redacts"] == reaction_id.as_str())
        })
        .await?;

    // Replies both ways.
    let reply = env.net.post_full(
        "general",
        "bob",
        "replying to alice",
        None,
        Some(&sent.id),
        None,
        vec![],
    );
    alice
        .wait_for_event(&room, WAIT, |e| {
            by_ghost(e)
                && e["content"]["body"] == "replying to alice"
                && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == mine.as_str()
        })
        .await?;
    alice
        .send(&room, "m.room.message", json!({"msgtype": "m.text", "body": "answering bob", "m.relates_to": {"m.in_reply_to": {"event_id": hello_id}}}))
        .await?;
    let msgs = env
        .net
        .wait_for("general", WAIT, |m| find(m, "answering bob").is_some())
        .await?;
    assert_eq!(
        find(&msgs, "answering bob").unwrap().reply_to.as_deref(),
        Some(first.as_str())
    );

    // Threads both ways.
    env.net.post_full(
        "general",
        "bob",
        "in the thread",
        None,
        None,
        Some(&first),
        vec![],
    );
    alice
        .wait_for_event(&room, WAIT, |e| {
            by_ghost(e)
                && e["content"]["body"] == "in the thread"
                && e["content"]["m.relates_to"]["rel_type"] == "m.thread"
                && e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
        })
        .await?;
    alice
        .send(&room, "m.room.message", json!({"msgtype": "m.text", "body": "thread answer", "m.relates_to": {"rel_type": "m.thread", "event_id": hello_id, "is_falling_back": true, "m.in_reply_to": {"event_id": hello_id}}}))
        .await?;
    let msgs = env
        .net
        .wait_for("general", WAIT, |m| find(m, "thread answer").is_some())
        .await?;
    assert_eq!(
        find(&msgs, "thread answer").unwrap().thread_root.as_deref(),
        Some(first.as_str())
    );

    // Deletes both ways.
    env.net.delete("general", &reply, "bob");
    let reply_event = alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "replying to alice")
        .await?;
    let reply_event_id = reply_event["event_id"].as_str().unwrap().to_owned();
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == reply_event_id.as_str()
                    || e["content"]["redacts"] == reply_event_id.as_str())
        })
        .await?;
    alice.redact(&room, &mine, None).await?;
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|x| x.id == sent.id && x.deleted)
        })
        .await?;

    // The metrics saw traffic both ways.
    let metrics = env.metrics().await?;
    for direction in ["to_matrix", "to_remote"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("aqueduct_messages_bridged_total")
                    && l.contains(direction)
                    && l.contains("testnet")
            })
            .unwrap_or_else(|| panic!("no {direction} counter in:\n{metrics}"));
        let count: f64 = line.rsplit(' ').next().unwrap().parse()?;
        assert!(count >= 5.0, "{line}");
    }

    // Nothing was bridged twice: each remote message has exactly one Matrix event.
    let events = alice.messages(&room).await?;
    let count = |body: &str| {
        events
            .iter()
            .filter(|e| e["type"] == "m.room.message" && e["content"]["body"] == body)
            .count()
    };
    assert_eq!(count("hello from bob"), 1);
    assert_eq!(count("in the thread"), 1);
    assert_eq!(
        env.net
            .messages("general")
            .iter()
            .filter(|m| m.text == "answering bob")
            .count(),
        1
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_cross_both_ways_and_oversized_ones_are_refused_visibly() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("files", Some("Files"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;

    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3, 4];
    env.net.post_full(
        "files",
        "bob",
        "",
        None,
        None,
        None,
        vec![aqueduct_testkit::testnet_server::NetAttachment {
            name: "pic.png".into(),
            mime: "image/png".into(),
            data_hex: hex_encode(&png),
        }],
    );
    let room = env.accept_portal_invite(&alice).await?;
    let image = alice
        .wait_for_event(&room, WAIT, |e| {
            by_ghost(e) && e["content"]["msgtype"] == "m.image"
        })
        .await?;
    assert_eq!(image["content"]["body"], "pic.png");
    let mxc = image["content"]["url"].as_str().unwrap();
    assert_eq!(alice.download(mxc).await?, png);

    let doc = b"quarterly report".to_vec();
    let mxc = alice
        .upload(doc.clone(), "text/plain", "report.txt")
        .await?;
    alice.send(&room, "m.room.message", json!({"msgtype": "m.file", "body": "report.txt", "url": mxc, "info": {"mimetype": "text/plain", "size": doc.len()}})).await?;
    let msgs = env
        .net
        .wait_for("files", WAIT, |m| {
            m.iter()
                .any(|x| x.attachments.iter().any(|a| a.name == "report.txt"))
        })
        .await?;
    let att = msgs
        .iter()
        .flat_map(|m| m.attachments.iter())
        .find(|a| a.name == "report.txt")
        .unwrap();
    assert_eq!(att.data_hex, hex_encode(&doc));

    // The test network takes at most 1 MiB: a bigger file gets a notice, not silence.
    let big = vec![7u8; 1_500_000];
    let mxc = alice
        .upload(big, "application/octet-stream", "huge.bin")
        .await?;
    alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "huge.bin", "url": mxc}),
        )
        .await?;
    alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("huge.bin") && b.contains("larger than"))
        })
        .await?;
    bridge.stop().await?;
    Ok(())
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
