//! The bridge killed with SIGKILL while remote messages stream in, then restarted: every
//! message reaches Matrix exactly once, in order.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use std::time::Duration;

const COUNT: usize = 500;
const GHOST: &str = "@aqueduct_testnet_bob:localhost";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("stream", Some("Stream"), &["alice_r", "bob"], false);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let mut bridge = env.spawn_process(&bin).await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    env.net.post("stream", "bob", "msg 0");
    let room = env.accept_portal_invite(&alice).await?;

    let net = env.net.clone();
    let producer = tokio::spawn(async move {
        for i in 1..COUNT {
            net.post("stream", "bob", &format!("msg {i}"));
            tokio::task::yield_now().await;
        }
    });
    // Kill once part of the stream is in Matrix, so the kill lands mid-stream.
    alice
        .wait_for_event(&room, Duration::from_secs(120), |e| {
            e["sender"] == GHOST
                && e["content"]["body"]
                    .as_str()
                    .and_then(|b| b.strip_prefix("msg "))
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| n >= 50)
        })
        .await?;
    bridge.start_kill()?;
    bridge.wait().await?;
    producer.await?;

    let mut bridge = env.spawn_process(&bin).await?;
    let last = format!("msg {}", COUNT - 1);
    alice
        .wait_for_event(&room, Duration::from_secs(300), |e| {
            e["sender"] == GHOST && e["content"]["body"] == last.as_str()
        })
        .await?;
    let bodies: Vec<String> = alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == GHOST && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect();
    let expected: Vec<String> = (0..COUNT).map(|i| format!("msg {i}")).collect();
    assert_eq!(
        bodies.len(),
        COUNT,
        "every message exactly once; got {} events",
        bodies.len()
    );
    assert_eq!(bodies, expected, "in order");
    bridge.start_kill()?;
    let _ = bridge.wait().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_cleanly() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net.add_chat("c", Some("C"), &["alice_r", "bob"], false);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let mut bridge = env.spawn_process(&bin).await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    env.net.post("c", "bob", "before stop");
    let room = env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&room, Duration::from_secs(30), |e| {
            e["sender"] == GHOST && e["content"]["body"] == "before stop"
        })
        .await?;

    let pid = bridge.id().expect("running").to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await?;
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), bridge.wait()).await??;
    assert!(
        exit.success(),
        "exit status {exit:?}; log:\n{}",
        env.bridge_log()
    );
    assert!(env.bridge_log().contains("stopped"), "{}", env.bridge_log());

    // What arrives while it is down is bridged once it is back.
    env.net.post("c", "bob", "while stopped");
    let mut bridge = env.spawn_process(&bin).await?;
    alice
        .wait_for_event(&room, Duration::from_secs(30), |e| {
            e["sender"] == GHOST && e["content"]["body"] == "while stopped"
        })
        .await?;
    bridge.start_kill()?;
    let _ = bridge.wait().await;
    Ok(())
}
