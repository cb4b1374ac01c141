//! Changes made on Slack while the bridge is down, end to end (a real Synapse, the bridge,
//! the fake Slack): edits, deletes and reactions added or removed meanwhile reach Matrix once
//! the bridge is back, each exactly once, and a further restart repeats none of them.

use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use serde_json::Value;

/// The event a redaction in `events` takes back, whichever field the room version uses.
fn redacted_by(e: &Value) -> Option<&str> {
    (e["type"] == "m.room.redaction")
        .then(|| e["redacts"].as_str().or(e["content"]["redacts"].as_str()))
        .flatten()
}

/// Counts of what Matrix shows about the messages of the test.
struct Seen {
    edits: Vec<String>,
    redacted: Vec<String>,
    reactions: Vec<(String, String)>,
}

async fn seen(s: &SlackEnv, room: &str) -> anyhow::Result<Seen> {
    let events = s.alice.messages(room).await?;
    let edits = events
        .iter()
        .filter(|e| e["content"]["m.relates_to"]["rel_type"] == "m.replace")
        .filter_map(|e| e["content"]["m.new_content"]["body"].as_str())
        .map(str::to_owned)
        .collect();
    let redacted = events
        .iter()
        .filter_map(redacted_by)
        .map(str::to_owned)
        .collect();
    let reactions = events
        .iter()
        .filter(|e| e["type"] == "m.reaction")
        .filter_map(|e| {
            let rel = &e["content"]["m.relates_to"];
            Some((
                rel["event_id"].as_str()?.to_owned(),
                rel["key"].as_str()?.to_owned(),
            ))
        })
        .collect();
    Ok(Seen {
        edits,
        redacted,
        reactions,
    })
}

fn count<T: PartialEq>(items: &[T], item: &T) -> usize {
    items.iter().filter(|i| *i == item).count()
}

/// Waits for a message with `body` in `room`; returns its event id.
async fn wait_body(s: &SlackEnv, room: &str, body: &str) -> anyhow::Result<String> {
    let e = s
        .alice
        .wait_for_event(room, WAIT, |e| e["content"]["body"] == body)
        .await?;
    Ok(e["event_id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_reactions_made_while_the_bridge_is_down_arrive_once()
-> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let keep = s.slack.post("C1", "UBOB", "keep me", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let keep_id = wait_body(&s, &room, "keep me").await?;
    let doomed = s.slack.post("C1", "UBOB", "delete me", None);
    let reply = s.slack.post("C1", "UBOB", "a reply", Some(&keep));
    s.slack.react("C1", &keep, "UBOB", "eyes", true);
    let doomed_id = wait_body(&s, &room, "delete me").await?;
    let reply_id = wait_body(&s, &room, "a reply").await?;
    let eyes = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["content"]["m.relates_to"]["key"] == "👀"
        })
        .await?;
    let eyes_id = eyes["event_id"].as_str().unwrap_or_default().to_owned();
    bridge.stop().await?;

    // While the bridge is down (Slack then gives up delivering the events): two edits, one
    // in a thread, a delete, a reaction taken back and one added, and a new message with a
    // reaction of its own.
    s.slack.edit("C1", &keep, "keep me, edited");
    s.slack.edit("C1", &reply, "a reply, edited");
    s.slack.delete("C1", &doomed);
    s.slack.react("C1", &keep, "UBOB", "eyes", false);
    s.slack.react("C1", &keep, "UBOB", "tada", true);
    let late = s.slack.post("C1", "UBOB", "sent while down", None);
    s.slack.react("C1", &late, "UBOB", "+1", true);
    s.slack.give_up_undelivered_events();

    let bridge = s.env.start_in_process().await?;
    let late_id = wait_body(&s, &room, "sent while down").await?;
    let expected_reactions = [
        (keep_id.clone(), "🎉".to_owned()),
        (late_id.clone(), "👍".to_owned()),
    ];
    // Each change arrives...
    for body in ["keep me, edited", "a reply, edited"] {
        s.alice
            .wait_for_event(&room, WAIT, |e| {
                e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                    && e["content"]["m.new_content"]["body"] == body
            })
            .await?;
    }
    for gone in [&doomed_id, &eyes_id] {
        s.alice
            .wait_for_event(&room, WAIT, |e| redacted_by(e) == Some(gone.as_str()))
            .await?;
    }
    for (target, key) in &expected_reactions {
        s.alice
            .wait_for_event(&room, WAIT, |e| {
                e["type"] == "m.reaction"
                    && e["content"]["m.relates_to"]["event_id"] == target.as_str()
                    && e["content"]["m.relates_to"]["key"] == key.as_str()
            })
            .await?;
    }
    // ...once, and nothing else changed.
    let now = seen(&s, &room).await?;
    assert_eq!(count(&now.edits, &"keep me, edited".to_owned()), 1);
    assert_eq!(count(&now.edits, &"a reply, edited".to_owned()), 1);
    assert_eq!(now.edits.len(), 2, "no other edit: {:?}", now.edits);
    assert_eq!(count(&now.redacted, &doomed_id), 1);
    assert_eq!(count(&now.redacted, &eyes_id), 1);
    assert!(!now.redacted.contains(&keep_id) && !now.redacted.contains(&reply_id));
    for r in &expected_reactions {
        assert_eq!(count(&now.reactions, r), 1, "{r:?}");
    }

    // Restarted once more: nothing is bridged again. A message sent after the restart, and
    // then a second one (which can only arrive after the catch-up is done), mark the point
    // where any repeat would already be in the room.
    bridge.stop().await?;
    let bridge = s.env.start_in_process().await?;
    s.slack.post("C1", "UBOB", "back again", None);
    wait_body(&s, &room, "back again").await?;
    s.slack.post("C1", "UBOB", "and once more", None);
    wait_body(&s, &room, "and once more").await?;
    let now = seen(&s, &room).await?;
    assert_eq!(now.edits.len(), 2, "{:?}", now.edits);
    assert_eq!(count(&now.redacted, &doomed_id), 1);
    assert_eq!(count(&now.redacted, &eyes_id), 1);
    for r in &expected_reactions {
        assert_eq!(count(&now.reactions, r), 1, "{r:?}");
    }
    let bob = ghost("UBOB");
    let from_bob = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == bob.as_str() && e["type"] == "m.room.message")
        .filter(|e| e["content"]["body"] == "sent while down")
        .count();
    assert_eq!(from_bob, 1);
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
