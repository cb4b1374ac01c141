//! End-to-bridge encryption through a real Synapse: the bridge's own device, encrypted
//! portals, and an independent client (matrix-nio) reading and writing in them.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BOB: &str = "@aqueduct_testnet_bob:localhost";

fn encrypted_env(extra: &str) -> EnvOptions {
    EnvOptions {
        encryption: Some(extra.to_owned()),
        ..EnvOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_portals_are_encrypted_and_ghosts_write_only_ciphertext() -> anyhow::Result<()> {
    let env = BridgeEnv::new(encrypted_env("  default: true\n")).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("general", Some("General"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;

    env.net.post("general", "bob", "a secret from bob");
    let room = env.accept_portal_invite(&alice).await?;
    let encryption = alice.state_event(&room, "m.room.encryption", "").await?;
    assert_eq!(
        encryption.as_ref().map(|e| e["algorithm"].clone()),
        Some(Value::from("m.megolm.v1.aes-sha2"))
    );
    let event = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == BOB && e["type"] != "m.room.member"
        })
        .await?;
    assert_eq!(event["type"], "m.room.encrypted", "{event}");
    assert_eq!(event["content"]["algorithm"], "m.megolm.v1.aes-sha2");
    assert!(!event.to_string().contains("a secret from bob"));

    // The crypto store is the owner's alone, and a second bridge on it refuses to start.
    let store = env.dir.path().join("aqueduct.db.crypto");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&store)?.permissions().mode() & 0o777,
            0o700
        );
        for entry in std::fs::read_dir(&store)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let mode = entry.metadata()?.permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", entry.path().display());
            }
        }
    }
    let config = aqueduct::Config::load(&env.config_path)?;
    let second = aqueduct::run::run(
        config,
        &aqueduct_testkit::bridge_env::all_factories(),
        std::future::pending(),
    )
    .await;
    let refusal = format!(
        "{:#}",
        second.expect_err("a second bridge on the same crypto store must not start")
    );
    assert!(
        refusal.contains("in use by another bridge process"),
        "{refusal}"
    );

    bridge.stop().await?;
    env.synapse.stop().await
}
