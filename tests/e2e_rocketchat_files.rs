//! The Rocket.Chat connector end to end, files under stress: a file send cut off by a crash
//! after Rocket.Chat posted it, a slow download while the server checks the realtime
//! connection is alive, and a server before 6.8 (`rooms.upload` instead of `rooms.media`),
//! through a real Synapse and the fake Rocket.Chat. Every request and answer is checked
//! against Rocket.Chat's OpenAPI files (for the old server: all but the two upload
//! endpoints, which those files describe only as 6.8 and later serve them).

use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT, count_events, ghost};
use serde_json::json;
use std::time::Duration;

/// A small PNG header's worth of bytes; the content does not matter to the bridge.
const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_a_file_send_retried_after_a_crash_posts_the_file_once() -> anyhow::Result<()> {
    file_send_cut_off_by_a_crash(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_a_file_send_retried_after_a_crash_posts_the_file_once_before_6_8()
-> anyhow::Result<()> {
    file_send_cut_off_by_a_crash(true).await
}

/// A file sent from Matrix, posted by Rocket.Chat (with `rooms.mediaConfirm`, or
/// `rooms.upload` on a server before 6.8) whose answer never reaches the bridge, which is
/// killed and restarted.
async fn file_send_cut_off_by_a_crash(before_6_8: bool) -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    if before_6_8 {
        s.rc.before_6_8();
    }
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let mut bridge = s.env.spawn_process(&bin).await?;
    s.login_alice().await?;
    s.rc.post(GENERAL, "RCBOB", "opening", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "opening")
        .await?;

    // Rocket.Chat posts the file, but its answer never reaches the bridge, which then dies.
    s.rc.leave_unanswered(if before_6_8 {
        "rooms.upload"
    } else {
        "rooms.mediaConfirm"
    });
    let mxc = s
        .alice
        .upload(IMAGE.to_vec(), "image/png", "crash.png")
        .await?;
    let event = s
        .alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "crash.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": IMAGE.len()}}),
        )
        .await?;
    let posted = |m: &[aqueduct_testkit::fake_rocketchat::FakeMessage]| {
        m.iter()
            .filter(|x| x.files.iter().any(|f| f.name == "crash.png"))
            .count()
    };
    s.rc.wait_for(GENERAL, WAIT, |m| posted(m) == 1).await?;
    bridge.start_kill()?;
    bridge.wait().await?;

    // After the restart the event is handled again: the file is found, not posted again.
    let mut bridge = s.env.spawn_process(&bin).await?;
    s.alice.send_text(&room, "after the crash").await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter().any(|x| x.text == "after the crash")
        })
        .await?;
    assert_eq!(
        posted(&msgs),
        1,
        "the file is on Rocket.Chat once: {msgs:#?}"
    );
    let file_message = msgs
        .iter()
        .find(|x| x.files.iter().any(|f| f.name == "crash.png"))
        .unwrap()
        .id
        .clone();

    // The retry learned which message it is: a reaction to it reaches alice's event, and
    // the file did not come back to Matrix as a message of its own.
    s.rc.react(&file_message, "RCBOB", ":tada:", true);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["content"]["m.relates_to"]["event_id"] == event.as_str()
        })
        .await?;
    assert_eq!(
        count_events(&s.alice, &room, |e| e["content"]["body"] == "crash.png").await?,
        1
    );
    if before_6_8 {
        s.check_conformance_except(&["rooms.media/", "rooms.upload/"])?;
    } else {
        s.check_conformance()?;
    }
    bridge.start_kill()?;
    let _ = bridge.wait().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_a_slow_download_does_not_stall_the_realtime_connection() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let (bridge, room) = s.open_general().await?;
    let bob = ghost("RCBOB");
    let logins = s.rc.realtime_logins();

    // The server pings after a second of silence and gives up a second later; the download
    // takes four.
    s.rc.keepalive(Duration::from_secs(1));
    s.rc.slow_downloads(Duration::from_secs(4));
    s.rc.upload_file(
        GENERAL,
        "RCBOB",
        "slow.png",
        "image/png",
        IMAGE.to_vec(),
        "",
    );
    s.rc.post(GENERAL, "RCBOB", "after 1", None);
    s.rc.post(GENERAL, "RCBOB", "after 2", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "after 2")
        .await?;

    let bodies: Vec<String> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == bob.as_str() && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        bodies,
        ["opening", "slow.png", "after 1", "after 2"],
        "each once, in order"
    );
    assert_eq!(s.rc.keepalive_drops(), 0, "every ping was answered in time");
    assert_eq!(s.rc.realtime_logins(), logins, "no reconnect");
    assert!(s.rc.pongs() >= 2, "the keepalive did ping meanwhile");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_files_go_through_rooms_upload_on_servers_before_6_8() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.before_6_8();
    let (bridge, room) = s.open_general().await?;

    let send_file = |name: &'static str, caption: Option<&'static str>| {
        let alice = &s.alice;
        let room = room.clone();
        async move {
            let mxc = alice.upload(IMAGE.to_vec(), "image/png", name).await?;
            let mut content = json!({"msgtype": "m.image", "body": name, "url": mxc,
                                     "info": {"mimetype": "image/png", "size": IMAGE.len()}});
            if let Some(caption) = caption {
                content["body"] = json!(caption);
                content["filename"] = json!(name);
            }
            alice.send(&room, "m.room.message", content).await
        }
    };
    send_file("old.png", Some("from an old server")).await?;
    send_file("older.png", None).await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter()
                .any(|x| x.files.iter().any(|f| f.name == "older.png"))
        })
        .await?;
    let with_file = |name: &str| {
        msgs.iter()
            .filter(|x| x.files.iter().any(|f| f.name == name))
            .collect::<Vec<_>>()
    };
    let old = with_file("old.png");
    assert_eq!(old.len(), 1, "{msgs:#?}");
    assert_eq!(
        (old[0].user.as_str(), old[0].text.as_str()),
        ("RCALICE", "from an old server")
    );
    assert_eq!(old[0].files[0].data, IMAGE);
    assert_eq!(old[0].files[0].mime, "image/png");
    assert_eq!(with_file("older.png").len(), 1);

    // The choice is remembered: rooms.media was tried once, not for every file.
    let media_tries =
        s.rc.requests()
            .iter()
            .filter(|r| r.endpoint.starts_with("rooms.media/"))
            .count();
    assert_eq!(media_tries, 1);
    // Neither file came back to Matrix as a message of its own.
    for name in ["from an old server", "older.png"] {
        assert_eq!(
            count_events(&s.alice, &room, |e| e["content"]["body"] == name).await?,
            1,
            "{name}"
        );
    }

    // A relayed file: rooms.upload takes no alias, so the Matrix user's name leads the
    // caption.
    s.rc.allow_impersonation("RCALICE");
    s.env
        .command(&s.alice, &room, "!aq set-relay", "relayed through")
        .await?;
    let carol = s.env.user("carol").await?;
    s.alice.invite(&room, carol.user_id()).await?;
    carol.join(&room).await?;
    let mxc = carol
        .upload(IMAGE.to_vec(), "image/png", "carol.png")
        .await?;
    carol
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "carol.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": IMAGE.len()}}),
        )
        .await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter()
                .any(|x| x.files.iter().any(|f| f.name == "carol.png"))
        })
        .await?;
    let relayed = msgs
        .iter()
        .find(|x| x.files.iter().any(|f| f.name == "carol.png"))
        .unwrap();
    assert_eq!(
        (relayed.user.as_str(), relayed.text.as_str()),
        ("RCALICE", "*carol*")
    );

    // The OpenAPI files describe 6.8 and later, which serve rooms.media and no longer list
    // rooms.upload: those two are checked by the fake alone.
    s.check_conformance_except(&["rooms.media/", "rooms.upload/"])?;
    bridge.stop().await?;
    Ok(())
}
