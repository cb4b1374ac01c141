//! Slack Socket Mode never stalls, end to end through a real Synapse and the fake Slack: a
//! half-open socket (up, but silent: no envelopes, no pongs) is noticed and replaced, and
//! the messages sent meanwhile arrive once; a slow file download does not hold up the
//! acknowledgement of other envelopes past Slack's 3 s.

use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use serde_json::Value;
use std::time::Duration;

/// Long enough for the bridge to notice a silent socket (its idle bound and ping wait) and
/// reconnect, with room to spare on a loaded machine.
const STALL_WAIT: Duration = Duration::from_secs(90);

fn bodies(events: &[Value], sender: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["sender"] == sender && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_is_replaced_and_what_was_sent_meanwhile_arrives_once() -> anyhow::Result<()>
{
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "opening", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "opening")
        .await?;
    let before = s.slack.connections();

    // The socket goes half-open: still connected, but nothing comes through it any more.
    s.slack.silence_socket();
    for i in 0..3 {
        s.slack
            .post("C1", "UBOB", &format!("while silent {i}"), None);
    }
    s.alice
        .wait_for_event(&room, STALL_WAIT, |e| {
            e["content"]["body"] == "while silent 2"
        })
        .await?;
    assert!(
        s.slack.connections() > before,
        "the bridge did not open a new connection"
    );
    // After the new connection, live delivery works as before.
    s.slack.post("C1", "UBOB", "live again", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "live again")
        .await?;
    let events = s.alice.messages(&room).await?;
    let got = bodies(&events, &ghost("UBOB"));
    for expected in [
        "while silent 0",
        "while silent 1",
        "while silent 2",
        "live again",
    ] {
        assert_eq!(
            got.iter().filter(|b| *b == expected).count(),
            1,
            "{expected} in {got:?}"
        );
    }
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_file_download_does_not_hold_up_other_acknowledgements() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack
        .add_channel("C2", "random", &["UBOT", "UBOB"], false);
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "opening one", None);
    let room1 = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room1, WAIT, |e| e["content"]["body"] == "opening one")
        .await?;
    let target = s.slack.post("C2", "UBOB", "opening two", None);
    let room2 = s
        .alice
        .wait_for_invite_except(Some(s.env.bot.as_str()), &[room1.as_str()], WAIT)
        .await?;
    s.alice.join(&room2).await?;
    s.alice
        .wait_for_event(&room2, WAIT, |e| e["content"]["body"] == "opening two")
        .await?;

    // Each file download now takes 6 s, twice Slack's patience.
    s.slack.slow_downloads(Duration::from_secs(6));
    s.slack.upload_file(
        "C1",
        "UBOB",
        "slow.bin",
        "application/octet-stream",
        vec![7; 64],
        "a slow file",
    );
    // Meanwhile in another channel: a message and a reaction (which Slack's catch-up would
    // not find, so it is acknowledged only once it is in Matrix).
    s.slack.post("C2", "UBOB", "meanwhile", None);
    s.slack.react("C2", &target, "UBOB", "tada", true);
    s.alice
        .wait_for_event(&room2, WAIT, |e| {
            e["type"] == "m.reaction" && e["content"]["m.relates_to"]["key"] == "🎉"
        })
        .await?;
    s.alice
        .wait_for_event(&room1, WAIT, |e| {
            e["content"]["msgtype"] == "m.file" && e["content"]["body"] == "slow.bin"
        })
        .await?;
    let redelivered = s.slack.redelivered_after_timeout();
    assert!(
        redelivered.is_empty(),
        "Slack had to deliver these again: {redelivered:#?}"
    );
    let events = s.alice.messages(&room2).await?;
    assert_eq!(
        bodies(&events, &ghost("UBOB"))
            .iter()
            .filter(|b| *b == "meanwhile")
            .count(),
        1
    );
    bridge.stop().await?;
    Ok(())
}
