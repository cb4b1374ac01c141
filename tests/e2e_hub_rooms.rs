//! Hub rooms (issue 16): one Matrix room linked to a Slack channel and a Rocket.Chat room at
//! once, in one bridge process with a real Synapse and the Slack and Rocket.Chat fakes. A
//! message from any side reaches every other side once, under its author's name; edits,
//! reactions, deletes and thread replies cross between the two platforms through Matrix; a
//! restart loses and doubles nothing.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::hub_sides::{RC, RcSide, SLACK, SlackSide};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::rocketchat_env::ghost as rc_ghost;
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
    rc: RcSide,
    admin: MatrixClient,
    dave: MatrixClient,
    room: String,
}

/// Starts everything, logs the admin in to both platforms, links one room to both chats and
/// turns the relay on; `dave` is a Matrix user with no login anywhere.
async fn hub() -> anyhow::Result<(Hub, aqueduct_testkit::bridge_env::RunningBridge)> {
    hub_with(EnvOptions::default()).await
}

/// As [`hub`], with `options` for the bridge.
async fn hub_with(
    options: EnvOptions,
) -> anyhow::Result<(Hub, aqueduct_testkit::bridge_env::RunningBridge)> {
    let (h, bridge) = hub_running(options, None).await?;
    match bridge {
        Running::InProcess(b) => Ok((h, b)),
        Running::Process(_) => unreachable!("asked for an in-process bridge"),
    }
}

/// A bridge in this process, or (to be killed) in its own.
enum Running {
    InProcess(aqueduct_testkit::bridge_env::RunningBridge),
    Process(tokio::process::Child),
}

/// As [`hub_with`], the bridge run as the process `bin` when given.
async fn hub_running(
    options: EnvOptions,
    bin: Option<&std::path::Path>,
) -> anyhow::Result<(Hub, Running)> {
    let slack = SlackSide::start(&[], WAIT_RESTART).await?;
    let rc = RcSide::start(WAIT_RESTART).await?;
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some([slack.config(), rc.config()].concat()),
        ..options
    })
    .await?;
    let bridge = match bin {
        Some(bin) => Running::Process(env.spawn_process(bin).await?),
        None => Running::InProcess(env.start_in_process().await?),
    };
    let admin = env.user("admin").await?;
    let dave = env.user("dave").await?;
    let mgmt = env.management_room(&admin).await?;
    slack.log_in(&env, &admin, &mgmt).await?;
    rc.log_in(&env, &admin, &mgmt).await?;

    let room = env.hub_room(&admin, &[&dave]).await?;

    env.link(&admin, &room, "slack C1").await?;
    env.command(
        &admin,
        &room,
        "!aq link slack C1",
        "already bridged to slack C1",
    )
    .await?;
    env.link(&admin, &room, "rocketchat GENERAL").await?;
    env.command(
        &admin,
        &room,
        "!aq set-relay",
        "rocketchat: Messages from users",
    )
    .await?;
    Ok((
        Hub {
            env,
            slack,
            rc,
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

    /// How many Matrix messages of the room have exactly this body.
    async fn in_matrix(&self, body: &str) -> anyhow::Result<usize> {
        Ok(self
            .admin
            .messages(&self.room)
            .await?
            .iter()
            .filter(|e| e["type"] == "m.room.message" && e["content"]["body"] == body)
            .count())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_room_bridged_to_slack_and_rocketchat_carries_every_side_to_the_others()
-> anyhow::Result<()> {
    let (h, bridge) = hub().await?;
    let bob = slack_ghost("UBOB");
    let carol = rc_ghost("RCCAROL");

    // Slack -> Matrix (Bob's ghost) and Rocket.Chat (relayed under Bob's name).
    let from_slack = h.slack.post(SLACK, "UBOB", "from slack", None);
    let in_matrix = h
        .matrix_event(|e| e["sender"] == bob.as_str() && e["content"]["body"] == "from slack")
        .await?;
    let slack_event = in_matrix["event_id"].as_str().unwrap().to_owned();
    let on_rc = h.rc.message("from slack").await?;
    assert_eq!(on_rc.user, "RCADMIN", "relayed through the admin's account");
    assert_eq!(on_rc.alias.as_deref(), Some("Bob Slack"), "{on_rc:?}");
    assert_eq!(on_rc.text, "from slack");

    // Rocket.Chat -> Matrix (Carol's ghost) and Slack (relayed under Carol's name).
    let from_rc = h.rc.post(RC, "RCCAROL", "from rocket", None);
    h.matrix_event(|e| e["sender"] == carol.as_str() && e["content"]["body"] == "from rocket")
        .await?;
    let on_slack = h.slack.message("from rocket").await?;
    assert_eq!(
        on_slack.username.as_deref(),
        Some("Carol Rocket"),
        "{on_slack:?}"
    );

    // Matrix (a user with no login) -> both, relayed under their name.
    h.dave.send_text(&h.room, "from matrix").await?;
    let dave_on_slack = h.slack.message("from matrix").await?;
    assert_eq!(dave_on_slack.username.as_deref(), Some("dave"));
    let dave_on_rc = h.rc.message("from matrix").await?;
    assert_eq!(dave_on_rc.alias.as_deref(), Some("dave"));

    // A Slack thread reply lands in the Rocket.Chat thread of the same message.
    h.slack
        .post(SLACK, "UBOB", "slack thread reply", Some(&from_slack));
    let reply = h.rc.message("slack thread reply").await?;
    assert_eq!(reply.tmid.as_deref(), Some(on_rc.id.as_str()), "{reply:?}");

    // An edit on Slack reaches Rocket.Chat.
    h.slack.edit(SLACK, &from_slack, "from slack, edited");
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == on_rc.id && x.text == "from slack, edited")
    })
    .await?;

    // A reaction on Rocket.Chat reaches Slack (the app reacts: Slack knows no Carol), and
    // one on Slack reaches Rocket.Chat.
    h.rc.react(&on_rc.id, "RCCAROL", ":tada:", true);
    h.matrix_event(|e| {
        e["type"] == "m.reaction"
            && e["sender"] == carol.as_str()
            && e["content"]["m.relates_to"]["event_id"] == slack_event.as_str()
    })
    .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == from_slack && x.reactions.iter().any(|(k, _)| k == "tada"))
        })
        .await?;
    h.slack.react(SLACK, &on_slack.ts, "UBOB", "eyes", true);
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == from_rc && x.reactions.contains_key(":eyes:"))
    })
    .await?;

    // A delete on Rocket.Chat reaches Slack, and one on Slack reaches Rocket.Chat.
    h.rc.delete(&from_rc);
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == on_slack.ts && x.deleted)
        })
        .await?;
    let doomed = h.slack.post(SLACK, "UBOB", "slack to delete", None);
    let doomed_on_rc = h.rc.message("slack to delete").await?;
    h.slack.delete(SLACK, &doomed);
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| x.id == doomed_on_rc.id && x.deleted)
    })
    .await?;

    // A restart: what each side says while the bridge is down arrives once everywhere.
    bridge.stop().await?;
    h.slack.post(SLACK, "UBOB", "slack while down", None);
    h.rc.post(RC, "RCCAROL", "rocket while down", None);
    h.dave.send_text(&h.room, "matrix while down").await?;
    let bridge = h.env.start_in_process().await?;
    h.rc.message("slack while down").await?;
    h.slack.message("rocket while down").await?;
    h.rc.message("matrix while down").await?;
    h.slack.message("matrix while down").await?;
    // One more message from each side after the restart, so the checks below see the
    // bridge caught up with everything before it.
    h.slack.post(SLACK, "UBOB", "slack after", None);
    h.rc.post(RC, "RCCAROL", "rocket after", None);
    h.rc.message("slack after").await?;
    h.slack.message("rocket after").await?;
    h.matrix_event(|e| e["content"]["body"] == "rocket after")
        .await?;

    // Echo check: each message exactly once on each side.
    for text in [
        "from slack, edited",
        "slack thread reply",
        "slack while down",
        "slack after",
    ] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.rc.copies(text), 1, "{text} on Rocket.Chat");
    }
    for text in ["rocket while down", "rocket after"] {
        assert_eq!(h.rc.copies(text), 1, "{text} on Rocket.Chat");
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
    }
    for text in ["from matrix", "matrix while down"] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.rc.copies(text), 1, "{text} on Rocket.Chat");
    }
    for body in [
        "from slack",
        "slack thread reply",
        "slack while down",
        "slack after",
        "rocket while down",
        "rocket after",
        "from matrix",
        "matrix while down",
    ] {
        assert_eq!(h.in_matrix(body).await?, 1, "{body} in Matrix");
    }
    // The relays' reactions on each platform did not come back as new reactions: Matrix
    // holds Carol's and Bob's only.
    let mut expected = vec![bob.clone(), carol.clone()];
    expected.sort();
    assert_eq!(
        h.admin.reaction_senders(&h.room).await?,
        expected,
        "reactions in Matrix"
    );
    // The deleted messages stay deleted everywhere (none came back).
    assert_eq!(h.slack.copies("from rocket"), 0);
    assert_eq!(h.rc.copies("slack to delete"), 0);

    // Unlinking one side leaves the other bridged.
    h.env
        .command(
            &h.admin,
            &h.room,
            "!aq unlink rocketchat",
            "no longer bridged",
        )
        .await?;
    h.dave.send_text(&h.room, "after unlink").await?;
    h.slack.message("after unlink").await?;
    assert_eq!(h.rc.copies("after unlink"), 0);
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_actions_files_threads_and_rocketchat_edits_cross_every_side() -> anyhow::Result<()>
{
    let (h, bridge) = hub().await?;
    let bob = slack_ghost("UBOB");

    // A Matrix user's edit, reaction and delete reach both platforms.
    let mine = h.dave.send_text(&h.room, "dave says").await?;
    let on_slack = h.slack.message("dave says").await?;
    let on_rc = h.rc.message("dave says").await?;
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "* dave said", "m.new_content": {"msgtype": "m.text", "body": "dave said"}, "m.relates_to": {"rel_type": "m.replace", "event_id": mine}}))
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == on_slack.ts && x.text.contains("dave said"))
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| x.id == on_rc.id && x.text == "dave said")
    })
    .await?;
    let from_slack = h.slack.post(SLACK, "UBOB", "react to me", None);
    let target = h
        .matrix_event(|e| e["sender"] == bob.as_str() && e["content"]["body"] == "react to me")
        .await?;
    let target_on_rc = h.rc.message("react to me").await?;
    h.dave
        .react(&h.room, target["event_id"].as_str().unwrap(), "👍")
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == from_slack && !x.reactions.is_empty())
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == target_on_rc.id && !x.reactions.is_empty())
    })
    .await?;
    // Carol's reaction on Rocket.Chat reaches Slack (the app's), and taking it back there
    // takes it back on Slack.
    h.rc.react(&target_on_rc.id, "RCCAROL", ":tada:", true);
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == from_slack && x.reactions.iter().any(|(k, _)| k == "tada"))
        })
        .await?;
    h.rc.react(&target_on_rc.id, "RCCAROL", ":tada:", false);
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == from_slack && !x.reactions.iter().any(|(k, _)| k == "tada"))
        })
        .await?;
    h.dave.redact(&h.room, &mine, None).await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == on_slack.ts && x.deleted)
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| x.id == on_rc.id && x.deleted)
    })
    .await?;

    // Rocket.Chat -> Slack: an edit, and a thread reply in the thread of the same message.
    let root = h.rc.post(RC, "RCCAROL", "rocket root", None);
    let root_on_slack = h.slack.message("rocket root").await?;
    h.rc.edit(&root, "rocket root, edited");
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter()
                .any(|x| x.ts == root_on_slack.ts && x.text.contains("rocket root, edited"))
        })
        .await?;
    h.rc.post(RC, "RCCAROL", "rocket thread reply", Some(&root));
    let reply = h.slack.message("rocket thread reply").await?;
    assert_eq!(
        reply.thread_ts.as_deref(),
        Some(root_on_slack.ts.as_str()),
        "{reply:?}"
    );

    // Files both ways between the platforms.
    h.slack.upload_file(
        SLACK,
        "UBOB",
        "slack.txt",
        "text/plain",
        b"from slack".to_vec(),
        "a slack file",
    );
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| {
            x.files
                .iter()
                .any(|f| f.name == "slack.txt" && f.data == b"from slack")
        })
    })
    .await?;
    h.rc.upload_file(
        RC,
        "RCCAROL",
        "rocket.txt",
        "text/plain",
        b"from rocket".to_vec(),
        "a rocket file",
    );
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| {
                x.files
                    .iter()
                    .any(|(name, _, bytes)| name == "rocket.txt" && bytes == b"from rocket")
            })
        })
        .await?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_accounts_double_puppets_replies_and_mentions_cross_every_side() -> anyhow::Result<()> {
    let (h, bridge) = hub_with(EnvOptions {
        double_puppet: true,
        ..EnvOptions::default()
    })
    .await?;
    let bob = slack_ghost("UBOB");
    let admin_id = h.admin.user_id().to_owned();

    // The admin's own Rocket.Chat account writes on Rocket.Chat: in Matrix it is the admin
    // (double puppet), on Slack it is relayed under the admin's name, and it does not come
    // back to Rocket.Chat.
    h.rc.post(RC, "RCADMIN", "admin on rocket", None);
    h.matrix_event(|e| {
        e["sender"] == admin_id.as_str() && e["content"]["body"] == "admin on rocket"
    })
    .await?;
    let relayed = h.slack.message("admin on rocket").await?;
    assert_eq!(relayed.username.as_deref(), Some("admin"), "{relayed:?}");

    // The admin writes in Matrix: on Rocket.Chat as their own account (no alias), on Slack
    // through the app under their name.
    h.admin.send_text(&h.room, "admin on matrix").await?;
    let own = h.rc.message("admin on matrix").await?;
    assert_eq!(own.user, "RCADMIN");
    assert_eq!(own.alias, None, "{own:?}");
    let on_slack = h.slack.message("admin on matrix").await?;
    assert_eq!(on_slack.username.as_deref(), Some("admin"));

    // A Matrix reply to a Slack message: a thread reply on Slack, a quote on Rocket.Chat.
    let target_ts = h.slack.post(SLACK, "UBOB", "reply target", None);
    let target = h
        .matrix_event(|e| e["sender"] == bob.as_str() && e["content"]["body"] == "reply target")
        .await?;
    let target_on_rc = h.rc.message("reply target").await?;
    let target_id = target["event_id"].as_str().unwrap();
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "a reply", "m.relates_to": {"m.in_reply_to": {"event_id": target_id}}}))
        .await?;
    let reply_on_slack = h.slack.message("a reply").await?;
    assert_eq!(
        reply_on_slack.thread_ts.as_deref(),
        Some(target_ts.as_str())
    );
    let reply_on_rc = h.rc.message("a reply").await?;
    assert!(
        reply_on_rc
            .text
            .contains(&format!("msg={}", target_on_rc.id)),
        "{reply_on_rc:?}"
    );

    // A Matrix mention of a Slack user: Slack's own mention there, the name on Rocket.Chat.
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "hi Bob Slack", "format": "org.matrix.custom.html", "formatted_body": format!("hi <a href=\"https://matrix.to/#/{bob}\">Bob Slack</a>"), "m.mentions": {"user_ids": [bob]}}))
        .await?;
    let mention_on_slack = h.slack.message("hi ").await?;
    assert!(
        mention_on_slack.text.contains("<@UBOB>"),
        "{mention_on_slack:?}"
    );
    let mention_on_rc = h.rc.message("hi ").await?;
    assert!(
        mention_on_rc.text.contains("Bob Slack"),
        "{mention_on_rc:?}"
    );

    // A Rocket.Chat quote of the Slack message: a reply in Matrix, a thread reply on Slack.
    h.rc.post(
        RC,
        "RCCAROL",
        &format!(
            "[ ]({}/channel/general?msg={}) quoting bob",
            h.rc.url(),
            target_on_rc.id
        ),
        None,
    );
    h.matrix_event(|e| {
        e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == target_id
            && e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.ends_with("quoting bob"))
    })
    .await?;
    let quote_on_slack = h.slack.message("quoting bob").await?;
    assert_eq!(
        quote_on_slack.thread_ts.as_deref(),
        Some(target_ts.as_str())
    );

    // A Matrix thread message and a Matrix file reach both platforms.
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "matrix in thread", "m.relates_to": {"rel_type": "m.thread", "event_id": target_id, "is_falling_back": true, "m.in_reply_to": {"event_id": target_id}}}))
        .await?;
    let in_thread = h.slack.message("matrix in thread").await?;
    assert_eq!(in_thread.thread_ts.as_deref(), Some(target_ts.as_str()));
    let in_thread = h.rc.message("matrix in thread").await?;
    assert_eq!(in_thread.tmid.as_deref(), Some(target_on_rc.id.as_str()));
    let doc = b"minutes".to_vec();
    let mxc = h
        .dave
        .upload(doc.clone(), "text/plain", "minutes.txt")
        .await?;
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.file", "body": "minutes.txt", "url": mxc, "info": {"mimetype": "text/plain", "size": doc.len()}}))
        .await?;
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| {
                x.files
                    .iter()
                    .any(|(name, _, bytes)| name == "minutes.txt" && bytes == &doc)
            })
        })
        .await?;
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| {
            x.files
                .iter()
                .any(|f| f.name == "minutes.txt" && f.data == doc)
        })
    })
    .await?;

    // Each exactly once on each side.
    for text in ["admin on rocket", "admin on matrix", "a reply"] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.rc.copies(text), 1, "{text} on Rocket.Chat");
        assert_eq!(h.in_matrix(text).await?, 1, "{text} in Matrix");
    }
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_the_matrix_send_and_another_platforms_send_loses_and_doubles_nothing()
-> anyhow::Result<()> {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let (h, bridge) = hub_running(EnvOptions::default(), Some(&bin)).await?;
    let Running::Process(mut bridge) = bridge else {
        unreachable!("asked for a process")
    };
    // The Slack message is in Matrix and its post to Rocket.Chat is carried out, but the
    // answer never comes: the bridge is killed before it knows the post landed.
    h.rc.leave_unanswered("chat.sendMessage");
    h.slack.post(SLACK, "UBOB", "mid fan-out", None);
    h.rc.message("mid fan-out").await?;
    bridge.start_kill()?;
    bridge.wait().await?;
    let mut bridge = h.env.spawn_process(&bin).await?;
    h.slack.post(SLACK, "UBOB", "slack post-kill", None);
    h.rc.message("slack post-kill").await?;
    h.dave.send_text(&h.room, "matrix post-kill").await?;
    h.rc.message("matrix post-kill").await?;
    h.slack.message("matrix post-kill").await?;
    assert_eq!(h.rc.copies("mid fan-out"), 1, "posted once on Rocket.Chat");
    assert_eq!(h.slack.copies("mid fan-out"), 1);
    assert_eq!(h.in_matrix("mid fan-out").await?, 1);
    assert_eq!(h.rc.copies("slack post-kill"), 1);
    assert_eq!(h.rc.copies("matrix post-kill"), 1);
    assert_eq!(h.slack.copies("matrix post-kill"), 1);
    bridge.start_kill()?;
    bridge.wait().await?;
    Ok(())
}
