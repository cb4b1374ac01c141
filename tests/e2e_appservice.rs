//! The appservice API as the homeserver sees it: tokens, malformed bodies, repeated
//! transactions.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use aqueduct_testkit::matrix_client::MatrixClient;
use serde_json::json;
use std::time::Duration;

/// The bridge running in process with chat `c` bridged to a room Alice joined: (environment,
/// bridge, Alice, room).
async fn portal_of_chat_c() -> anyhow::Result<(BridgeEnv, RunningBridge, MatrixClient, String)> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net.add_chat("c", Some("C"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    env.net.post("c", "bob", "start");
    let room = env.accept_portal_invite(&alice).await?;
    Ok((env, bridge, alice, room))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_and_answers_carry_content_length() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let bridge = env.start_in_process().await?;
    let http = reqwest::Client::new();
    let url = format!(
        "http://127.0.0.1:{}/_matrix/app/v1/transactions/t1",
        env.bridge_port
    );
    let body = json!({ "events": [] });

    let missing = http.put(&url).json(&body).send().await?;
    assert_eq!(missing.status(), 401);
    assert!(missing.headers().contains_key("content-length"));
    assert_eq!(
        missing.json::<serde_json::Value>().await?["errcode"],
        "M_MISSING_TOKEN"
    );

    let wrong = http
        .put(&url)
        .bearer_auth("not-the-token")
        .json(&body)
        .send()
        .await?;
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        wrong.json::<serde_json::Value>().await?["errcode"],
        "M_FORBIDDEN"
    );

    let legacy_wrong = http
        .put(format!(
            "http://127.0.0.1:{}/transactions/t1?access_token=nope",
            env.bridge_port
        ))
        .json(&body)
        .send()
        .await?;
    assert_eq!(legacy_wrong.status(), 403);

    let bad = http
        .put(&url)
        .bearer_auth(&env.hs_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(bad.status(), 400);
    let bad = bad.json::<serde_json::Value>().await?;
    assert_eq!(bad["errcode"], "M_BAD_JSON");
    assert!(bad["error"].as_str().unwrap().contains("not valid"));

    let ok = http
        .put(&url)
        .bearer_auth(&env.hs_token)
        .json(&body)
        .send()
        .await?;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-length"], "2");

    let ping = http
        .post(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/ping",
            env.bridge_port
        ))
        .bearer_auth(&env.hs_token)
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(ping.status(), 200);
    let user = http
        .get(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/users/@someone:localhost",
            env.bridge_port
        ))
        .bearer_auth(&env.hs_token)
        .send()
        .await?;
    assert_eq!(user.status(), 404);
    let metrics = env.metrics().await?;
    assert!(
        metrics.contains("aqueduct_appservice_transactions_total 1"),
        "{metrics}"
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_transaction_is_processed_once() -> anyhow::Result<()> {
    let (env, bridge, alice, room) = portal_of_chat_c().await?;

    // Push the same transaction twice, as Synapse does when it did not see our answer.
    let http = reqwest::Client::new();
    let url = format!(
        "http://127.0.0.1:{}/_matrix/app/v1/transactions/replayed",
        env.bridge_port
    );
    let event = json!({
        "type": "m.room.message", "event_id": "$handmade:localhost", "room_id": room, "sender": alice.user_id(),
        "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": "only once" }
    });
    for _ in 0..2 {
        let r = http
            .put(&url)
            .bearer_auth(&env.hs_token)
            .json(&json!({ "events": [event] }))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
    }
    // And the same event again under another transaction id.
    let r = http
        .put(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/transactions/other",
            env.bridge_port
        ))
        .bearer_auth(&env.hs_token)
        .json(&json!({ "events": [event] }))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    env.net
        .wait_for("c", Duration::from_secs(30), |m| {
            m.iter().any(|x| x.text == "only once")
        })
        .await?;
    // A later message proves the queue moved past the repeats before we count.
    alice.send_text(&room, "after").await?;
    let msgs = env
        .net
        .wait_for("c", Duration::from_secs(30), |m| {
            m.iter().any(|x| x.text == "after")
        })
        .await?;
    assert_eq!(msgs.iter().filter(|m| m.text == "only once").count(), 1);
    bridge.stop().await?;
    Ok(())
}

/// Synapse on SQLite numbers transactions from 1 again after it restarts: an id seen before
/// with other events is a new transaction, not a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_id_reused_after_a_homeserver_restart_still_delivers() -> anyhow::Result<()> {
    let (env, bridge, alice, room) = portal_of_chat_c().await?;

    let http = reqwest::Client::new();
    let url = format!(
        "http://127.0.0.1:{}/_matrix/app/v1/transactions/1",
        env.bridge_port
    );
    let message = |n: u32, body: &str| {
        json!({
            "type": "m.room.message", "event_id": format!("$life{n}:localhost"), "room_id": room,
            "sender": alice.user_id(), "origin_server_ts": 1,
            "content": { "msgtype": "m.text", "body": body }
        })
    };
    // The homeserver's first life, its transaction 1 retried once, then its second life,
    // whose transaction 1 carries another event.
    for event in [
        message(1, "before the restart"),
        message(1, "before the restart"),
        message(2, "after the restart"),
    ] {
        let r = http
            .put(&url)
            .bearer_auth(&env.hs_token)
            .json(&json!({ "events": [event] }))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
    }
    let msgs = env
        .net
        .wait_for("c", Duration::from_secs(30), |m| {
            m.iter().any(|x| x.text == "after the restart")
        })
        .await?;
    assert_eq!(
        msgs.iter()
            .filter(|m| m.text == "before the restart")
            .count(),
        1,
        "the retry is still taken once"
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_as_token_stops_the_start_with_a_plain_explanation() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let text = std::fs::read_to_string(&env.config_path)?;
    let as_token = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("as_token: "))
        .unwrap()
        .to_owned();
    let config =
        aqueduct::Config::parse(&text.replace(&as_token, "wrong-token-0123456789"), "test")?;
    env.release_ports();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        aqueduct::run::run(
            config,
            &[aqueduct_testkit::testnet_connector::factory()],
            std::future::pending(),
        ),
    )
    .await?;
    let err = result.expect_err("the start must fail").to_string();
    assert!(err.contains("does not know the bridge's as_token"), "{err}");
    Ok(())
}
