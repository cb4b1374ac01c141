//! End-to-end check of the Synapse harness and the test Matrix client.

use std::time::{Duration, Instant};

use aqueduct_testkit::synapse::{AppserviceRegistration, SynapseBuilder};
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn registration() -> AppserviceRegistration {
    AppserviceRegistration {
        id: "harness".into(),
        url: None,
        as_token: "as_token_harness".into(),
        hs_token: "hs_token_harness".into(),
        sender_localpart: "harnessbot".into(),
        user_namespace_regex: "@harness_.*:localhost".into(),
        user_namespace_exclusive: true,
        alias_namespace_regex: Some("#harness_.*:localhost".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_round_trip() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let synapse = SynapseBuilder::new()
        .appservice(registration())
        .start()
        .await?;
    eprintln!(
        "synapse up after {:?} at {}",
        t0.elapsed(),
        synapse.base_url()
    );
    assert_eq!(synapse.server_name(), "localhost");
    assert!(synapse.log_path().starts_with(synapse.dir()));

    // The appservice registration is loaded: its as_token authenticates the sender.
    let bot = aqueduct_testkit::matrix_client::MatrixClient::new(
        synapse.base_url(),
        "as_token_harness",
        "@harnessbot:localhost",
    );
    let whoami = bot
        .request(Method::GET, "/_matrix/client/v3/account/whoami", None)
        .await?;
    assert_eq!(whoami["user_id"], "@harnessbot:localhost");

    let alice = synapse.register_user("alice", true).await?;
    let bob = synapse.register_user("bob", false).await?;
    assert_eq!(alice.user_id(), "@alice:localhost");
    assert_eq!(bob.user_id(), "@bob:localhost");

    // Room, invite, join.
    let room = alice
        .create_room(json!({ "name": "harness room", "preset": "private_chat" }))
        .await?;
    alice.invite(&room, bob.user_id()).await?;
    let invited = bob
        .wait_for_invite_from(Some(alice.user_id()), WAIT)
        .await?;
    assert_eq!(invited, room);
    assert_eq!(bob.join(&room).await?, room);
    assert_eq!(
        alice.joined_members(&room).await?,
        vec!["@alice:localhost", "@bob:localhost"]
    );

    // Messages: the waiter sees an event sent before and one sent while it waits.
    let first = alice.send_text(&room, "hello bob").await?;
    let seen = bob
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello bob")
        .await?;
    assert_eq!(seen["event_id"], first.as_str());
    let waiter = {
        let bob = bob.clone();
        let room = room.clone();
        tokio::spawn(async move {
            bob.wait_for_event(&room, WAIT, |e| {
                e["content"]["formatted_body"] == "<b>late</b>"
            })
            .await
        })
    };
    let late = alice.send_html(&room, "late", "<b>late</b>").await?;
    assert_eq!(waiter.await??["event_id"], late.as_str());

    let reaction = bob.react(&room, &first, "👍").await?;
    let redaction = alice.redact(&room, &reaction, Some("test")).await?;
    let events = alice.messages(&room).await?;
    assert_eq!(events.first().unwrap()["type"], "m.room.create");
    let ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    assert!(
        pos(&first) < pos(&late) && pos(&late) < pos(&reaction) && pos(&reaction) < pos(&redaction)
    );

    // State and profile.
    alice
        .set_state(&room, "m.room.topic", "", json!({ "topic": "testing" }))
        .await?;
    assert_eq!(
        bob.state_event(&room, "m.room.topic", "").await?.unwrap()["topic"],
        "testing"
    );
    assert!(bob.state_event(&room, "m.room.avatar", "").await?.is_none());
    assert_eq!(
        alice.profile_displayname(bob.user_id()).await?.as_deref(),
        Some("bob")
    );
    assert_eq!(alice.profile_displayname("@nobody:localhost").await?, None);

    // Errors carry status and body.
    let err = bob
        .join("!nonexistent:localhost")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 4"), "{err}");
    assert!(err.contains("errcode"), "{err}");

    // Authenticated media.
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let mxc = alice
        .upload(data.clone(), "application/octet-stream", "blob.bin")
        .await?;
    assert!(mxc.starts_with("mxc://localhost/"), "{mxc}");
    assert_eq!(bob.download(&mxc).await?, data);

    // DM and leave.
    let dm = alice.create_dm(bob.user_id()).await?;
    bob.wait_for_invite_from(Some(alice.user_id()), WAIT)
        .await?;
    bob.join(&dm).await?;
    bob.leave(&dm).await?;
    assert_eq!(alice.joined_members(&dm).await?, vec!["@alice:localhost"]);

    let t1 = Instant::now();
    synapse.stop().await?;
    eprintln!(
        "synapse stopped in {:?}; test took {:?}",
        t1.elapsed(),
        t0.elapsed()
    );
    Ok(())
}

/// Two servers side by side get distinct ports and directories, and dropping
/// one (as a panicking test would) kills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_servers_and_drop() -> anyhow::Result<()> {
    let (a, b) = tokio::try_join!(SynapseBuilder::new().start(), SynapseBuilder::new().start())?;
    assert_ne!(a.base_url(), b.base_url());
    let dir = a.dir().to_owned();
    let url = format!("{}/_matrix/client/versions", a.base_url());
    drop(a);
    assert!(!dir.exists(), "temp dir removed on drop");
    assert!(reqwest::get(&url).await.is_err(), "server gone after drop");
    let carol = b.register_user("carol", false).await?;
    carol.create_room(json!({})).await?;
    b.stop().await
}

/// A server that cannot start fails fast, with its logs in the error.
#[tokio::test]
async fn startup_failure_reports_logs() {
    let err = SynapseBuilder::new()
        .config("database", json!({ "name": "no_such_engine" }))
        .start()
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("exited before becoming ready"), "{msg}");
    assert!(msg.contains("no_such_engine"), "{msg}");
}
