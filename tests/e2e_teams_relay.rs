//! Relaying in a Teams portal: a Matrix user without a Teams login speaks through the relay
//! account (the Teams login of whoever ran `set-relay`), their name shown in front of each
//! relayed message and edit, as Graph cannot post under another name.

use aqueduct_testkit::fake_teams::env::{TeamsEnv, WAIT, ghost};
use serde_json::json;

const CHAT: &str = "19:relay@thread.v2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_relay_speaks_for_users_without_a_login() -> anyhow::Result<()> {
    let t = TeamsEnv::start("").await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams
        .add_chat(CHAT, "group", Some("Relay"), &["u-alice", "u-bob"]);
    let alice = t.env.user("alice").await?;
    t.login(&alice, "u-alice").await?;
    t.teams.post(CHAT, "u-bob", "<p>anyone there?</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "anyone there?")
        .await?;

    // Alice makes her Teams account the room's relay; Carol, with no Teams login, talks.
    t.env
        .command(&alice, &portal, "!aq set-relay", "relayed through")
        .await?;
    let carol = t.env.user("carol").await?;
    carol
        .request(
            reqwest::Method::PUT,
            &format!("/_matrix/client/v3/profile/{}/displayname", carol.user_id()),
            Some(&json!({"displayname": "Carol Matrix"})),
        )
        .await?;
    alice.invite(&portal, carol.user_id()).await?;
    carol.join(&portal).await?;
    let said = carol.send_text(&portal, "I am here").await?;
    let msgs = t
        .teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| x.html.contains("I am here"))
        })
        .await?;
    let relayed = msgs
        .iter()
        .find(|x| x.html.contains("I am here"))
        .unwrap()
        .clone();
    assert_eq!(relayed.from, "u-alice", "sent through the relay account");
    assert_eq!(
        relayed.html, "<strong>Carol Matrix</strong>: I am here",
        "the name is shown once"
    );

    // Her edit keeps her name in front.
    carol
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "* I am here now", "m.new_content": {"msgtype": "m.text", "body": "I am here now"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": said}}),
        )
        .await?;
    t.teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter().any(|x| {
                x.id == relayed.id && x.html == "<strong>Carol Matrix</strong>: I am here now"
            })
        })
        .await?;

    // Bob answers from Teams; the relayed message did not come back as Alice's.
    t.teams.post(CHAT, "u-bob", "<p>hi Carol</p>");
    alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "hi Carol")
        .await?;
    let echoes = alice
        .messages(&portal)
        .await?
        .iter()
        .filter(|e| e["sender"] == ghost("u-alice").as_str() && e["type"] == "m.room.message")
        .count();
    assert_eq!(echoes, 0);
    t.check_conformance()?;
    t.stop().await
}
