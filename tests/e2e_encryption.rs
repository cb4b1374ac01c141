//! End-to-bridge encryption through a real Synapse: the bridge's own device, encrypted
//! portals, and an independent client (matrix-nio) reading and writing in them.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::nio_client::{MessageFilter, NioClient};
use aqueduct_testkit::testnet_server::{NetAttachment, NetMessage};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BOB: &str = "@aqueduct_testnet_bob:localhost";

fn encrypted_env(extra: &str) -> EnvOptions {
    EnvOptions {
        encryption: Some(extra.to_owned()),
        ..EnvOptions::default()
    }
}

/// The remote chat every test bridges: Bob talks to Alice's remote account. Returns the
/// remote account's login token.
fn add_general_chat(env: &BridgeEnv) -> String {
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("general", Some("General"), &["alice_r", "bob"], false);
    token
}

/// Alice, logged in to the remote network through the bot, with an encryption-capable device
/// (nio) of her own.
async fn alice_with_a_device(
    env: &BridgeEnv,
    token: &str,
) -> anyhow::Result<(MatrixClient, NioClient)> {
    let alice = env
        .synapse
        .register_user_with_password("alice", ALICE_PW, false)
        .await?;
    let nio = NioClient::spawn("alice-phone").await?;
    nio.login(&env.synapse.base_url(), alice.user_id(), ALICE_PW)
        .await?;
    env.login(&alice, token).await?;
    Ok((alice, nio))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_portals_are_encrypted_and_ghosts_write_only_ciphertext() -> anyhow::Result<()> {
    let env = BridgeEnv::new(encrypted_env("  default: true\n")).await?;
    let token = add_general_chat(&env);
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

const ALICE_PW: &str = "alice-password-1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn find<'a>(msgs: &'a [NetMessage], text: &str) -> Option<&'a NetMessage> {
    msgs.iter().find(|m| m.text == text)
}

/// The whole encrypted conversation: an independent client (nio) in an encrypted portal reads
/// what remote users write and writes back, images both ways, across a bridge restart, a
/// rotated room key and a second device, in the environment `options` describe.
async fn encrypted_conversation(options: EnvOptions) -> anyhow::Result<()> {
    let env = BridgeEnv::new(options).await?;
    let token = add_general_chat(&env);
    let mut bridge = env.start_in_process().await?;
    let (alice, nio) = alice_with_a_device(&env, &token).await?;

    // Remote -> Matrix: the portal is created encrypted; the ghost's message reaches the
    // user's device encrypted, and the device decrypts it, with the ghost as sender.
    env.net.post("general", "bob", "hello from bob");
    let room = nio.wait_invite(WAIT).await?;
    nio.join(&room).await?;
    let hello = nio
        .wait_message(
            &room,
            &MessageFilter::any()
                .sender(BOB)
                .body_contains("hello from bob"),
            WAIT,
        )
        .await?;
    assert!(hello.encrypted, "the ghost's message must arrive encrypted");
    assert_eq!(hello.body.as_deref(), Some("hello from bob"));

    // Matrix -> remote: the user's encrypted message reaches the remote side decrypted.
    let sent = nio.send_text(&room, "a secret for bob").await?;
    assert!(sent.encrypted);
    let msgs = env
        .net
        .wait_for("general", WAIT, |m| find(m, "a secret for bob").is_some())
        .await?;
    assert_eq!(find(&msgs, "a secret for bob").unwrap().sender, "alice_r");

    // An encrypted image from the user arrives decrypted on the remote side.
    let png: Vec<u8> = [0x89, b'P', b'N', b'G', 13, 10, 26, 10]
        .into_iter()
        .chain((0..2048u32).map(|i| (i * 7 % 251) as u8))
        .collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("holiday.png");
    std::fs::write(&path, &png)?;
    let image = nio.send_image(&room, &path, "image/png").await?;
    assert!(image.encrypted);
    let msgs = env
        .net
        .wait_for("general", WAIT, |m| {
            m.iter()
                .any(|x| x.attachments.iter().any(|a| a.name == "holiday.png"))
        })
        .await?;
    let arrived = msgs
        .iter()
        .flat_map(|m| m.attachments.iter())
        .find(|a| a.name == "holiday.png")
        .unwrap();
    assert_eq!(
        arrived.data_hex,
        hex(&png),
        "the remote side gets the plaintext image"
    );

    // A remote image reaches the user as an encrypted file that decrypts to the same bytes.
    let report = b"quarterly figures, confidential".to_vec();
    env.net.post_full(
        "general",
        "bob",
        "",
        None,
        None,
        None,
        vec![NetAttachment {
            name: "figures.png".into(),
            mime: "image/png".into(),
            data_hex: hex(&report),
        }],
    );
    let got = nio
        .wait_message(
            &room,
            &MessageFilter::any().sender(BOB).msgtype("m.image"),
            WAIT,
        )
        .await?;
    assert!(got.encrypted);
    assert!(
        got.content.get("file").is_some(),
        "an encrypted room gets an encrypted file: {}",
        got.content
    );
    assert!(got.content.get("url").is_none());
    assert_eq!(got.sha256.as_deref(), Some(sha256_hex(&report).as_str()));

    // The bridge restarts with its keys: both directions keep working, nothing re-done by hand.
    bridge.stop().await?;
    bridge = env.start_in_process().await?;
    env.net
        .post("general", "bob", "still here after the restart");
    let after = nio
        .wait_message(
            &room,
            &MessageFilter::any().sender(BOB).body_contains("still here"),
            WAIT,
        )
        .await?;
    assert!(after.encrypted);
    nio.send_text(&room, "welcome back").await?;
    env.net
        .wait_for("general", WAIT, |m| find(m, "welcome back").is_some())
        .await?;

    // The user's client rotates its room key: the new session still reaches the bridge.
    let old = nio.rotate_room_key(&room).await?;
    let rotated = nio.send_text(&room, "after rotation").await?;
    assert_ne!(rotated.session_id, old);
    env.net
        .wait_for("general", WAIT, |m| find(m, "after rotation").is_some())
        .await?;

    // A second device of the user, added mid-conversation, reads what the ghost says next.
    let laptop = NioClient::spawn("alice-laptop").await?;
    let second = laptop
        .login(&env.synapse.base_url(), alice.user_id(), ALICE_PW)
        .await?;
    laptop.wait_member(&room, alice.user_id(), WAIT).await?;
    nio.wait_device(alice.user_id(), &second.device_id, WAIT)
        .await?;
    env.net.post("general", "bob", "one for both devices");
    for device in [&laptop, &nio] {
        let seen = device
            .wait_message(
                &room,
                &MessageFilter::any()
                    .sender(BOB)
                    .body_contains("one for both"),
                WAIT,
            )
            .await?;
        assert!(seen.encrypted);
    }

    // Every message crossed exactly once.
    let remote = env.net.messages("general");
    for text in ["a secret for bob", "welcome back", "after rotation"] {
        assert_eq!(
            remote.iter().filter(|m| m.text == text).count(),
            1,
            "{text}"
        );
    }
    let seen = nio.messages_seen(&room).await?;
    for text in [
        "hello from bob",
        "still here after the restart",
        "one for both devices",
    ] {
        let n = seen
            .iter()
            .filter(|e| e.sender == BOB && e.body.as_deref() == Some(text))
            .count();
        assert_eq!(n, 1, "{text}");
    }
    assert!(
        seen.iter().all(|e| e.undecryptable.is_none()),
        "every event decrypts: {seen:?}"
    );

    if let Some(older) = &env.older_homeserver {
        // Both starts asked for the device and were refused: the device came from a login.
        assert!(older.refused_device_creations() >= 2);
    }
    laptop.close().await?;
    nio.close().await?;
    bridge.stop().await?;
    env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_conversation_crosses_both_ways_through_an_independent_client()
-> anyhow::Result<()> {
    // Synapse puts no device data in transactions here: keys reach the bridge only through
    // its device's /sync, the default.
    encrypted_conversation(encrypted_env("  default: true\n")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_conversation_with_device_data_from_appservice_transactions()
-> anyhow::Result<()> {
    encrypted_conversation(EnvOptions {
        device_data_in_transactions: true,
        ..encrypted_env("  default: true\n  appservice_to_device: true\n")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_conversation_with_a_registration_whose_sender_is_the_bot()
-> anyhow::Result<()> {
    // Synapse refuses the bot /sync; the bridge must notice and read the transactions.
    encrypted_conversation(EnvOptions {
        bot_is_registration_sender: true,
        device_data_in_transactions: true,
        ..encrypted_env("  default: true\n")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_conversation_on_a_homeserver_without_appservice_device_management()
-> anyhow::Result<()> {
    encrypted_conversation(EnvOptions {
        older_homeserver: true,
        ..encrypted_env("  default: true\n")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_encryption_refuses_plaintext_and_a_missing_key_is_named_not_lost_silently()
-> anyhow::Result<()> {
    let env = BridgeEnv::new(encrypted_env("  require: true\n  key_wait_secs: 1\n")).await?;
    let token = add_general_chat(&env);
    let bridge = env.start_in_process().await?;
    // The bot's notices in an encrypted portal are encrypted too: read them with a device.
    let (alice, nio) = alice_with_a_device(&env, &token).await?;
    env.net.post("general", "bob", "hello");
    let room = env.accept_portal_invite(&alice).await?;
    nio.join(&room).await?;
    assert!(
        alice
            .state_event(&room, "m.room.encryption", "")
            .await?
            .is_some()
    );

    // A plaintext message in a portal that requires encryption is refused, visibly.
    alice.send_text(&room, "not encrypted at all").await?;
    let refused = nio
        .wait_message(
            &room,
            &MessageFilter::any()
                .sender(env.bot.as_str())
                .body_contains("sent unencrypted and was not bridged"),
            WAIT,
        )
        .await?;
    assert!(refused.encrypted);

    // An encrypted message whose key never reaches the bridge: after the configured wait the
    // room is told which message was not bridged and why.
    let mut unshared = vodozemac::megolm::GroupSession::new(Default::default());
    let ciphertext = unshared
        .encrypt(r#"{"type":"m.room.message","content":{"msgtype":"m.text","body":"lost"}}"#);
    alice
        .send(
            &room,
            "m.room.encrypted",
            serde_json::json!({
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": ciphertext.to_base64(),
                "sender_key": vodozemac::Curve25519PublicKey::from(&vodozemac::Curve25519SecretKey::new()).to_base64(),
                "device_id": "NOTADEVICE",
                "session_id": unshared.session_id()
            }),
        )
        .await?;
    nio.wait_message(
        &room,
        &MessageFilter::any()
            .sender(env.bot.as_str())
            .body_contains("its key never reached the bridge"),
        WAIT,
    )
    .await?;
    assert!(
        !env.net
            .messages("general")
            .iter()
            .any(|m| m.text.contains("not encrypted")),
        "plaintext must not cross when encryption is required"
    );

    // The bot's device is cross-signed by the bot's own self-signing key.
    let keys = alice
        .request(
            reqwest::Method::POST,
            "/_matrix/client/v3/keys/query",
            Some(&serde_json::json!({"device_keys": {env.bot.as_str(): []}})),
        )
        .await?;
    let self_signing = keys["self_signing_keys"][env.bot.as_str()]["keys"]
        .as_object()
        .and_then(|k| k.keys().next().cloned())
        .expect("the bot has a self-signing key");
    let devices = keys["device_keys"][env.bot.as_str()].as_object().unwrap();
    assert_eq!(devices.len(), 1, "one bot device: {devices:?}");
    let device = devices.values().next().unwrap();
    assert!(
        device["signatures"][env.bot.as_str()]
            .get(&self_signing)
            .is_some(),
        "the bot device is signed by the self-signing key: {device}"
    );

    nio.close().await?;
    bridge.stop().await?;
    env.synapse.stop().await
}

/// An `m.room.encrypted` event from `client` whose room key nobody ever shares.
async fn send_with_unshared_key(
    client: &MatrixClient,
    room: &str,
    session: &mut vodozemac::megolm::GroupSession,
    body: &str,
) -> anyhow::Result<()> {
    let plaintext = serde_json::json!({
        "type": "m.room.message",
        "content": {"msgtype": "m.text", "body": body}
    });
    let ciphertext = session.encrypt(plaintext.to_string());
    client
        .send(
            room,
            "m.room.encrypted",
            serde_json::json!({
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": ciphertext.to_base64(),
                "sender_key": vodozemac::Curve25519PublicKey::from(&vodozemac::Curve25519SecretKey::new()).to_base64(),
                "device_id": "NOTADEVICE",
                "session_id": session.session_id()
            }),
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_undecryptable_events_neither_stalls_the_room_nor_floods_it_with_notices()
-> anyhow::Result<()> {
    // Each missing key may be waited for 4 s: 40 flooded events waited for in full would hold
    // the room for 160 s, far past the test's wait for the readable message behind them.
    let env = BridgeEnv::new(encrypted_env("  default: true\n  key_wait_secs: 4\n")).await?;
    let token = add_general_chat(&env);
    let bridge = env.start_in_process().await?;
    let (alice, nio) = alice_with_a_device(&env, &token).await?;
    env.net.post("general", "bob", "hello");
    let room = env.accept_portal_invite(&alice).await?;
    nio.join(&room).await?;

    // Mallory, a plain member, floods the room: 20 events of one session whose key she never
    // shares, then 20 more, each of a fresh session.
    let mallory = env.synapse.register_user("mallory", false).await?;
    alice.invite(&room, mallory.user_id()).await?;
    mallory.join(&room).await?;
    let mut one_session = vodozemac::megolm::GroupSession::new(Default::default());
    for i in 0..20 {
        send_with_unshared_key(&mallory, &room, &mut one_session, &format!("flood {i}")).await?;
    }
    for i in 20..40 {
        let mut fresh = vodozemac::megolm::GroupSession::new(Default::default());
        send_with_unshared_key(&mallory, &room, &mut fresh, &format!("flood {i}")).await?;
    }

    // Alice's readable message behind the flood still crosses, well within the wait.
    nio.send_text(&room, "readable after the flood").await?;
    env.net
        .wait_for("general", WAIT, |m| {
            find(m, "readable after the flood").is_some()
        })
        .await?;

    // The room was told once about Mallory's unreadable messages, not forty times.
    let notices: Vec<_> = nio
        .messages_seen(&room)
        .await?
        .into_iter()
        .filter(|e| e.sender == env.bot.as_str())
        .filter(|e| {
            e.body
                .as_deref()
                .is_some_and(|b| b.contains("was not bridged"))
        })
        .collect();
    assert_eq!(notices.len(), 1, "one notice for the flood: {notices:?}");
    assert!(
        notices[0]
            .body
            .as_deref()
            .unwrap()
            .contains(mallory.user_id()),
        "the notice names the sender: {notices:?}"
    );
    assert!(
        !env.net
            .messages("general")
            .iter()
            .any(|m| m.text.starts_with("flood ")),
        "nothing undecryptable crosses"
    );

    nio.close().await?;
    bridge.stop().await?;
    env.synapse.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_keys_never_reach_the_log_or_the_metrics() -> anyhow::Result<()> {
    let env = BridgeEnv::new(encrypted_env("  default: true\n")).await?;
    // The most talkative level an operator would turn on.
    let config = std::fs::read_to_string(&env.config_path)?;
    std::fs::write(
        &env.config_path,
        config.replace("logging:\n  level: info", "logging:\n  level: debug"),
    )?;
    let pickle_key = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("pickle_key: "))
        .expect("the test config has a pickle key")
        .to_owned();
    let token = add_general_chat(&env);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let mut bridge = env.spawn_process(&bin).await?;
    let (_alice, nio) = alice_with_a_device(&env, &token).await?;

    env.net.post("general", "bob", "inbound-plaintext-7391");
    let room = nio.wait_invite(WAIT).await?;
    nio.join(&room).await?;
    nio.wait_message(
        &room,
        &MessageFilter::any()
            .sender(BOB)
            .body_contains("inbound-plaintext-7391"),
        WAIT,
    )
    .await?;
    nio.send_text(&room, "outbound-plaintext-4826").await?;
    env.net
        .wait_for("general", WAIT, |m| {
            find(m, "outbound-plaintext-4826").is_some()
        })
        .await?;

    let metrics = env.metrics().await?;
    nio.close().await?;
    bridge.start_kill()?;
    bridge.wait().await?;
    let log = env.bridge_log();
    assert!(
        log.contains("bridge bot device ready"),
        "the log is the bridge's: {log}"
    );
    for secret in [
        "inbound-plaintext-7391",
        "outbound-plaintext-4826",
        pickle_key.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret} is in the bridge's log");
        assert!(!metrics.contains(secret), "{secret} is in the metrics");
    }
    env.synapse.stop().await
}
