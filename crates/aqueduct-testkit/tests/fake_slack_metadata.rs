//! The fake Slack's message metadata (`chat.postMessage`'s `metadata`, read back with
//! `include_all_metadata`), the narrow spec exception for it, and its lost and stalled answers.

use aqueduct_testkit::fake_slack::{FakeSlack, check_requests_against_spec, load_slack_spec};
use serde_json::{Value, json};
use std::time::Duration;

async fn setup() -> FakeSlack {
    let fake = FakeSlack::start().await.expect("start fake slack");
    fake.add_user("U1", "alice", "Alice A");
    fake.add_channel("C1", "general", &["UBOT", "U1"], false);
    fake
}

async fn call_json(fake: &FakeSlack, method: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/{method}", fake.api_base()))
        .bearer_auth(fake.bot_token())
        .json(&body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

async fn call_form(fake: &FakeSlack, method: &str, form: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .post(format!("{}/{method}", fake.api_base()))
        .bearer_auth(fake.bot_token())
        .form(form)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

fn metadata(event: &str) -> Value {
    json!({"event_type": "aqueduct_matrix_event", "event_payload": {"matrix_event_id": event}})
}

#[tokio::test]
async fn metadata_is_stored_and_listed_only_when_asked_for() {
    let fake = setup().await;
    // A form body carries it as JSON text, a JSON body as an object.
    let form = call_form(
        &fake,
        "chat.postMessage",
        &[
            ("channel", "C1"),
            ("text", "from a form"),
            ("metadata", &metadata("$form").to_string()),
        ],
    )
    .await;
    assert_eq!(form["ok"], true, "{form}");
    let root = form["ts"].as_str().unwrap().to_owned();
    let posted = call_json(
        &fake,
        "chat.postMessage",
        json!({"channel": "C1", "text": "in a thread", "thread_ts": root, "metadata": metadata("$json")}),
    )
    .await;
    assert_eq!(posted["ok"], true, "{posted}");
    let stored: Vec<Option<Value>> = fake
        .messages("C1")
        .into_iter()
        .map(|m| m.metadata)
        .collect();
    assert_eq!(
        stored,
        vec![Some(metadata("$form")), Some(metadata("$json"))]
    );

    let plain = call_form(&fake, "conversations.history", &[("channel", "C1")]).await;
    assert!(plain["messages"][0].get("metadata").is_none(), "{plain}");
    let with = call_form(
        &fake,
        "conversations.history",
        &[("channel", "C1"), ("include_all_metadata", "true")],
    )
    .await;
    assert_eq!(with["messages"][0]["metadata"], metadata("$form"), "{with}");
    let replies = call_form(
        &fake,
        "conversations.replies",
        &[("channel", "C1"), ("ts", &root)],
    )
    .await;
    assert!(
        replies["messages"][1].get("metadata").is_none(),
        "{replies}"
    );
    let replies = call_form(
        &fake,
        "conversations.replies",
        &[
            ("channel", "C1"),
            ("ts", &root),
            ("include_all_metadata", "true"),
        ],
    )
    .await;
    assert_eq!(
        replies["messages"][1]["metadata"],
        metadata("$json"),
        "{replies}"
    );

    // Slack's errors for metadata that is not JSON, or not of its shape.
    let bad = call_form(
        &fake,
        "chat.postMessage",
        &[("channel", "C1"), ("text", "x"), ("metadata", "{not json")],
    )
    .await;
    assert_eq!(bad["error"], "invalid_metadata_format", "{bad}");
    let bad = call_json(
        &fake,
        "chat.postMessage",
        json!({"channel": "C1", "text": "x", "metadata": {"event_payload": {}}}),
    )
    .await;
    assert_eq!(bad["error"], "invalid_metadata_schema", "{bad}");
    assert_eq!(fake.messages("C1").len(), 2);
}

#[tokio::test]
async fn the_spec_check_takes_metadata_only_where_slack_documents_it() {
    let fake = setup().await;
    let posted = call_form(
        &fake,
        "chat.postMessage",
        &[
            ("channel", "C1"),
            ("text", "hi"),
            ("metadata", &metadata("$e").to_string()),
        ],
    )
    .await;
    call_json(
        &fake,
        "chat.postMessage",
        json!({"channel": "C1", "text": "hi", "metadata": metadata("$f")}),
    )
    .await;
    let ts = posted["ts"].as_str().unwrap().to_owned();
    for method in ["conversations.history", "conversations.replies"] {
        call_form(
            &fake,
            method,
            &[
                ("channel", "C1"),
                ("ts", &ts),
                ("include_all_metadata", "true"),
            ],
        )
        .await;
    }
    let spec = load_slack_spec().expect("spec");
    let problems = check_requests_against_spec(&fake.requests(), &spec);
    // `ts` is not an argument of conversations.history: the check still works there.
    assert_eq!(
        problems.len(),
        1,
        "only the history's `ts` is foreign: {problems:?}"
    );
    assert!(problems[0].contains("`ts`"), "{problems:?}");

    // The exception is per method: `metadata` elsewhere, or a mistyped flag, still fails.
    let fake = setup().await;
    call_form(
        &fake,
        "chat.update",
        &[
            ("channel", "C1"),
            ("ts", &ts),
            ("text", "x"),
            ("metadata", "{}"),
        ],
    )
    .await;
    call_form(
        &fake,
        "conversations.info",
        &[("channel", "C1"), ("include_all_metadata", "true")],
    )
    .await;
    call_form(
        &fake,
        "conversations.history",
        &[("channel", "C1"), ("include_all_metadata", "always")],
    )
    .await;
    let problems = check_requests_against_spec(&fake.requests(), &spec);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("chat.update") && p.contains("`metadata`"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("conversations.info") && p.contains("`include_all_metadata`"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("conversations.history") && p.contains("not of type boolean"))
    );
}

#[tokio::test]
async fn a_lost_or_stalled_answer_still_posts() {
    let fake = setup().await;
    fake.lose_answers("chat.postMessage", 1);
    let lost = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", fake.api_base()))
        .bearer_auth(fake.bot_token())
        .form(&[("channel", "C1"), ("text", "lost answer")])
        .send()
        .await;
    let read = match lost {
        Ok(r) => r.json::<Value>().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(read.is_err(), "the answer must not arrive whole");
    assert_eq!(fake.messages("C1").len(), 1, "the post was carried out");

    fake.stall_answers("chat.postMessage", 1);
    let stalled = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", fake.api_base()))
        .bearer_auth(fake.bot_token())
        .timeout(Duration::from_millis(500))
        .form(&[("channel", "C1"), ("text", "stalled answer")])
        .send()
        .await;
    assert!(stalled.is_err_and(|e| e.is_timeout()));
    assert_eq!(fake.messages("C1").len(), 2, "the post was carried out");

    // Only as many answers as asked for are lost.
    let fine = call_form(
        &fake,
        "chat.postMessage",
        &[("channel", "C1"), ("text", "fine")],
    )
    .await;
    assert_eq!(fine["ok"], true, "{fine}");
    let texts: Vec<String> = fake.messages("C1").into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["lost answer", "stalled answer", "fine"]);
}
