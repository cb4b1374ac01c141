//! What the bridge's two public doors do with hostile input, end to end against a real
//! Synapse: the appservice transaction endpoint and the Slack Events API endpoint. Each
//! request gets a clear error or a 200 that loses nothing, and the bridge still bridges a
//! normal message afterwards. Also the dead letters end to end: a message whose handling
//! panics is set aside after 3 attempts with a notice, and the room goes on.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::testnet_connector::PANIC_TEXT;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A bridge with the test network (Alice logged in, a portal joined) and Slack over the
/// Events API (no login: the door is what is tested).
async fn setup() -> anyhow::Result<(
    BridgeEnv,
    aqueduct_testkit::bridge_env::RunningBridge,
    MatrixClient,
    String,
)> {
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!(
            "  slack:\n    api_url: http://127.0.0.1:9/api/\n    events_api:\n      signing_secret: {SIGNING_SECRET}\n"
        )),
        ..Default::default()
    })
    .await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("general", Some("General"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    env.net.post("general", "bob", "hello from bob");
    let room = env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello from bob")
        .await?;
    Ok((env, bridge, alice, room))
}

/// Alice's message reaches the network: the bridge still works.
async fn still_bridges(
    env: &BridgeEnv,
    alice: &MatrixClient,
    room: &str,
    text: &str,
) -> anyhow::Result<()> {
    alice.send_text(room, text).await?;
    env.net
        .wait_for("general", WAIT, |m| m.iter().any(|m| m.text == text))
        .await?;
    Ok(())
}

async fn metrics(env: &BridgeEnv) -> anyhow::Result<String> {
    env.metrics().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_set_aside_after_three_attempts_and_the_next_is_bridged()
-> anyhow::Result<()> {
    let (env, bridge, alice, room) = setup().await?;
    alice
        .send_text(&room, &format!("{PANIC_TEXT} with private words"))
        .await?;
    let notice = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("set aside"))
        })
        .await?;
    let body = notice["content"]["body"].as_str().unwrap();
    assert!(
        body.starts_with("⚠️ a message could not be bridged after 3 attempts and was set aside:"),
        "{body}"
    );
    assert!(
        !body.contains("private"),
        "the notice quotes the content: {body}"
    );
    assert_eq!(notice["content"]["msgtype"], "m.notice");
    still_bridges(&env, &alice, &room, "after the poison").await?;
    assert!(
        !env.net
            .messages("general")
            .iter()
            .any(|m| m.text.contains("private"))
    );
    let metrics = metrics(&env).await?;
    assert!(
        metrics.contains("aqueduct_dead_letters_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("aqueduct_job_panics_total 3"), "{metrics}");
    bridge.stop().await
}

async fn put_txn(
    env: &BridgeEnv,
    txn: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .put(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/transactions/{txn}",
            env.bridge_port
        ))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// A room event from Alice into `room`, as Synapse would push it.
fn pushed(room: &str, id: &str, body: &str) -> Value {
    json!({
        "type": "m.room.message", "room_id": room, "sender": "@alice:localhost",
        "event_id": id, "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body},
    })
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

async fn post_slack(
    env: &BridgeEnv,
    body: &[u8],
    signed: bool,
    ts_offset: i64,
) -> anyhow::Result<u16> {
    let ts = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        + ts_offset)
        .to_string();
    let mut message = format!("v0:{ts}:").into_bytes();
    message.extend_from_slice(body);
    let signature = if signed {
        format!(
            "v0={}",
            hex::encode(hmac_sha256(SIGNING_SECRET.as_bytes(), &message))
        )
    } else {
        format!(
            "v0={}",
            hex::encode(hmac_sha256(b"not the secret", &message))
        )
    };
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/_aqueduct/slack/events",
            env.bridge_port
        ))
        .header("content-type", "application/json")
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", signature)
        .body(body.to_vec())
        .send()
        .await?;
    Ok(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_at_both_doors_get_clear_answers_and_lose_nothing() -> anyhow::Result<()> {
    let (env, bridge, alice, room) = setup().await?;
    let hs = env.hs_token.clone();

    // The appservice door. Forged and missing tokens.
    let ok_body = serde_json::to_vec(&json!({ "events": [] }))?;
    assert_eq!(
        put_txn(&env, "f1", "forged", "application/json", ok_body.clone())
            .await?
            .0,
        403
    );
    let r = reqwest::Client::new()
        .put(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/transactions/f2",
            env.bridge_port
        ))
        .body(ok_body.clone())
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    // Not JSON, invalid UTF-8, a JSON array: 400 (no homeserver sends these).
    for body in [
        b"<html>".to_vec(),
        b"\xff\xfe\x00{".to_vec(),
        b"[1,2]".to_vec(),
    ] {
        let (status, answer) = put_txn(&env, "bad", &hs, "application/json", body).await?;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["errcode"], "M_BAD_JSON");
    }
    // A real-size transaction with hostile events among good ones, sent as text/plain: 200,
    // and every good event is bridged in order.
    let big = "x".repeat(60 * 1024);
    let mut events = vec![];
    for i in 0..5 {
        events.push(pushed(
            &room,
            &format!("$big{i}:localhost"),
            &format!("big {i} {big}"),
        ));
    }
    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let hostile = format!(
        r#"{{"type":"m.room.message","room_id":"{room}","sender":"@alice:localhost","event_id":"$deep:localhost","content":{{"body":{nested}}}}}"#
    );
    let numbers = format!(
        r#"{{"type":"m.room.message","room_id":"{room}","sender":"@alice:localhost","event_id":"$num:localhost","content":{{"msgtype":"m.text","body":"numbers","n":1e400}}}}"#
    );
    let unknown = json!({"type": "org.example.unknown", "room_id": room, "sender": "@alice:localhost", "event_id": "$unk:localhost", "content": {"x": 1}});
    let html = pushed(
        &room,
        "$html:localhost",
        "<script>alert(1)</script><img src=x onerror=alert(1)>",
    );
    let last = pushed(&room, "$last:localhost", "last of the transaction");
    // Duplicate keys in an event: the last one wins, as in most JSON parsers.
    let duplicate = format!(
        r#"{{"type":"m.room.message","room_id":"{room}","sender":"@alice:localhost","event_id":"$dup:localhost","content":{{"msgtype":"m.text","body":"first key","body":"second key"}}}}"#
    );
    let body = format!(
        r#"{{"events":[{},{hostile},{numbers},{},{},{duplicate},{}],"ephemeral":[]}}"#,
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(","),
        unknown,
        html,
        last,
    );
    let (status, answer) = put_txn(
        &env,
        "hostile-1",
        &hs,
        "text/plain",
        body.clone().into_bytes(),
    )
    .await?;
    assert_eq!(status, 200, "{answer}");
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|m| m.text == "last of the transaction")
        })
        .await?;
    let texts: Vec<String> = env
        .net
        .messages("general")
        .iter()
        .map(|m| m.text.clone())
        .collect();
    let bigs: Vec<&str> = texts
        .iter()
        .filter(|t| t.starts_with("big "))
        .map(|t| &t[..5])
        .collect();
    assert_eq!(bigs, ["big 0", "big 1", "big 2", "big 3", "big 4"]);
    assert!(
        texts.iter().any(|t| t.contains("<script>")),
        "the HTML text is bridged as text"
    );
    assert!(texts.iter().any(|t| t == "second key"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "numbers"));
    // The same transaction again (a homeserver's retry): accepted, stored once.
    assert_eq!(
        put_txn(&env, "hostile-1", &hs, "text/plain", body.into_bytes())
            .await?
            .0,
        200
    );
    // A real-size transaction: 100 events of ~60 KiB, over axum's 2 MB default.
    let events: Vec<Value> = (0..100)
        .map(|i| {
            pushed(
                &room,
                &format!("$size{i}:localhost"),
                &format!("size {i} {big}"),
            )
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events }))?;
    assert!(body.len() > 6_000_000);
    assert_eq!(
        put_txn(&env, "size", &hs, "application/json", body)
            .await?
            .0,
        200
    );
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|m| m.text.starts_with("size 99 "))
        })
        .await?;
    let sizes: Vec<String> = env
        .net
        .messages("general")
        .iter()
        .filter(|m| m.text.starts_with("size "))
        .map(|m| m.text.split(' ').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(sizes, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(
        env.net
            .messages("general")
            .iter()
            .filter(|m| m.text == "last of the transaction")
            .count(),
        1,
        "a retried transaction is stored once"
    );

    // The Slack door: bad signatures and stale timestamps are 401; signed garbage gets a
    // clear 4xx or a 200, never a 5xx that Slack would retry, and never a crash.
    let event = br#"{"type":"event_callback","event_id":"Ev1","team_id":"T0FAKE","event":{"type":"message","channel":"C1","user":"UBOB","text":"hi","ts":"1.1"}}"#;
    assert_eq!(post_slack(&env, event, false, 0).await?, 401);
    assert_eq!(post_slack(&env, event, true, -3600).await?, 401);
    let deep = format!(r#"{{"type":"event_callback","event":{nested}}}"#);
    let huge = "y".repeat(3 * 1024 * 1024);
    let hostile_slack: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"\xff\xfe".to_vec(),
        deep.into_bytes(),
        br#"{"type":"event_callback","event_id":"Ev2","event":{"type":"org.unknown","n":1e400}}"#
            .to_vec(),
        br#"{"type":"event_callback","type":"url_verification","challenge":"c"}"#.to_vec(),
        br#"{"type":"something_new"}"#.to_vec(),
        format!(r#"{{"type":"event_callback","event":{{"type":"message","text":"{huge}"}}}}"#)
            .into_bytes(),
    ];
    for body in &hostile_slack {
        let status = post_slack(&env, body, true, 0).await?;
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        eprintln!("Slack door: {shown:?} -> HTTP {status}");
        assert!(
            status == 200 || (400..500).contains(&status),
            "{shown}: HTTP {status}"
        );
    }

    // And the bridge still bridges.
    still_bridges(&env, &alice, &room, "still here").await?;
    bridge.stop().await
}
