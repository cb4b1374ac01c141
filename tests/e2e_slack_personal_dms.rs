//! A personal Slack login's own DMs and group DMs with other people, end to end (a real
//! Synapse, the bridge, the fake Slack): conversations the bot is not in reach the app through
//! the user's authorization (user event subscriptions), become that user's own rooms in
//! Matrix, and their Matrix replies go out with the user's token.

use aqueduct_testkit::fake_slack::TokenKind;
use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use serde_json::Value;

/// Alice's own Slack account.
const ALICE: &str = "UALICE";

/// Logs in the workspace app and alice's own user token; returns her management room.
async fn log_in_app_and_token(s: &SlackEnv) -> anyhow::Result<String> {
    let mgmt = s.login_app().await?;
    let token = format!("login slack token {}", s.slack.user_token(ALICE));
    s.env
        .command(&s.alice, &mgmt, &token, "Logged in to slack as alice")
        .await?;
    Ok(mgmt)
}

/// How many messages in `room` have `body`.
async fn count_bodies(s: &SlackEnv, room: &str, body: &str) -> anyhow::Result<usize> {
    Ok(s.alice
        .messages(room)
        .await?
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["content"]["body"] == body)
        .count())
}

/// Whether Slack got `method` on `channel` with alice's own token.
fn called_as_alice(s: &SlackEnv, method: &str, channel: &str) -> bool {
    s.slack.requests().iter().any(|r| {
        r.method == method
            && r.params["channel"] == channel
            && r.token_kind == TokenKind::User(ALICE.into())
    })
}

/// The wrapper of the first event emitted in `channel`.
fn first_wrapper_in(s: &SlackEnv, channel: &str) -> Value {
    s.slack
        .emitted_events()
        .into_iter()
        .find(|w| w["event"]["channel"] == channel)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_login_gets_its_dms_with_other_people_and_answers_as_the_user()
-> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack.add_user(ALICE, "alice", "Alice Slack");
    s.slack.add_user("UCAROL", "carol", "Carol Slack");
    s.slack.add_user_im("D0ALICEBOB", ALICE, "UBOB");
    s.slack.add_mpim("C0GROUP", &[ALICE, "UBOB", "UCAROL"]);
    let bridge = s.env.start_in_process().await?;
    log_in_app_and_token(&s).await?;

    // Bob writes to alice directly, in a DM the bot is not part of: it reaches the app
    // through alice's authorization and becomes her direct room with Bob's ghost.
    s.slack.post("D0ALICEBOB", "UBOB", "psst alice", None);
    let dm = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&dm, WAIT, |e| {
            e["content"]["body"] == "psst alice" && e["sender"] == ghost("UBOB").as_str()
        })
        .await?;
    let wrapper = first_wrapper_in(&s, "D0ALICEBOB");
    assert_eq!(wrapper["authorizations"][0]["user_id"], ALICE);
    assert_eq!(wrapper["authorizations"][0]["is_bot"], false);
    assert!(s.alice.joined_members(&dm).await?.contains(&ghost("UBOB")));
    assert_eq!(s.alice.state_event(&dm, "m.room.name", "").await?, None);
    assert!(
        called_as_alice(&s, "conversations.info", "D0ALICEBOB"),
        "the bot cannot read alice's DM; her token must"
    );

    // Her Matrix answer goes out as her, with her token, into the same DM.
    s.alice.send_text(&dm, "hi bob, from matrix").await?;
    let msgs = s
        .slack
        .wait_for("D0ALICEBOB", WAIT, |m| {
            m.iter().any(|x| x.text == "hi bob, from matrix")
        })
        .await?;
    let sent = msgs
        .iter()
        .find(|x| x.text == "hi bob, from matrix")
        .unwrap();
    assert_eq!(sent.user, ALICE);
    assert_eq!(sent.bot_id, None);
    assert!(called_as_alice(&s, "chat.postMessage", "D0ALICEBOB"));

    // A file Bob shares there is read with alice's token: the bot may not see it.
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    s.slack.upload_file(
        "D0ALICEBOB",
        "UBOB",
        "private.png",
        "image/png",
        png.clone(),
        "just for you",
    );
    let image = s
        .alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    assert_eq!(image["content"]["body"], "private.png");
    let url = image["content"]["url"].as_str().unwrap_or_default();
    assert_eq!(s.alice.download(url).await?, png);

    // A group DM of alice, Bob and Carol, without the bot: her room with both ghosts.
    s.slack.post("C0GROUP", "UCAROL", "hello group", None);
    let group = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&dm], WAIT)
        .await?;
    s.alice.join(&group).await?;
    s.alice
        .wait_for_event(&group, WAIT, |e| e["content"]["body"] == "hello group")
        .await?;
    let members = s.alice.joined_members(&group).await?;
    assert!(
        members.contains(&ghost("UBOB")) && members.contains(&ghost("UCAROL")),
        "{members:?}"
    );
    s.alice.send_text(&group, "hi both").await?;
    s.slack
        .wait_for("C0GROUP", WAIT, |m| {
            m.iter().any(|x| x.text == "hi both" && x.user == ALICE)
        })
        .await?;
    assert!(called_as_alice(&s, "chat.postMessage", "C0GROUP"));

    // Bob's next DM also arrives; every message is there once, her own echoes included.
    s.slack.post("D0ALICEBOB", "UBOB", "got it", None);
    s.alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["body"] == "got it")
        .await?;
    for (room, body) in [
        (&dm, "psst alice"),
        (&dm, "hi bob, from matrix"),
        (&dm, "got it"),
        (&group, "hello group"),
        (&group, "hi both"),
    ] {
        assert_eq!(count_bodies(&s, room, body).await?, 1, "{body}");
    }
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_between_two_logged_in_users_reaches_both_of_their_rooms() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack.add_user(ALICE, "alice", "Alice Slack");
    s.slack.add_user("UCAROL", "carol", "Carol Slack");
    s.slack.add_user_im("D0ALICECAROL", ALICE, "UCAROL");
    let bridge = s.env.start_in_process().await?;
    log_in_app_and_token(&s).await?;
    let carol = s.env.user("carol").await?;
    let carol_mgmt = s.env.management_room(&carol).await?;
    let token = format!("login slack token {}", s.slack.user_token("UCAROL"));
    s.env
        .command(&carol, &carol_mgmt, &token, "Logged in to slack as carol")
        .await?;

    // Carol writes to alice from Slack. The event names one of them; the bridge asks Slack
    // who else sees it, so both get it: alice from Carol's ghost, Carol in her own room.
    s.slack
        .post("D0ALICECAROL", "UCAROL", "hi alice, carol here", None);
    let alices = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&alices, WAIT, |e| {
            e["content"]["body"] == "hi alice, carol here"
                && e["sender"] == ghost("UCAROL").as_str()
        })
        .await?;
    let carols = s.env.accept_portal_invite(&carol).await?;
    assert_ne!(alices, carols, "each has a room of her own");
    carol
        .wait_for_event(&carols, WAIT, |e| {
            e["content"]["body"] == "hi alice, carol here"
        })
        .await?;
    assert!(
        s.slack
            .requests()
            .iter()
            .any(|r| r.method == "apps.event.authorizations.list"
                && r.token_kind == TokenKind::App)
    );

    // Alice answers from Matrix: it reaches Slack once, and Carol's room shows it.
    s.alice.send_text(&alices, "hello carol").await?;
    carol
        .wait_for_event(&carols, WAIT, |e| {
            e["content"]["body"] == "hello carol" && e["sender"] == ghost(ALICE).as_str()
        })
        .await?;
    let sent = s
        .slack
        .messages("D0ALICECAROL")
        .iter()
        .filter(|m| m.text == "hello carol" && m.user == ALICE)
        .count();
    assert_eq!(sent, 1);
    assert_eq!(count_bodies(&s, &alices, "hello carol").await?, 1);
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_dm_catches_up_what_it_received_while_the_bridge_was_down() -> anyhow::Result<()>
{
    let s = SlackEnv::start().await?;
    s.slack.add_user(ALICE, "alice", "Alice Slack");
    s.slack.add_user_im("D0ALICEBOB", ALICE, "UBOB");
    let bridge = s.env.start_in_process().await?;
    log_in_app_and_token(&s).await?;
    let before = s.slack.post("D0ALICEBOB", "UBOB", "before", None);
    let dm = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["body"] == "before")
        .await?;
    bridge.stop().await?;

    // While the bridge is down Bob writes twice and edits his first message; Slack then
    // gives up delivering the events.
    s.slack.post("D0ALICEBOB", "UBOB", "while down 1", None);
    s.slack.post("D0ALICEBOB", "UBOB", "while down 2", None);
    s.slack.edit("D0ALICEBOB", &before, "before, edited");
    s.slack.give_up_undelivered_events();

    let bridge = s.env.start_in_process().await?;
    s.alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["body"] == "while down 2")
        .await?;
    s.alice
        .wait_for_event(&dm, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "before, edited"
        })
        .await?;
    for body in ["before", "while down 1", "while down 2"] {
        assert_eq!(count_bodies(&s, &dm, body).await?, 1, "{body}");
    }
    let read_back: Vec<TokenKind> = s
        .slack
        .requests()
        .into_iter()
        .filter(|r| r.method == "conversations.history" && r.params["channel"] == "D0ALICEBOB")
        .map(|r| r.token_kind)
        .collect();
    assert!(
        !read_back.is_empty()
            && read_back
                .iter()
                .all(|k| *k == TokenKind::User(ALICE.into())),
        "read back with alice's token only: {read_back:?}"
    );
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
