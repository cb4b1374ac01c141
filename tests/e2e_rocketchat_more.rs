//! More of the Rocket.Chat connector end to end, through a real Synapse and the fake
//! Rocket.Chat: files and images, replies and quotes, the relay's avatar, room changes and
//! invites from Matrix, mentions, and two bridge logins in one room. Every request and answer
//! is checked against Rocket.Chat's OpenAPI files.

use aqueduct_testkit::bridge_env::EnvOptions;
use aqueduct_testkit::matrix_client::enc;
use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT, ghost};
use reqwest::Method;
use serde_json::{Value, json};

/// A tiny PNG (1x1).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Starts the bridge, logs alice in and opens the portal of `GENERAL` with a first message
/// from bob; returns the bridge and the room.
async fn general_portal(
    s: &RocketChatEnv,
) -> anyhow::Result<(aqueduct_testkit::bridge_env::RunningBridge, String)> {
    let bridge = s.env.start_in_process().await?;
    s.login_alice().await?;
    s.rc.post(GENERAL, "RCBOB", "opening", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "opening")
        .await?;
    Ok((bridge, room))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_files_and_images_cross_both_ways_within_the_size_limit() -> anyhow::Result<()> {
    let s = RocketChatEnv::start_with(EnvOptions::default(), "    max_file_bytes: 1000\n").await?;
    let (bridge, room) = general_portal(&s).await?;
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
    let (bridge, room) = general_portal(&s).await?;
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
    let (bridge, room) = general_portal(&s).await?;
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
async fn rocketchat_room_name_topic_invites_and_kicks_from_matrix() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.add_user("RCCARL", "carl", "Carl Rocket");
    let (bridge, room) = general_portal(&s).await?;

    s.alice
        .set_state(&room, "m.room.name", "", json!({ "name": "launchpad" }))
        .await?;
    s.rc.wait_until(WAIT, || {
        (s.rc.room_name(GENERAL).as_deref() == Some("launchpad")).then_some(())
    })
    .await?;
    s.alice
        .set_state(
            &room,
            "m.room.topic",
            "",
            json!({ "topic": "rockets only" }),
        )
        .await?;
    s.rc.wait_until(WAIT, || {
        (s.rc.room_topic(GENERAL).as_deref() == Some("rockets only")).then_some(())
    })
    .await?;

    // Inviting carl's ghost adds carl to the channel; Rocket.Chat's "added" notice brings
    // his ghost into the room.
    let carl = ghost("RCCARL");
    s.alice.invite(&room, &carl).await?;
    s.rc.wait_until(WAIT, || {
        s.rc.members(GENERAL)
            .contains(&"RCCARL".to_owned())
            .then_some(())
    })
    .await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == carl.as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
    s.alice
        .request(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/kick", enc(&room)),
            Some(&json!({ "user_id": carl })),
        )
        .await?;
    s.rc.wait_until(WAIT, || {
        (!s.rc.members(GENERAL).contains(&"RCCARL".to_owned())).then_some(())
    })
    .await?;

    // A direct message has a topic too (`dm.setTopic`).
    s.rc.add_room("DMBOB", "d", "", &["RCALICE", "RCBOB"]);
    s.rc.post("DMBOB", "RCBOB", "a direct word", None);
    let dm = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&room], WAIT)
        .await?;
    s.alice.join(&dm).await?;
    s.alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["body"] == "a direct word")
        .await?;
    s.alice
        .set_state(&dm, "m.room.topic", "", json!({ "topic": "just us" }))
        .await?;
    s.rc.wait_until(WAIT, || {
        (s.rc.room_topic("DMBOB").as_deref() == Some("just us")).then_some(())
    })
    .await?;

    // The echoes of our own changes change nothing more in Matrix.
    s.rc.post(GENERAL, "RCBOB", "settled", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "settled")
        .await?;
    let events = s.alice.messages(&room).await?;
    let names = events
        .iter()
        .filter(|e| e["type"] == "m.room.name" && e["content"]["name"] == "launchpad")
        .count();
    assert_eq!(names, 1, "the rename's echo is not applied again");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_mentions_of_users_and_the_whole_room_cross_both_ways() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.add_user("RCCARL", "carl", "Carl Rocket");
    let (bridge, room) = general_portal(&s).await?;
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

/// Counts the events of `room` that `pred` accepts.
async fn count(
    client: &aqueduct_testkit::matrix_client::MatrixClient,
    room: &str,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<usize> {
    Ok(client
        .messages(room)
        .await?
        .iter()
        .filter(|e| pred(e))
        .count())
}

/// Waits until the bridge's portal queues are empty (`aqueduct_queue_depth` 0).
async fn queues_drained(bridge_port: u16) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let metrics = reqwest::get(format!("http://127.0.0.1:{bridge_port}/metrics"))
            .await?
            .text()
            .await?;
        if metrics
            .lines()
            .any(|l| l.trim() == "aqueduct_queue_depth 0")
        {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "portal queues not drained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_changes_seen_by_two_logins_are_bridged_once() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let dave_token = s.rc.add_user("RCDAVE", "dave", "Dave Rocket");
    s.rc.add_room(GENERAL, "c", "general", &["RCALICE", "RCBOB", "RCDAVE"]);
    // A room only dave is in with bob: what crosses there went through dave's login after
    // everything his login received before it.
    s.rc.add_room("DAVEBOB", "p", "davebob", &["RCDAVE", "RCBOB"]);
    let (bridge, room) = general_portal(&s).await?;
    let dave = s.env.user("dave").await?;
    let mgmt = s.env.management_room(&dave).await?;
    s.env
        .command(
            &dave,
            &mgmt,
            &format!("login rocketchat token RCDAVE {dave_token}"),
            "Logged in",
        )
        .await?;
    s.rc.wait_until(WAIT, || (s.rc.realtime_logins() >= 2).then_some(()))
        .await?;
    let bob = ghost("RCBOB");

    let id = s.rc.post(GENERAL, "RCBOB", "seen twice", None);
    let first = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "seen twice")
        .await?;
    let first_id = first["event_id"].as_str().unwrap().to_owned();
    s.rc.edit(&id, "seen twice, edited");
    s.rc.react(&id, "RCBOB", ":tada:", true);
    let tada = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["type"] == "m.reaction")
        .await?;
    // Taken back and given again: the second one is a new reaction, not a retry of the first.
    s.rc.react(&id, "RCBOB", ":tada:", false);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == tada["event_id"] || e["content"]["redacts"] == tada["event_id"])
        })
        .await?;
    s.rc.react(&id, "RCBOB", ":tada:", true);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["event_id"] != tada["event_id"]
        })
        .await?;
    // Everything dave's login received before this is queued; then wait for the queues.
    s.rc.post("DAVEBOB", "RCBOB", "dave's marker", None);
    // Dave may also be invited to the channel's portal; his own chat is the other room.
    let dave_room = dave
        .wait_for_invite_except(Some(&s.env.bot), &[&room], WAIT)
        .await?;
    dave.join(&dave_room).await?;
    dave.wait_for_event(&dave_room, WAIT, |e| {
        e["content"]["body"] == "dave's marker"
    })
    .await?;
    queues_drained(s.env.bridge_port).await?;

    let edits = count(&s.alice, &room, |e| {
        e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == first_id.as_str()
    })
    .await?;
    let reactions = count(&s.alice, &room, |e| {
        e["type"] == "m.reaction" && e["sender"] == bob.as_str()
    })
    .await?;
    let standing = count(&s.alice, &room, |e| {
        e["type"] == "m.reaction" && e["content"]["m.relates_to"]["key"] == "🎉"
    })
    .await?;
    let messages = count(&s.alice, &room, |e| e["content"]["body"] == "seen twice").await?;
    assert_eq!(
        (messages, edits, reactions, standing),
        (1, 1, 2, 1),
        "(messages, edits, reactions given, reactions standing)"
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_edits_deletes_and_reactions_while_the_bridge_is_down_cross_once()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let (bridge, room) = general_portal(&s).await?;
    let bob = ghost("RCBOB");
    let a = s.rc.post(GENERAL, "RCBOB", "to be edited", None);
    let b = s.rc.post(GENERAL, "RCBOB", "to be deleted", None);
    let c = s.rc.post(GENERAL, "RCBOB", "to be unreacted", None);
    s.rc.react(&c, "RCBOB", ":tada:", true);
    let event = |body: &'static str| {
        let alice = &s.alice;
        let room = room.clone();
        async move {
            alice
                .wait_for_event(&room, WAIT, |e| e["content"]["body"] == body)
                .await
                .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
        }
    };
    let (ea, eb, ec) = (
        event("to be edited").await?,
        event("to be deleted").await?,
        event("to be unreacted").await?,
    );
    let tada = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["content"]["m.relates_to"]["event_id"] == ec.as_str()
        })
        .await?;
    bridge.stop().await?;

    s.rc.edit(&a, "edited while down");
    s.rc.delete(&b);
    s.rc.react(&a, "RCBOB", ":+1:", true);
    s.rc.react(&c, "RCBOB", ":tada:", false);
    let bridge = s.env.start_in_process().await?;

    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == ea.as_str()
                && e["content"]["m.new_content"]["body"] == "edited while down"
        })
        .await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == eb.as_str() || e["content"]["redacts"] == eb.as_str())
        })
        .await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction"
                && e["sender"] == bob.as_str()
                && e["content"]["m.relates_to"]["event_id"] == ea.as_str()
        })
        .await?;
    let tada_id = tada["event_id"].as_str().unwrap_or_default().to_owned();
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == tada_id.as_str() || e["content"]["redacts"] == tada_id.as_str())
        })
        .await?;

    // A second restart brings nothing again.
    bridge.stop().await?;
    let bridge = s.env.start_in_process().await?;
    s.rc.post(GENERAL, "RCBOB", "after the restarts", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "after the restarts"
        })
        .await?;
    queues_drained(s.env.bridge_port).await?;
    let edits = count(&s.alice, &room, |e| {
        e["content"]["m.relates_to"]["rel_type"] == "m.replace"
    })
    .await?;
    let reactions = count(&s.alice, &room, |e| {
        e["type"] == "m.reaction" && e["content"]["m.relates_to"]["event_id"] == ea.as_str()
    })
    .await?;
    let redactions = count(&s.alice, &room, |e| e["type"] == "m.room.redaction").await?;
    assert_eq!((edits, reactions, redactions), (1, 1, 2));
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
