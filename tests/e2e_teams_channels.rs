//! Teams channels end to end through the real Synapse and the fake tenant: `bridge teams
//! <team-id>/<channel-id>` opens a portal named after the team and channel; threads cross
//! both ways as Matrix threads (a channel reply is a thread reply); edits, deletes and
//! reactions of roots and replies cross both ways, received with Graph's delta query.

use aqueduct_testkit::fake_teams::env::{TeamsEnv, WAIT, ghost};
use serde_json::json;

const TEAM: &str = "6f0c2f3e-team-engineering";
const CHANNEL: &str = "19:general@thread.tacv2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_channel_threads_cross_both_ways() -> anyhow::Result<()> {
    let t = TeamsEnv::start("").await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams.add_team(TEAM, "Engineering");
    t.teams.add_channel(
        TEAM,
        CHANNEL,
        "General",
        Some("All things engineering"),
        &["u-alice", "u-bob"],
    );
    let alice = t.env.user("alice").await?;
    let room = t.login(&alice, "u-alice").await?;

    // The channel is bridged by its team and channel ids; its room has the team's and the
    // channel's names and the channel's description.
    t.env
        .command(
            &alice,
            &room,
            &format!("bridge teams {TEAM}/{CHANNEL}"),
            "Bridged Engineering / General",
        )
        .await?;
    let portal = t.env.accept_portal_invite(&alice).await?;
    let name = alice
        .state_event(&portal, "m.room.name", "")
        .await?
        .unwrap_or_default();
    assert_eq!(name["name"], "Engineering / General");
    let topic = alice
        .state_event(&portal, "m.room.topic", "")
        .await?
        .unwrap_or_default();
    assert_eq!(topic["topic"], "All things engineering");

    // Teams -> Matrix: a new thread and a reply in it, the reply as a Matrix thread reply.
    let root = t
        .teams
        .post_channel(TEAM, CHANNEL, "u-bob", "<p>release <b>today</b>?</p>");
    let root_event = alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["body"] == "release today?" && e["sender"] == ghost("u-bob").as_str()
        })
        .await?;
    let root_event_id = root_event["event_id"].as_str().unwrap().to_owned();
    let bob_reply = t
        .teams
        .reply_channel(TEAM, CHANNEL, &root, "u-bob", "<p>after lunch</p>");
    let reply_event = alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "after lunch")
        .await?;
    assert_eq!(
        reply_event["content"]["m.relates_to"]["rel_type"], "m.thread",
        "{reply_event}"
    );
    assert_eq!(
        reply_event["content"]["m.relates_to"]["event_id"],
        root_event_id.as_str()
    );
    let reply_event_id = reply_event["event_id"].as_str().unwrap().to_owned();

    // Matrix -> Teams: a Matrix thread reply is a reply in the Teams thread, as Alice.
    let mine = alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "works for me",
                   "m.relates_to": {"rel_type": "m.thread", "event_id": root_event_id, "is_falling_back": true,
                                    "m.in_reply_to": {"event_id": reply_event_id}}}),
        )
        .await?;
    let msgs = t
        .teams
        .wait_for_channel(TEAM, CHANNEL, WAIT, |m| {
            m.iter().any(|x| x.html.contains("works for me"))
        })
        .await?;
    let my_reply = msgs
        .iter()
        .find(|x| x.html.contains("works for me"))
        .unwrap()
        .clone();
    assert_eq!(my_reply.from, "u-alice");
    assert_eq!(
        my_reply.reply_to_id.as_deref(),
        Some(root.as_str()),
        "a reply in Bob's thread"
    );

    // A top-level Matrix message starts a thread of its own.
    let top = alice.send_text(&portal, "a new topic").await?;
    let msgs = t
        .teams
        .wait_for_channel(TEAM, CHANNEL, WAIT, |m| {
            m.iter().any(|x| x.html.contains("a new topic"))
        })
        .await?;
    let my_root = msgs
        .iter()
        .find(|x| x.html.contains("a new topic"))
        .unwrap()
        .clone();
    assert_eq!(my_root.reply_to_id, None);

    // Her edit of the reply, her reaction to Bob's reply and her delete of her thread.
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "* works for me too", "m.new_content": {"msgtype": "m.text", "body": "works for me too"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": mine}}),
        )
        .await?;
    alice.react(&portal, &reply_event_id, "👍").await?;
    alice.redact(&portal, &top, None).await?;
    t.teams
        .wait_for_channel(TEAM, CHANNEL, WAIT, |m| {
            m.iter().any(|x| {
                x.id == my_reply.id && x.html.contains("works for me too") && x.edited_ms.is_some()
            }) && m.iter().any(|x| {
                x.id == bob_reply && x.reactions.contains(&("u-alice".into(), "👍".into()))
            }) && m
                .iter()
                .any(|x| x.id == my_root.id && x.deleted_ms.is_some())
        })
        .await?;

    // Bob's edit of his reply, his reaction to the root and his delete of his reply.
    t.teams.edit_channel(
        TEAM,
        CHANNEL,
        &root,
        Some(&bob_reply),
        "<p>after lunch, 14:00</p>",
    );
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "after lunch, 14:00"
                && e["content"]["m.relates_to"]["event_id"] == reply_event_id.as_str()
        })
        .await?;
    t.teams
        .react_channel(TEAM, CHANNEL, &root, None, "u-bob", "like");
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.reaction"
                && e["sender"] == ghost("u-bob").as_str()
                && e["content"]["m.relates_to"]["event_id"] == root_event_id.as_str()
                && e["content"]["m.relates_to"]["key"] == "👍"
        })
        .await?;
    t.teams
        .delete_channel(TEAM, CHANNEL, &root, Some(&bob_reply));
    alice
        .wait_for_event(&portal, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == reply_event_id.as_str()
        })
        .await?;

    // Nothing of Alice's came back as a message of her Teams ghost.
    let echoes = alice
        .messages(&portal)
        .await?
        .iter()
        .filter(|e| e["sender"] == ghost("u-alice").as_str() && e["type"] == "m.room.message")
        .count();
    assert_eq!(
        echoes, 0,
        "Alice's own channel messages are not bridged back"
    );
    assert!(
        t.teams
            .requests()
            .iter()
            .any(|r| r.contains("/messages/delta")),
        "the channel is read with Graph's delta query"
    );
    t.check_conformance()?;
    t.stop().await
}
