//! The Slack connector end to end: a real Synapse, the bridge, and the fake Slack speaking
//! the Web API and Socket Mode. Every request the connector makes is checked against Slack's
//! published OpenAPI description.

use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_messages_edits_reactions_threads_and_deletes_cross_both_ways() -> anyhow::Result<()>
{
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let bob = ghost("UBOB");

    let first = s.slack.post("C1", "UBOB", "hello *world* &lt;3", None);
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
    // The plain body keeps mrkdwn's markers; the HTML carries the formatting.
    assert_eq!(hello["content"]["body"], "hello *world* <3");
    assert!(
        hello["content"]["formatted_body"]
            .as_str()
            .unwrap()
            .contains("<strong>world</strong>")
    );
    assert_eq!(
        s.alice.profile_displayname(&bob).await?.as_deref(),
        Some("Bob Slack")
    );
    let hello_id = hello["event_id"].as_str().unwrap().to_owned();

    // Matrix -> Slack: formatting as mrkdwn, the author's name shown by the app.
    let mine = s
        .alice
        .send_html(&room, "hi slack", "hi <strong>slack</strong>")
        .await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "hi *slack*"))
        .await?;
    let sent = msgs
        .iter()
        .find(|x| x.text == "hi *slack*")
        .unwrap()
        .clone();
    assert_eq!(sent.username.as_deref(), Some("alice"));

    // Edits both ways.
    s.alice
        .send(&room, "m.room.message", json!({"msgtype": "m.text", "body": "* hi again", "m.new_content": {"msgtype": "m.text", "body": "hi again"}, "m.relates_to": {"rel_type": "m.replace", "event_id": mine}}))
        .await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.ts == sent.ts && x.text == "hi again")
        })
        .await?;
    s.slack.edit("C1", &first, "hello edited");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
                && e["content"]["m.new_content"]["body"] == "hello edited"
        })
        .await?;

    // Reactions both ways.
    s.alice.react(&room, &hello_id, "👍").await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| {
                x.ts == first
                    && x.reactions
                        .iter()
                        .any(|(name, _)| name == "+1" || name == "thumbsup")
            })
        })
        .await?;
    s.slack.react("C1", &sent.ts, "UBOB", "tada", true);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == bob.as_str()
                && e["type"] == "m.reaction"
                && e["content"]["m.relates_to"]["key"] == "🎉"
                && e["content"]["m.relates_to"]["event_id"] == mine.as_str()
        })
        .await?;

    // Threads both ways.
    s.slack.post("C1", "UBOB", "in the thread", Some(&first));
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
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "thread answer"))
        .await?;
    assert_eq!(
        msgs.iter()
            .find(|x| x.text == "thread answer")
            .unwrap()
            .thread_ts
            .as_deref(),
        Some(first.as_str())
    );

    // Deletes both ways.
    s.slack.delete("C1", &first);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == hello_id.as_str()
                    || e["content"]["redacts"] == hello_id.as_str())
        })
        .await?;
    s.alice.redact(&room, &mine, None).await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.ts == sent.ts && x.deleted)
        })
        .await?;

    // The bot's own posts came back as events and were not bridged again.
    let events = s.alice.messages(&room).await?;
    let in_matrix = events
        .iter()
        .filter(|e| e["content"]["body"] == "thread answer")
        .count();
    assert_eq!(
        in_matrix, 1,
        "the bot's echo of a Matrix message is not bridged back"
    );
    let in_slack = s
        .slack
        .messages("C1")
        .iter()
        .filter(|m| m.text == "thread answer")
        .count();
    assert_eq!(in_slack, 1);
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_and_a_rate_limit_storm_lose_and_duplicate_nothing() -> anyhow::Result<()>
{
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let bob = ghost("UBOB");
    s.slack.post("C1", "UBOB", "start", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "start")
        .await?;

    // Slack -> Matrix with the socket dropped mid-stream and a disconnect request.
    for i in 0..60 {
        s.slack.post("C1", "UBOB", &format!("n {i}"), None);
        if i == 20 {
            s.slack.drop_socket();
        }
        if i == 40 {
            // Ask for a refresh once the connector is back on a new socket.
            s.alice
                .wait_for_event(&room, Duration::from_secs(60), |e| {
                    e["content"]["body"] == "n 40"
                })
                .await?;
            s.slack.send_disconnect();
        }
    }
    s.alice
        .wait_for_event(&room, Duration::from_secs(60), |e| {
            e["content"]["body"] == "n 59"
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
        (0..60).map(|i| format!("n {i}")).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(
        s.slack.connections() >= 3,
        "the connector reconnected after the drop and the disconnect"
    );

    // Matrix -> Slack through a storm of 429s: all arrive, once, in order.
    s.slack.rate_limit("chat.postMessage", 4, 1);
    for i in 0..5 {
        s.alice.send_text(&room, &format!("m {i}")).await?;
    }
    let msgs = s
        .slack
        .wait_for("C1", Duration::from_secs(60), |m| {
            m.iter().any(|x| x.text == "m 4")
        })
        .await?;
    let sent: Vec<&str> = msgs
        .iter()
        .map(|x| x.text.as_str())
        .filter(|t| t.starts_with("m "))
        .collect();
    assert_eq!(sent, ["m 0", "m 1", "m 2", "m 3", "m 4"]);
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_errors_and_bad_tokens_are_visible() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.env.management_room(&s.alice).await?;
    s.env
        .command(
            &s.alice,
            &mgmt,
            "login slack app xoxb-wrong xapp-wrong",
            "invalid_auth",
        )
        .await?;
    s.env
        .command(
            &s.alice,
            &mgmt,
            &format!(
                "login slack app {} {}",
                s.slack.bot_token(),
                s.slack.app_token()
            ),
            "Logged in",
        )
        .await?;
    s.slack.post("C1", "UBOB", "hello", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello")
        .await?;
    // A message Slack refuses (too long) gets a notice in the room.
    s.alice.send_text(&room, &"x".repeat(40_001)).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == s.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("msg_too_long"))
        })
        .await?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridging_a_slack_channel_backfills_and_names_and_topics_cross() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack
        .add_channel("C2", "design", &["UBOT", "UBOB"], false);
    for i in 0..3 {
        s.slack.post("C2", "UBOB", &format!("earlier {i}"), None);
    }
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.login_app().await?;
    s.env
        .command(&s.alice, &mgmt, "bridge slack C2", "Bridged design")
        .await?;
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "earlier 2")
        .await?;
    let bodies: Vec<String> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == ghost("UBOB").as_str())
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(bodies, ["earlier 0", "earlier 1", "earlier 2"]);

    // Topic and name, Slack -> Matrix.
    s.slack.set_topic("C2", "UBOB", "Pixels and type");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.topic" && e["content"]["topic"] == "Pixels and type"
        })
        .await?;
    // Topic, Matrix -> Slack (the login owner may change it).
    s.alice
        .set_state(
            &room,
            "m.room.topic",
            "",
            json!({ "topic": "Set in Matrix" }),
        )
        .await?;
    s.slack
        .wait_for("C2", WAIT, |_| {
            s.slack
                .channel_info("C2")
                .is_some_and(|c| c["topic"] == "Set in Matrix")
        })
        .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_cross_both_ways_through_slack() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "files ahead", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "files ahead")
        .await?;

    // Slack -> Matrix: downloaded from url_private with the token, uploaded to Matrix.
    let png = vec![0x89, b'P', b'N', b'G', 9, 8, 7];
    s.slack.upload_file(
        "C1",
        "UBOB",
        "chart.png",
        "image/png",
        png.clone(),
        "the chart",
    );
    let image = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    assert_eq!(image["content"]["body"], "chart.png");
    assert_eq!(
        s.alice
            .download(image["content"]["url"].as_str().unwrap())
            .await?,
        png
    );

    // Matrix -> Slack: the external upload flow, with the sender named in the comment.
    let doc = b"minutes of the meeting".to_vec();
    let mxc = s
        .alice
        .upload(doc.clone(), "text/plain", "minutes.txt")
        .await?;
    let file_event = s.alice.send(&room, "m.room.message", json!({"msgtype": "m.file", "body": "minutes.txt", "url": mxc, "info": {"mimetype": "text/plain", "size": doc.len()}})).await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| {
            m.iter()
                .any(|x| x.files.iter().any(|(name, _, _)| name == "minutes.txt"))
        })
        .await?;
    let shared = msgs
        .iter()
        .find(|x| x.files.iter().any(|(name, _, _)| name == "minutes.txt"))
        .unwrap();
    assert_eq!(shared.files[0].2, doc);
    assert!(shared.text.contains("alice"), "{}", shared.text);

    // Deleting it in Matrix deletes the file in Slack.
    let shared_ts = shared.ts.clone();
    s.alice.redact(&room, &file_event, None).await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter()
                .any(|x| x.ts == shared_ts && (x.deleted || x.files.is_empty()))
        })
        .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
