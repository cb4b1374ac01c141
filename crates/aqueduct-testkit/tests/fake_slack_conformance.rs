//! Conformance of the fake Slack with Slack's wire protocol and the vendor's specs.

use aqueduct_testkit::fake_slack::{
    FakeSlack, TokenKind, check_requests_against_spec, check_requests_against_spec_report,
    load_slack_spec, validate_event_wrapper,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const T: Duration = Duration::from_secs(5);

async fn setup() -> FakeSlack {
    let fake = FakeSlack::start().await.expect("start fake slack");
    fake.add_user("U1", "alice", "Alice A");
    fake.add_user("U2", "bob", "Bob B");
    fake.add_channel("C1", "general", &["UBOT", "U1", "U2"], false);
    fake.add_channel("C2", "elsewhere", &["U1"], false);
    fake.add_im("D1", "U1");
    fake
}

async fn call(fake: &FakeSlack, token: &str, method: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/{method}", fake.api_base()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

async fn call_form(fake: &FakeSlack, token: &str, method: &str, form: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .post(format!("{}/{method}", fake.api_base()))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

async fn call_get(fake: &FakeSlack, token: &str, method: &str, query: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .get(format!("{}/{method}", fake.api_base()))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

async fn connect(fake: &FakeSlack) -> Ws {
    let (_, open) = call(fake, &fake.app_token(), "apps.connections.open", json!({})).await;
    assert_eq!(open["ok"], true, "{open}");
    let url = open["url"].as_str().expect("url");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect");
    ws
}

/// Next JSON text frame, or None on timeout/close.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match m.ok()? {
            Message::Text(t) => return Some(serde_json::from_str(t.as_str()).expect("json frame")),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

async fn next_envelope(ws: &mut Ws) -> Value {
    loop {
        let v = next_json(ws, T).await.expect("an envelope");
        if v["type"] == "events_api" {
            return v;
        }
    }
}

async fn ack(ws: &mut Ws, env: &Value) {
    let a = json!({ "envelope_id": env["envelope_id"] });
    ws.send(Message::Text(a.to_string().into()))
        .await
        .expect("send ack");
}

async fn hello(ws: &mut Ws) {
    let h = next_json(ws, T).await.expect("hello");
    assert_eq!(h["type"], "hello");
    assert_eq!(h["connection_info"]["app_id"], "A0FAKE");
    assert!(h["num_connections"].is_u64());
}

#[tokio::test]
async fn auth_test_tokens() {
    let fake = setup().await;
    let (status, ok) = call(&fake, &fake.bot_token(), "auth.test", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["user_id"], "UBOT");
    assert_eq!(ok["bot_id"], "BBOT");
    assert_eq!(ok["team_id"], "T0FAKE");
    assert!(ok["url"].is_string() && ok["team"].is_string() && ok["user"].is_string());

    let (status, bad) = call(&fake, "xoxb-nope", "auth.test", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(bad, json!({"ok": false, "error": "invalid_auth"}));

    let none: Value = reqwest::Client::new()
        .post(format!("{}/auth.test", fake.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["error"], "not_authed");

    let (_, user) = call(&fake, &fake.user_token("U1"), "auth.test", json!({})).await;
    assert_eq!(user["user_id"], "U1");
    assert!(user.get("bot_id").is_none());

    let (_, app) = call(&fake, &fake.app_token(), "auth.test", json!({})).await;
    assert_eq!(app["error"], "not_allowed_token_type");

    let kinds: Vec<TokenKind> = fake.requests().into_iter().map(|r| r.token_kind).collect();
    assert_eq!(
        kinds,
        vec![
            TokenKind::Bot,
            TokenKind::Invalid,
            TokenKind::Missing,
            TokenKind::User("U1".into()),
            TokenKind::App
        ]
    );
}

#[tokio::test]
async fn connections_open_needs_app_token() {
    let fake = setup().await;
    let (_, bot) = call(&fake, &fake.bot_token(), "apps.connections.open", json!({})).await;
    assert_eq!(bot["ok"], false);
    assert!(
        bot["error"] == "not_allowed_token_type" || bot["error"] == "invalid_auth",
        "{bot}"
    );
    let (_, app) = call(&fake, &fake.app_token(), "apps.connections.open", json!({})).await;
    assert_eq!(app["ok"], true);
    assert!(app["url"].as_str().unwrap().starts_with("ws://127.0.0.1:"));
}

#[tokio::test]
async fn socket_hello_envelope_and_schema() {
    let fake = setup().await;
    let mut ws = connect(&fake).await;
    hello(&mut ws).await;
    assert_eq!(fake.connections(), 1);
    let ts = fake.post("C1", "U1", "hello <@U2>", None);
    let env = next_envelope(&mut ws).await;
    assert!(env["envelope_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(env["accepts_response_payload"], false);
    assert_eq!(env["retry_attempt"], 0);
    assert_eq!(env["retry_reason"], "");
    let payload = &env["payload"];
    assert_eq!(validate_event_wrapper(payload), Vec::<String>::new());
    assert_eq!(payload["type"], "event_callback");
    assert_eq!(payload["authorizations"][0]["user_id"], "UBOT");
    let ev = &payload["event"];
    assert_eq!(ev["type"], "message");
    assert_eq!(ev["channel"], "C1");
    assert_eq!(ev["user"], "U1");
    assert_eq!(ev["ts"], ts.as_str());
    assert_eq!(ev["channel_type"], "channel");
    assert!(ev["client_msg_id"].is_string());
    assert!(ev.get("subtype").is_none());
    ack(&mut ws, &env).await;

    // Channels without the bot produce no events; IMs do.
    fake.post("C2", "U1", "unseen", None);
    fake.post("D1", "U1", "dm", None);
    let env = next_envelope(&mut ws).await;
    assert_eq!(env["payload"]["event"]["channel"], "D1");
    assert_eq!(env["payload"]["event"]["channel_type"], "im");
    ack(&mut ws, &env).await;

    // Edits, deletes, reactions, files, topics, renames: every wrapper validates.
    let reply = fake.post("C1", "U2", "in thread", Some(&ts));
    fake.edit("C1", &reply, "edited");
    fake.react("C1", &ts, "U2", "thumbsup", true);
    fake.react("C1", &ts, "U2", "thumbsup", false);
    fake.upload_file("C1", "U1", "a.png", "image/png", vec![1, 2, 3], "pic");
    fake.set_topic("C1", "U1", "new topic");
    fake.rename_channel("C1", "general2");
    fake.delete("C1", &reply);
    fake.join_channel("C1", "U9");
    let mut types = Vec::new();
    for _ in 0..11 {
        let env = next_envelope(&mut ws).await;
        assert_eq!(
            validate_event_wrapper(&env["payload"]),
            Vec::<String>::new()
        );
        let ev = &env["payload"]["event"];
        types.push(format!(
            "{}/{}",
            ev["type"].as_str().unwrap(),
            ev["subtype"].as_str().unwrap_or("")
        ));
        ack(&mut ws, &env).await;
    }
    assert_eq!(
        types,
        [
            "message/",
            "message/message_changed",
            "reaction_added/",
            "reaction_removed/",
            "message/file_share",
            "message/channel_topic",
            "channel_rename/",
            "message/channel_name",
            "message/message_deleted",
            "message/channel_join",
            "member_joined_channel/",
        ]
    );
    let events = fake.emitted_events();
    let changed = events
        .iter()
        .map(|w| &w["event"])
        .find(|e| e["subtype"] == "message_changed")
        .unwrap();
    assert_eq!(changed["hidden"], true);
    assert_eq!(changed["message"]["text"], "edited");
    assert_eq!(changed["message"]["ts"], reply.as_str());
    assert_eq!(changed["message"]["edited"]["user"], "U2");
    assert_eq!(changed["previous_message"]["text"], "in thread");
    let thread_reply = events
        .iter()
        .map(|w| &w["event"])
        .find(|e| e["ts"] == reply.as_str())
        .unwrap();
    assert_eq!(thread_reply["thread_ts"], ts.as_str());
    assert_eq!(thread_reply["parent_user_id"], "U1");
    for w in &events {
        assert_eq!(validate_event_wrapper(w), Vec::<String>::new());
    }
    assert_eq!(fake.channel_info("C1").unwrap()["topic"], "new topic");
}

#[tokio::test]
async fn unacked_envelopes_are_redelivered() {
    let fake = setup().await;
    fake.set_ack_timeout(Duration::from_millis(300));
    let mut ws = connect(&fake).await;
    hello(&mut ws).await;
    fake.post("C1", "U1", "one", None);
    let first = next_envelope(&mut ws).await;
    let again = next_envelope(&mut ws).await;
    assert_eq!(again["retry_attempt"], 1);
    assert_eq!(again["retry_reason"], "timeout");
    assert_eq!(again["payload"]["event_id"], first["payload"]["event_id"]);
    assert_eq!(again["envelope_id"], first["envelope_id"]);
    ack(&mut ws, &again).await;
    // Acked: nothing more arrives within several ack timeouts.
    assert!(
        next_json(&mut ws, Duration::from_millis(1200))
            .await
            .is_none()
    );
    assert_eq!(fake.unacked(), 0);

    // After an abrupt drop, an unacked envelope comes again on the new connection.
    fake.set_ack_timeout(Duration::from_secs(30));
    fake.post("C1", "U1", "two", None);
    let two = next_envelope(&mut ws).await;
    assert_eq!(two["retry_attempt"], 0);
    fake.drop_socket();
    assert!(next_json(&mut ws, T).await.is_none());
    let mut ws2 = connect(&fake).await;
    hello(&mut ws2).await;
    let re = next_envelope(&mut ws2).await;
    assert_eq!(re["payload"]["event_id"], two["payload"]["event_id"]);
    assert_eq!(re["retry_attempt"], 1);
    ack(&mut ws2, &re).await;
    assert_eq!(fake.connections(), 2);

    // A disconnect request, then a close.
    fake.send_disconnect();
    let d = next_json(&mut ws2, T).await.expect("disconnect frame");
    assert_eq!(d["type"], "disconnect");
    assert_eq!(d["reason"], "refresh_requested");
    assert!(next_json(&mut ws2, T).await.is_none());
    assert_eq!(fake.unacked(), 0);
}

#[tokio::test]
async fn bot_posts_are_echoed_and_stored() {
    let fake = setup().await;
    let mut ws = connect(&fake).await;
    hello(&mut ws).await;
    let bot = fake.bot_token();
    let (_, r) = call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"channel": "C1", "text": "from matrix"}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["channel"], "C1");
    let ts = r["ts"].as_str().unwrap().to_string();
    assert_eq!(r["message"]["bot_id"], "BBOT");
    let env = next_envelope(&mut ws).await;
    let ev = &env["payload"]["event"];
    assert_eq!(ev["bot_id"], "BBOT");
    assert_eq!(ev["user"], "UBOT");
    assert_eq!(ev["app_id"], "A0FAKE");
    assert_eq!(ev["ts"], ts.as_str());
    assert!(ev.get("subtype").is_none());
    ack(&mut ws, &env).await;

    // With a username/icon override: a bot_message.
    let r = call_form(
        &fake,
        &bot,
        "chat.postMessage",
        &[
            ("channel", "C1"),
            ("text", "relayed"),
            ("username", "Mallory (Matrix)"),
            ("icon_url", "http://example.org/a.png"),
            ("thread_ts", &ts),
        ],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let env = next_envelope(&mut ws).await;
    let ev = &env["payload"]["event"];
    assert_eq!(ev["subtype"], "bot_message");
    assert_eq!(ev["bot_id"], "BBOT");
    assert_eq!(ev["username"], "Mallory (Matrix)");
    assert_eq!(ev["thread_ts"], ts.as_str());
    ack(&mut ws, &env).await;

    let msgs = fake
        .wait_for("C1", T, |m| m.len() == 2)
        .await
        .expect("two messages");
    assert_eq!(msgs[1].username.as_deref(), Some("Mallory (Matrix)"));
    assert_eq!(msgs[1].thread_ts.as_deref(), Some(ts.as_str()));

    // Update, react, delete, with their errors.
    let (_, up) = call(
        &fake,
        &bot,
        "chat.update",
        json!({"channel": "C1", "ts": ts, "text": "fixed"}),
    )
    .await;
    assert_eq!(up["ok"], true, "{up}");
    let user_ts = fake.post("C1", "U1", "mine", None);
    let (_, no) = call(
        &fake,
        &bot,
        "chat.update",
        json!({"channel": "C1", "ts": user_ts, "text": "x"}),
    )
    .await;
    assert_eq!(no["error"], "cant_update_message");
    let (_, no) = call(
        &fake,
        &bot,
        "chat.update",
        json!({"channel": "C1", "ts": "1.000001", "text": "x"}),
    )
    .await;
    assert_eq!(no["error"], "message_not_found");
    let long = "x".repeat(40_001);
    let (_, no) = call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"channel": "C1", "text": long}),
    )
    .await;
    assert_eq!(no["error"], "msg_too_long");
    let (_, no) = call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"channel": "C2", "text": "x"}),
    )
    .await;
    assert_eq!(no["error"], "not_in_channel");
    let (_, no) = call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"channel": "C404", "text": "x"}),
    )
    .await;
    assert_eq!(no["error"], "channel_not_found");
    let react = json!({"channel": "C1", "timestamp": user_ts, "name": "tada"});
    assert_eq!(
        call(&fake, &bot, "reactions.add", react.clone()).await.1["ok"],
        true
    );
    assert_eq!(
        call(&fake, &bot, "reactions.add", react.clone()).await.1["error"],
        "already_reacted"
    );
    assert_eq!(
        call(&fake, &bot, "reactions.remove", react.clone()).await.1["ok"],
        true
    );
    assert_eq!(
        call(&fake, &bot, "reactions.remove", react).await.1["error"],
        "no_reaction"
    );
    let (_, del) = call(
        &fake,
        &bot,
        "chat.delete",
        json!({"channel": "C1", "ts": ts}),
    )
    .await;
    assert_eq!(del["ok"], true);
    let msgs = fake.messages("C1");
    assert!(msgs[0].deleted && msgs[0].edited);

    // Reads: history newest first (top level only), replies, info, members, users.
    let hist = call_get(&fake, &bot, "conversations.history", &[("channel", "C1")]).await;
    assert_eq!(hist["ok"], true, "{hist}");
    let texts: Vec<&str> = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["mine", "This message was deleted."]);
    assert_eq!(hist["has_more"], false);
    let page = call_get(
        &fake,
        &bot,
        "conversations.history",
        &[("channel", "C1"), ("limit", "1")],
    )
    .await;
    assert_eq!(page["has_more"], true);
    let info = call_get(&fake, &bot, "conversations.info", &[("channel", "D1")]).await;
    assert_eq!(info["channel"]["is_im"], true);
    assert_eq!(info["channel"]["user"], "U1");
    let info = call_get(&fake, &bot, "conversations.info", &[("channel", "C1")]).await;
    assert_eq!(info["channel"]["name"], "general");
    assert_eq!(info["channel"]["is_private"], false);
    let mem = call_get(&fake, &bot, "conversations.members", &[("channel", "C1")]).await;
    assert_eq!(mem["members"], json!(["UBOT", "U1", "U2"]));
    let user = call_get(&fake, &bot, "users.info", &[("user", "U1")]).await;
    assert_eq!(user["user"]["profile"]["display_name"], "Alice A");
    assert_eq!(user["user"]["name"], "alice");
    let mark = call_form(
        &fake,
        &fake.user_token("U1"),
        "conversations.mark",
        &[("channel", "C1"), ("ts", &user_ts)],
    )
    .await;
    assert_eq!(mark["ok"], true, "{mark}");
    assert_eq!(
        fake.last_read("C1", "U1").as_deref(),
        Some(user_ts.as_str())
    );

    let report = check_requests_against_spec_report(&fake.requests(), &load_slack_spec().unwrap());
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.not_in_spec, ["apps.connections.open: not in spec"]);
}

#[tokio::test]
async fn file_upload_flow() {
    let fake = setup().await;
    let bot = fake.bot_token();
    let http = reqwest::Client::new();
    let data = b"hello file".to_vec();
    let len = data.len().to_string();
    let r = call_form(
        &fake,
        &bot,
        "files.getUploadURLExternal",
        &[("filename", "note.txt"), ("length", &len)],
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let url = r["upload_url"].as_str().unwrap();
    let id = r["file_id"].as_str().unwrap();
    let up = http.post(url).body(data.clone()).send().await.unwrap();
    assert_eq!(up.status(), 200);
    let files = json!([{ "id": id, "title": "A note" }]).to_string();
    let done = call_form(
        &fake,
        &bot,
        "files.completeUploadExternal",
        &[
            ("files", &files),
            ("channel_id", "C1"),
            ("initial_comment", "see"),
        ],
    )
    .await;
    assert_eq!(done["ok"], true, "{done}");
    let msgs = fake.messages("C1");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].text, "see");
    assert_eq!(
        msgs[0].files,
        vec![("note.txt".into(), "text/plain".into(), data.clone())]
    );
    // url_private needs the bearer token; without it Slack serves an HTML sign-in page.
    let ev = &fake.emitted_events()[0]["event"];
    assert_eq!(ev["subtype"], "file_share");
    let url_private = ev["files"][0]["url_private"].as_str().unwrap();
    let got = http
        .get(url_private)
        .bearer_auth(&bot)
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), data);
    let anon = http.get(url_private).send().await.unwrap();
    assert!(
        anon.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // A file shared by a user can be fetched the same way.
    fake.upload_file("C1", "U1", "p.png", "image/png", vec![9; 4], "");
    let ev = &fake.emitted_events()[1]["event"];
    assert_eq!(ev["user"], "U1");
    let url = ev["files"][0]["url_private"].as_str().unwrap();
    let got = http.get(url).bearer_auth(&bot).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), vec![9; 4]);
}

#[tokio::test]
async fn rate_limit_returns_429() {
    let fake = setup().await;
    fake.rate_limit("chat.postMessage", 1, 7);
    let r = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", fake.api_base()))
        .bearer_auth(fake.bot_token())
        .json(&json!({"channel": "C1", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"ok": false, "error": "ratelimited"}));
    let (status, ok) = call(
        &fake,
        &fake.bot_token(),
        "chat.postMessage",
        json!({"channel": "C1", "text": "hi"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ok["ok"], true);
    assert_eq!(fake.messages("C1").len(), 1);
}

#[tokio::test]
async fn spec_checker_flags_undeclared_and_mistyped_params() {
    let fake = setup().await;
    let bot = fake.bot_token();
    call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"channel": "C1", "text": "ok", "blocks": [{"type": "divider"}]}),
    )
    .await;
    call_get(
        &fake,
        &bot,
        "conversations.history",
        &[("channel", "C1"), ("limit", "10"), ("inclusive", "true")],
    )
    .await;
    call(
        &fake,
        &bot,
        "reactions.add",
        json!({"channel": "C1", "timestamp": "1.000001", "name": "x"}),
    )
    .await;
    let spec = load_slack_spec().expect("spec");
    assert_eq!(
        check_requests_against_spec(&fake.requests(), &spec),
        Vec::<String>::new()
    );

    call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"chanel": "C1", "text": "typo"}),
    )
    .await;
    call_get(
        &fake,
        &bot,
        "conversations.history",
        &[("channel", "C1"), ("limit", "ten")],
    )
    .await;
    call(
        &fake,
        &bot,
        "chat.postMessage",
        json!({"channel": "C1", "text": "x", "thread_ts": {"a": 1}}),
    )
    .await;
    let problems = check_requests_against_spec(&fake.requests(), &spec);
    assert!(
        problems.iter().any(|p| p.contains("`chanel`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("required parameter `channel`")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("`limit`")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("`thread_ts`")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 4, "{problems:?}");
}

/// DMs between people reach the app only through a member who authorized it (user event
/// subscriptions), with `authorizations` naming that user; only that user's token reads them.
#[tokio::test]
async fn dms_between_people_reach_the_app_only_through_an_authorizing_member() {
    let fake = setup().await;
    fake.add_user("U3", "carol", "Carol C");
    fake.add_user_im("D12", "U1", "U2");
    fake.add_user_im("D23", "U2", "U3");
    let alice = fake.user_token("U1");
    fake.post("D23", "U2", "nobody here authorized the app", None);
    let ts = fake.post("D12", "U2", "hi alice", None);
    let ours: Vec<Value> = fake
        .emitted_events()
        .into_iter()
        .filter(|w| {
            w["event"]["channel"]
                .as_str()
                .is_some_and(|c| c.starts_with('D'))
        })
        .collect();
    assert_eq!(ours.len(), 1, "{ours:#?}");
    let w = &ours[0];
    assert!(validate_event_wrapper(w).is_empty());
    assert_eq!(w["event"]["channel"], "D12");
    assert_eq!(w["event"]["channel_type"], "im");
    assert_eq!(w["authorizations"][0]["user_id"], "U1");
    assert_eq!(w["authorizations"][0]["is_bot"], false);

    let bot = fake.bot_token();
    let info = call_form(&fake, &bot, "conversations.info", &[("channel", "D12")]).await;
    assert_eq!(info["error"], "channel_not_found");
    let history = call_form(&fake, &bot, "conversations.history", &[("channel", "D12")]).await;
    assert_eq!(history["ok"], false);
    let info = call_form(&fake, &alice, "conversations.info", &[("channel", "D12")]).await;
    assert_eq!(info["channel"]["is_im"], true);
    assert_eq!(
        info["channel"]["user"], "U2",
        "the other party, as alice sees it"
    );
    let history = call_form(
        &fake,
        &alice,
        "conversations.history",
        &[("channel", "D12")],
    )
    .await;
    assert_eq!(history["messages"][0]["ts"], ts);
    let members = call_form(
        &fake,
        &alice,
        "conversations.members",
        &[("channel", "D12")],
    )
    .await;
    assert_eq!(members["members"], json!(["U1", "U2"]));

    // The wrapper names one authorization; the app-level token lists them all.
    fake.user_token("U2");
    let context = w["event_context"].as_str().unwrap();
    let all = call_form(
        &fake,
        &fake.app_token(),
        "apps.event.authorizations.list",
        &[("event_context", context)],
    )
    .await;
    let users: Vec<&str> = all["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["user_id"].as_str())
        .collect();
    assert_eq!(users, ["U1", "U2"], "{all}");
    let refused = call_form(
        &fake,
        &bot,
        "apps.event.authorizations.list",
        &[("event_context", context)],
    )
    .await;
    assert_eq!(refused["error"], "not_allowed_token_type");
}
