//! Checks of the appservice transaction inbox.

use super::fixtures::*;
use crate::SqlStore;
use aqueduct_core::store::Store;

/// A repeated txn_id returns false and stores nothing, even with different events.
pub async fn inbox_repeated_txn_id_stores_nothing(store: &SqlStore) {
    let first = [event(Some("!a:x"), "one"), event(None, "two")];
    assert!(store.enqueue_transaction("txn1", &first).await.unwrap());
    assert!(!store.enqueue_transaction("txn1", &first).await.unwrap());
    assert!(
        !store
            .enqueue_transaction("txn1", &[event(Some("!b:x"), "other")])
            .await
            .unwrap()
    );
    assert_eq!(pending(store).await, first.to_vec());
}

/// Retries racing each other are still processed once.
pub async fn inbox_concurrent_repeats_store_once(store: &SqlStore) {
    let events = [event(Some("!a:x"), "once")];
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, events) = (store.clone(), events.clone());
        tries.spawn(async move { store.enqueue_transaction("race", &events).await.unwrap() });
    }
    let accepted = tries
        .join_all()
        .await
        .into_iter()
        .filter(|&accepted| accepted)
        .count();
    assert_eq!(accepted, 1);
    assert_eq!(pending(store).await, events.to_vec());
}

/// A transaction without events still counts as seen.
pub async fn inbox_empty_transaction_is_recorded(store: &SqlStore) {
    assert!(store.enqueue_transaction("empty", &[]).await.unwrap());
    assert!(
        !store
            .enqueue_transaction("empty", &[event(None, "late")])
            .await
            .unwrap()
    );
    assert!(pending(store).await.is_empty());
}

/// Events come back in arrival order, across transactions, with increasing seq.
pub async fn inbox_events_come_back_in_order(store: &SqlStore) {
    let a = [
        event(Some("!a:x"), "1"),
        event(None, "2"),
        event(Some("!b:x"), "3"),
    ];
    let b = [event(Some("!a:x"), "4"), event(Some("!a:x"), "5")];
    assert!(store.enqueue_transaction("a", &a).await.unwrap());
    assert!(store.enqueue_transaction("b", &b).await.unwrap());
    let events = store.pending_inbox(0, 100).await.unwrap();
    let expected: Vec<_> = a.iter().chain(&b).cloned().collect();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.room_id.clone(), e.json.clone()))
            .collect::<Vec<_>>(),
        expected
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "{events:?}");
}

/// Only events after `after`, at most `limit` of them.
pub async fn inbox_after_and_limit(store: &SqlStore) {
    let events: Vec<_> = (0..5).map(|i| event(None, &i.to_string())).collect();
    assert!(store.enqueue_transaction("t", &events).await.unwrap());
    let all = store.pending_inbox(0, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    let page = store.pending_inbox(all[1].seq, 2).await.unwrap();
    assert_eq!(page, all[2..4].to_vec());
    assert!(
        store
            .pending_inbox(all[4].seq, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.pending_inbox(0, 0).await.unwrap().is_empty());
}

/// Acknowledged events are gone; acknowledging an unknown seq is fine.
pub async fn inbox_ack_removes_event(store: &SqlStore) {
    let events = [event(None, "1"), event(None, "2"), event(None, "3")];
    assert!(store.enqueue_transaction("t", &events).await.unwrap());
    let all = store.pending_inbox(0, 100).await.unwrap();
    store.ack_inbox(all[1].seq).await.unwrap();
    store.ack_inbox(all[1].seq).await.unwrap();
    store.ack_inbox(all[2].seq + 1000).await.unwrap();
    assert_eq!(
        store.pending_inbox(0, 100).await.unwrap(),
        vec![all[0].clone(), all[2].clone()]
    );
}

/// Once the inbox drained, new events still get higher seqs than any seen before, so a
/// reader's cursor never skips them.
pub async fn inbox_seq_not_reused_after_drain(store: &SqlStore) {
    assert!(
        store
            .enqueue_transaction("t1", &[event(None, "1"), event(None, "2")])
            .await
            .unwrap()
    );
    let first = store.pending_inbox(0, 100).await.unwrap();
    for e in &first {
        store.ack_inbox(e.seq).await.unwrap();
    }
    assert!(
        store
            .enqueue_transaction("t2", &[event(None, "3")])
            .await
            .unwrap()
    );
    let last_seen = first.last().unwrap().seq;
    let next = store.pending_inbox(last_seen, 100).await.unwrap();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].json, event(None, "3").1);
}

/// Attempts start at 0, each count is durable and answered, an unknown seq counts nothing.
pub async fn inbox_attempts_are_counted(store: &SqlStore) {
    assert!(
        store
            .enqueue_transaction("t", &[event(Some("!a:x"), "1"), event(None, "2")])
            .await
            .unwrap()
    );
    let all = store.pending_inbox(0, 100).await.unwrap();
    assert!(all.iter().all(|e| e.attempts == 0), "{all:?}");
    assert_eq!(store.count_inbox_attempt(all[0].seq).await.unwrap(), 1);
    assert_eq!(store.count_inbox_attempt(all[0].seq).await.unwrap(), 2);
    assert_eq!(
        store.count_inbox_attempt(all[1].seq + 1000).await.unwrap(),
        0
    );
    let again = store.pending_inbox(0, 100).await.unwrap();
    assert_eq!(
        again.iter().map(|e| e.attempts).collect::<Vec<_>>(),
        vec![2, 0]
    );
    assert_eq!(store.inbox_last_seq().await.unwrap(), Some(all[1].seq));
    assert_eq!(store.inbox_len().await.unwrap(), 2);
}

/// A dead-lettered event leaves the inbox and keeps its room, JSON, attempts and reason.
pub async fn inbox_dead_letter_moves_the_event(store: &SqlStore) {
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert!(
        store
            .enqueue_transaction(
                "t",
                &[event(Some("!a:x"), "bad"), event(Some("!a:x"), "ok")]
            )
            .await
            .unwrap()
    );
    let all = store.pending_inbox(0, 100).await.unwrap();
    for _ in 0..3 {
        store.count_inbox_attempt(all[0].seq).await.unwrap();
    }
    assert!(
        store
            .dead_letter_inbox(all[0].seq, "it panicked")
            .await
            .unwrap()
    );
    assert!(!store.dead_letter_inbox(all[0].seq, "again").await.unwrap());
    assert!(
        !store
            .dead_letter_inbox(all[1].seq + 1000, "none")
            .await
            .unwrap()
    );
    assert_eq!(
        store.pending_inbox(0, 100).await.unwrap(),
        vec![all[1].clone()]
    );
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].seq, all[0].seq);
    assert_eq!(dead[0].room_id.as_deref(), Some("!a:x"));
    assert_eq!(dead[0].json, all[0].json);
    assert_eq!(dead[0].reason, "it panicked");
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].failed_at_ms > 1_600_000_000_000, "{dead:?}");
    assert_eq!(store.inbox_len().await.unwrap(), 1);
}

/// Pruning forgets only transaction ids received before the cut-off; a forgotten id is
/// accepted again.
pub async fn inbox_prune_old_txn_ids(store: &SqlStore) {
    assert!(store.enqueue_transaction("old", &[]).await.unwrap());
    assert_eq!(store.prune_appservice_txns(0).await.unwrap(), 0);
    assert!(!store.enqueue_transaction("old", &[]).await.unwrap());
    let future = i64::MAX / 2;
    assert_eq!(store.prune_appservice_txns(future).await.unwrap(), 1);
    assert!(store.enqueue_transaction("old", &[]).await.unwrap());
}
