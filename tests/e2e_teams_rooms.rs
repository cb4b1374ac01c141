//! Teams rooms end to end: names, topics and members follow the chat's and channel's system
//! messages (renamed, description changed, members added and removed); ghosts get the Teams
//! user's name and profile photo; a new portal brings in the chat's (or channel's, threads
//! included) earlier messages; Matrix read receipts move the Teams read marker of chats; a
//! Matrix rename, topic, invite and kick reach the group chat (or are refused with a notice).

use aqueduct_testkit::fake_teams::env::{TeamsEnv, WAIT, ghost};
use serde_json::json;

const CHAT: &str = "19:rooms@thread.v2";
const TEAM: &str = "team-rooms";
const CHANNEL: &str = "19:releases@thread.tacv2";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a jpeg, as far as anyone here can tell";

async fn setup() -> anyhow::Result<(
    TeamsEnv,
    aqueduct_testkit::matrix_client::MatrixClient,
    String,
)> {
    let t = TeamsEnv::start("").await?;
    for (id, name) in [
        ("u-alice", "Alice Teams"),
        ("u-bob", "Bob Teams"),
        ("u-carol", "Carol Teams"),
    ] {
        t.teams
            .add_user(id, name, &format!("{}@contoso.com", &id[2..]));
    }
    t.teams
        .add_chat(CHAT, "group", Some("Project"), &["u-alice", "u-bob"]);
    t.teams.add_team(TEAM, "Engineering");
    t.teams.add_channel(
        TEAM,
        CHANNEL,
        "Releases",
        Some("Shipping news"),
        &["u-alice", "u-bob"],
    );
    let alice = t.env.user("alice").await?;
    let mgmt = t.login(&alice, "u-alice").await?;
    Ok((t, alice, mgmt))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_names_topics_and_members_follow_teams() -> anyhow::Result<()> {
    let (t, alice, mgmt) = setup().await?;
    t.teams.post(CHAT, "u-bob", "<p>kick-off</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "kick-off")
        .await?;
    let name = alice.state_event(&portal, "m.room.name", "").await?;
    assert_eq!(name.unwrap_or_default()["name"], "Project");

    // The chat is renamed, Carol is added, then removed: the room follows.
    t.teams.rename_chat(CHAT, "u-bob", "Project X");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.name" && e["content"]["name"] == "Project X"
        })
        .await?;
    t.teams.add_chat_member(CHAT, "u-bob", "u-carol");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == ghost("u-carol").as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
    t.teams.remove_chat_member(CHAT, "u-bob", "u-carol");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == ghost("u-carol").as_str()
                && e["content"]["membership"] == "leave"
        })
        .await?;

    // A channel's room: the channel renamed, its description changed, a member added.
    t.env
        .command(
            &alice,
            &mgmt,
            &format!("bridge teams {TEAM}/{CHANNEL}"),
            "Bridged",
        )
        .await?;
    let channel_room = t.accept_new_portal(&alice, &[&portal]).await?;
    let members = alice.joined_members(&channel_room).await?;
    assert!(members.contains(&ghost("u-bob")), "{members:?}");
    t.teams.rename_channel(TEAM, CHANNEL, "u-bob", "Shipping");
    t.teams
        .describe_channel(TEAM, CHANNEL, "u-bob", "Where releases are announced");
    t.teams
        .add_channel_member(TEAM, CHANNEL, "u-bob", "u-carol");
    alice
        .wait_for_event(&channel_room, WAIT, |e| {
            e["type"] == "m.room.name" && e["content"]["name"] == "Engineering / Shipping"
        })
        .await?;
    alice
        .wait_for_event(&channel_room, WAIT, |e| {
            e["type"] == "m.room.topic" && e["content"]["topic"] == "Where releases are announced"
        })
        .await?;
    alice
        .wait_for_event(&channel_room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == ghost("u-carol").as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
    t.check_conformance()?;
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_ghosts_have_names_and_profile_photos() -> anyhow::Result<()> {
    let (t, alice, _mgmt) = setup().await?;
    t.teams.set_photo("u-bob", "image/jpeg", PHOTO.to_vec());
    t.teams.post(CHAT, "u-bob", "<p>hello</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "hello")
        .await?;
    let profile = alice
        .request(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/profile/{}", ghost("u-bob")),
            None,
        )
        .await?;
    assert_eq!(profile["displayname"], "Bob Teams");
    let avatar = profile["avatar_url"].as_str().expect("an avatar");
    assert_eq!(alice.download(avatar).await?, PHOTO);
    assert!(
        t.teams
            .requests()
            .iter()
            .any(|r| r == "GET /users/u-bob/photo/$value"),
        "the photo is read from Graph: {:?}",
        t.teams.requests()
    );

    // A user without a photo gets a ghost with a name and no avatar.
    t.teams.add_chat_member(CHAT, "u-bob", "u-carol");
    t.teams.post(CHAT, "u-carol", "<p>hi all</p>");
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "hi all")
        .await?;
    let carol = alice
        .request(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/profile/{}", ghost("u-carol")),
            None,
        )
        .await?;
    assert_eq!(carol["displayname"], "Carol Teams");
    assert!(
        carol.get("avatar_url").is_none_or(|a| a.is_null()),
        "{carol}"
    );
    t.check_conformance()?;
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_new_portals_bring_in_earlier_messages() -> anyhow::Result<()> {
    let t = TeamsEnv::start("").await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams
        .add_chat(CHAT, "group", Some("Project"), &["u-alice", "u-bob"]);
    t.teams.add_team(TEAM, "Engineering");
    t.teams
        .add_channel(TEAM, CHANNEL, "Releases", None, &["u-alice", "u-bob"]);
    // History from before the sign-in: two chat messages, a channel thread with a reply.
    let first = t.teams.post(CHAT, "u-bob", "<p>old one</p>");
    t.teams.post(CHAT, "u-alice", "<p>old two</p>");
    let root = t
        .teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>v1.0 is out</p>");
    t.teams
        .reply_channel(TEAM, CHANNEL, &root, "u-alice", "<p>congrats</p>");
    let alice = t.env.user("alice").await?;
    let mgmt = t.login(&alice, "u-alice").await?;

    // The chat's next message opens the portal, with the earlier ones before it.
    t.teams.post(CHAT, "u-bob", "<p>new one</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "new one")
        .await?;
    let bodies: Vec<String> = alice
        .messages(&portal)
        .await?
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect();
    let at = |b: &str| bodies.iter().position(|x| x == b);
    assert!(
        at("old one") < at("old two") && at("old two") < at("new one") && at("old one").is_some(),
        "{bodies:?}"
    );
    // A backfilled message is known: Bob's later edit of it crosses as an edit.
    t.teams.edit(CHAT, &first, "<p>old one, edited</p>");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "old one, edited"
        })
        .await?;

    // A bridged channel brings in its threads, replies as thread replies.
    t.env
        .command(
            &alice,
            &mgmt,
            &format!("bridge teams {TEAM}/{CHANNEL}"),
            "Bridged",
        )
        .await?;
    let channel_room = t.accept_new_portal(&alice, &[&portal]).await?;
    let root_event = alice
        .wait_for_event(&channel_room, WAIT, |e| {
            e["content"]["body"] == "v1.0 is out"
        })
        .await?;
    let reply = alice
        .wait_for_event(&channel_room, WAIT, |e| e["content"]["body"] == "congrats")
        .await?;
    assert_eq!(reply["content"]["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(
        reply["content"]["m.relates_to"]["event_id"],
        root_event["event_id"]
    );
    t.check_conformance()?;
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_matrix_read_receipts_mark_chats_read() -> anyhow::Result<()> {
    let (t, alice, _mgmt) = setup().await?;
    t.teams.post(CHAT, "u-bob", "<p>read me</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    let event = alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "read me")
        .await?;
    alice
        .request(
            reqwest::Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                aqueduct_testkit::matrix_client::enc(&portal),
                aqueduct_testkit::matrix_client::enc(event["event_id"].as_str().unwrap())
            ),
            Some(&json!({})),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !t
        .teams
        .read_marks()
        .contains(&(CHAT.to_owned(), "u-alice".to_owned()))
    {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no read marker");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    t.check_conformance()?;
    t.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_room_changes_from_matrix() -> anyhow::Result<()> {
    let (t, alice, _mgmt) = setup().await?;
    t.teams.post(CHAT, "u-bob", "<p>kick-off</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "kick-off")
        .await?;
    let notice = |needle: &'static str| {
        let bot = t.env.bot.clone();
        move |e: &serde_json::Value| {
            e["sender"] == bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(needle))
        }
    };

    // The room's name is the group chat's topic.
    alice
        .set_state(&portal, "m.room.name", "", json!({ "name": "Project Y" }))
        .await?;
    t.teams
        .wait_until(WAIT, "the chat's new topic", |f| {
            f.chat_topic(CHAT).as_deref() == Some("Project Y")
        })
        .await?;
    // Teams chats have no description: the room is told so.
    alice
        .set_state(&portal, "m.room.topic", "", json!({ "topic": "weekly" }))
        .await?;
    alice
        .wait_for_event(&portal, WAIT, notice("Teams chats have no description"))
        .await?;

    // Inviting Carol's ghost adds Carol; Teams' "added" message brings her ghost in.
    let carol = ghost("u-carol");
    alice.invite(&portal, &carol).await?;
    t.teams
        .wait_until(WAIT, "Carol in the chat", |f| {
            f.chat_members(CHAT).contains(&"u-carol".to_owned())
        })
        .await?;
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == carol.as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
    alice
        .request(
            reqwest::Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/kick",
                aqueduct_testkit::matrix_client::enc(&portal)
            ),
            Some(&json!({ "user_id": carol })),
        )
        .await?;
    t.teams
        .wait_until(WAIT, "Carol out of the chat", |f| {
            !f.chat_members(CHAT).contains(&"u-carol".to_owned())
        })
        .await?;

    // The echoes of these changes change nothing more in Matrix.
    t.teams.post(CHAT, "u-bob", "<p>settled</p>");
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "settled")
        .await?;
    let events = alice.messages(&portal).await?;
    let renames = events
        .iter()
        .filter(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Project Y")
        .count();
    assert_eq!(renames, 1, "the rename's echo is not applied again");

    // A 1:1 chat has no name and fixed members in Graph: the room is told.
    const DM: &str = "19:alice_bob@unq.gbl.spaces";
    t.teams
        .add_chat(DM, "oneOnOne", None, &["u-alice", "u-bob"]);
    t.teams.post(DM, "u-bob", "<p>just us</p>");
    let dm = t.accept_new_portal(&alice, &[&portal]).await?;
    alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["body"] == "just us")
        .await?;
    alice
        .set_state(&dm, "m.room.name", "", json!({ "name": "Bob and me" }))
        .await?;
    alice
        .wait_for_event(&dm, WAIT, notice("the name of a Teams 1:1 chat"))
        .await?;
    alice.invite(&dm, &carol).await?;
    alice
        .wait_for_event(&dm, WAIT, notice("the members of a Teams 1:1 chat"))
        .await?;
    assert!(!t.teams.chat_members(DM).contains(&"u-carol".to_owned()));
    t.check_conformance()?;
    t.stop().await
}
