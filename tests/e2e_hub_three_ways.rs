//! Hub rooms across all three platforms (issue 16): one Matrix room linked at once to a Slack
//! channel, a Rocket.Chat room and a Teams group chat, in one bridge process with a real
//! Synapse and the three fakes. The admin has the Slack app, their own Rocket.Chat account
//! (allowed to impersonate, so relayed messages carry their author's name) and their own Teams
//! account (which relays with the author's name in front); Bob is on Slack, Carol on
//! Rocket.Chat, Tina on Teams and Dave in Matrix without any login.
//!
//! A message from each of the four sides reaches the other three exactly once with its author
//! shown; an edit, a delete and a reaction made on each platform reach the other two platforms
//! and Matrix; nothing the bridge posts comes back, across a restart. Replies, threads, files
//! and mentions between Rocket.Chat and Teams, the pair no two-platform hub test has.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use aqueduct_testkit::fake_teams::NewFile;
use aqueduct_testkit::fake_teams::env::ghost as teams_ghost;
use aqueduct_testkit::hub_sides::{
    CHAT, RC, RcSide, SLACK, SlackSide, TeamsConversation, TeamsSide,
};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::rocketchat_env::ghost as rc_ghost;
use aqueduct_testkit::slack_env::ghost as slack_ghost;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// Synapse backs off its pushes to an appservice that was down; a restart waits that out.
const WAIT_RESTART: Duration = Duration::from_secs(90);

struct Hub {
    env: BridgeEnv,
    // Each platform side below waits `WAIT_RESTART` for a message.
    slack: SlackSide,
    rc: RcSide,
    teams: TeamsSide,
    admin: MatrixClient,
    dave: MatrixClient,
    room: String,
}

/// Starts everything, logs the admin in to the three platforms, links one room to the three
/// chats and turns the relay on for each.
async fn hub() -> anyhow::Result<(Hub, RunningBridge)> {
    let slack = SlackSide::start(&[], WAIT_RESTART).await?;
    let rc = RcSide::start(WAIT_RESTART).await?;
    let teams = TeamsSide::start(TeamsConversation::GroupChat, WAIT_RESTART).await?;
    let env = BridgeEnv::new(EnvOptions {
        double_puppet: true,
        extra_platforms: Some([slack.config(), rc.config(), teams.config()].concat()),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let admin = env.user("admin").await?;
    let dave = env.user("dave").await?;
    let mgmt = env.management_room(&admin).await?;
    slack.log_in(&env, &admin, &mgmt).await?;
    rc.log_in(&env, &admin, &mgmt).await?;
    teams.log_in(&env, &admin, &mgmt).await?;

    let room = env.hub_room(&admin, &[&dave]).await?;
    for chat in [
        "slack C1",
        "rocketchat GENERAL",
        teams.link_target().as_str(),
    ] {
        env.link(&admin, &room, chat).await?;
    }
    let relays = env
        .command(&admin, &room, "!aq set-relay", "teams: Messages from users")
        .await?;
    let relays = relays["content"]["body"].as_str().unwrap_or_default();
    for network in ["slack", "rocketchat", "teams"] {
        assert!(
            relays.contains(&format!("{network}: Messages from users")),
            "{relays}"
        );
    }
    Ok((
        Hub {
            env,
            slack,
            rc,
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

    /// Waits for the Matrix message whose body is `body`; gives its event id.
    async fn matrix_message(&self, sender: &str, body: &str) -> anyhow::Result<String> {
        let event = self
            .admin
            .wait_for_event(&self.room, WAIT_RESTART, |e| {
                e["type"] == "m.room.message"
                    && e["sender"] == sender
                    && e["content"]["body"] == body
            })
            .await?;
        Ok(event["event_id"].as_str().unwrap_or_default().to_owned())
    }

    /// Fails unless each of `texts` is exactly once on each of the four sides.
    async fn each_once_everywhere(&self, texts: &[&str]) -> anyhow::Result<()> {
        for text in texts {
            assert_eq!(self.slack.copies(text), 1, "{text} on Slack");
            assert_eq!(self.rc.copies(text), 1, "{text} on Rocket.Chat");
            assert_eq!(self.teams.copies(text), 1, "{text} on Teams");
            assert_eq!(
                self.admin.messages_containing(&self.room, text).await?,
                1,
                "{text} in Matrix"
            );
        }
        Ok(())
    }

    /// One message from each platform, `<platform> <tag>`, waited for on every side: what
    /// the bridge was doing before is done by then (the per-room order), an echo included.
    async fn round(&self, tag: &str) -> anyhow::Result<[String; 3]> {
        let texts = [
            format!("slack {tag}"),
            format!("rocket {tag}"),
            format!("teams {tag}"),
        ];
        self.slack.post(SLACK, "UBOB", &texts[0], None);
        self.rc.post(RC, "RCCAROL", &texts[1], None);
        self.teams
            .post(CHAT, "u-tina", &format!("<p>{}</p>", texts[2]));
        for text in &texts {
            self.slack.message(text).await?;
            self.rc.message(text).await?;
            self.teams.message(text).await?;
            self.matrix_event(|e| e["content"]["body"] == text.as_str())
                .await?;
        }
        Ok(texts)
    }

    /// How many reactions (people times emoji) each platform's message holds.
    fn slack_reactions(&self, ts: &str) -> usize {
        let msgs = self.slack.messages(SLACK);
        let msg = msgs.iter().find(|m| m.ts == ts);
        msg.map_or(0, |m| {
            m.reactions.iter().map(|(_, users)| users.len()).sum()
        })
    }

    fn rc_reactions(&self, id: &str) -> usize {
        let msgs = self.rc.messages(RC);
        let msg = msgs.iter().find(|m| m.id == id);
        msg.map_or(0, |m| m.reactions.values().map(Vec::len).sum())
    }

    fn teams_reactions(&self, id: &str) -> usize {
        let msgs = self.teams.messages(CHAT);
        msgs.iter()
            .find(|m| m.id == id)
            .map_or(0, |m| m.reactions.len())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_each_of_four_sides_reaches_the_other_three_once_across_a_restart()
-> anyhow::Result<()> {
    let (h, bridge) = hub().await?;

    // Slack: Bob's ghost in Matrix, his name on Rocket.Chat (the alias) and on Teams (in
    // front, through the admin's account).
    h.slack.post(SLACK, "UBOB", "from slack", None);
    h.matrix_message(&slack_ghost("UBOB"), "from slack").await?;
    let on_rc = h.rc.message("from slack").await?;
    assert_eq!(
        (on_rc.user.as_str(), on_rc.alias.as_deref()),
        ("RCADMIN", Some("Bob Slack"))
    );
    let on_teams = h.teams.message("from slack").await?;
    assert_eq!(on_teams.from, "u-admin");
    assert_eq!(on_teams.html, "<strong>Bob Slack</strong>: from slack");

    // Rocket.Chat: Carol's ghost, her name on Slack and on Teams.
    h.rc.post(RC, "RCCAROL", "from rocket", None);
    h.matrix_message(&rc_ghost("RCCAROL"), "from rocket")
        .await?;
    let on_slack = h.slack.message("from rocket").await?;
    assert_eq!(on_slack.username.as_deref(), Some("Carol Rocket"));
    let on_teams = h.teams.message("from rocket").await?;
    assert_eq!(on_teams.html, "<strong>Carol Rocket</strong>: from rocket");

    // Teams: Tina's ghost, her name on Slack and on Rocket.Chat.
    h.teams.post(CHAT, "u-tina", "<p>from teams</p>");
    h.matrix_message(&teams_ghost("u-tina"), "from teams")
        .await?;
    let on_slack = h.slack.message("from teams").await?;
    assert_eq!(on_slack.username.as_deref(), Some("Tina Teams"));
    let on_rc = h.rc.message("from teams").await?;
    assert_eq!(on_rc.alias.as_deref(), Some("Tina Teams"));

    // Matrix, Dave without a login anywhere: his name on all three.
    h.dave.send_text(&h.room, "from matrix").await?;
    let on_slack = h.slack.message("from matrix").await?;
    assert_eq!(on_slack.username.as_deref(), Some("dave"));
    let on_rc = h.rc.message("from matrix").await?;
    assert_eq!(on_rc.alias.as_deref(), Some("dave"));
    let on_teams = h.teams.message("from matrix").await?;
    assert_eq!(on_teams.html, "<strong>dave</strong>: from matrix");

    // A restart: what each side says while the bridge is down arrives once everywhere.
    bridge.stop().await?;
    h.slack.post(SLACK, "UBOB", "slack while down", None);
    h.rc.post(RC, "RCCAROL", "rocket while down", None);
    h.teams.post(CHAT, "u-tina", "<p>teams while down</p>");
    h.dave.send_text(&h.room, "matrix while down").await?;
    let bridge = h.env.start_in_process().await?;
    h.rc.message("slack while down").await?;
    h.teams.message("slack while down").await?;
    h.slack.message("rocket while down").await?;
    h.teams.message("rocket while down").await?;
    h.slack.message("teams while down").await?;
    h.rc.message("teams while down").await?;
    h.slack.message("matrix while down").await?;
    h.rc.message("matrix while down").await?;
    h.teams.message("matrix while down").await?;

    // One more from each platform, so the counts below see the bridge caught up with
    // everything before (an echo of an earlier post included).
    let after = h.round("after").await?;

    h.each_once_everywhere(&[
        "from slack",
        "from rocket",
        "from teams",
        "from matrix",
        "slack while down",
        "rocket while down",
        "teams while down",
        "matrix while down",
    ])
    .await?;
    h.each_once_everywhere(&after.each_ref().map(String::as_str))
        .await?;
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_reactions_on_each_platform_reach_the_two_others_and_matrix()
-> anyhow::Result<()> {
    let (h, bridge) = hub().await?;
    let (bob, carol, tina) = (
        slack_ghost("UBOB"),
        rc_ghost("RCCAROL"),
        teams_ghost("u-tina"),
    );

    // One message from each platform, on every side.
    let bob_ts = h.slack.post(SLACK, "UBOB", "bob says", None);
    let carol_id = h.rc.post(RC, "RCCAROL", "carol says", None);
    let tina_id = h.teams.post(CHAT, "u-tina", "<p>tina says</p>");
    let bob_event = h.matrix_message(&bob, "bob says").await?;
    let carol_event = h.matrix_message(&carol, "carol says").await?;
    let tina_event = h.matrix_message(&tina, "tina says").await?;
    let bob_on_rc = h.rc.message("bob says").await?.id;
    let bob_on_teams = h.teams.message("bob says").await?.id;
    let carol_on_slack = h.slack.message("carol says").await?.ts;
    let carol_on_teams = h.teams.message("carol says").await?.id;
    let tina_on_slack = h.slack.message("tina says").await?.ts;
    let tina_on_rc = h.rc.message("tina says").await?.id;

    // The rest goes through the mappings the bridge kept across a restart.
    bridge.stop().await?;
    let bridge = h.env.start_in_process().await?;

    // Edits: Bob's on Slack, Carol's on Rocket.Chat, Tina's on Teams.
    h.slack.edit(SLACK, &bob_ts, "bob said");
    h.rc.edit(&carol_id, "carol said");
    h.teams.edit(CHAT, &tina_id, "<p>tina said</p>");
    for (event, text) in [
        (&bob_event, "bob said"),
        (&carol_event, "carol said"),
        (&tina_event, "tina said"),
    ] {
        h.matrix_event(|e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == event.as_str()
                && e["content"]["m.new_content"]["body"] == text
        })
        .await?;
    }
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == bob_on_rc && x.text == "bob said" && x.edited_at.is_some())
    })
    .await?;
    h.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| {
                x.id == bob_on_teams
                    && x.html == "<strong>Bob Slack</strong>: bob said"
                    && x.edited_ms.is_some()
            })
        })
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == carol_on_slack && x.text.contains("carol said"))
        })
        .await?;
    h.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| {
                x.id == carol_on_teams
                    && x.html == "<strong>Carol Rocket</strong>: carol said"
                    && x.edited_ms.is_some()
            })
        })
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == tina_on_slack && x.text.contains("tina said"))
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == tina_on_rc && x.text.contains("tina said"))
    })
    .await?;

    // Reactions: Bob on Slack to Carol's message, Carol on Rocket.Chat to Tina's, Tina on
    // Teams to Bob's. Each reaches Matrix as its author's ghost and the two other platforms
    // as the relay's reaction on their copy (or on the original).
    h.slack.react(SLACK, &carol_on_slack, "UBOB", "eyes", true);
    h.rc.react(&tina_on_rc, "RCCAROL", ":tada:", true);
    h.teams.react(CHAT, &bob_on_teams, "u-tina", "like");
    for (sender, event) in [
        (&bob, &carol_event),
        (&carol, &tina_event),
        (&tina, &bob_event),
    ] {
        h.matrix_event(|e| {
            e["type"] == "m.reaction"
                && e["sender"] == sender.as_str()
                && e["content"]["m.relates_to"]["event_id"] == event.as_str()
        })
        .await?;
    }
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == carol_id && x.reactions.contains_key(":eyes:"))
    })
    .await?;
    h.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| {
                x.id == carol_on_teams
                    && x.reactions.iter().any(|(u, r)| u == "u-admin" && r == "👀")
            })
        })
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == tina_on_slack && x.reactions.iter().any(|(k, _)| k == "tada"))
        })
        .await?;
    h.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| {
                x.id == tina_id && x.reactions.iter().any(|(u, r)| u == "u-admin" && r == "🎉")
            })
        })
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == bob_ts && x.reactions.iter().any(|(k, _)| k == "+1"))
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == bob_on_rc && x.reactions.contains_key(":+1:"))
    })
    .await?;

    // Once the bridge is past them, each message holds one reaction on each side: the
    // relays' reactions did not come back as reactions of their own.
    h.round("reacted").await?;
    for (platform, count) in [
        ("Bob's on Slack", h.slack_reactions(&bob_ts)),
        ("Bob's on Rocket.Chat", h.rc_reactions(&bob_on_rc)),
        ("Bob's on Teams", h.teams_reactions(&bob_on_teams)),
        ("Carol's on Slack", h.slack_reactions(&carol_on_slack)),
        ("Carol's on Rocket.Chat", h.rc_reactions(&carol_id)),
        ("Carol's on Teams", h.teams_reactions(&carol_on_teams)),
        ("Tina's on Slack", h.slack_reactions(&tina_on_slack)),
        ("Tina's on Rocket.Chat", h.rc_reactions(&tina_on_rc)),
        ("Tina's on Teams", h.teams_reactions(&tina_id)),
    ] {
        assert_eq!(count, 1, "reactions of {platform}");
    }
    let mut expected = vec![bob, carol, tina];
    expected.sort();
    assert_eq!(
        h.admin.reaction_senders(&h.room).await?,
        expected,
        "reactions in Matrix"
    );

    // Deletes: Bob's on Slack, Carol's on Rocket.Chat, Tina's on Teams.
    h.slack.delete(SLACK, &bob_ts);
    h.rc.delete(&carol_id);
    h.teams.delete(CHAT, &tina_id);
    for event in [&bob_event, &carol_event, &tina_event] {
        h.matrix_event(|e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == event.as_str() || e["content"]["redacts"] == event.as_str())
        })
        .await?;
    }
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| x.id == bob_on_rc && x.deleted)
    })
    .await?;
    h.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter()
                .any(|x| x.id == bob_on_teams && x.deleted_ms.is_some())
        })
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == carol_on_slack && x.deleted)
        })
        .await?;
    h.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter()
                .any(|x| x.id == carol_on_teams && x.deleted_ms.is_some())
        })
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == tina_on_slack && x.deleted)
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| x.id == tina_on_rc && x.deleted)
    })
    .await?;

    // Nothing came back: once one more message from each platform has crossed, the deleted
    // ones are gone from every platform, and each new one is there once.
    let last = h.round("last").await?;
    h.each_once_everywhere(&last.each_ref().map(String::as_str))
        .await?;
    for text in ["said", "says"] {
        assert_eq!(h.slack.copies(text), 0, "{text} on Slack after the deletes");
        assert_eq!(
            h.rc.copies(text),
            0,
            "{text} on Rocket.Chat after the deletes"
        );
        assert_eq!(h.teams.copies(text), 0, "{text} on Teams after the deletes");
    }
    assert_eq!(
        h.admin.reaction_senders(&h.room).await?,
        expected,
        "reactions in Matrix"
    );
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_threads_files_and_mentions_cross_between_rocketchat_and_teams()
-> anyhow::Result<()> {
    let (h, bridge) = hub().await?;
    let tina_id = h.teams.post(CHAT, "u-tina", "<p>tina asks</p>");
    let tina_on_rc = h.rc.message("tina asks").await?.id;
    let tina_on_slack = h.slack.message("tina asks").await?.ts;
    let carol_id = h.rc.post(RC, "RCCAROL", "carol asks", None);
    let carol_on_teams = h.teams.message("carol asks").await?.id;
    let carol_on_slack = h.slack.message("carol asks").await?.ts;

    // A Rocket.Chat thread reply to Tina's message: a quote of hers on Teams (a group chat
    // has no threads), a thread reply to hers on Slack.
    h.rc.post(RC, "RCCAROL", "carol answers", Some(&tina_on_rc));
    let answer = h.teams.message("carol answers").await?;
    assert!(
        answer
            .attachments
            .iter()
            .any(|a| a["contentType"] == "messageReference" && a["id"] == tina_id.as_str()),
        "a quote of Tina's message: {answer:?}"
    );
    let answer = h.slack.message("carol answers").await?;
    assert_eq!(answer.thread_ts.as_deref(), Some(tina_on_slack.as_str()));

    // A Teams quote of Carol's message: a quote of hers on Rocket.Chat, a thread reply on
    // Slack.
    h.teams
        .post_quote(CHAT, "u-tina", &carol_on_teams, "<p>tina quotes carol</p>");
    let quote = h.rc.message("tina quotes carol").await?;
    assert!(
        quote.text.contains(&format!("msg={carol_id}")),
        "a quote of Carol's message: {quote:?}"
    );
    let quote = h.slack.message("tina quotes carol").await?;
    assert_eq!(quote.thread_ts.as_deref(), Some(carol_on_slack.as_str()));

    // Files: Carol's from Rocket.Chat is uploaded to Teams by the relay, Tina's from Teams
    // reaches Rocket.Chat, each with its bytes.
    let notes = b"rocket notes".to_vec();
    h.rc.upload_file(
        RC,
        "RCCAROL",
        "notes.txt",
        "text/plain",
        notes.clone(),
        "the notes",
    );
    h.teams
        .wait_for(CHAT, WAIT, |m| {
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
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| {
            x.files
                .iter()
                .any(|f| f.name == "plan.txt" && f.data == plan)
        })
    })
    .await?;

    // Mentions: the admin is one person with an account on each platform, so a Rocket.Chat
    // mention of them is Teams' mention of their Teams account, and the other way round;
    // Carol, whom Teams does not know, is her name there.
    h.rc.post(RC, "RCCAROL", "ask @admin and @carol too", None);
    let ask = h.teams.message("too").await?;
    assert!(
        ask.mentions
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x["mentioned"]["user"]["id"] == "u-admin")),
        "{ask:?}"
    );
    assert!(ask.html.contains("Carol Rocket"), "{}", ask.html);
    for id in ["RCCAROL", "RCADMIN", "matrix.to"] {
        assert!(!ask.html.contains(id), "{}", ask.html);
    }
    h.teams.post_mentioning(
        CHAT,
        "u-tina",
        "<p>note to <at id=\"0\">Admin Teams</at> and <at id=\"1\">Tina Teams</at></p>",
        &[("u-admin", "Admin Teams"), ("u-tina", "Tina Teams")],
    );
    let note = h.rc.message("note to").await?;
    assert!(
        note.text.contains("@admin") && note.text.contains("Tina Teams"),
        "{note:?}"
    );
    assert!(
        !note.text.contains("u-tina") && !note.text.contains("u-admin"),
        "{note:?}"
    );

    let note = h.slack.message("note to").await?;
    assert!(note.text.contains("Tina Teams"), "{note:?}");
    assert!(
        !note.text.contains("u-tina") && !note.text.contains("u-admin"),
        "{note:?}"
    );

    // Each once on every platform.
    for text in [
        "carol answers",
        "tina quotes carol",
        "the notes",
        "the plan",
        "too",
        "note to",
    ] {
        h.slack.message(text).await?;
        h.rc.message(text).await?;
        h.teams.message(text).await?;
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.rc.copies(text), 1, "{text} on Rocket.Chat");
        assert_eq!(h.teams.copies(text), 1, "{text} on Teams");
    }
    h.teams.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
