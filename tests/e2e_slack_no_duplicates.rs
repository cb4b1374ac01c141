//! A Matrix message reaches Slack once, even when Slack carried out `chat.postMessage` but the
//! bridge never learnt of it: a lost answer retried by the engine, and a bridge SIGKILLed
//! between the post and storing its mapping, whose inbox replays the event at the next start.
//! Either way the connector finds the earlier post by its message metadata (a retried file
//! upload: by its file ids) and posts nothing more, and the Matrix message stays linked to
//! that one Slack message (an edit edits it, a redaction deletes it).

use aqueduct_testkit::fake_slack::FakeMessage;
use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use serde_json::{Value, json};

/// The messages of `C1` posted for Matrix event `event_id` (by their metadata) or with `text`.
fn posts_of(s: &SlackEnv, event_id: &str, text: &str) -> Vec<FakeMessage> {
    s.slack
        .messages("C1")
        .into_iter()
        .filter(|m| {
            !m.deleted
                && (m.text == text
                    || m.metadata
                        .as_ref()
                        .is_some_and(|md| md["event_payload"]["matrix_event_id"] == event_id))
        })
        .collect()
}

/// The `chat.postMessage` calls the bridge made with `text`.
fn post_calls(s: &SlackEnv, text: &str) -> usize {
    s.slack
        .requests()
        .iter()
        .filter(|r| r.method == "chat.postMessage" && r.params["text"] == text)
        .count()
}

/// Bob's first message opens the portal; returns its room and the message's event id.
async fn open_portal(s: &SlackEnv) -> anyhow::Result<(String, String)> {
    s.slack.post("C1", "UBOB", "hello from slack", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let bob = ghost("UBOB");
    let hello = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == bob.as_str() && e["content"]["body"] == "hello from slack"
        })
        .await?;
    Ok((
        room,
        hello["event_id"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Edits Matrix message `event_id` to `new` and waits until Slack message `ts` reads so.
async fn edit_and_expect(
    s: &SlackEnv,
    room: &str,
    event_id: &str,
    new: &str,
    ts: &str,
) -> anyhow::Result<()> {
    s.alice
        .send(
            room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": format!("* {new}"),
            "m.new_content": {"msgtype": "m.text", "body": new},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}}),
        )
        .await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.ts == ts && x.text == new)
        })
        .await?;
    Ok(())
}

fn thread_reply(body: &str, root: &str) -> Value {
    json!({"msgtype": "m.text", "body": body,
        "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": true,
                         "m.in_reply_to": {"event_id": root}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_was_lost_is_not_posted_again() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let (room, hello) = open_portal(&s).await?;

    // Slack posts the message, but its answer breaks off: the engine retries the send.
    s.slack.lose_answers("chat.postMessage", 1);
    let once = s.alice.send_text(&room, "exactly once").await?;
    s.slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "exactly once"))
        .await?;
    // The retry comes after a second; the edit below proves the mapping is in place, and
    // with it that the retry is over.
    let ts = posts_of(&s, &once, "exactly once")[0].ts.clone();
    edit_and_expect(&s, &room, &once, "exactly once, edited", &ts).await?;
    let posts = posts_of(&s, &once, "exactly once, edited");
    assert_eq!(posts.len(), 1, "one Slack message: {posts:#?}");
    assert_eq!(post_calls(&s, "exactly once"), 1, "posted once");
    assert_eq!(
        posts[0].metadata,
        Some(json!({"event_type": "aqueduct_matrix_event",
                    "event_payload": {"matrix_event_id": once}}))
    );

    // The same in a thread: the look-up reads the thread's replies.
    s.slack.lose_answers("chat.postMessage", 1);
    let reply = s
        .alice
        .send(
            &room,
            "m.room.message",
            thread_reply("in the thread once", &hello),
        )
        .await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text == "in the thread once")
        })
        .await?;
    let ts = posts_of(&s, &reply, "in the thread once")[0].ts.clone();
    edit_and_expect(&s, &room, &reply, "in the thread, edited", &ts).await?;
    let posts = posts_of(&s, &reply, "in the thread, edited");
    assert_eq!(posts.len(), 1, "one Slack reply: {posts:#?}");
    assert!(posts[0].thread_ts.is_some(), "{posts:#?}");
    assert_eq!(post_calls(&s, "in the thread once"), 1, "posted once");

    // A file: its upload is found again by its file id.
    s.slack.lose_answers("files.completeUploadExternal", 1);
    let doc = b"shared once".to_vec();
    let mxc = s
        .alice
        .upload(doc.clone(), "text/plain", "once.txt")
        .await?;
    let file_event = s
        .alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "once.txt", "url": mxc,
            "info": {"mimetype": "text/plain", "size": doc.len()}}),
        )
        .await?;
    let has_file = |x: &FakeMessage| x.files.iter().any(|(name, _, _)| name == "once.txt");
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| m.iter().any(has_file))
        .await?;
    let shared = msgs.iter().find(|x| has_file(x)).unwrap().ts.clone();
    // Deleting it in Matrix deletes that message: the mapping names it.
    s.alice.redact(&room, &file_event, None).await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter()
                .any(|x| x.ts == shared && (x.deleted || x.files.is_empty()))
        })
        .await?;
    let shares = s.slack.messages("C1").into_iter().filter(has_file).count();
    assert_eq!(shares, 1, "shared once");
    let completions = s
        .slack
        .requests()
        .iter()
        .filter(|r| r.method == "files.completeUploadExternal")
        .count();
    assert_eq!(completions, 1, "completed once");

    let looked: Vec<String> = s
        .slack
        .requests()
        .into_iter()
        .filter(|r| r.params["include_all_metadata"] == "true")
        .map(|r| r.method)
        .collect();
    assert_eq!(
        looked,
        [
            "conversations.history",
            "conversations.replies",
            "conversations.history"
        ],
        "one look-up per retried post, none for first attempts"
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_replayed_after_a_crash_is_not_posted_again() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let mut bridge = s.env.spawn_process(&bin).await?;
    s.login_app().await?;
    let (room, _) = open_portal(&s).await?;

    // Slack posts the message and never answers; the bridge dies meanwhile, before it
    // could store the mapping or acknowledge the inbox row.
    s.slack.stall_answers("chat.postMessage", 1);
    let once = s.alice.send_text(&room, "posted before the crash").await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text == "posted before the crash")
        })
        .await?;
    bridge.start_kill()?;
    bridge.wait().await?;
    let posts = posts_of(&s, &once, "posted before the crash");
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let ts = posts[0].ts.clone();

    // The restarted bridge replays the event and finds it on Slack.
    let mut bridge = s.env.spawn_process(&bin).await?;
    edit_and_expect(&s, &room, &once, "edited after the restart", &ts).await?;
    let posts = posts_of(&s, &once, "edited after the restart");
    assert_eq!(posts.len(), 1, "one Slack message: {posts:#?}");
    assert_eq!(
        post_calls(&s, "posted before the crash"),
        1,
        "not posted again"
    );
    // Later messages cross as usual.
    s.alice.send_text(&room, "after the restart").await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text == "after the restart")
        })
        .await?;
    assert!(
        s.env.bridge_log().contains("on Slack already"),
        "the replay found the earlier post"
    );
    s.check_conformance()?;
    bridge.start_kill()?;
    let _ = bridge.wait().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_answer_was_lost_is_done_not_reported_as_failed() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let (room, _) = open_portal(&s).await?;
    let sent = s.alice.send_text(&room, "soon gone").await?;
    s.slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "soon gone"))
        .await?;

    // Slack deletes it, but the answer breaks off: the retry meets `message_not_found`,
    // which is the state asked for.
    s.slack.lose_answers("chat.delete", 1);
    s.alice.redact(&room, &sent, None).await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text == "soon gone" && x.deleted)
        })
        .await?;
    // A later message proves the redaction was handled (the room's queue moved on) ...
    s.alice.send_text(&room, "after the delete").await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text == "after the delete")
        })
        .await?;
    // ... and that nobody was told it failed.
    let deletes = s
        .slack
        .requests()
        .iter()
        .filter(|r| r.method == "chat.delete")
        .count();
    assert_eq!(deletes, 2, "the lost answer was retried once");
    let notices: Vec<Value> = s
        .alice
        .messages(&room)
        .await?
        .into_iter()
        .filter(|e| e["sender"] == s.env.bot.as_str() && e["type"] == "m.room.message")
        .collect();
    assert!(notices.is_empty(), "no failure notice: {notices:?}");
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_replayed_after_a_crash_reads_the_channel_once() -> anyhow::Result<()> {
    const QUEUED: usize = 5;
    let s = SlackEnv::start().await?;
    // The appservice listener's debug lines say which events the bridge stored.
    let config = std::fs::read_to_string(&s.env.config_path)?.replace(
        "logging:\n  level: info\n",
        "logging:\n  level: \"info,aqueduct_matrix::appservice_server=debug\"\n",
    );
    std::fs::write(&s.env.config_path, config)?;
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"));
    let mut bridge = s.env.spawn_process(&bin).await?;
    s.login_app().await?;
    let (room, _) = open_portal(&s).await?;

    // The first post is carried out and never answered; the messages after it wait behind
    // it in the portal's queue, stored in the bridge's inbox, when the bridge dies.
    s.slack.stall_answers("chat.postMessage", 1);
    let first = s.alice.send_text(&room, "backlog 0").await?;
    let mut later = Vec::new();
    for i in 1..=QUEUED {
        later.push(s.alice.send_text(&room, &format!("backlog {i}")).await?);
    }
    s.slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "backlog 0"))
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !later
        .iter()
        .all(|id| s.env.bridge_log().contains(id.as_str()))
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the bridge never stored the queued events"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    bridge.start_kill()?;
    bridge.wait().await?;
    let reads = || {
        s.slack
            .requests()
            .iter()
            .filter(|r| {
                r.method == "conversations.history" && r.params["include_all_metadata"] == "true"
            })
            .count()
    };
    let reads_before = reads();

    // All six are replayed: each reaches Slack once, for one read of the channel.
    let mut bridge = s.env.spawn_process(&bin).await?;
    let texts: Vec<String> = (0..=QUEUED).map(|i| format!("backlog {i}")).collect();
    s.slack
        .wait_for("C1", WAIT, |m| {
            texts.iter().all(|t| m.iter().any(|x| &x.text == t))
        })
        .await?;
    assert_eq!(posts_of(&s, &first, "backlog 0").len(), 1);
    for text in &texts {
        assert_eq!(post_calls(&s, text), 1, "{text} posted once");
    }
    assert_eq!(
        reads() - reads_before,
        1,
        "one read of the channel answers every replayed message"
    );
    s.check_conformance()?;
    bridge.start_kill()?;
    let _ = bridge.wait().await;
    Ok(())
}
