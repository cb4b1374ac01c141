//! Teams files and inline images end to end, both ways, through the real Synapse and the
//! fake tenant: inline images (hosted contents) and shared files (reference attachments,
//! read through Graph's shares API) reach Matrix as images and files; Matrix images go inline
//! and Matrix files are uploaded to the sender's OneDrive (in an upload session when large)
//! or the channel's folder, shared with the chat, and attached by reference. A file over
//! the limit is named in its message (Teams -> Matrix) or refused with a notice (Matrix ->
//! Teams), never dropped silently.

use aqueduct_testkit::fake_teams::NewFile;
use aqueduct_testkit::fake_teams::env::{TeamsEnv, WAIT, ghost};
use serde_json::json;

const CHAT: &str = "19:files@thread.v2";
const TEAM: &str = "team-files";
const CHANNEL: &str = "19:docs@thread.tacv2";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image, but bytes all the same";

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_files_and_images_cross_both_ways() -> anyhow::Result<()> {
    // Files over 1.5 MB stay behind; files over 400 kB go up in an upload session.
    let t = TeamsEnv::start("    max_file_bytes: 1500000\n    simple_upload_max_bytes: 400000\n")
        .await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams
        .add_chat(CHAT, "group", Some("Files"), &["u-alice", "u-bob"]);
    t.teams.add_team(TEAM, "Docs team");
    t.teams
        .add_channel(TEAM, CHANNEL, "Docs", None, &["u-alice", "u-bob"]);
    let alice = t.env.user("alice").await?;
    let mgmt = t.login(&alice, "u-alice").await?;

    // Teams -> Matrix: an inline image, then a shared file, each downloaded through Graph.
    t.teams
        .post_with_images(CHAT, "u-bob", "<p>look</p>", &[("image/png", PNG.to_vec())]);
    let portal = t.env.accept_portal_invite(&alice).await?;
    let image = alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["msgtype"] == "m.image" && e["sender"] == ghost("u-bob").as_str()
        })
        .await?;
    let mxc = image["content"]["url"].as_str().unwrap();
    assert_eq!(alice.download(mxc).await?, PNG);
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "look")
        .await?;
    let report = bytes(20_000);
    t.teams.post_file(
        CHAT,
        "u-bob",
        "<p>the report</p>",
        NewFile {
            name: "report.pdf",
            mime: "application/pdf",
            data: report.clone(),
        },
    );
    let file = alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["msgtype"] == "m.file" && e["content"]["body"] == "report.pdf"
        })
        .await?;
    assert_eq!(
        alice
            .download(file["content"]["url"].as_str().unwrap())
            .await?,
        report
    );

    // A file over the limit is named in the message, with why.
    t.teams.post_file(
        CHAT,
        "u-bob",
        "<p>the raw data</p>",
        NewFile {
            name: "raw.bin",
            mime: "application/octet-stream",
            data: bytes(1_600_000),
        },
    );
    let noted = alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("the raw data"))
        })
        .await?;
    let body = noted["content"]["body"].as_str().unwrap();
    assert!(
        body.contains("[raw.bin was not bridged") && body.contains("1500000"),
        "{body}"
    );

    // Matrix -> Teams: an image goes inline as a hosted content.
    let mxc = alice.upload(PNG.to_vec(), "image/png", "shot.png").await?;
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "shot.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": PNG.len(), "w": 10, "h": 10}}),
        )
        .await?;
    let msgs = t
        .teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter()
                .any(|x| x.from == "u-alice" && !x.hosted.is_empty())
        })
        .await?;
    let inline = msgs
        .iter()
        .find(|x| x.from == "u-alice" && !x.hosted.is_empty())
        .unwrap();
    assert_eq!(inline.hosted[0].data, PNG);
    assert!(inline.html.contains("hostedContents"), "{}", inline.html);

    // A small file is uploaded to her OneDrive in one request, shared with Bob and attached.
    let notes = bytes(10_000);
    let mxc = alice
        .upload(notes.clone(), "text/plain", "notes.txt")
        .await?;
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "notes.txt", "url": mxc,
                   "info": {"mimetype": "text/plain", "size": notes.len()}}),
        )
        .await?;
    // A larger one goes up in an upload session.
    let slides = bytes(1_200_000);
    let mxc = alice
        .upload(
            slides.clone(),
            "application/vnd.ms-powerpoint",
            "slides.ppt",
        )
        .await?;
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "slides.ppt", "url": mxc,
                   "info": {"mimetype": "application/vnd.ms-powerpoint", "size": slides.len()}}),
        )
        .await?;
    let msgs = t
        .teams
        .wait_for(CHAT, WAIT, |m| {
            ["notes.txt", "slides.ppt"].iter().all(|n| {
                m.iter()
                    .any(|x| x.attachments.iter().any(|a| a["name"] == *n))
            })
        })
        .await?;
    for (name, data, pieces) in [("notes.txt", &notes, false), ("slides.ppt", &slides, true)] {
        let m = msgs
            .iter()
            .find(|x| x.attachments.iter().any(|a| a["name"] == name))
            .unwrap();
        assert_eq!(m.from, "u-alice");
        let a = m.attachments.iter().find(|a| a["name"] == name).unwrap();
        assert_eq!(a["contentType"], "reference");
        assert!(
            m.html
                .contains(&format!("<attachment id=\"{}\"", a["id"].as_str().unwrap())),
            "{}",
            m.html
        );
        let stored = t
            .teams
            .files()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap();
        assert_eq!(&stored.data, data);
        assert_eq!(stored.in_pieces, pieces, "{name}");
        assert_eq!(stored.shared_with, vec!["u-bob".to_owned()], "{name}");
        assert!(
            a["contentUrl"]
                .as_str()
                .unwrap()
                .contains("Microsoft%20Teams%20Chat%20Files"),
            "{a}"
        );
    }

    // A file over the limit is refused with a notice in the room.
    let mxc = alice
        .upload(bytes(1_600_000), "application/octet-stream", "huge.bin")
        .await?;
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "huge.bin", "url": mxc,
                   "info": {"mimetype": "application/octet-stream", "size": 1_600_000}}),
        )
        .await?;
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["sender"] == t.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("huge.bin") && b.contains("larger than"))
        })
        .await?;

    // In a channel, files go to the channel's folder and threads keep them.
    t.env
        .command(
            &alice,
            &mgmt,
            &format!("bridge teams {TEAM}/{CHANNEL}"),
            "Bridged",
        )
        .await?;
    let channel_room = t.accept_new_portal(&alice, &[&portal]).await?;
    let mxc = alice
        .upload(notes.clone(), "text/plain", "minutes.txt")
        .await?;
    alice
        .send(
            &channel_room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "minutes.txt", "url": mxc,
                   "info": {"mimetype": "text/plain", "size": notes.len()}}),
        )
        .await?;
    let msgs = t
        .teams
        .wait_for_channel(TEAM, CHANNEL, WAIT, |m| {
            m.iter()
                .any(|x| x.attachments.iter().any(|a| a["name"] == "minutes.txt"))
        })
        .await?;
    let a = msgs
        .iter()
        .flat_map(|x| x.attachments.iter())
        .find(|a| a["name"] == "minutes.txt")
        .unwrap();
    assert!(
        a["contentUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://contoso.sharepoint.com/sites/"),
        "{a}"
    );
    t.teams.post_channel_file(
        (TEAM, CHANNEL),
        None,
        "u-bob",
        "<p>agenda</p>",
        NewFile {
            name: "agenda.txt",
            mime: "text/plain",
            data: b"1. files".to_vec(),
        },
    );
    let agenda = alice
        .wait_for_event(&channel_room, WAIT, |e| {
            e["content"]["body"] == "agenda.txt"
        })
        .await?;
    assert_eq!(
        alice
            .download(agenda["content"]["url"].as_str().unwrap())
            .await?,
        b"1. files"
    );
    t.check_conformance()?;
    t.stop().await
}
