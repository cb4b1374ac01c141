//! `link`, `unbridge` and `sync` through a real Synapse and the test network.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::matrix_client::MatrixClient;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BOB: &str = "@aqueduct_testnet_bob:localhost";
const CAROL: &str = "@aqueduct_testnet_carol__r:localhost";
const DAVE: &str = "@aqueduct_testnet_dave:localhost";

/// Waits until `user`'s membership in `room` is `membership`, as the room's timeline says.
async fn wait_for_membership(
    watcher: &MatrixClient,
    room: &str,
    user: &str,
    membership: &str,
) -> anyhow::Result<()> {
    watcher
        .wait_for_event(room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == user
                && e["content"]["membership"] == membership
        })
        .await?;
    Ok(())
}

async fn state_field(
    user: &MatrixClient,
    room: &str,
    kind: &str,
    field: &str,
) -> anyhow::Result<Option<String>> {
    Ok(user
        .state_event(room, kind, "")
        .await?
        .and_then(|c| c[field].as_str().map(str::to_owned)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_an_existing_room_then_unbridge_it() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("admin_r", "Admin Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("team", Some("Team"), &["admin_r", "bob"], false);
    env.net
        .add_chat("other", Some("Other"), &["admin_r", "bob"], false);
    env.net
        .change_chat_silently("team", None, Some("Team topic"), None);
    let bridge = env.start_in_process().await?;
    let admin = env.user("admin").await?;
    let alice = env.user("alice").await?;
    let mgmt = env.login(&admin, &token).await?;

    // A room people already use, named by them, with the bot invited as a plain member.
    let room = admin
        .create_room(json!({ "name": "Our room", "preset": "private_chat", "invite": [env.bot] }))
        .await?;
    wait_for_membership(&admin, &room, &env.bot, "join").await?;
    admin.invite(&room, alice.user_id()).await?;
    alice.join(&room).await?;

    // Refusals: a user below admin, the management room, a bot without power, a chat or a
    // room that is bridged already.
    env.command(
        &alice,
        &room,
        "!aq link testnet team",
        "needs the admin permission level; you have user",
    )
    .await?;
    env.command(&admin, &mgmt, "link testnet team", "management room")
        .await?;
    env.command(
        &admin,
        &room,
        "!aq link testnet team",
        "I need power level 50 in this room",
    )
    .await?;
    let mut power = admin
        .state_event(&room, "m.room.power_levels", "")
        .await?
        .expect("power levels");
    power["users"][env.bot.as_str()] = json!(50);
    admin
        .set_state(&room, "m.room.power_levels", "", power)
        .await?;
    env.command(&admin, &mgmt, "bridge testnet other", "Bridged Other")
        .await?;
    let other_room = env.accept_portal_invite(&admin).await?;
    env.command(
        &admin,
        &room,
        "!aq link testnet other",
        &format!("already bridged to {other_room}"),
    )
    .await?;
    env.command(
        &admin,
        &other_room,
        "!aq link testnet team",
        "This room is already bridged to testnet other",
    )
    .await?;

    // Linking keeps the room's name, takes the chat's topic (the room had none) and brings
    // in the chat's members.
    env.command(
        &admin,
        &room,
        "!aq link testnet team",
        "Linked this room to Team (testnet team)",
    )
    .await?;
    assert_eq!(
        state_field(&admin, &room, "m.room.name", "name")
            .await?
            .as_deref(),
        Some("Our room")
    );
    assert_eq!(
        state_field(&admin, &room, "m.room.topic", "topic")
            .await?
            .as_deref(),
        Some("Team topic")
    );
    assert!(admin.joined_members(&room).await?.contains(&BOB.to_owned()));

    // Messages cross both ways.
    env.net.post("team", "bob", "hello linked room");
    admin
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == BOB && e["content"]["body"] == "hello linked room"
        })
        .await?;
    admin.send_text(&room, "hi from matrix").await?;
    env.net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| x.text == "hi from matrix")
        })
        .await?;

    // Unbridging: admins only; the ghosts leave, the bot says so and leaves, the room stays.
    env.command(
        &alice,
        &room,
        "!aq unbridge",
        "needs the admin permission level",
    )
    .await?;
    env.command(&admin, &room, "!aq unbridge", "no longer bridged to Team")
        .await?;
    wait_for_membership(&admin, &room, &env.bot, "leave").await?;
    assert_eq!(
        admin.joined_members(&room).await?,
        vec![admin.user_id().to_owned(), alice.user_id().to_owned()]
    );
    admin.send_text(&room, "said after unbridge").await?;

    // The chat's next message opens a new room; the unbridged one is not reused.
    env.net.post("team", "bob", "fresh start");
    let new_room = admin
        .wait_for_invite_except(Some(&env.bot), &[&other_room], WAIT)
        .await?;
    admin.join(&new_room).await?;
    assert_ne!(new_room, room);
    admin
        .wait_for_event(&new_room, WAIT, |e| {
            e["sender"] == BOB && e["content"]["body"] == "fresh start"
        })
        .await?;
    admin.send_text(&new_room, "in the new room").await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| x.text == "in the new room")
        })
        .await?;
    // The old room's message was sent before this one and reached nothing.
    assert!(!msgs.iter().any(|x| x.text == "said after unbridge"));
    assert!(
        !admin
            .messages(&room)
            .await?
            .iter()
            .any(|e| e["content"]["body"] == "fresh start")
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_applies_changes_the_bridge_never_heard_of() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net.add_user("carol_r", "Carol Remote");
    env.net.add_user("dave", "Dave Remote");
    env.net
        .add_chat("team", Some("Team"), &["alice_r", "bob", "dave"], false);
    env.net
        .set_chat_avatar("team", "pic-1", "image/png", b"\x89PNG first picture");
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let mgmt = env.login(&alice, &token).await?;
    env.command(&alice, &mgmt, "sync", "run this in a bridged room")
        .await?;
    env.command(&alice, &mgmt, "bridge testnet team", "Bridged Team")
        .await?;
    let room = env.accept_portal_invite(&alice).await?;
    wait_for_membership(&alice, &room, DAVE, "join").await?;
    wait_for_membership(&alice, &room, BOB, "join").await?;
    // The chat's picture is the room's avatar from the start.
    let first_avatar = state_field(&alice, &room, "m.room.avatar", "url")
        .await?
        .expect("the portal has the chat's picture");
    assert!(first_avatar.starts_with("mxc://"), "{first_avatar}");
    assert_eq!(
        alice.download(&first_avatar).await?,
        b"\x89PNG first picture".to_vec()
    );

    // Behind the bridge's back: renamed, new topic, new picture, Dave out, Carol in, Bob
    // renamed.
    env.net
        .set_chat_avatar("team", "pic-2", "image/png", b"\x89PNG second picture");
    env.net.change_chat_silently(
        "team",
        Some("Team Two"),
        Some("New topic"),
        Some(&["alice_r", "bob", "carol_r"]),
    );
    env.net.rename_user_silently("bob", "Robert Remote");
    env.command(
        &alice,
        &room,
        "!aq sync",
        "Synced with Team: name updated, topic updated, avatar updated, 1 joined, 1 left, 1 profile updated.",
    )
    .await?;
    let second_avatar = state_field(&alice, &room, "m.room.avatar", "url")
        .await?
        .unwrap_or_default();
    assert_ne!(second_avatar, first_avatar);
    assert_eq!(
        alice.download(&second_avatar).await?,
        b"\x89PNG second picture".to_vec()
    );
    assert_eq!(
        state_field(&alice, &room, "m.room.name", "name")
            .await?
            .as_deref(),
        Some("Team Two")
    );
    assert_eq!(
        state_field(&alice, &room, "m.room.topic", "topic")
            .await?
            .as_deref(),
        Some("New topic")
    );
    let members = alice.joined_members(&room).await?;
    assert!(members.contains(&CAROL.to_owned()), "{members:?}");
    assert!(!members.contains(&DAVE.to_owned()), "{members:?}");
    assert!(members.contains(&BOB.to_owned()), "{members:?}");
    assert_eq!(
        alice.profile_displayname(BOB).await?.as_deref(),
        Some("Robert Remote")
    );

    // Nothing left to change.
    env.command(
        &alice,
        &room,
        "!aq sync",
        "Synced with Team Two: already up to date.",
    )
    .await?;
    bridge.stop().await?;
    Ok(())
}
