//! The Slack connector end to end, for what happens around messages: channel renames, people
//! joining, leaving, being invited and removed, Slack Connect users, a revoked app, and the
//! bridge being down while people talk.

use aqueduct_testkit::fake_slack::TEAM_ID;
use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost, ghost_of};
use reqwest::Method;
use serde_json::json;

/// Waits until `user`'s membership in `room` is `membership` (as an event in the timeline).
async fn wait_membership(
    s: &SlackEnv,
    room: &str,
    user: &str,
    membership: &str,
) -> anyhow::Result<()> {
    s.alice
        .wait_for_event(room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == user
                && e["content"]["membership"] == membership
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_joins_leaves_invites_and_kicks_cross_both_ways() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack.add_user("UCAROL", "carol", "Carol Slack");
    s.slack.add_user("UDAVE", "dave", "Dave Slack");
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "hello", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello")
        .await?;

    // Names, both ways.
    s.slack.rename_channel("C1", "lobby");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.name" && e["content"]["name"] == "lobby"
        })
        .await?;
    s.alice
        .set_state(&room, "m.room.name", "", json!({ "name": "town-square" }))
        .await?;
    s.slack
        .wait_for("C1", WAIT, |_| {
            s.slack
                .channel_info("C1")
                .is_some_and(|c| c["name"] == "town-square")
        })
        .await?;

    // Slack joins and leaves move ghosts.
    s.slack.join_channel("C1", "UCAROL");
    wait_membership(&s, &room, &ghost("UCAROL"), "join").await?;
    s.slack.leave_channel("C1", "UCAROL");
    wait_membership(&s, &room, &ghost("UCAROL"), "leave").await?;

    // A Matrix invite of a ghost adds the person to the channel; a kick removes them.
    s.alice.invite(&room, &ghost("UDAVE")).await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter()
                .any(|x| x.subtype.as_deref() == Some("channel_join") && x.user == "UDAVE")
        })
        .await?;
    wait_membership(&s, &room, &ghost("UDAVE"), "join").await?;
    // Room ids (`!x:server`) need no escaping in a path.
    let kick = format!("/_matrix/client/v3/rooms/{room}/kick");
    s.alice
        .request(
            Method::POST,
            &kick,
            Some(&json!({ "user_id": ghost("UBOB"), "reason": "off topic" })),
        )
        .await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter()
                .any(|x| x.subtype.as_deref() == Some("channel_leave") && x.user == "UBOB")
        })
        .await?;
    // Bob is out on Slack; his ghost stays out in Matrix (the echo is not an error).
    wait_membership(&s, &room, &ghost("UBOB"), "leave").await?;

    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_connect_users_become_ghosts_of_their_own_workspace() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack
        .add_external_user("UEXT", "erin", "Erin Partner", "TPARTNER");
    s.slack.join_channel("C1", "UEXT");
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UEXT", "hello from the partner", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let erin = ghost_of("TPARTNER", "UEXT");
    assert_ne!(erin, ghost_of(TEAM_ID, "UEXT"));
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == erin.as_str() && e["content"]["body"] == "hello from the partner"
        })
        .await?;
    assert_eq!(
        s.alice.profile_displayname(&erin).await?.as_deref(),
        Some("Erin Partner")
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_app_is_logged_out_with_a_notice_and_a_metric() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.login_app().await?;
    s.slack.post("C1", "UBOB", "hello", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello")
        .await?;

    s.slack.revoke_token(&s.slack.bot_token());
    s.alice
        .wait_for_event(&mgmt, WAIT, |e| {
            e["sender"] == s.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("revoked"))
        })
        .await?;
    s.env
        .command(&s.alice, &mgmt, "list", "You have no logins")
        .await?;
    let metrics = s.env.metrics().await?;
    let state = metrics
        .lines()
        .find(|l| l.starts_with("aqueduct_remote_connected{") && l.contains("slack"))
        .unwrap_or_default();
    assert!(state.ends_with(" -1"), "metrics say: {state}");
    // A message with no login and no relay gets a notice instead of vanishing.
    s.alice.send_text(&room, "anyone there?").await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == s.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("not bridged"))
        })
        .await?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_the_bridge_is_down_arrive_once_in_order() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let bob = ghost("UBOB");
    let root = s.slack.post("C1", "UBOB", "before", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.slack.post("C1", "UBOB", "first reply", Some(&root));
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "first reply")
        .await?;
    bridge.stop().await?;

    // While the bridge is down: top-level messages, a new thread, and a reply in the old
    // thread; Slack then gives up delivering the events.
    let mut expected = Vec::new();
    for i in 0..12 {
        let text = format!("while down {i}");
        let ts = s.slack.post("C1", "UBOB", &text, None);
        expected.push(text);
        if i == 5 {
            s.slack.post("C1", "UBOB", "new thread reply", Some(&ts));
            expected.push("new thread reply".into());
        }
    }
    s.slack.post("C1", "UBOB", "old thread reply", Some(&root));
    expected.push("old thread reply".into());
    s.slack.give_up_undelivered_events();

    let bridge = s.env.start_in_process().await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "old thread reply")
        .await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "while down 11")
        .await?;
    let bodies: Vec<String> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == bob.as_str() && e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .filter(|b| b.starts_with("while down") || b.ends_with("thread reply"))
        .collect();
    assert_eq!(bodies, expected, "each once, in Slack's order");
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_mentions_link_bridged_rooms_both_ways() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack
        .add_channel("C2", "design", &["UBOT", "UBOB"], false);
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.login_app().await?;
    let answer = s
        .env
        .command(&s.alice, &mgmt, "bridge slack C2", "Bridged design")
        .await?;
    let design_room = answer["content"]["body"]
        .as_str()
        .and_then(|b| b.split(" to ").nth(1))
        .and_then(|r| r.split(';').next())
        .unwrap_or_default()
        .to_owned();
    assert!(design_room.starts_with('!'), "{answer}");
    s.slack.post("C1", "UBOB", "hello", None);
    let room = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&design_room], WAIT)
        .await?;
    s.alice.join(&room).await?;

    // Slack -> Matrix: a mention of a bridged channel links to its room.
    s.slack
        .post("C1", "UBOB", "see <#C2|design> and <#C9|elsewhere>", None);
    let linked = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "see #design and #elsewhere"
        })
        .await?;
    let html = linked["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains(&format!("https://matrix.to/#/{design_room}")),
        "{html}"
    );
    assert!(!html.contains("C9"), "{html}");

    // Matrix -> Slack: a link to a bridged room becomes a channel mention.
    s.alice
        .send_html(
            &room,
            "over in #design",
            &format!("over in <a href=\"https://matrix.to/#/{design_room}\">#design</a>"),
        )
        .await?;
    s.slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "over in <#C2>"))
        .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_text_blocks_keep_their_formatting() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "hello", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let blocks = json!([{"type": "rich_text", "block_id": "b1", "elements": [
        {"type": "rich_text_section", "elements": [
            {"type": "text", "text": "agenda", "style": {"bold": true}},
            {"type": "text", "text": ":\n"}
        ]},
        {"type": "rich_text_list", "style": "bullet", "indent": 0, "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "budget"}]},
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "hiring"}]}
        ]},
        {"type": "rich_text_quote", "elements": [{"type": "text", "text": "be brief"}]}
    ]}]);
    s.slack.post_rich(
        "C1",
        "UBOB",
        "*agenda*:\n• budget\n• hiring\n&gt; be brief",
        blocks,
    );
    let event = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("agenda"))
        })
        .await?;
    assert_eq!(
        event["content"]["body"],
        "agenda:\n• budget\n• hiring\n> be brief"
    );
    assert_eq!(
        event["content"]["formatted_body"],
        "<strong>agenda</strong>:<br><ul><li>budget</li><li>hiring</li></ul><blockquote>be brief</blockquote>"
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
