//! The Slack connector receiving through the Events API over HTTP (`platforms.slack.
//! events_api`) end to end: a real Synapse, the bridge, and the fake Slack POSTing signed
//! event deliveries to the bridge's `/_aqueduct/slack/events`, with Slack's retries.

use aqueduct_core::ghost_ids::GhostNamer;
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use aqueduct_testkit::bridge_env::BridgeEnv;
use aqueduct_testkit::fake_slack::{
    EventsHttp, EventsHttpOptions, FakeSlack, check_requests_against_spec, load_slack_spec,
    validate_event_wrapper,
};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::slack_env::{EVENTS_SIGNING_SECRET, events_api_env};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SIGNING_SECRET: &str = EVENTS_SIGNING_SECRET;

fn ghost(user: &str) -> String {
    GhostNamer::new("aqueduct_", "localhost").user_id(
        &ConnectorId::new("slack"),
        &RemoteUserId::new(format!("T0FAKE-{user}")),
    )
}

struct Setup {
    env: BridgeEnv,
    slack: FakeSlack,
    deliveries: EventsHttp,
    alice: MatrixClient,
}

async fn setup() -> anyhow::Result<Setup> {
    let (slack, env, url) = events_api_env("").await?;
    let deliveries = slack.deliver_events_over_http(EventsHttpOptions::new(url, SIGNING_SECRET));
    let alice = env.user("alice").await?;
    Ok(Setup {
        env,
        slack,
        deliveries,
        alice,
    })
}

/// Logs in with the bot token alone: over HTTP no app-level token is needed.
async fn login(s: &Setup) -> anyhow::Result<()> {
    let room = s.env.management_room(&s.alice).await?;
    s.env
        .command(
            &s.alice,
            &room,
            &format!("login slack app {}", s.slack.bot_token()),
            "Logged in",
        )
        .await?;
    Ok(())
}

fn assert_conforms(slack: &FakeSlack) {
    let spec = load_slack_spec().expect("Slack's OpenAPI file");
    let problems: Vec<String> = check_requests_against_spec(&slack.requests(), &spec)
        .into_iter()
        .filter(|p| !p.contains("not in spec"))
        .collect();
    assert!(
        problems.is_empty(),
        "requests that disagree with Slack's OpenAPI: {problems:#?}"
    );
    for wrapper in slack.emitted_events() {
        let problems = validate_event_wrapper(&wrapper);
        assert!(problems.is_empty(), "{problems:?} in {wrapper}");
    }
}

/// Bodies of the messages `sender` sent to `room`, oldest first.
async fn bodies_from(
    alice: &MatrixClient,
    room: &str,
    sender: &str,
) -> anyhow::Result<Vec<String>> {
    Ok(alice
        .messages(room)
        .await?
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
        .filter(|e| e["content"]["m.relates_to"]["rel_type"] != "m.replace")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect())
}

/// A well-formed `event_callback` wrapper for a message by Bob, not emitted by the fake.
fn forged_message(event_id: &str, text: &str) -> String {
    json!({
        "token": "verif", "team_id": "T0FAKE", "api_app_id": "A0FAKE", "type": "event_callback",
        "event_id": event_id, "event_time": 1, "authorizations": [],
        "event": {"type": "message", "channel": "C1", "user": "UBOB", "text": text,
                  "ts": "1700000000.000100", "event_ts": "1700000000.000100", "channel_type": "channel"},
    })
    .to_string()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_over_http_reach_matrix_once_and_forged_requests_are_refused() -> anyhow::Result<()>
{
    let s = setup().await?;
    let bridge = s.env.start_in_process().await?;

    // Saving the Request URL in Slack's app settings: the bridge answers the challenge.
    let verified = s
        .deliveries
        .url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        .await?;
    assert_eq!(verified.status, 200);
    let answer: Value = serde_json::from_str(&verified.body)?;
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    login(&s).await?;
    let bob = ghost("UBOB");
    let first = s.slack.post("C1", "UBOB", "hello over http", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let hello = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello over http")
        .await?;
    let hello_id = hello["event_id"].as_str().unwrap().to_owned();

    // An edit and a reaction from Slack.
    s.slack.edit("C1", &first, "hello edited");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["m.relates_to"]["event_id"] == hello_id.as_str()
                && e["content"]["m.new_content"]["body"] == "hello edited"
        })
        .await?;
    s.slack.react("C1", &first, "UBOB", "tada", true);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction"
                && e["sender"] == bob.as_str()
                && e["content"]["m.relates_to"]["key"] == "🎉"
        })
        .await?;

    // Slack retries a delivery it thinks timed out: acknowledged, not bridged again.
    for subtype in [
        Value::Null,
        json!("message_changed"),
        json!("reaction_added"),
    ] {
        let event_id = s
            .deliveries
            .emitted_event_id(|e| match e["type"].as_str() {
                Some("message") => e["subtype"] == subtype,
                kind => subtype == kind.map(Value::from).unwrap_or_default(),
            })
            .expect("emitted");
        assert_eq!(s.deliveries.redeliver(&event_id, 1).await?.status, 200);
    }

    // A forged request and a replayed (stale) one are refused and bridge nothing.
    let forged = forged_message("EvFORGED1", "forged message");
    let now = now_secs().to_string();
    let wrong_key = format!("v0={}", "0".repeat(64));
    let refused = s.deliveries.post_raw(&forged, &now, &wrong_key).await?;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let stale_ts = (now_secs() - 10 * 60).to_string();
    let replay = forged_message("EvSTALE1", "replayed message");
    let stale = s
        .deliveries
        .post_raw(&replay, &stale_ts, &s.deliveries.sign(&stale_ts, &replay))
        .await?;
    assert_eq!(stale.status, 401);
    assert!(stale.body.contains("5 minutes"), "{}", stale.body);
    let garbled = "{not json";
    let malformed = s
        .deliveries
        .post_raw(garbled, &now, &s.deliveries.sign(&now, garbled))
        .await?;
    assert_eq!(malformed.status, 400);

    // Matrix -> Slack still works.
    s.alice.send_text(&room, "hi from matrix").await?;
    s.slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "hi from matrix"))
        .await?;

    // A last message from Slack: everything before it has been handled.
    s.slack.post("C1", "UBOB", "last", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "last")
        .await?;
    assert_eq!(
        bodies_from(&s.alice, &room, &bob).await?,
        ["hello over http", "last"],
        "each message once; nothing forged or replayed"
    );
    let reactions = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["type"] == "m.reaction" && e["sender"] == bob.as_str())
        .count();
    assert_eq!(reactions, 1, "the retried reaction is not bridged twice");
    let edits = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["content"]["m.relates_to"]["rel_type"] == "m.replace")
        .count();
    assert_eq!(edits, 1, "the retried edit is not bridged twice");
    assert_eq!(
        s.slack.connections(),
        0,
        "no Socket Mode connection in HTTP mode"
    );
    assert!(
        s.deliveries
            .attempts()
            .iter()
            .all(|a| a.status == Some(200)),
        "every delivery accepted at once: {:#?}",
        s.deliveries.attempts()
    );
    assert_conforms(&s.slack);
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_posted_while_the_bridge_is_down_arrive_once_in_order() -> anyhow::Result<()> {
    let s = setup().await?;
    let bridge = s.env.start_in_process().await?;
    login(&s).await?;
    let bob = ghost("UBOB");
    s.slack.post("C1", "UBOB", "before", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "before")
        .await?;
    bridge.stop().await?;

    // Slack's deliveries fail while the bridge is down, and are dropped after 3 retries.
    for i in 0..3 {
        s.slack.post("C1", "UBOB", &format!("while down {i}"), None);
    }
    let missed: Vec<String> = s
        .slack
        .emitted_events()
        .iter()
        .filter(|w| {
            w["event"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("while down"))
        })
        .map(|w| w["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(missed.len(), 3);
    let attempts = s
        .deliveries
        .wait_for_attempts(WAIT, |a| {
            missed
                .iter()
                .all(|id| a.iter().any(|x| &x.event_id == id && x.retry_num == 3))
        })
        .await?;
    assert!(
        attempts
            .iter()
            .filter(|a| missed.contains(&a.event_id))
            .all(|a| a.status.is_none()),
        "nothing answered while the bridge was down: {attempts:#?}"
    );

    // Started again, the bridge catches up from its checkpoint.
    let bridge = s.env.start_in_process().await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "while down 2")
        .await?;
    s.slack.post("C1", "UBOB", "after", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "after")
        .await?;
    assert_eq!(
        bodies_from(&s.alice, &room, &bob).await?,
        [
            "before",
            "while down 0",
            "while down 1",
            "while down 2",
            "after"
        ]
    );
    assert_conforms(&s.slack);
    bridge.stop().await?;
    Ok(())
}
