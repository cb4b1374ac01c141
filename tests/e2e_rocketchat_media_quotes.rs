//! The Rocket.Chat connector end to end, what messages carry: files and images (with the
//! size limit), replies and quotes, the relay's name and avatar, and mentions, through a real
//! Synapse and the fake Rocket.Chat. Every request and answer is checked against Rocket.Chat's
//! OpenAPI files.

use aqueduct_testkit::bridge_env::EnvOptions;
use aqueduct_testkit::matrix_client::enc;
use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT, ghost};
use reqwest::Method;
use serde_json::json;

/// A tiny PNG (1x1).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_files_and_images_cross_both_ways_within_the_size_limit() -> anyhow::Result<()> {
    let s = RocketChatEnv::start_with(EnvOptions::default(), "    max_file_bytes: 1000\n").await?;
    let (bridge, room) = s.open_general().await?;
    let bob = ghost("RCBOB");

    // Rocket.Chat -> Matrix: an image with a caption, downloaded with the account's token.
    s.rc.upload_file(
        GENERAL,
        "RCBOB",
        "dot.png",
        "image/png",
        PNG.to_vec(),
        "look at this",
    );
    let image = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == bob.as_str() && e["content"]["msgtype"] == "m.image"
        })
        .await?;
    assert_eq!(image["content"]["body"], "dot.png");
    assert_eq!(image["content"]["info"]["mimetype"], "image/png");
    let mxc = image["content"]["url"].as_str().expect("an mxc url");
    assert_eq!(s.alice.download(mxc).await?, PNG);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "look at this")
        .await?;
    assert!(
        s.rc.downloads() >= 1,
        "fetched from the server with the token"
    );

    // A file over the limit: the caption arrives with a note naming the file and the limit.
    s.rc.upload_file(
        GENERAL,
        "RCBOB",
        "big.bin",
        "application/octet-stream",
        vec![7; 5000],
        "a big one",
    );
    let note = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("a big one"))
        })
        .await?;
    let body = note["content"]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("[big.bin was not bridged:") && body.contains("1000 bytes"),
        "{body}"
    );

    // Matrix -> Rocket.Chat: an image uploaded with rooms.media and posted with
    // rooms.mediaConfirm, as alice.
    let mxc = s
        .alice
        .upload(PNG.to_vec(), "image/png", "mine.png")
        .await?;
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "mine.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": PNG.len()}}),
        )
        .await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter()
                .any(|x| x.files.iter().any(|f| f.name == "mine.png"))
        })
        .await?;
    let posted = msgs
        .iter()
        .find(|x| x.files.iter().any(|f| f.name == "mine.png"))
        .unwrap();
    assert_eq!(posted.user, "RCALICE");
    assert_eq!(posted.files[0].data, PNG);
    assert_eq!(posted.files[0].mime, "image/png");

    // Over the limit: a notice says which file and why, and nothing is lost after it.
    let big = s
        .alice
        .upload(vec![1; 5000], "application/octet-stream", "huge.bin")
        .await?;
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "huge.bin", "url": big,
                   "info": {"mimetype": "application/octet-stream", "size": 5000}}),
        )
        .await?;
    let notice = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == s.env.bot.as_str() && e["content"]["msgtype"] == "m.notice"
        })
        .await?;
    let text = notice["content"]["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("huge.bin") && text.contains("larger than"),
        "{text}"
    );
    s.alice.send_text(&room, "after the big file").await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter().any(|x| x.text == "after the big file")
        })
        .await?;
    assert!(
        msgs.iter()
            .all(|x| x.files.iter().all(|f| f.name != "huge.bin")),
        "the big file did not reach Rocket.Chat"
    );

    // Alice's file came back on the realtime stream and was not bridged again.
    let mine = s
        .alice
        .messages(&room)
        .await?
        .into_iter()
        .filter(|e| e["content"]["body"] == "mine.png")
        .count();
    assert_eq!(mine, 1, "an echo of a Matrix file is not bridged back");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_replies_and_quotes_cross_both_ways() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let (bridge, room) = s.open_general().await?;
    let question_id = s.rc.post(GENERAL, "RCBOB", "which way?", None);
    let question = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "which way?")
        .await?;

    // Matrix reply -> Rocket.Chat quote: the permalink, which Rocket.Chat shows as the quote.
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "> <@x:y> which way?\n\nnorth",
                   "m.relates_to": {"m.in_reply_to": {"event_id": question["event_id"]}}}),
        )
        .await?;
    let permalink = format!("{}/channel/general?msg={question_id}", s.rc.url());
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter().any(|x| x.text.ends_with("north"))
        })
        .await?;
    let reply = msgs.iter().find(|x| x.text.ends_with("north")).unwrap();
    assert_eq!(reply.text, format!("[ ]({permalink}) north"));

    // Rocket.Chat quote -> Matrix reply, the link hidden as Rocket.Chat's clients hide it.
    let mine = s.alice.send_text(&room, "from matrix").await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| m.iter().any(|x| x.text == "from matrix"))
            .await?;
    let mine_id = msgs
        .iter()
        .find(|x| x.text == "from matrix")
        .unwrap()
        .id
        .clone();
    s.rc.post(
        GENERAL,
        "RCBOB",
        &format!(
            "[ ]({}/channel/general?msg={mine_id}) quoting you",
            s.rc.url()
        ),
        None,
    );
    let quote = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("quoting you"))
        })
        .await?;
    assert_eq!(quote["content"]["body"], "quoting you", "{quote}");
    assert_eq!(
        quote["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        mine.as_str()
    );

    // A quote of a message that is not in Matrix (from a room alice is not in) keeps the
    // quoted text, as a quote.
    s.rc.add_room("ELSEWHERE", "c", "elsewhere", &["RCBOB"]);
    let far = s.rc.post("ELSEWHERE", "RCBOB", "said elsewhere", None);
    s.rc.post(
        GENERAL,
        "RCBOB",
        &format!("[ ]({}/channel/elsewhere?msg={far}) as I said", s.rc.url()),
        None,
    );
    let quote = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("as I said"))
        })
        .await?;
    let html = quote["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains("<blockquote>") && html.contains("said elsewhere"),
        "{quote}"
    );
    assert!(quote["content"]["m.relates_to"].is_null(), "{quote}");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_relayed_messages_carry_the_matrix_users_name_and_avatar() -> anyhow::Result<()>
{
    let s = RocketChatEnv::start_with(
        EnvOptions {
            public_url: true,
            ..EnvOptions::default()
        },
        "",
    )
    .await?;
    let (bridge, room) = s.open_general().await?;
    s.rc.allow_impersonation("RCALICE");
    s.env
        .command(&s.alice, &room, "!aq set-relay", "relayed through")
        .await?;
    let carol = s.env.user("carol").await?;
    let mxc = carol.upload(PNG.to_vec(), "image/png", "carol.png").await?;
    carol
        .request(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/profile/{}/avatar_url",
                enc(carol.user_id())
            ),
            Some(&json!({ "avatar_url": mxc })),
        )
        .await?;
    s.alice.invite(&room, carol.user_id()).await?;
    carol.join(&room).await?;
    carol.send_text(&room, "carol here").await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| m.iter().any(|x| x.text == "carol here"))
            .await?;
    let relayed = msgs.iter().find(|x| x.text == "carol here").unwrap();
    assert_eq!(relayed.user, "RCALICE");
    assert_eq!(relayed.alias.as_deref(), Some("carol"));
    let avatar = relayed
        .avatar
        .clone()
        .expect("the relayed message has an avatar");
    let prefix = format!("http://127.0.0.1:{}/_aqueduct/media/", s.env.bridge_port);
    assert!(avatar.starts_with(&prefix), "avatar {avatar:?}");
    let served = reqwest::get(&avatar).await?;
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.bytes().await?.to_vec(),
        PNG,
        "Rocket.Chat can fetch it"
    );

    // A relayed file carries the same name and avatar.
    let file = carol
        .upload(b"notes".to_vec(), "text/plain", "notes.txt")
        .await?;
    carol
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "notes.txt", "url": file,
                   "info": {"mimetype": "text/plain", "size": 5}}),
        )
        .await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter()
                .any(|x| x.files.iter().any(|f| f.name == "notes.txt"))
        })
        .await?;
    let relayed = msgs
        .iter()
        .find(|x| x.files.iter().any(|f| f.name == "notes.txt"))
        .unwrap();
    assert_eq!(relayed.files[0].data, b"notes");
    assert_eq!(relayed.alias.as_deref(), Some("carol"));
    assert_eq!(relayed.avatar.as_deref(), Some(avatar.as_str()));
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_mentions_of_users_and_the_whole_room_cross_both_ways() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.add_user("RCCARL", "carl", "Carl Rocket");
    let (bridge, room) = s.open_general().await?;
    let bob = ghost("RCBOB");
    let carl = ghost("RCCARL");

    // Rocket.Chat -> Matrix: a user mention becomes a pill for the ghost, @here an @room.
    s.rc.post(GENERAL, "RCBOB", "ask @carl please", None);
    let m = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("ask "))
        })
        .await?;
    let html = m["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(html.contains(&format!("https://matrix.to/#/{carl}")), "{m}");
    assert_eq!(m["content"]["m.mentions"]["user_ids"], json!([carl]), "{m}");
    s.rc.post(GENERAL, "RCBOB", "@here standup", None);
    let m = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.ends_with("standup"))
        })
        .await?;
    assert_eq!(m["content"]["body"], "@room standup");
    assert_eq!(m["content"]["m.mentions"]["room"], true);

    // Matrix -> Rocket.Chat: a pill for bob's ghost becomes @bob, @room becomes @all.
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "Bob Rocket: ping",
                   "format": "org.matrix.custom.html",
                   "formatted_body": format!("<a href=\"https://matrix.to/#/{bob}\">Bob Rocket</a>: ping"),
                   "m.mentions": {"user_ids": [bob]}}),
        )
        .await?;
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "@room lunch", "m.mentions": {"room": true}}),
        )
        .await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter().any(|x| x.text.contains("lunch"))
        })
        .await?;
    let texts: Vec<&str> = msgs
        .iter()
        .filter(|x| x.user == "RCALICE")
        .map(|x| x.text.as_str())
        .collect();
    assert_eq!(texts, ["@bob: ping", "@all lunch"]);
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
