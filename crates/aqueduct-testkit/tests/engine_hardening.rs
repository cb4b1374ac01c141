//! The engine in-process, without Synapse: the recording homeserver, the real store (SQLite in
//! a temporary directory) and the test network with its connector. Ordering, echo
//! suppression, panics, dead letters and the inbox's backpressure, each in well under a second.

use aqueduct_core::bridge::MAX_ATTEMPTS;
use aqueduct_core::connector::NetworkConnector;
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::metrics::Metrics;
use aqueduct_core::permissions::{Level, Permissions};
use aqueduct_core::records::Login;
use aqueduct_core::store::Store;
use aqueduct_core::{Bridge, BridgeConfig};
use aqueduct_store::SqlStore;
use aqueduct_testkit::recording_homeserver::{RecordingHomeserver, SentEvent};
use aqueduct_testkit::testnet_connector::{HANG_TEXT, PANIC_TEXT, TestNetConfig, TestNetConnector};
use aqueduct_testkit::testnet_server::TestNet;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ALICE: &str = "@alice:test.local";

/// One engine on a store file, its homeserver and network shared with later "processes".
struct Engine {
    bridge: Bridge,
    store: SqlStore,
}

async fn engine(db: &Path, hs: Arc<RecordingHomeserver>, net: &TestNet, token: &str) -> Engine {
    let store = SqlStore::connect(db.to_str().unwrap()).await.unwrap();
    if store
        .login(&ConnectorId::new("testnet"), &LoginId::new("alice"))
        .await
        .unwrap()
        .is_none()
    {
        store
            .upsert_login(&Login {
                connector: ConnectorId::new("testnet"),
                id: LoginId::new("alice"),
                matrix_user: ALICE.into(),
                remote_user: RemoteUserId::new("alice"),
                remote_name: "Alice".into(),
                secret: json!({ "token": token }),
                state: json!({}),
            })
            .await
            .unwrap();
    }
    let config = BridgeConfig {
        permissions: Permissions::new(HashMap::from([("test.local".to_owned(), Level::User)])),
        backfill_limit: 0,
        ..BridgeConfig::default()
    };
    let connector: Arc<dyn NetworkConnector> = Arc::new(TestNetConnector::new(TestNetConfig {
        url: net.url().to_owned(),
    }));
    let bridge = Bridge::new(
        config,
        Arc::new(store.clone()),
        hs,
        vec![connector],
        Metrics::new(),
    );
    bridge.start().await.unwrap();
    Engine { bridge, store }
}

async fn network() -> (TestNet, String) {
    let net = TestNet::start().await.unwrap();
    let token = net.add_user("alice", "Alice");
    net.add_user("bob", "Bob");
    net.add_chat("c1", Some("General"), &["alice", "bob"], false);
    (net, token)
}

/// Bob says something on the network; returns the portal room once it is in Matrix.
async fn portal_room(net: &TestNet, hs: &RecordingHomeserver) -> String {
    net.post("c1", "bob", "first");
    let events = hs
        .wait_for_events(WAIT, |e| e.iter().any(|e| e.body() == "first"))
        .await;
    events
        .iter()
        .find(|e| e.body() == "first")
        .unwrap()
        .room
        .clone()
}

fn message(room: &str, id: &str, body: &str) -> (Option<String>, String) {
    let json = RecordingHomeserver::room_event(
        room,
        ALICE,
        id,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": body }),
    );
    (Some(room.to_owned()), json)
}

fn metric(bridge: &Bridge, name: &str) -> f64 {
    bridge
        .metrics()
        .registry()
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter().map(|m| m.get_counter().get_value()))
        .sum()
}

fn notices(events: &[SentEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.is_notice())
        .map(|e| e.body().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_keep_their_order_both_ways_and_echoes_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let hs = Arc::new(RecordingHomeserver::new("test.local", "aqueduct"));
    let (net, token) = network().await;
    let e = engine(&dir.path().join("a.db"), hs.clone(), &net, &token).await;
    let room = portal_room(&net, &hs).await;

    for i in 0..30 {
        net.post("c1", "bob", &format!("in {i}"));
    }
    let events = hs
        .wait_for_events(WAIT, |e| e.iter().any(|e| e.body() == "in 29"))
        .await;
    let inbound: Vec<&str> = events
        .iter()
        .filter(|e| e.room == room && e.body().starts_with("in "))
        .map(|e| e.body())
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("in {i}")).collect();
    assert_eq!(inbound, expected);

    // Out: one transaction of 30, then echoes of what the bridge itself sent (a ghost's
    // message, the bot's, an event id the bridge created), then a marker.
    let out: Vec<_> = (0..30)
        .map(|i| message(&room, &format!("$out{i}"), &format!("out {i}")))
        .collect();
    e.bridge.receive_transaction("t1", out).await.unwrap();
    let ghost_event = events.iter().find(|e| e.body() == "in 0").unwrap();
    let echoes = vec![
        (
            Some(room.clone()),
            RecordingHomeserver::room_event(
                &room,
                &ghost_event.sender,
                "$echo1",
                "m.room.message",
                json!({ "msgtype": "m.text", "body": "echo from a ghost" }),
            ),
        ),
        (
            Some(room.clone()),
            RecordingHomeserver::room_event(
                &room,
                "@aqueduct:test.local",
                "$echo2",
                "m.room.message",
                json!({ "msgtype": "m.text", "body": "echo from the bot" }),
            ),
        ),
        message(&room, &ghost_event.event_id, "echo of a bridged event id"),
        message(&room, "$marker", "marker"),
    ];
    e.bridge.receive_transaction("t2", echoes).await.unwrap();
    net.wait_for("c1", WAIT, |m| m.iter().any(|m| m.text == "marker"))
        .await
        .unwrap();
    let sent: Vec<String> = net
        .messages("c1")
        .into_iter()
        .filter(|m| m.sender == "alice")
        .map(|m| m.text)
        .collect();
    let mut expected: Vec<String> = (0..30).map(|i| format!("out {i}")).collect();
    expected.push("marker".into());
    assert_eq!(sent, expected, "order kept, echoes dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_event_is_set_aside_with_a_notice_and_the_room_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let hs = Arc::new(RecordingHomeserver::new("test.local", "aqueduct"));
    let (net, token) = network().await;
    let e = engine(&dir.path().join("a.db"), hs.clone(), &net, &token).await;
    let room = portal_room(&net, &hs).await;

    let secret = format!("{PANIC_TEXT} my secret words");
    e.bridge
        .receive_transaction(
            "t1",
            vec![
                message(&room, "$poison", &secret),
                message(&room, "$next", "after the poison"),
            ],
        )
        .await
        .unwrap();
    net.wait_for("c1", WAIT, |m| {
        m.iter().any(|m| m.text == "after the poison")
    })
    .await
    .unwrap();
    let dead = e.store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempts, MAX_ATTEMPTS);
    assert!(dead[0].json.contains("$poison"));
    assert!(dead[0].reason.contains("panicked"), "{}", dead[0].reason);
    let notices = notices(&hs.events_in(&room));
    let aside: Vec<_> = notices.iter().filter(|n| n.contains("set aside")).collect();
    assert_eq!(aside.len(), 1, "{notices:?}");
    assert!(
        aside[0]
            .starts_with("⚠️ a message could not be bridged after 3 attempts and was set aside:"),
        "{}",
        aside[0]
    );
    assert!(
        !aside[0].contains("secret"),
        "the notice quotes the content: {}",
        aside[0]
    );
    assert_eq!(metric(&e.bridge, "aqueduct_dead_letters_total"), 1.0);
    assert_eq!(metric(&e.bridge, "aqueduct_job_panics_total"), 3.0);
    // Both rows leave the inbox: one set aside, one acknowledged.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !e.store.pending_inbox(0, 10).await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows stay in the inbox"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The portal's queue still runs later work.
    e.bridge
        .receive_transaction("t2", vec![message(&room, "$later", "later")])
        .await
        .unwrap();
    net.wait_for("c1", WAIT, |m| m.iter().any(|m| m.text == "later"))
        .await
        .unwrap();
}

/// Runs one "process" of the bridge on its own runtime until `until` holds, then drops the
/// runtime with whatever it was doing: a crash, as far as the store can tell.
fn run_until_crash(
    db: &Path,
    hs: Arc<RecordingHomeserver>,
    net: &TestNet,
    token: &str,
    work: impl AsyncFnOnce(&Engine),
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let e = engine(db, hs, net, token).await;
        work(&e).await;
    });
    rt.shutdown_background();
}

async fn wait_attempts(store: &SqlStore, seq_json: &str, attempts: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = store.pending_inbox(0, 100).await.unwrap();
        if rows
            .iter()
            .any(|r| r.json.contains(seq_json) && r.attempts >= attempts)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "attempts stay below {attempts}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_crashes_the_bridge_is_set_aside_after_three_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let hs = Arc::new(RecordingHomeserver::new("test.local", "aqueduct"));
    let (net, token) = network().await;
    let room = Arc::new(std::sync::Mutex::new(String::new()));

    // First run: the event arrives and the bridge dies while handling it.
    let (hs1, net1, tok1, db1, room1) = (
        hs.clone(),
        net.clone(),
        token.clone(),
        db.clone(),
        room.clone(),
    );
    tokio::task::spawn_blocking(move || {
        run_until_crash(&db1, hs1.clone(), &net1, &tok1, async |e| {
            let r = portal_room(&net1, &hs1).await;
            *room1.lock().unwrap() = r.clone();
            e.bridge
                .receive_transaction(
                    "t1",
                    vec![
                        message(&r, "$crash", &format!("{HANG_TEXT} words")),
                        message(&r, "$behind", "behind the crash"),
                    ],
                )
                .await
                .unwrap();
            let deadline = tokio::time::Instant::now() + WAIT;
            while e.bridge.queued_matrix_events() < 2 {
                assert!(tokio::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    })
    .await
    .unwrap();
    // Each restart counts an attempt before handling it again, and dies again.
    for attempts in 1..=MAX_ATTEMPTS {
        let (hs, net, token, db) = (hs.clone(), net.clone(), token.clone(), db.clone());
        tokio::task::spawn_blocking(move || {
            run_until_crash(&db, hs, &net, &token, async |e| {
                wait_attempts(&e.store, "$crash", attempts).await;
            })
        })
        .await
        .unwrap();
    }
    // The next start sets it aside, says so, and bridges what waited behind it.
    let e = engine(&db, hs.clone(), &net, &token).await;
    net.wait_for("c1", WAIT, |m| {
        m.iter().any(|m| m.text == "behind the crash")
    })
    .await
    .unwrap();
    let dead = e.store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempts, MAX_ATTEMPTS);
    assert!(dead[0].reason.contains("stopped"), "{}", dead[0].reason);
    let room = room.lock().unwrap().clone();
    let notices = notices(&hs.events_in(&room));
    assert!(
        notices
            .iter()
            .any(|n| n.contains("set aside") && !n.contains("words")),
        "{notices:?}"
    );
    assert!(!net.messages("c1").iter().any(|m| m.text.contains("words")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_inbox_backlog_is_queued_a_bounded_slice_at_a_time_and_all_arrives_in_order() {
    const N: usize = 2_000;
    const BOUND: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let hs = Arc::new(RecordingHomeserver::new("test.local", "aqueduct"));
    let (net, token) = network().await;
    // Set up the portal, then stop; the backlog piles up while the bridge is down.
    let room = {
        let e = engine(&db, hs.clone(), &net, &token).await;
        let room = portal_room(&net, &hs).await;
        e.bridge.shutdown(Duration::from_secs(10)).await;
        e.store.close().await;
        room
    };
    let store = SqlStore::connect(db.to_str().unwrap()).await.unwrap();
    for t in 0..N / 100 {
        let events: Vec<_> = (t * 100..(t + 1) * 100)
            .map(|i| message(&room, &format!("$b{i}"), &format!("backlog {i}")))
            .collect();
        assert!(
            store
                .enqueue_transaction(&format!("t{t}"), &events)
                .await
                .unwrap()
        );
    }
    store.close().await;

    let store = SqlStore::connect(db.to_str().unwrap()).await.unwrap();
    let config = BridgeConfig {
        permissions: Permissions::new(HashMap::from([("test.local".to_owned(), Level::User)])),
        backfill_limit: 0,
        ..BridgeConfig::default()
    };
    let connector: Arc<dyn NetworkConnector> = Arc::new(TestNetConnector::new(TestNetConfig {
        url: net.url().to_owned(),
    }));
    let bridge = Bridge::new(
        config,
        Arc::new(store.clone()),
        hs.clone(),
        vec![connector],
        Metrics::new(),
    );
    bridge.set_max_queued_matrix_events(BOUND);
    let most = Arc::new(AtomicI64::new(0));
    let watcher = {
        let (bridge, most) = (bridge.clone(), most.clone());
        tokio::spawn(async move {
            loop {
                most.fetch_max(bridge.queued_matrix_events(), Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    bridge.start().await.unwrap();
    let last = format!("backlog {}", N - 1);
    net.wait_for("c1", Duration::from_secs(120), |m| {
        m.iter().any(|m| m.text == last)
    })
    .await
    .unwrap();
    watcher.abort();
    let sent: Vec<String> = net
        .messages("c1")
        .into_iter()
        .filter(|m| m.sender == "alice")
        .map(|m| m.text)
        .collect();
    let expected: Vec<String> = (0..N).map(|i| format!("backlog {i}")).collect();
    assert_eq!(sent, expected);
    let most = most.load(Ordering::SeqCst);
    assert!(
        most as usize <= BOUND,
        "{most} events queued at once, bound {BOUND}"
    );
    assert!(most > 0);
}
