//! The nio test client (matrix-nio + vodozemac) against a real Synapse: two users exchange
//! encrypted texts and images, a rotated room key still decrypts, a second device that logs in
//! mid-conversation reads what follows, and what it cannot decrypt is reported by session.
//! The encryption tests of the bridge rely on this client.

use aqueduct_testkit::nio_client::{MessageFilter, NewRoom, NioClient, NioCommandError};
use aqueduct_testkit::synapse::Synapse;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const ALICE_PW: &str = "alice-password-1";
const BOB_PW: &str = "bob-password-1";

async fn logged_in(
    synapse: &Synapse,
    label: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<(NioClient, String)> {
    let client = NioClient::spawn(label).await?;
    let who = client.login(&synapse.base_url(), user, password).await?;
    assert_eq!(who.user_id, user);
    Ok((client, who.device_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nio_clients_talk_encrypted_through_synapse() -> anyhow::Result<()> {
    let synapse = Synapse::builder().start().await?;
    let alice = synapse
        .register_user_with_password("alice", ALICE_PW, false)
        .await?
        .user_id()
        .to_owned();
    let bob = synapse
        .register_user_with_password("bob", BOB_PW, false)
        .await?
        .user_id()
        .to_owned();
    let ((a, _), (b, _)) = tokio::try_join!(
        logged_in(&synapse, "alice", &alice, ALICE_PW),
        logged_in(&synapse, "bob", &bob, BOB_PW),
    )?;

    let room = a
        .create_room(&NewRoom {
            encrypted: true,
            invite: vec![bob.clone()],
            name: Some("secret".into()),
            ..NewRoom::default()
        })
        .await?;
    assert_eq!(b.wait_invite(WAIT).await?, room);
    assert_eq!(b.accept_invites().await?, vec![room.clone()]);
    a.wait_member(&room, &bob, WAIT).await?;

    // Text, both ways, each decrypted by the other side.
    let hello = a.send_text(&room, "hello bob").await?;
    assert!(hello.encrypted);
    let got = b
        .wait_message(&room, &MessageFilter::any().sender(&alice), WAIT)
        .await?;
    assert!(got.encrypted, "{got:?}");
    assert_eq!(got.body.as_deref(), Some("hello bob"));
    assert_eq!(got.event_id, hello.event_id);
    assert_eq!(got.session_id, hello.session_id);
    b.send_text(&room, "hi alice").await?;
    let got = a
        .wait_message(&room, &MessageFilter::any().body_contains("hi alice"), WAIT)
        .await?;
    assert!(got.encrypted);
    assert_eq!(got.sender, bob);

    // Any event content, here an edit, goes out encrypted too.
    let edit = b
        .send_event(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text",
                "body": "* hi alice!",
                "m.new_content": { "msgtype": "m.text", "body": "hi alice!" },
                "m.relates_to": { "rel_type": "m.replace", "event_id": got.event_id },
            }),
        )
        .await?;
    assert!(edit.encrypted);
    let got = a
        .wait_message(&room, &MessageFilter::any().body_contains("* hi"), WAIT)
        .await?;
    assert!(got.encrypted);
    assert_eq!(got.event_type, "m.room.message");
    assert_eq!(got.content["m.new_content"]["body"], "hi alice!");

    // An image: encrypted upload, `file` instead of `url`, same bytes after decryption.
    let image_dir = tempfile::tempdir()?;
    let image = image_dir.path().join("pixel.png");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&image, &bytes)?;
    let expected_sha = hex::encode(Sha256::digest(&bytes));
    let sent = b.send_image(&room, &image, "image/png").await?;
    assert!(sent.encrypted);
    let got = a
        .wait_message(&room, &MessageFilter::any().msgtype("m.image"), WAIT)
        .await?;
    assert!(got.encrypted);
    assert_eq!(got.sha256.as_deref(), Some(expected_sha.as_str()));
    assert!(got.content.get("file").is_some() && got.content.get("url").is_none());

    // A rotated room key: the next message uses a new session and still decrypts.
    let old_session = a.rotate_room_key(&room).await?;
    assert_eq!(old_session, hello.session_id);
    let rotated = a.send_text(&room, "after rotation").await?;
    assert_ne!(rotated.session_id, hello.session_id);
    let got = b
        .wait_message(&room, &MessageFilter::any().body_contains("rotation"), WAIT)
        .await?;
    assert!(got.encrypted);
    assert_eq!(got.session_id, rotated.session_id);

    // A second device of Bob's, logged in mid-conversation, reads what is sent after it.
    let (b2, b2_device) = logged_in(&synapse, "bob2", &bob, BOB_PW).await?;
    let known = a.wait_device(&bob, &b2_device, WAIT).await?;
    assert_eq!(known.len(), 2, "{known:?}");
    let later = a.send_text(&room, "for both of bob's devices").await?;
    for client in [&b2, &b] {
        let got = client
            .wait_message(&room, &MessageFilter::any().body_contains("both"), WAIT)
            .await?;
        assert!(got.encrypted);
        assert_eq!(got.event_id, later.event_id);
    }

    // The new device never got the first session: waiting for that message fails and names it.
    let err = b2
        .wait_message(
            &room,
            &MessageFilter::any().body_contains("hello bob"),
            Duration::from_secs(1),
        )
        .await
        .expect_err("the second device has no key for messages from before it existed");
    let err = err
        .downcast_ref::<NioCommandError>()
        .expect("a command error");
    let first_session = hello.session_id.as_deref().unwrap();
    assert!(err.error.contains(first_session), "{}", err.error);

    // Each message shows up exactly once, decrypted.
    let seen = b.messages_seen(&room).await?;
    let hellos: Vec<_> = seen
        .iter()
        .filter(|e| e.body.as_deref() == Some("hello bob"))
        .collect();
    assert_eq!(hellos.len(), 1, "{seen:?}");
    assert!(hellos[0].encrypted && hellos[0].undecryptable.is_none());

    // A plain room: the image goes up unencrypted, with `url`.
    let plain = a
        .create_room(&NewRoom {
            invite: vec![bob.clone()],
            ..NewRoom::default()
        })
        .await?;
    b.join(&plain).await?;
    a.wait_member(&plain, &bob, WAIT).await?;
    let sent = a.send_image(&plain, &image, "image/png").await?;
    assert!(!sent.encrypted);
    let got = b
        .wait_message(&plain, &MessageFilter::any().msgtype("m.image"), WAIT)
        .await?;
    assert!(!got.encrypted);
    assert_eq!(got.sha256.as_deref(), Some(expected_sha.as_str()));
    assert!(got.content.get("url").is_some());

    tokio::try_join!(a.close(), b.close(), b2.close())?;
    synapse.stop().await
}
