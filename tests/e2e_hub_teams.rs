//! Hub rooms with a Teams side (issue 16): one Matrix room linked to a Slack channel and a
//! Teams group chat (or a team channel) at once, in one bridge process with a real Synapse and
//! the Slack and Teams fakes. The admin has a Slack app login and their own Teams account,
//! which also relays into Teams for people without one (their name in front, as Graph cannot
//! post under another name); Dave is a Matrix user with no login anywhere.
//!
//! Each message reaches every other side exactly once with its author shown; edits, deletes,
//! reactions, replies, files and mentions cross Slack <-> Teams and Matrix <-> Teams; what
//! the bridge posts into Teams does not come back as a new message; a restart loses and
//! doubles nothing.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use aqueduct_testkit::fake_teams::env::ghost as teams_ghost;
use aqueduct_testkit::fake_teams::{FakeTeams, NewFile};
use aqueduct_testkit::hub_sides::{
    CHANNEL, CHAT, SLACK, SlackSide, TEAM, TeamsConversation, TeamsSide,
};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::slack_env::ghost as slack_ghost;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// Synapse backs off its pushes to an appservice that was down; a restart waits that out.
const WAIT_RESTART: Duration = Duration::from_secs(90);

struct Hub {
    env: BridgeEnv,
    // Each platform side below waits `WAIT_RESTART` for a message.
    slack: SlackSide,
    teams: TeamsSide,
    admin: MatrixClient,
    dave: MatrixClient,
    room: String,
}

/// Starts everything, signs the admin in to Slack (the app) and Teams (as `u-admin`), links
/// one room to the Slack channel and the Teams conversation and turns the relay on.
async fn hub(conversation: TeamsConversation) -> anyhow::Result<(Hub, RunningBridge)> {
    let slack = SlackSide::start(&[], WAIT_RESTART).await?;
    let teams = TeamsSide::start(conversation, WAIT_RESTART).await?;
    let env = BridgeEnv::new(EnvOptions {
        double_puppet: true,
        extra_platforms: Some([slack.config(), teams.config()].concat()),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let admin = env.user("admin").await?;
    let dave = env.user("dave").await?;
    let mgmt = env.management_room(&admin).await?;
    slack.log_in(&env, &admin, &mgmt).await?;
    teams.log_in(&env, &admin, &mgmt).await?;

    let room = env.hub_room(&admin, &[&dave]).await?;
    env.link(&admin, &room, "slack C1").await?;
    env.link(&admin, &room, &teams.link_target()).await?;
    env.command(&admin, &room, "!aq set-relay", "teams: Messages from users")
        .await?;
    Ok((
        Hub {
            env,
            slack,
            teams,
            admin,
            dave,
            room,
        },
        bridge,
    ))
}

impl Hub {
    async fn matrix_event(&self, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        self.admin.wait_for_event(&self.room, WAIT, pred).await
    }

    /// How many Matrix messages of the room (edits aside) have a body containing `text`.
    async fn in_matrix(&self, text: &str) -> anyhow::Result<usize> {
        self.admin.messages_containing(&self.room, text).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_teams_and_matrix_messages_reach_every_other_side_once_across_a_restart()
-> anyhow::Result<()> {
    let (h, bridge) = hub(TeamsConversation::GroupChat).await?;
    let admin_id = h.admin.user_id().to_owned();

    // Slack -> Matrix (Bob's ghost) and Teams (through the relay, Bob's name in front).
    h.slack.post(SLACK, "UBOB", "from slack", None);
    h.matrix_event(|e| {
        e["sender"] == slack_ghost("UBOB").as_str() && e["content"]["body"] == "from slack"
    })
    .await?;
    let on_teams = h.teams.message("from slack").await?;
    assert_eq!(
        on_teams.from, "u-admin",
        "relayed through the admin's account"
    );
    assert_eq!(on_teams.html, "<strong>Bob Slack</strong>: from slack");

    // Teams -> Matrix (Tina's ghost) and Slack (under Tina's name).
    h.teams.post_as("u-tina", "<p>from teams</p>");
    h.matrix_event(|e| {
        e["sender"] == teams_ghost("u-tina").as_str() && e["content"]["body"] == "from teams"
    })
    .await?;
    let on_slack = h.slack.message("from teams").await?;
    assert_eq!(
        on_slack.username.as_deref(),
        Some("Tina Teams"),
        "{on_slack:?}"
    );

    // Matrix, someone without a Teams login -> relayed into Teams, named on Slack.
    h.dave.send_text(&h.room, "from matrix").await?;
    let dave_on_teams = h.teams.message("from matrix").await?;
    assert_eq!(dave_on_teams.from, "u-admin");
    assert_eq!(dave_on_teams.html, "<strong>dave</strong>: from matrix");
    let dave_on_slack = h.slack.message("from matrix").await?;
    assert_eq!(dave_on_slack.username.as_deref(), Some("dave"));

    // Matrix, someone with a Teams login -> their own Teams account, nothing in front.
    h.admin.send_text(&h.room, "admin on matrix").await?;
    let own = h.teams.message("admin on matrix").await?;
    assert_eq!(own.from, "u-admin");
    assert!(!own.html.contains("<strong>"), "{}", own.html);
    h.slack.message("admin on matrix").await?;

    // The admin's own Teams account writing on Teams: the admin in Matrix (double puppet),
    // named on Slack.
    h.teams.post_as("u-admin", "<p>admin on teams</p>");
    h.matrix_event(|e| {
        e["sender"] == admin_id.as_str() && e["content"]["body"] == "admin on teams"
    })
    .await?;
    let relayed = h.slack.message("admin on teams").await?;
    assert_eq!(relayed.username.as_deref(), Some("admin"), "{relayed:?}");

    // A restart: what each side says while the bridge is down arrives once everywhere.
    bridge.stop().await?;
    h.slack.post(SLACK, "UBOB", "slack while down", None);
    h.teams.post_as("u-tina", "<p>teams while down</p>");
    h.dave.send_text(&h.room, "matrix while down").await?;
    let bridge = h.env.start_in_process().await?;
    h.teams.message("slack while down").await?;
    h.slack.message("teams while down").await?;
    h.teams.message("matrix while down").await?;
    h.slack.message("matrix while down").await?;
    // One more from each side, so the counts below see the bridge caught up.
    h.slack.post(SLACK, "UBOB", "slack after", None);
    h.teams.post_as("u-tina", "<p>teams after</p>");
    h.teams.message("slack after").await?;
    h.slack.message("teams after").await?;
    h.matrix_event(|e| e["content"]["body"] == "slack after")
        .await?;
    h.matrix_event(|e| e["content"]["body"] == "teams after")
        .await?;

    // Echo check: each message exactly once on each side, and nothing the bridge posted
    // into Teams came back into Matrix as a new message.
    for text in [
        "from slack",
        "from teams",
        "from matrix",
        "admin on matrix",
        "admin on teams",
        "slack while down",
        "teams while down",
        "matrix while down",
        "slack after",
        "teams after",
    ] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.teams.copies(text), 1, "{text} on Teams");
        assert_eq!(h.in_matrix(text).await?, 1, "{text} in Matrix");
    }
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_reactions_and_replies_cross_between_slack_matrix_and_teams()
-> anyhow::Result<()> {
    let (h, bridge) = hub(TeamsConversation::GroupChat).await?;

    // Slack -> Teams: an edit of Bob's message keeps his name in front; a reaction to it is
    // the relay's; a delete deletes the relayed copy.
    let bob_ts = h.slack.post(SLACK, "UBOB", "bob says", None);
    let bob_event = h
        .matrix_event(|e| e["content"]["body"] == "bob says")
        .await?;
    let bob_event = bob_event["event_id"].as_str().unwrap().to_owned();
    let bob_on_teams = h.teams.message("bob says").await?;
    h.slack.edit(SLACK, &bob_ts, "bob said");
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter().any(|x| {
                x.id == bob_on_teams.id
                    && x.html == "<strong>Bob Slack</strong>: bob said"
                    && x.edited_ms.is_some()
            })
        })
        .await?;

    // Teams -> Slack: Tina's edit, reaction, and delete.
    let tina_id = h.teams.post_as("u-tina", "<p>tina says</p>");
    let tina_event = h
        .matrix_event(|e| e["content"]["body"] == "tina says")
        .await?;
    let tina_event = tina_event["event_id"].as_str().unwrap().to_owned();
    let tina_on_slack = h.slack.message("tina says").await?;
    h.teams.edit(CHAT, &tina_id, "<p>tina said</p>");
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == tina_on_slack.ts && x.text.contains("tina said"))
        })
        .await?;
    h.teams.react(CHAT, &bob_on_teams.id, "u-tina", "like");
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == bob_ts && !x.reactions.is_empty())
        })
        .await?;
    h.slack
        .react(SLACK, &tina_on_slack.ts, "UBOB", "eyes", true);
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter()
                .any(|x| x.id == tina_id && x.reactions.iter().any(|(u, _)| u == "u-admin"))
        })
        .await?;

    // Matrix -> Teams: Dave's reaction, reply, edit and delete.
    h.dave.react(&h.room, &tina_event, "🎉").await?;
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter().any(|x| {
                x.id == tina_id && x.reactions.iter().any(|(u, r)| u == "u-admin" && r == "🎉")
            })
        })
        .await?;
    let reply = h
        .dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "dave replies", "m.relates_to": {"m.in_reply_to": {"event_id": tina_event}}}))
        .await?;
    let reply_on_teams = h.teams.message("dave replies").await?;
    assert!(
        reply_on_teams
            .attachments
            .iter()
            .any(|a| a["contentType"] == "messageReference" && a["id"] == tina_id.as_str()),
        "a quote of Tina's message: {reply_on_teams:?}"
    );
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "* dave replied", "m.new_content": {"msgtype": "m.text", "body": "dave replied"}, "m.relates_to": {"rel_type": "m.replace", "event_id": reply}}))
        .await?;
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter()
                .any(|x| x.id == reply_on_teams.id && x.html.contains("dave replied"))
        })
        .await?;
    h.dave.redact(&h.room, &reply, None).await?;
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter()
                .any(|x| x.id == reply_on_teams.id && x.deleted_ms.is_some())
        })
        .await?;

    // Replies: a Teams quote of Bob's relayed message is a Slack thread reply to Bob's; a
    // Slack thread reply to Tina's message quotes Tina's message on Teams.
    h.teams
        .post_quote(CHAT, "u-tina", &bob_on_teams.id, "<p>quoting bob</p>");
    h.matrix_event(|e| {
        e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == bob_event.as_str()
    })
    .await?;
    let quote_on_slack = h.slack.message("quoting bob").await?;
    assert_eq!(quote_on_slack.thread_ts.as_deref(), Some(bob_ts.as_str()));
    h.slack.post(
        SLACK,
        "UBOB",
        "bob in tina's thread",
        Some(&tina_on_slack.ts),
    );
    let threaded = h.teams.message("bob in tina").await?;
    assert!(
        threaded
            .attachments
            .iter()
            .any(|a| a["contentType"] == "messageReference" && a["id"] == tina_id.as_str()),
        "a quote of Tina's message: {threaded:?}"
    );

    // Deletes both ways.
    h.teams.delete(CHAT, &tina_id);
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == tina_on_slack.ts && x.deleted)
        })
        .await?;
    h.slack.delete(SLACK, &bob_ts);
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter()
                .any(|x| x.id == bob_on_teams.id && x.deleted_ms.is_some())
        })
        .await?;

    // Nothing came back: Matrix holds Tina's and Bob's reactions and Dave's, none of the
    // relay's, and each message once.
    let reactions = h.admin.reaction_senders(&h.room).await?;
    let mut expected = vec![
        teams_ghost("u-tina"),
        slack_ghost("UBOB"),
        h.dave.user_id().to_owned(),
    ];
    expected.sort();
    assert_eq!(reactions, expected, "reactions in Matrix");
    for text in ["quoting bob", "bob in tina"] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.teams.copies(text), 1, "{text} on Teams");
        assert_eq!(h.in_matrix(text).await?, 1, "{text} in Matrix");
    }
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_mentions_cross_between_slack_matrix_and_teams() -> anyhow::Result<()> {
    let (h, bridge) = hub(TeamsConversation::GroupChat).await?;

    // Slack file -> Teams, uploaded by the relay and attached by reference.
    let notes = b"slack notes".to_vec();
    h.slack.upload_file(
        SLACK,
        "UBOB",
        "notes.txt",
        "text/plain",
        notes.clone(),
        "the notes",
    );
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter().any(|x| {
                x.attachments
                    .iter()
                    .any(|a| a["contentType"] == "reference" && a["name"] == "notes.txt")
            })
        })
        .await?;
    assert!(
        h.teams
            .files()
            .iter()
            .any(|f| f.name == "notes.txt" && f.data == notes),
        "the file's bytes on Teams"
    );

    // Teams file -> Slack.
    let plan = b"teams plan".to_vec();
    h.teams.post_file(
        CHAT,
        "u-tina",
        "<p>the plan</p>",
        NewFile {
            name: "plan.txt",
            mime: "text/plain",
            data: plan.clone(),
        },
    );
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| {
                x.files
                    .iter()
                    .any(|(name, _, bytes)| name == "plan.txt" && bytes == &plan)
            })
        })
        .await?;

    // Matrix file -> Teams.
    let minutes = b"minutes".to_vec();
    let mxc = h
        .dave
        .upload(minutes.clone(), "text/plain", "minutes.txt")
        .await?;
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.file", "body": "minutes.txt", "url": mxc, "info": {"mimetype": "text/plain", "size": minutes.len()}}))
        .await?;
    h.teams
        .wait_for_conversation(WAIT, |m| {
            m.iter().any(|x| {
                x.attachments
                    .iter()
                    .any(|a| a["contentType"] == "reference" && a["name"] == "minutes.txt")
            })
        })
        .await?;

    // Mentions: a Matrix mention of Bob's Slack ghost reaches Teams as his name (Teams has
    // no Bob), neither a link to his ghost nor his Slack id.
    let bob = slack_ghost("UBOB");
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "ping Bob Slack", "format": "org.matrix.custom.html", "formatted_body": format!("ping <a href=\"https://matrix.to/#/{bob}\">Bob Slack</a>"), "m.mentions": {"user_ids": [bob]}}))
        .await?;
    let ping = h.teams.message("ping").await?;
    assert_eq!(ping.html, "<strong>dave</strong>: ping Bob Slack");
    assert_eq!(ping.mentions, json!([]), "Teams has no Bob to mention");
    let ping_on_slack = h.slack.message("ping").await?;
    assert!(ping_on_slack.text.contains("<@UBOB>"), "{ping_on_slack:?}");
    // A Slack mention of Bob reaches Teams as his name too, never his Slack id.
    h.slack.post(SLACK, "UBOB", "cc <@UBOB> from slack", None);
    let cc = h.teams.message("cc ").await?;
    assert!(
        cc.html.contains(": cc ") && cc.html.contains("Bob Slack from slack"),
        "{}",
        cc.html
    );
    assert!(
        !cc.html.contains("UBOB") && !cc.html.contains("matrix.to"),
        "{}",
        cc.html
    );
    // A Matrix mention of Tina's ghost is Teams' own mention of Tina.
    let tina = teams_ghost("u-tina");
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "hi Tina Teams", "format": "org.matrix.custom.html", "formatted_body": format!("hi <a href=\"https://matrix.to/#/{tina}\">Tina Teams</a>"), "m.mentions": {"user_ids": [tina]}}))
        .await?;
    let hi = h.teams.message("hi ").await?;
    assert!(
        hi.html.contains("<at id=\"0\">Tina Teams</at>"),
        "{}",
        hi.html
    );
    assert_eq!(hi.mentions[0]["mentioned"]["user"]["id"], "u-tina");
    let hi_on_slack = h.slack.message("hi ").await?;
    assert!(hi_on_slack.text.contains("Tina Teams"), "{hi_on_slack:?}");
    assert!(!hi_on_slack.text.contains("u-tina"), "{hi_on_slack:?}");
    // A Teams mention of Tina reaches Slack as her name.
    h.teams.post_mentioning(
        CHAT,
        "u-tina",
        "<p>note to <at id=\"0\">Tina Teams</at></p>",
        &[("u-tina", "Tina Teams")],
    );
    let note = h.slack.message("note to").await?;
    assert!(note.text.contains("Tina Teams"), "{note:?}");
    assert!(!note.text.contains("u-tina"), "{note:?}");

    for text in ["the notes", "the plan", "ping", "cc ", "hi ", "note to"] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.teams.copies(text), 1, "{text} on Teams");
    }
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_channel_in_a_hub_carries_threads_to_slack_and_back() -> anyhow::Result<()> {
    let (h, bridge) = hub(TeamsConversation::Channel).await?;

    // A Teams thread and a reply in it: a Slack message and a Slack thread reply.
    let root = h.teams.post_as("u-tina", "<p>channel root</p>");
    let root_on_slack = h.slack.message("channel root").await?;
    h.teams
        .reply_channel(TEAM, CHANNEL, &root, "u-tina", "<p>channel reply</p>");
    let reply_on_slack = h.slack.message("channel reply").await?;
    assert_eq!(
        reply_on_slack.thread_ts.as_deref(),
        Some(root_on_slack.ts.as_str())
    );

    // A Slack message and a thread reply to it: a Teams thread and a reply in it.
    let slack_root = h.slack.post(SLACK, "UBOB", "slack root", None);
    let slack_root_on_teams = h.teams.message("slack root").await?;
    assert_eq!(slack_root_on_teams.reply_to_id, None);
    h.slack
        .post(SLACK, "UBOB", "slack reply", Some(&slack_root));
    let slack_reply_on_teams = h.teams.message("slack reply").await?;
    assert_eq!(
        slack_reply_on_teams.reply_to_id.as_deref(),
        Some(slack_root_on_teams.id.as_str())
    );
    assert_eq!(slack_reply_on_teams.from, "u-admin");
    // A Slack reply in the Teams thread is a reply in that thread.
    h.slack.post(
        SLACK,
        "UBOB",
        "slack in the teams thread",
        Some(&root_on_slack.ts),
    );
    let in_thread = h.teams.message("slack in the teams thread").await?;
    assert_eq!(in_thread.reply_to_id.as_deref(), Some(root.as_str()));

    // A Matrix message from Dave, and the edit of a Teams reply.
    h.dave.send_text(&h.room, "dave in channel").await?;
    h.teams.message("dave in channel").await?;
    h.slack.message("dave in channel").await?;
    h.teams
        .edit_channel(TEAM, CHANNEL, &root, None, "<p>channel root, edited</p>");
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == root_on_slack.ts && x.text.contains("channel root, edited"))
        })
        .await?;

    // Each once on each side: the relay's posts (as the admin) did not come back through
    // the channel's delta query as new messages.
    h.teams.post_as("u-tina", "<p>last one</p>");
    h.slack.message("last one").await?;
    for text in [
        "channel root",
        "channel reply",
        "slack root",
        "slack reply",
        "slack in the teams thread",
        "dave in channel",
        "last one",
    ] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.teams.copies(text), 1, "{text} on Teams");
        assert_eq!(h.in_matrix(text).await?, 1, "{text} in Matrix");
    }

    // Unlinking Teams leaves Slack bridged and ends the channel's watch: no delta query for
    // it from then on, so what is said there stays on Teams.
    h.env
        .command(&h.admin, &h.room, "!aq unlink teams", "no longer bridged")
        .await?;
    // A polling round may be under way at the unlink; the second round listing the chats
    // after it began afterwards.
    wait_for_rounds(&h.teams, 2).await?;
    let deltas = delta_queries(&h.teams);
    h.teams.post_as("u-tina", "<p>after the unlink</p>");
    wait_for_rounds(&h.teams, 3).await?;
    assert_eq!(
        delta_queries(&h.teams),
        deltas,
        "no delta query after the unlink"
    );
    h.dave.send_text(&h.room, "slack only now").await?;
    h.slack.message("slack only now").await?;
    assert_eq!(h.teams.copies("slack only now"), 0);
    assert_eq!(h.in_matrix("after the unlink").await?, 0);
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

/// The channel's delta queries so far.
fn delta_queries(teams: &FakeTeams) -> usize {
    let wanted = format!("GET /teams/{TEAM}/channels/{CHANNEL}/messages/delta");
    teams.requests().iter().filter(|r| **r == wanted).count()
}

/// Waits until the Teams login has begun `n` more polling rounds (each lists the chats).
async fn wait_for_rounds(teams: &FakeTeams, n: usize) -> anyhow::Result<()> {
    let rounds = |requests: &[String]| requests.iter().filter(|r| *r == "GET /me/chats").count();
    let target = rounds(&teams.requests()) + n;
    teams
        .wait_for_requests(WAIT, |requests| rounds(requests) >= target)
        .await
        .map_err(|e| anyhow::anyhow!("no polling round: {e}"))
}
