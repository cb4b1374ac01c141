//! The transaction endpoint against what a homeserver (or someone pretending to be one) may
//! send: real-size transactions, one hostile event among good ones, bodies that are not JSON.
//! The router is served on loopback and the requests are real HTTP.

use aqueduct_matrix::{AppserviceHandler, router, router_with_limit};
use async_trait::async_trait;
use ruma::api::appservice::event::push_events;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "hs-token-for-tests";

/// A stored transaction: its id and its (room, event JSON) pairs.
type Stored = (String, Vec<(Option<String>, String)>);

/// Keeps what it is given.
#[derive(Default)]
struct Recorder {
    stored: Mutex<Vec<Stored>>,
    observed_to_device: Mutex<Vec<usize>>,
}

#[async_trait]
impl AppserviceHandler for Recorder {
    async fn receive_transaction(
        &self,
        txn_id: &str,
        events: Vec<(Option<String>, String)>,
    ) -> Result<(), String> {
        self.stored
            .lock()
            .unwrap()
            .push((txn_id.to_owned(), events));
        Ok(())
    }
    async fn observe_transaction(&self, transaction: &push_events::v1::Request) {
        self.observed_to_device
            .lock()
            .unwrap()
            .push(transaction.to_device.len());
    }
    async fn query_user(&self, _user_id: &str) -> bool {
        false
    }
    async fn query_room_alias(&self, _alias: &str) -> bool {
        false
    }
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn put(url: &str, txn: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .put(format!("{url}/_matrix/app/v1/transactions/{txn}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn event(i: usize, body: &str) -> Value {
    json!({
        "type": "m.room.message",
        "room_id": "!room:hs",
        "sender": "@alice:hs",
        "event_id": format!("$e{i}"),
        "origin_server_ts": 1,
        "content": { "msgtype": "m.text", "body": body },
    })
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn a_real_size_transaction_is_taken_whole() {
    let recorder = Arc::new(Recorder::default());
    let url = serve(router(recorder.clone(), TOKEN)).await;
    // 100 events of ~60 KiB, 50 typing/receipt events, 100 to-device messages: ~6 MB, three
    // times axum's default limit.
    let big = "x".repeat(60 * 1024);
    let events: Vec<Value> = (0..100).map(|i| event(i, &big)).collect();
    let ephemeral: Vec<Value> = (0..50)
        .map(|i| json!({ "type": "m.typing", "room_id": format!("!r{i}:hs"), "content": { "user_ids": ["@a:hs"] } }))
        .collect();
    let to_device: Vec<Value> = (0..100)
        .map(|i| json!({ "type": "m.room_key_request", "sender": "@a:hs", "to_user_id": "@bot:hs", "to_device_id": "D", "content": { "pad": "y".repeat(4096), "i": i } }))
        .collect();
    let body = serde_json::to_vec(&json!({
        "events": events,
        "ephemeral": ephemeral,
        "de.sorunome.msc2409.to_device": to_device,
    }))
    .unwrap();
    assert!(body.len() > 6_000_000, "{}", body.len());
    let (status, _) = put(&url, "big", body).await;
    assert_eq!(status, 200);
    let stored = recorder.stored.lock().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.len(), 150);
    assert!(
        stored[0].1[..100]
            .iter()
            .all(|(room, json)| room.as_deref() == Some("!room:hs") && json.len() > 60 * 1024)
    );
    assert_eq!(*recorder.observed_to_device.lock().unwrap(), vec![100]);
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_refused_with_413() {
    let recorder = Arc::new(Recorder::default());
    let url = serve(router_with_limit(recorder.clone(), TOKEN, 1024 * 1024)).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let body = serde_json::to_vec(&json!({ "events": [event(0, &big)] })).unwrap();
    let (status, _) = put(&url, "too-big", body).await;
    assert_eq!(status, 413);
    assert!(recorder.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn one_hostile_event_costs_only_itself() {
    let recorder = Arc::new(Recorder::default());
    let url = serve(router(recorder.clone(), TOKEN)).await;
    // Written by hand: a deeply nested content, a number out of range, a non-object, an event
    // missing every field, a huge integer, duplicate keys, hostile HTML.
    let body = format!(
        r#"{{"events": [
            {first},
            {{"type": "m.room.message", "room_id": "!room:hs", "sender": "@e:hs", "event_id": "$deep", "content": {{"body": {deep}}}}},
            {{"type": "m.room.message", "room_id": "!room:hs", "event_id": "$inf", "content": {{"n": 1e400}}}},
            "not an event",
            {{}},
            {{"type": "m.room.message", "room_id": "!room:hs", "event_id": "$huge", "content": {{"body": "n", "n": 123456789012345678901234567890123456789}}}},
            {{"type": "m.room.message", "room_id": "!room:hs", "room_id": "!other:hs", "event_id": "$dup", "content": {{"body": "<script>alert(1)</script><img src=x onerror=alert(1)>"}}}},
            {last}
          ],
          "ephemeral": [ {deep_edu}, {{"type": "m.typing", "room_id": "!room:hs", "content": {{"user_ids": []}}}} ],
          "de.sorunome.msc2409.to_device": [{{"type": "m.dummy", "sender": "@a:hs", "to_user_id": "@b:hs", "to_device_id": "D", "content": {{}}}}]
        }}"#,
        first = event(0, "before"),
        deep = nested(5000),
        deep_edu = nested(200),
        last = event(9, "after"),
    );
    let (status, answer) = put(&url, "hostile", body.into_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let stored = recorder.stored.lock().unwrap();
    let ids: Vec<String> = stored[0]
        .1
        .iter()
        .map(|(_, j)| {
            serde_json::from_str::<Value>(j).unwrap()["event_id"]
                .as_str()
                .unwrap_or("-")
                .to_owned()
        })
        .collect();
    // Kept: the good ones, the empty object (the engine ignores it), the huge integer (a
    // float to JSON), duplicate keys (the last wins), the HTML (a string like any other).
    assert_eq!(ids, ["$e0", "-", "$huge", "$dup", "$e9", "-"]);
    assert_eq!(stored[0].1[3].0.as_deref(), Some("!other:hs"));
    assert_eq!(*recorder.observed_to_device.lock().unwrap(), vec![1]);
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_stay_400() {
    let recorder = Arc::new(Recorder::default());
    let url = serve(router(recorder.clone(), TOKEN)).await;
    for body in [
        b"{not json".to_vec(),
        b"\xff\xfe{\"events\": []}".to_vec(),
        br#"{"events": ["#.to_vec(),
        b"[]".to_vec(),
        br#"{"events": "not a list"}"#.to_vec(),
        nested(100_000).into_bytes(),
        Vec::new(),
    ] {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let (status, answer) = put(&url, "bad", body).await;
        assert_eq!(status, 400, "{shown}: {answer}");
        assert_eq!(answer["errcode"], "M_BAD_JSON", "{shown}");
    }
    assert!(recorder.stored.lock().unwrap().is_empty());
    // Unknown top-level fields and event types are fine.
    let (status, _) = put(
        &url,
        "odd",
        br#"{"events": [{"type": "org.example.unknown", "room_id": "!r:hs", "content": {}}], "org.example.field": 1}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(recorder.stored.lock().unwrap()[0].1.len(), 1);
}

#[tokio::test]
async fn ephemeral_events_under_both_names_are_taken_once() {
    let recorder = Arc::new(Recorder::default());
    let url = serve(router(recorder.clone(), TOKEN)).await;
    let typing =
        json!({ "type": "m.typing", "room_id": "!r:hs", "content": { "user_ids": ["@a:hs"] } });
    let both =
        json!({ "events": [], "ephemeral": [typing], "de.sorunome.msc2409.ephemeral": [typing] });
    let (status, _) = put(&url, "both", serde_json::to_vec(&both).unwrap()).await;
    assert_eq!(status, 200);
    let unstable = json!({ "events": [], "de.sorunome.msc2409.ephemeral": [typing] });
    let (status, _) = put(&url, "unstable", serde_json::to_vec(&unstable).unwrap()).await;
    assert_eq!(status, 200);
    let stored = recorder.stored.lock().unwrap();
    assert_eq!(stored[0].1.len(), 1, "{:?}", stored[0]);
    assert_eq!(stored[1].1.len(), 1, "{:?}", stored[1]);
}
