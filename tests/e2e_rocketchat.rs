//! The Rocket.Chat connector end to end: a real Synapse, the bridge, and the fake Rocket.Chat
//! speaking REST v1 and the realtime API (DDP). Every request the connector makes and every
//! answer the fake gives is checked against Rocket.Chat's published OpenAPI files.

use aqueduct_testkit::matrix_client::{MatrixClient, enc};
use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT, ghost};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Waits for an ephemeral event (typing) in `room` that `pred` accepts.
async fn wait_for_ephemeral(
    user: &MatrixClient,
    room: &str,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut since: Option<String> = None;
    while tokio::time::Instant::now() < deadline {
        let sync = user
            .sync_raw(
                since.as_deref(),
                r#"{"room":{"timeline":{"limit":0}}}"#,
                Duration::from_secs(5),
            )
            .await?;
        if let Some(events) = sync["rooms"]["join"][room]["ephemeral"]["events"].as_array()
            && events.iter().any(&pred)
        {
            return Ok(());
        }
        since = sync["next_batch"].as_str().map(str::to_owned);
    }
    anyhow::bail!("no matching ephemeral event in {room}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_messages_edits_reactions_threads_and_deletes_cross_both_ways()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_alice().await?;
    let bob = ghost("RCBOB");

    let first = s.rc.post(GENERAL, "RCBOB", "hello *world* @alice", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let hello = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == bob.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("hello"))
        })
        .await?;
    assert!(
        hello["content"]["formatted_body"]
            .as_str()
            .unwrap()
            .contains("<strong>world</strong>"),
        "{hello}"
    );
    assert_eq!(
        s.alice.profile_displayname(&bob).await?.as_deref(),
        Some("Bob Rocket")
    );
    let hello_id = hello["event_id"].as_str().unwrap().to_owned();

    // Matrix -> Rocket.Chat: formatting as Rocket.Chat markdown, sent as alice herself.
    let mine = s
        .alice
        .send_html(&room, "hi rocket", "hi <strong>rocket</strong>")
        .await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| m.iter().any(|x| x.text == "hi *rocket*"))
            .await?;
    let sent = msgs
        .iter()
        .find(|x| x.text == "hi *rocket*")
        .unwrap()
        .clone();
    assert_eq!(sent.user, "RCALICE");

    // Edits both ways.
    s.alice
        .send(&room, "m.room.message", json!({"msgtype": "m.text", "body": "* hi again", "m.new_content": {"msgtype": "m.text", "body": "hi again"}, "m.relates_to": {"rel_type": "m.replace", "event_id": mine}}))
        .await?;
    s.rc.wait_for(GENERAL, WAIT, |m| {
        m.iter().any(|x| x.id == sent.id && x.text == "hi again")
    })
    .await?;
    s.rc.edit(&first, "hello edited");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
                && e["content"]["m.new_content"]["body"] == "hello edited"
        })
        .await?;

    // Reactions both ways.
    s.alice.react(&room, &hello_id, "👍").await?;
    s.rc.wait_for(GENERAL, WAIT, |m| {
        m.iter().any(|x| {
            x.id == first
                && x.reactions
                    .iter()
                    .any(|(k, users)| (k == ":+1:" || k == ":thumbsup:") && users == &["alice"])
        })
    })
    .await?;
    s.rc.react(&sent.id, "RCBOB", ":tada:", true);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == bob.as_str()
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["key"] == "🎉"
                && e["content"]["m.relates_to"]["event_id"] == mine.as_str()
        })
        .await?;

    // Threads both ways.
    s.rc.post(GENERAL, "RCBOB", "in the thread", Some(&first));
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "in the thread"
                && e["content"]["m.relates_to"]["rel_type"] == "m.thread"
                && e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
        })
        .await?;
    s.alice
        .send(&room, "m.room.message", json!({"msgtype": "m.text", "body": "thread answer", "m.relates_to": {"rel_type": "m.thread", "event_id": hello_id, "is_falling_back": true, "m.in_reply_to": {"event_id": hello_id}}}))
        .await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter().any(|x| x.text == "thread answer")
        })
        .await?;
    assert_eq!(
        msgs.iter()
            .find(|x| x.text == "thread answer")
            .unwrap()
            .tmid
            .as_deref(),
        Some(first.as_str())
    );

    // Deletes both ways.
    s.rc.delete(&first);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == hello_id.as_str()
                    || e["content"]["redacts"] == hello_id.as_str())
        })
        .await?;
    s.alice.redact(&room, &mine, None).await?;
    s.rc.wait_for(GENERAL, WAIT, |m| {
        m.iter().any(|x| x.id == sent.id && x.deleted)
    })
    .await?;

    // Alice's own messages came back on the realtime stream and were not bridged again.
    let events = s.alice.messages(&room).await?;
    let in_matrix = events
        .iter()
        .filter(|e| e["content"]["body"] == "thread answer")
        .count();
    assert_eq!(
        in_matrix, 1,
        "an echo of a Matrix message is not bridged back"
    );
    assert!(
        s.rc.pongs() >= 1,
        "the connector answers the server's pings"
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_dropped_websocket_and_rate_limit_storm_lose_and_duplicate_nothing()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_alice().await?;
    let bob = ghost("RCBOB");
    s.rc.post(GENERAL, "RCBOB", "start", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "start")
        .await?;

    // Rocket.Chat -> Matrix with the websocket dropped mid-stream: what is sent while the
    // connector is away arrives through the catch-up, and the history endpoint is rate
    // limited on the way.
    for i in 0..30 {
        s.rc.post(GENERAL, "RCBOB", &format!("n {i}"), None);
        if i == 10 {
            s.rc.close_realtime();
            s.rc.rate_limit("channels.history", 3);
        }
        if i == 20 {
            s.rc.open_realtime();
        }
    }
    s.alice
        .wait_for_event(&room, Duration::from_secs(60), |e| {
            e["content"]["body"] == "n 29"
        })
        .await?;
    let bodies: Vec<String> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == bob.as_str() && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .filter(|b| b.starts_with("n "))
        .collect();
    assert_eq!(
        bodies,
        (0..30).map(|i| format!("n {i}")).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(
        s.rc.realtime_logins() >= 2,
        "the connector logged in again after the drop"
    );

    // Matrix -> Rocket.Chat through a storm of rate limits: all arrive, once, in order.
    s.rc.rate_limit("chat.sendMessage", 4);
    for i in 0..5 {
        s.alice.send_text(&room, &format!("m {i}")).await?;
    }
    let msgs =
        s.rc.wait_for(GENERAL, Duration::from_secs(60), |m| {
            m.iter().any(|x| x.text == "m 4")
        })
        .await?;
    let sent: Vec<&str> = msgs
        .iter()
        .map(|x| x.text.as_str())
        .filter(|t| t.starts_with("m "))
        .collect();
    assert_eq!(sent, ["m 0", "m 1", "m 2", "m 3", "m 4"]);
    assert!(s.rc.rate_limited() >= 7, "the storm happened");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_password_login_new_rooms_room_mentions_and_relay() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.set_password("RCALICE", "correct horse");
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.env.management_room(&s.alice).await?;
    s.env
        .command(
            &s.alice,
            &mgmt,
            "login rocketchat password alice wrong",
            "Unauthorized",
        )
        .await?;
    s.env
        .command(
            &s.alice,
            &mgmt,
            "login rocketchat password alice correct horse",
            "Logged in",
        )
        .await?;
    let bob = ghost("RCBOB");

    // A room the account joins after connecting is announced on its notification stream and
    // subscribed to at once.
    s.rc.wait_until(WAIT, || (s.rc.realtime_logins() >= 1).then_some(()))
        .await?;
    s.rc.add_room("DMBOB", "d", "", &["RCALICE", "RCBOB"]);
    s.rc.post("DMBOB", "RCBOB", "psst @all", None);
    let dm = s.env.accept_portal_invite(&s.alice).await?;
    let psst = s
        .alice
        .wait_for_event(&dm, WAIT, |e| {
            e["sender"] == bob.as_str() && e["type"] == "m.room.message"
        })
        .await?;
    assert_eq!(psst["content"]["body"], "psst @room");
    assert_eq!(psst["content"]["m.mentions"]["room"], true, "{psst}");

    // Relay: a Matrix user without a login speaks through alice's account, under their own
    // name (`alias`), which Rocket.Chat allows to accounts with `message-impersonate`.
    s.rc.allow_impersonation("RCALICE");
    s.rc.post(GENERAL, "RCBOB", "channel hello", None);
    let general = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&dm], WAIT)
        .await?;
    s.alice.join(&general).await?;
    s.alice
        .wait_for_event(&general, WAIT, |e| e["content"]["body"] == "channel hello")
        .await?;
    s.env
        .command(&s.alice, &general, "!aq set-relay", "relayed through")
        .await?;
    let carol = s.env.user("carol").await?;
    s.alice.invite(&general, carol.user_id()).await?;
    carol.join(&general).await?;
    carol.send_text(&general, "hello from carol").await?;
    let msgs =
        s.rc.wait_for(GENERAL, WAIT, |m| {
            m.iter().any(|x| x.text.ends_with("hello from carol"))
        })
        .await?;
    let relayed = msgs
        .iter()
        .find(|x| x.text.ends_with("hello from carol"))
        .unwrap();
    assert_eq!(relayed.user, "RCALICE");
    assert_eq!(relayed.alias.as_deref(), Some("carol"));
    assert_eq!(
        relayed.text, "hello from carol",
        "the name is the alias, not a prefix"
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_messages_sent_while_the_bridge_is_down_arrive_once_in_order()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_alice().await?;
    let bob = ghost("RCBOB");
    let root = s.rc.post(GENERAL, "RCBOB", "before", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "before")
        .await?;
    bridge.stop().await?;

    let mut expected = Vec::new();
    for i in 0..8 {
        let text = format!("while down {i}");
        s.rc.post(GENERAL, "RCBOB", &text, None);
        expected.push(text);
        if i == 3 {
            s.rc.post(GENERAL, "RCBOB", "thread reply", Some(&root));
            expected.push("thread reply".into());
        }
    }
    let bridge = s.env.start_in_process().await?;
    let reply = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "thread reply")
        .await?;
    assert_eq!(reply["content"]["m.relates_to"]["rel_type"], "m.thread");
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "while down 7")
        .await?;
    let bodies: Vec<String> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == bob.as_str() && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .filter(|b| b.starts_with("while down") || b == "thread reply")
        .collect();
    assert_eq!(bodies, expected, "each once, in Rocket.Chat's order");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_history_is_backfilled_when_a_portal_is_made() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    for i in 0..3 {
        s.rc.post(GENERAL, "RCBOB", &format!("old {i}"), None);
    }
    let bridge = s.env.start_in_process().await?;
    s.login_alice().await?;
    s.rc.wait_until(WAIT, || (s.rc.realtime_logins() >= 1).then_some(()))
        .await?;
    s.rc.post(GENERAL, "RCBOB", "trigger", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let trigger = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "trigger")
        .await?;
    let bodies: Vec<String> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == ghost("RCBOB").as_str() && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(bodies, ["old 0", "old 1", "old 2", "trigger"]);

    // Alice's read receipt marks the room read on Rocket.Chat.
    s.alice
        .request(
            Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                enc(&room),
                enc(trigger["event_id"].as_str().unwrap())
            ),
            Some(&json!({})),
        )
        .await?;
    let trigger_id = s.rc.messages(GENERAL).last().unwrap().id.clone();
    s.rc.wait_until(WAIT, || {
        (s.rc.last_read(GENERAL, "RCALICE").as_deref() == Some(trigger_id.as_str())).then_some(())
    })
    .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_avatars_typing_topic_name_joins_and_leaves() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.add_user("RCCARL", "carl", "Carl Rocket");
    let picture = b"\x89PNG\r\n\x1a\nnot really a png but bytes".to_vec();
    s.rc.set_avatar("RCBOB", "image/png", &picture);
    let bridge = s.env.start_in_process().await?;
    s.login_alice().await?;
    s.rc.post(GENERAL, "RCBOB", "hi", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hi")
        .await?;
    // Bob's ghost wears his Rocket.Chat picture.
    let profile = s
        .alice
        .request(
            Method::GET,
            &format!("/_matrix/client/v3/profile/{}", enc(&ghost("RCBOB"))),
            None,
        )
        .await?;
    let mxc = profile["avatar_url"]
        .as_str()
        .expect("bob's ghost has an avatar");
    assert_eq!(s.alice.download(mxc).await?, picture);

    // Typing, both ways.
    s.rc.typing(GENERAL, "RCBOB", true);
    wait_for_ephemeral(&s.alice, &room, |e| {
        e["type"] == "m.typing"
            && e["content"]["user_ids"]
                .as_array()
                .is_some_and(|u| u.iter().any(|x| x == ghost("RCBOB").as_str()))
    })
    .await?;
    let typing_path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        enc(&room),
        enc(s.alice.user_id())
    );
    s.alice
        .request(
            Method::PUT,
            &typing_path,
            Some(&json!({ "typing": true, "timeout": 30000 })),
        )
        .await?;
    s.rc.wait_until(WAIT, || s.rc.is_typing(GENERAL, "alice").then_some(()))
        .await?;
    s.alice
        .request(Method::PUT, &typing_path, Some(&json!({ "typing": false })))
        .await?;
    s.rc.wait_until(WAIT, || (!s.rc.is_typing(GENERAL, "alice")).then_some(()))
        .await?;

    s.rc.room_event(GENERAL, "RCBOB", "room_changed_topic", "all about rockets");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.topic" && e["content"]["topic"] == "all about rockets"
        })
        .await?;
    s.rc.room_event(GENERAL, "RCBOB", "r", "launchpad");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.name" && e["content"]["name"] == "launchpad"
        })
        .await?;
    let carl = ghost("RCCARL");
    s.rc.room_event(GENERAL, "RCCARL", "uj", "carl");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == carl.as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
    s.rc.room_event(GENERAL, "RCCARL", "ul", "carl");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == carl.as_str()
                && e["content"]["membership"] == "leave"
        })
        .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_emoji_shortcodes_in_text_become_emoji_in_matrix() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let (bridge, room) = s.open_general().await?;

    // Rocket.Chat -> Matrix: standard shortcodes become emoji, in the body and the HTML, but
    // not in code or URLs; a custom emoji stays as its name.
    let id = s.rc.post(
        GENERAL,
        "RCBOB",
        "launch :rocket: *now* :thumbsup_tone2: `:rocket:` :party_parrot: https://x.org/:rocket:",
        None,
    );
    let launch = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("launch"))
        })
        .await?;
    assert_eq!(
        launch["content"]["body"],
        "launch 🚀 *now* 👍🏼 `:rocket:` :party_parrot: https://x.org/:rocket:"
    );
    assert_eq!(
        launch["content"]["formatted_body"],
        "launch 🚀 <strong>now</strong> 👍🏼 <code>:rocket:</code> :party_parrot: https://x.org/:rocket:"
    );

    // Edits are converted the same way.
    s.rc.edit(&id, "launched :tada:");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "launched 🎉"
        })
        .await?;

    // Matrix -> Rocket.Chat: Unicode emoji go as they are, as Rocket.Chat's mobile clients
    // send them (Rocket.Chat renders Unicode emoji like shortcodes).
    s.alice.send_text(&room, "well done 🎉").await?;
    s.rc.wait_for(GENERAL, WAIT, |m| {
        m.iter()
            .any(|x| x.user == "RCALICE" && x.text == "well done 🎉")
    })
    .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_right_after_logged_in_is_bridged_when_the_realtime_api_is_slow()
-> anyhow::Result<()> {
    let e = RocketChatEnv::start().await?;
    // The realtime handshake takes a moment (a busy server, a slow load balancer). A new
    // login has no checkpoint to catch up from, so only a stream already subscribed when
    // "Logged in" shows can carry what is posted right after it.
    e.rc.slow_realtime(Duration::from_millis(1500));
    let _bridge = e.env.start_in_process().await?;
    e.login_alice().await?;
    e.rc.post(GENERAL, "RCBOB", "right after the login", None);
    let room = e.env.accept_portal_invite(&e.alice).await?;
    e.alice
        .wait_for_event(&room, WAIT, |ev| {
            ev["content"]["body"] == "right after the login"
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_portal_could_not_be_made_at_first_is_bridged_on_a_retry()
-> anyhow::Result<()> {
    let e = RocketChatEnv::start().await?;
    let _bridge = e.env.start_in_process().await?;
    e.login_alice().await?;
    // Rocket.Chat has a bad moment just as the first message of a chat arrives: the room's
    // info, which the portal is made from, answers 500 twice. The message has no
    // checkpoint to be caught up from, and no reconnect comes to fetch it.
    e.rc.fail_with_server_error("rooms.info", 2);
    e.rc.post(GENERAL, "RCBOB", "through a bad moment", None);
    let room = e.env.accept_portal_invite(&e.alice).await?;
    e.alice
        .wait_for_event(&room, WAIT, |ev| {
            ev["content"]["body"] == "through a bad moment"
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_typed_in_a_login_command_are_deleted_from_the_room() -> anyhow::Result<()> {
    let e = RocketChatEnv::start().await?;
    let _bridge = e.env.start_in_process().await?;
    let room = e.env.management_room(&e.alice).await?;
    // A mistyped password is still someone's password: a failed login is deleted too.
    let failed = e
        .env
        .command(
            &e.alice,
            &room,
            "login rocketchat password alice not-her-password",
            "was deleted",
        )
        .await?;
    assert!(
        failed["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("failed")),
        "{failed}"
    );
    let done = e
        .env
        .command(
            &e.alice,
            &room,
            &format!("login rocketchat token RCALICE {}", e.alice_token),
            "Logged in",
        )
        .await?;
    assert!(
        done["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("was deleted")),
        "{done}"
    );
    // What the homeserver keeps, as any member's client would read it back.
    let history = e.alice.messages(&room).await?;
    let text = serde_json::to_string(&history)?;
    assert!(
        !text.contains(&e.alice_token),
        "the token is still in the room"
    );
    assert!(
        !text.contains("not-her-password"),
        "the password is still in the room"
    );
    let redactions = history
        .iter()
        .filter(|ev| ev["type"] == "m.room.redaction" && ev["sender"] == e.env.bot.as_str())
        .count();
    assert_eq!(redactions, 2, "one deletion per login command");
    // A command without credentials stays.
    e.env
        .command(&e.alice, &room, "login rocketchat", "")
        .await?;
    let kept = e.alice.messages(&room).await?;
    assert!(
        kept.iter()
            .any(|ev| ev["content"]["body"] == "login rocketchat"),
        "a login command without credentials is not deleted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_after_logged_in_is_bridged_when_the_realtime_api_is_slower_than_the_login_waits()
-> anyhow::Result<()> {
    let e = RocketChatEnv::start().await?;
    // Slower than a new login waits for its stream (20 s): "Logged in" comes first, and the
    // first connection must fetch what was said since.
    e.rc.slow_realtime(Duration::from_secs(25));
    let _bridge = e.env.start_in_process().await?;
    e.login_alice().await?;
    e.rc.post(GENERAL, "RCBOB", "long before the stream", None);
    let room = e.env.accept_portal_invite(&e.alice).await?;
    e.alice
        .wait_for_event(&room, WAIT, |ev| {
            ev["content"]["body"] == "long before the stream"
        })
        .await?;
    Ok(())
}
