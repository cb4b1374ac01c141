//! The engine's supervision, in-process: a store that panics on demand stands in for any
//! bug below the engine, and the bridge must log, count and go on, never go quiet. Runs on
//! the recording homeserver, the real SQLite store and the test network.

use aqueduct_core::connector::NetworkConnector;
use aqueduct_core::ids::{ConnectorId, LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use aqueduct_core::metrics::Metrics;
use aqueduct_core::permissions::{Level, Permissions};
use aqueduct_core::records::{
    CustomEmojiRecord, DeadLetter, Ghost, InboxEvent, Login, MessageRecord, Portal, ReactionRecord,
};
use aqueduct_core::store::{Store, StoreError, StoreResult};
use aqueduct_core::{Bridge, BridgeConfig};
use aqueduct_store::SqlStore;
use aqueduct_testkit::recording_homeserver::RecordingHomeserver;
use aqueduct_testkit::testnet_connector::{TestNetConfig, TestNetConnector};
use aqueduct_testkit::testnet_server::TestNet;
use async_trait::async_trait;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ALICE: &str = "@alice:test.local";

/// The real store, except that a method armed with [`Flaky::panic_next`] panics instead of
/// answering, and one armed with [`Flaky::fail_next`] fails as a database that does not
/// answer would, that many times.
struct Flaky {
    inner: SqlStore,
    armed: Mutex<HashMap<&'static str, u32>>,
    failing: Mutex<HashMap<&'static str, u32>>,
}

impl Flaky {
    fn new(inner: SqlStore) -> Self {
        Self {
            inner,
            armed: Mutex::default(),
            failing: Mutex::default(),
        }
    }

    fn panic_next(&self, method: &'static str, times: u32) {
        self.armed.lock().unwrap().insert(method, times);
    }

    fn fail_next(&self, method: &'static str, times: u32) {
        self.failing.lock().unwrap().insert(method, times);
    }

    /// How many armed failures of `method` are still to come.
    fn failures_left(&self, method: &str) -> u32 {
        self.failing
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    fn check(&self, method: &str) -> StoreResult<()> {
        let mut armed = self.armed.lock().unwrap();
        if let Some(left) = armed.get_mut(method)
            && *left > 0
        {
            *left -= 1;
            drop(armed);
            panic!("the test store was told to panic in {method}");
        }
        drop(armed);
        let mut failing = self.failing.lock().unwrap();
        if let Some(left) = failing.get_mut(method)
            && *left > 0
        {
            *left -= 1;
            return Err(StoreError(format!(
                "{method}: error communicating with database: Connection refused (the test store)"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Flaky {
    async fn enqueue_transaction(
        &self,
        txn_id: &str,
        events: &[(Option<String>, String)],
    ) -> StoreResult<bool> {
        self.check("enqueue_transaction")?;
        self.inner.enqueue_transaction(txn_id, events).await
    }
    async fn pending_inbox(&self, after: i64, limit: i64) -> StoreResult<Vec<InboxEvent>> {
        self.check("pending_inbox")?;
        self.inner.pending_inbox(after, limit).await
    }
    async fn ack_inbox(&self, seq: i64) -> StoreResult<()> {
        self.check("ack_inbox")?;
        self.inner.ack_inbox(seq).await
    }
    async fn count_inbox_attempt(&self, seq: i64) -> StoreResult<i64> {
        self.check("count_inbox_attempt")?;
        self.inner.count_inbox_attempt(seq).await
    }
    async fn inbox_last_seq(&self) -> StoreResult<Option<i64>> {
        self.check("inbox_last_seq")?;
        self.inner.inbox_last_seq().await
    }
    async fn inbox_len(&self) -> StoreResult<i64> {
        self.check("inbox_len")?;
        self.inner.inbox_len().await
    }
    async fn dead_letter_inbox(&self, seq: i64, reason: &str) -> StoreResult<bool> {
        self.check("dead_letter_inbox")?;
        self.inner.dead_letter_inbox(seq, reason).await
    }
    async fn dead_letters(&self, limit: i64) -> StoreResult<Vec<DeadLetter>> {
        self.check("dead_letters")?;
        self.inner.dead_letters(limit).await
    }
    async fn prune_appservice_txns(&self, before_ms: i64) -> StoreResult<u64> {
        self.check("prune_appservice_txns")?;
        self.inner.prune_appservice_txns(before_ms).await
    }
    async fn portal_by_key(&self, key: &PortalKey) -> StoreResult<Option<Portal>> {
        self.check("portal_by_key")?;
        self.inner.portal_by_key(key).await
    }
    async fn portal_by_room(&self, room_id: &str) -> StoreResult<Option<Portal>> {
        self.check("portal_by_room")?;
        self.inner.portal_by_room(room_id).await
    }
    async fn portals_by_room(&self, room_id: &str) -> StoreResult<Vec<Portal>> {
        self.check("portals_by_room")?;
        self.inner.portals_by_room(room_id).await
    }
    async fn upsert_portal(&self, portal: &Portal) -> StoreResult<()> {
        self.check("upsert_portal")?;
        self.inner.upsert_portal(portal).await
    }
    async fn delete_portal(&self, key: &PortalKey) -> StoreResult<()> {
        self.check("delete_portal")?;
        self.inner.delete_portal(key).await
    }
    async fn list_portals(&self) -> StoreResult<Vec<Portal>> {
        self.check("list_portals")?;
        self.inner.list_portals().await
    }
    async fn ghost(
        &self,
        connector: &ConnectorId,
        user: &RemoteUserId,
    ) -> StoreResult<Option<Ghost>> {
        self.check("ghost")?;
        self.inner.ghost(connector, user).await
    }
    async fn upsert_ghost(&self, ghost: &Ghost) -> StoreResult<()> {
        self.check("upsert_ghost")?;
        self.inner.upsert_ghost(ghost).await
    }
    async fn login(&self, connector: &ConnectorId, id: &LoginId) -> StoreResult<Option<Login>> {
        self.check("login")?;
        self.inner.login(connector, id).await
    }
    async fn logins_of_user(&self, matrix_user: &str) -> StoreResult<Vec<Login>> {
        self.check("logins_of_user")?;
        self.inner.logins_of_user(matrix_user).await
    }
    async fn list_logins(&self) -> StoreResult<Vec<Login>> {
        self.check("list_logins")?;
        self.inner.list_logins().await
    }
    async fn upsert_login(&self, login: &Login) -> StoreResult<()> {
        self.check("upsert_login")?;
        self.inner.upsert_login(login).await
    }
    async fn set_login_state(
        &self,
        connector: &ConnectorId,
        id: &LoginId,
        state: &serde_json::Value,
    ) -> StoreResult<()> {
        self.check("set_login_state")?;
        self.inner.set_login_state(connector, id, state).await
    }
    async fn delete_login(&self, connector: &ConnectorId, id: &LoginId) -> StoreResult<()> {
        self.check("delete_login")?;
        self.inner.delete_login(connector, id).await
    }
    async fn insert_message(&self, message: &MessageRecord) -> StoreResult<()> {
        self.check("insert_message")?;
        self.inner.insert_message(message).await
    }
    async fn insert_messages(&self, messages: &[MessageRecord]) -> StoreResult<()> {
        self.check("insert_messages")?;
        self.inner.insert_messages(messages).await
    }
    async fn record_crossings(
        &self,
        crossings: &[aqueduct_core::audit::Crossing],
    ) -> StoreResult<()> {
        self.check("record_crossings")?;
        self.inner.record_crossings(crossings).await
    }
    async fn message_parts(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> StoreResult<Vec<MessageRecord>> {
        self.check("message_parts")?;
        self.inner.message_parts(portal, remote_id).await
    }
    async fn message_by_event(&self, event_id: &str) -> StoreResult<Option<MessageRecord>> {
        self.check("message_by_event")?;
        self.inner.message_by_event(event_id).await
    }
    async fn message_by_event_in(
        &self,
        portal: &PortalKey,
        event_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        self.check("message_by_event_in")?;
        self.inner.message_by_event_in(portal, event_id).await
    }
    async fn delete_message(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> StoreResult<()> {
        self.check("delete_message")?;
        self.inner.delete_message(portal, remote_id).await
    }
    async fn last_message(&self, portal: &PortalKey) -> StoreResult<Option<MessageRecord>> {
        self.check("last_message")?;
        self.inner.last_message(portal).await
    }
    async fn insert_reaction(&self, reaction: &ReactionRecord) -> StoreResult<()> {
        self.check("insert_reaction")?;
        self.inner.insert_reaction(reaction).await
    }
    async fn reaction(
        &self,
        portal: &PortalKey,
        target: &RemoteMessageId,
        sender: &RemoteUserId,
        key: &str,
    ) -> StoreResult<Option<ReactionRecord>> {
        self.check("reaction")?;
        self.inner.reaction(portal, target, sender, key).await
    }
    async fn reaction_by_event(&self, event_id: &str) -> StoreResult<Option<ReactionRecord>> {
        self.check("reaction_by_event")?;
        self.inner.reaction_by_event(event_id).await
    }
    async fn delete_reaction(&self, event_id: &str) -> StoreResult<()> {
        self.check("delete_reaction")?;
        self.inner.delete_reaction(event_id).await
    }
    async fn reaction_by_event_in(
        &self,
        portal: &PortalKey,
        event_id: &str,
    ) -> StoreResult<Option<ReactionRecord>> {
        self.check("reaction_by_event_in")?;
        self.inner.reaction_by_event_in(portal, event_id).await
    }
    async fn delete_reaction_in(&self, portal: &PortalKey, event_id: &str) -> StoreResult<()> {
        self.check("delete_reaction_in")?;
        self.inner.delete_reaction_in(portal, event_id).await
    }
    async fn management_room(&self, matrix_user: &str) -> StoreResult<Option<String>> {
        self.check("management_room")?;
        self.inner.management_room(matrix_user).await
    }
    async fn set_management_room(&self, matrix_user: &str, room_id: &str) -> StoreResult<()> {
        self.check("set_management_room")?;
        self.inner.set_management_room(matrix_user, room_id).await
    }
    async fn is_member(&self, room_id: &str, user_id: &str) -> StoreResult<bool> {
        self.check("is_member")?;
        self.inner.is_member(room_id, user_id).await
    }
    async fn set_member(&self, room_id: &str, user_id: &str, member: bool) -> StoreResult<()> {
        self.check("set_member")?;
        self.inner.set_member(room_id, user_id, member).await
    }
    async fn forget_room_members(&self, room_id: &str) -> StoreResult<()> {
        self.check("forget_room_members")?;
        self.inner.forget_room_members(room_id).await
    }
    async fn insert_custom_emoji(&self, emoji: &CustomEmojiRecord) -> StoreResult<()> {
        self.check("insert_custom_emoji")?;
        self.inner.insert_custom_emoji(emoji).await
    }
    async fn custom_emoji_by_source(&self, source: &str) -> StoreResult<Option<CustomEmojiRecord>> {
        self.check("custom_emoji_by_source")?;
        self.inner.custom_emoji_by_source(source).await
    }
    async fn custom_emoji_by_mxc(&self, mxc: &str) -> StoreResult<Option<CustomEmojiRecord>> {
        self.check("custom_emoji_by_mxc")?;
        self.inner.custom_emoji_by_mxc(mxc).await
    }
}

struct Setup {
    net: TestNet,
    hs: Arc<RecordingHomeserver>,
    store: Arc<Flaky>,
    bridge: Bridge,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let inner = SqlStore::connect(dir.path().join("a.db").to_str().unwrap())
        .await
        .unwrap();
    let net = TestNet::start().await.unwrap();
    let token = net.add_user("alice", "Alice");
    net.add_user("bob", "Bob");
    net.add_chat("c1", Some("General"), &["alice", "bob"], false);
    inner
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
    let store = Arc::new(Flaky::new(inner));
    let hs = Arc::new(RecordingHomeserver::new("test.local", "aqueduct"));
    let bridge = start_bridge(&store, &hs, &net).await;
    Setup {
        net,
        hs,
        store,
        bridge,
        _dir: dir,
    }
}

/// A bridge on `store`, `hs` and the test network `net`, started.
async fn start_bridge(store: &Arc<Flaky>, hs: &Arc<RecordingHomeserver>, net: &TestNet) -> Bridge {
    let connector: Arc<dyn NetworkConnector> = Arc::new(TestNetConnector::new(TestNetConfig {
        url: net.url().to_owned(),
    }));
    let bridge = Bridge::new(
        BridgeConfig {
            permissions: Permissions::new(HashMap::from([("test.local".to_owned(), Level::User)])),
            backfill_limit: 0,
            ..BridgeConfig::default()
        },
        store.clone(),
        hs.clone(),
        vec![connector],
        Metrics::new(),
    );
    bridge.start().await.unwrap();
    bridge
}

fn counter(bridge: &Bridge, name: &str) -> f64 {
    bridge
        .metrics()
        .registry()
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter().map(|m| m.get_counter().get_value()))
        .sum()
}

async fn portal_room(s: &Setup) -> String {
    s.net.post("c1", "bob", "first");
    let events =
        s.hs.wait_for_events(WAIT, |e| e.iter().any(|e| e.body() == "first"))
            .await;
    events
        .iter()
        .find(|e| e.body() == "first")
        .unwrap()
        .room
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_reader_is_restarted_after_it_panics() {
    let s = setup().await;
    let room = portal_room(&s).await;
    s.store.panic_next("pending_inbox", 1);
    let event = RecordingHomeserver::room_event(
        &room,
        ALICE,
        "$m1",
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "through a restarted reader" }),
    );
    s.bridge
        .receive_transaction("t1", vec![(Some(room.clone()), event)])
        .await
        .unwrap();
    s.net
        .wait_for("c1", WAIT, |m| {
            m.iter().any(|m| m.text == "through a restarted reader")
        })
        .await
        .unwrap();
    assert_eq!(counter(&s.bridge, "aqueduct_task_restarts_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_event_that_panics_does_not_stop_its_portal() {
    let s = setup().await;
    portal_room(&s).await;
    s.store.panic_next("portal_by_key", 1);
    s.net.post("c1", "bob", "poison");
    s.net.post("c1", "bob", "after");
    s.hs.wait_for_events(WAIT, |e| e.iter().any(|e| e.body() == "after"))
        .await;
    assert_eq!(counter(&s.bridge, "aqueduct_job_panics_total"), 1.0);
    // The queue is still whole: a later message goes through too.
    s.net.post("c1", "bob", "later");
    s.hs.wait_for_events(WAIT, |e| e.iter().any(|e| e.body() == "later"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_event_waits_out_a_database_outage_and_is_not_set_aside() {
    let s = setup().await;
    let room = portal_room(&s).await;
    // The bridge stops with a Matrix message in its inbox, so the next start replays it (and
    // counts its attempts durably, in case it is what crashes the process).
    s.bridge.shutdown(Duration::from_secs(5)).await;
    let event = RecordingHomeserver::room_event(
        &room,
        ALICE,
        "$m2",
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "replayed through an outage" }),
    );
    s.store
        .inner
        .enqueue_transaction("t2", &[(Some(room.clone()), event.to_string())])
        .await
        .unwrap();
    // Then the database stops answering while that message is handled: neither its attempt
    // can be counted nor its handling read what it needs, three times each (the attempts an
    // event gets). The message is not at fault, so none of that may count against it.
    s.store.fail_next("count_inbox_attempt", 3);
    s.store.fail_next("message_by_event", 3);
    let bridge = start_bridge(&s.store, &s.hs, &s.net).await;

    s.net
        .wait_for("c1", WAIT, |m| {
            m.iter().any(|m| m.text == "replayed through an outage")
        })
        .await
        .expect("the replayed message reaches the platform once the database answers");
    assert_eq!(
        s.store.failures_left("message_by_event"),
        0,
        "the outage was met"
    );
    assert_eq!(counter(&bridge, "aqueduct_dead_letters_total"), 0.0);
    assert!(s.store.inner.dead_letters(10).await.unwrap().is_empty());
    let posted = s.net.messages("c1");
    assert_eq!(
        posted
            .iter()
            .filter(|m| m.text == "replayed through an outage")
            .count(),
        1,
        "{posted:?}"
    );
    bridge.shutdown(Duration::from_secs(5)).await;
}
