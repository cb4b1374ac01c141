//! The Rocket.Chat connector end to end, rooms and exactly-once: name, topic, invites and
//! kicks from Matrix, two bridge logins in one room, and edits, deletes and reactions made
//! while the bridge was down, through a real Synapse and the fake Rocket.Chat. Every request
//! and answer is checked against Rocket.Chat's OpenAPI files.

use aqueduct_testkit::matrix_client::enc;
use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT, count_events, ghost};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_room_name_topic_invites_and_kicks_from_matrix() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.add_user("RCCARL", "carl", "Carl Rocket");
    let (bridge, room) = s.open_general().await?;

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
async fn rocketchat_changes_seen_by_two_logins_are_bridged_once() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let dave_token = s.rc.add_user("RCDAVE", "dave", "Dave Rocket");
    s.rc.add_room(GENERAL, "c", "general", &["RCALICE", "RCBOB", "RCDAVE"]);
    // A room only dave is in with bob: what crosses there went through dave's login after
    // everything his login received before it.
    s.rc.add_room("DAVEBOB", "p", "davebob", &["RCDAVE", "RCBOB"]);
    let (bridge, room) = s.open_general().await?;
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
    s.queues_drained().await?;

    let edits = count_events(&s.alice, &room, |e| {
        e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == first_id.as_str()
    })
    .await?;
    let reactions = count_events(&s.alice, &room, |e| {
        e["type"] == "m.reaction" && e["sender"] == bob.as_str()
    })
    .await?;
    let standing = count_events(&s.alice, &room, |e| {
        e["type"] == "m.reaction" && e["content"]["m.relates_to"]["key"] == "🎉"
    })
    .await?;
    let messages = count_events(&s.alice, &room, |e| e["content"]["body"] == "seen twice").await?;
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
    let (bridge, room) = s.open_general().await?;
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
    s.queues_drained().await?;
    let edits = count_events(&s.alice, &room, |e| {
        e["content"]["m.relates_to"]["rel_type"] == "m.replace"
    })
    .await?;
    let reactions = count_events(&s.alice, &room, |e| {
        e["type"] == "m.reaction" && e["content"]["m.relates_to"]["event_id"] == ea.as_str()
    })
    .await?;
    let redactions = count_events(&s.alice, &room, |e| e["type"] == "m.room.redaction").await?;
    assert_eq!((edits, reactions, redactions), (1, 1, 2));
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_bridge_command_opens_a_portal_where_messages_cross_both_ways()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    // A quiet room alice is in: nothing would open its portal but the command.
    s.rc.add_room("DEV", "p", "dev-team", &["RCALICE", "RCBOB"]);
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.login_alice().await?;
    s.env
        .command(
            &s.alice,
            &mgmt,
            "bridge rocketchat NOSUCHROOM",
            "not-allowed",
        )
        .await?;
    let answer = s
        .env
        .command(&s.alice, &mgmt, "bridge rocketchat DEV", "Bridged dev-team")
        .await?;
    let room = s.env.accept_portal_invite(&s.alice).await?;
    assert!(
        answer["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains(&room)),
        "{answer}"
    );
    assert!(
        s.alice
            .joined_members(&room)
            .await?
            .contains(&ghost("RCBOB")),
        "the room's members are in the portal"
    );

    s.rc.post("DEV", "RCBOB", "hello dev", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == ghost("RCBOB").as_str() && e["content"]["body"] == "hello dev"
        })
        .await?;
    s.alice.send_text(&room, "hi from matrix").await?;
    s.rc.wait_for("DEV", WAIT, |m| {
        m.iter()
            .any(|x| x.user == "RCALICE" && x.text == "hi from matrix")
    })
    .await?;
    assert_eq!(
        count_events(&s.alice, &room, |e| e["content"]["body"] == "hello dev").await?,
        1
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_link_makes_an_existing_room_the_portal_of_a_rocketchat_room()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    s.rc.add_room("DEV", "c", "dev-team", &["RCALICE", "RCBOB"]);
    let bridge = s.env.start_in_process().await?;
    // Linking takes a bridge admin; this one's Rocket.Chat account is alice's.
    let admin = s.env.user("admin").await?;
    let mgmt = s.env.management_room(&admin).await?;
    s.env
        .command(
            &admin,
            &mgmt,
            &format!("login rocketchat token RCALICE {}", s.alice_token),
            "Logged in",
        )
        .await?;

    // A room the admin already uses, with the bot invited and given the power to run it.
    let room = admin
        .create_room(json!({
            "name": "Our dev room",
            "preset": "private_chat",
            "invite": [s.env.bot],
            "power_level_content_override": { "users": { s.env.bot.as_str(): 50 } },
        }))
        .await?;
    admin
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == s.env.bot.as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
    s.env
        .command(
            &admin,
            &room,
            "!aq link rocketchat DEV",
            "Linked this room to dev-team (rocketchat DEV)",
        )
        .await?;
    assert!(
        admin.joined_members(&room).await?.contains(&ghost("RCBOB")),
        "the room's members joined"
    );

    s.rc.post("DEV", "RCBOB", "hello linked room", None);
    admin
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == ghost("RCBOB").as_str() && e["content"]["body"] == "hello linked room"
        })
        .await?;
    admin.send_text(&room, "hi from the old room").await?;
    s.rc.wait_for("DEV", WAIT, |m| {
        m.iter()
            .any(|x| x.user == "RCALICE" && x.text == "hi from the old room")
    })
    .await?;
    // No second room was made for the chat.
    s.rc.post("DEV", "RCBOB", "still here", None);
    admin
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "still here")
        .await?;
    assert_eq!(
        count_events(&admin, &room, |e| e["content"]["body"]
            == "hello linked room")
        .await?,
        1
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
