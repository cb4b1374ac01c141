//! Teams quoted replies end to end: a Matrix reply in a chat portal becomes a Teams reply
//! quoting its message (Graph's `replyWithQuote`, whose message carries a `messageReference`
//! attachment), and a Teams message quoting another becomes a Matrix reply to it.

use aqueduct_testkit::fake_teams::env::{TeamsEnv, WAIT, ghost};
use serde_json::json;

const CHAT: &str = "19:quotes@thread.v2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_quoted_replies_cross_both_ways() -> anyhow::Result<()> {
    let t = TeamsEnv::start("").await?;
    t.teams
        .add_user("u-alice", "Alice Teams", "alice@contoso.com");
    t.teams.add_user("u-bob", "Bob Teams", "bob@contoso.com");
    t.teams
        .add_chat(CHAT, "group", Some("Quotes"), &["u-alice", "u-bob"]);
    let alice = t.env.user("alice").await?;
    t.login(&alice, "u-alice").await?;

    let question = t.teams.post(CHAT, "u-bob", "<p>lunch at noon?</p>");
    let portal = t.env.accept_portal_invite(&alice).await?;
    let question_event = alice
        .wait_for_event(&portal, WAIT, |e| e["content"]["body"] == "lunch at noon?")
        .await?;
    let question_event_id = question_event["event_id"].as_str().unwrap().to_owned();

    // Matrix -> Teams: Alice's reply quotes Bob's question.
    let answer_event = alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "> <@x:localhost> lunch at noon?\n\nsure",
                   "format": "org.matrix.custom.html",
                   "formatted_body": "<mx-reply><blockquote>lunch at noon?</blockquote></mx-reply>sure",
                   "m.relates_to": {"m.in_reply_to": {"event_id": question_event_id}}}),
        )
        .await?;
    let msgs = t
        .teams
        .wait_for(CHAT, WAIT, |m| m.iter().any(|x| x.html.contains("sure")))
        .await?;
    let answer = msgs
        .iter()
        .find(|x| x.html.contains("sure"))
        .unwrap()
        .clone();
    assert_eq!(answer.from, "u-alice");
    let reference = answer
        .attachments
        .iter()
        .find(|a| a["contentType"] == "messageReference")
        .unwrap_or_else(|| panic!("a quote: {answer:#?}"));
    let quoted: serde_json::Value = serde_json::from_str(reference["content"].as_str().unwrap())?;
    assert_eq!(quoted["messageId"], question.as_str());
    assert!(
        answer
            .html
            .contains(&format!("<attachment id=\"{question}\"")),
        "{}",
        answer.html
    );
    assert!(
        !answer.html.contains("lunch at noon"),
        "Matrix's reply fallback is not sent: {}",
        answer.html
    );
    assert!(
        t.teams
            .requests()
            .iter()
            .any(|r| r.ends_with("/messages/replyWithQuote")),
        "{:?}",
        t.teams.requests()
    );

    // Her edit of the reply keeps the quote.
    alice
        .send(
            &portal,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "* sure, noon", "m.new_content": {"msgtype": "m.text", "body": "sure, noon"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": answer_event}}),
        )
        .await?;
    let msgs = t
        .teams
        .wait_for(CHAT, WAIT, |m| {
            m.iter()
                .any(|x| x.id == answer.id && x.html.contains("sure, noon"))
        })
        .await?;
    let edited = msgs.iter().find(|x| x.id == answer.id).unwrap();
    assert!(
        edited
            .html
            .contains(&format!("<attachment id=\"{question}\"")),
        "{}",
        edited.html
    );
    assert!(
        edited
            .attachments
            .iter()
            .any(|a| a["contentType"] == "messageReference")
    );

    // Teams -> Matrix: Bob quotes Alice's answer; Matrix sees a reply to her event, without
    // the quote's text in the body.
    t.teams
        .post_quote(CHAT, "u-bob", &answer.id, "<p>see you there</p>");
    let bobs = alice
        .wait_for_event(&portal, WAIT, |e| {
            e["sender"] == ghost("u-bob").as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("see you there"))
        })
        .await?;
    assert_eq!(
        bobs["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        answer_event.as_str(),
        "{bobs}"
    );
    t.check_conformance()?;
    t.stop().await
}
