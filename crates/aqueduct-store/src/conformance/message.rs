//! Checks of message mappings.

use super::fixtures::*;
use crate::SqlStore;
use aqueduct_core::records::MessageRecord;
use aqueduct_core::store::Store;

/// A second record for the same (portal, remote id, part) is ignored; the first stays.
pub async fn message_insert_is_idempotent(store: &SqlStore) {
    let key = shared("C1");
    let first = MessageRecord {
        thread_root: Some("ROOT".into()),
        ..message(&key, "M1", "", "$one", 10)
    };
    store.insert_message(&first).await.unwrap();
    store.insert_message(&first).await.unwrap();
    store
        .insert_message(&message(&key, "M1", "", "$two", 20))
        .await
        .unwrap();
    assert_eq!(
        store.message_parts(&key, &"M1".into()).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(store.message_by_event("$one").await.unwrap(), Some(first));
    assert_eq!(store.message_by_event("$two").await.unwrap(), None);
}

/// A batch is recorded as its records would be one by one: in order, a duplicate of an
/// earlier record (in the store or in the batch) dropped and the first kept.
pub async fn message_insert_many_as_one_by_one(store: &SqlStore) {
    let key = shared("C1");
    let earlier = message(&key, "M0", "", "$zero", 5);
    store.insert_message(&earlier).await.unwrap();
    let batch = [
        message(&key, "M1", "", "$one", 10),
        message(&key, "M1", "2", "$one-b", 10),
        message(&key, "M0", "", "$zero-again", 11),
        message(&key, "M2", "", "$two", 12),
        message(&key, "M2", "", "$two-again", 13),
    ];
    store.insert_messages(&batch).await.unwrap();
    store.insert_messages(&[]).await.unwrap();
    assert_eq!(
        store.message_parts(&key, &"M1".into()).await.unwrap(),
        vec![batch[0].clone(), batch[1].clone()]
    );
    assert_eq!(
        store.message_parts(&key, &"M0".into()).await.unwrap(),
        vec![earlier]
    );
    assert_eq!(
        store.message_parts(&key, &"M2".into()).await.unwrap(),
        vec![batch[3].clone()]
    );
    assert_eq!(store.message_by_event("$two-again").await.unwrap(), None);
}

/// Parts come back in the order they were recorded (not sorted by name), and only those of
/// this message in this portal.
pub async fn message_parts_in_insertion_order(store: &SqlStore) {
    let key = shared("C1");
    let parts = ["", "b", "10", "2", "a"];
    let records: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| message(&key, "M1", part, &format!("$p{i}"), 5))
        .collect();
    for r in &records {
        store.insert_message(r).await.unwrap();
    }
    store
        .insert_message(&message(&key, "M2", "", "$other-msg", 5))
        .await
        .unwrap();
    store
        .insert_message(&message(&dm("C1", "alice"), "M1", "", "$other-portal", 5))
        .await
        .unwrap();
    assert_eq!(
        store.message_parts(&key, &"M1".into()).await.unwrap(),
        records
    );
    assert!(
        store
            .message_parts(&key, &"M3".into())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A bridged event leads back to its part; others to None.
pub async fn message_by_event(store: &SqlStore) {
    let key = dm("D1", "alice");
    let part = message(&key, "M1", "1", "$part1", 7);
    store
        .insert_message(&message(&key, "M1", "", "$part0", 7))
        .await
        .unwrap();
    store.insert_message(&part).await.unwrap();
    assert_eq!(store.message_by_event("$part1").await.unwrap(), Some(part));
    assert_eq!(store.message_by_event("$unknown").await.unwrap(), None);
}

/// delete_message forgets every part of that message only.
pub async fn message_delete(store: &SqlStore) {
    let key = shared("C1");
    let other = dm("C1", "alice");
    for (part, ev) in [("", "$a"), ("1", "$b")] {
        store
            .insert_message(&message(&key, "M1", part, ev, 1))
            .await
            .unwrap();
    }
    store
        .insert_message(&message(&key, "M2", "", "$c", 1))
        .await
        .unwrap();
    store
        .insert_message(&message(&other, "M1", "", "$d", 1))
        .await
        .unwrap();
    store.delete_message(&key, &"M1".into()).await.unwrap();
    assert!(
        store
            .message_parts(&key, &"M1".into())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.message_by_event("$a").await.unwrap(), None);
    assert_eq!(
        store.message_parts(&key, &"M2".into()).await.unwrap().len(),
        1
    );
    assert_eq!(
        store
            .message_parts(&other, &"M1".into())
            .await
            .unwrap()
            .len(),
        1
    );
    store.delete_message(&key, &"M1".into()).await.unwrap();
    // A deleted message can be recorded again.
    store
        .insert_message(&message(&key, "M1", "", "$again", 2))
        .await
        .unwrap();
    assert_eq!(
        store
            .message_by_event("$again")
            .await
            .unwrap()
            .unwrap()
            .remote_id
            .as_str(),
        "M1"
    );
}

/// last_message is the newest by remote timestamp, the last recorded among equals, per portal.
pub async fn message_last(store: &SqlStore) {
    let key = shared("C1");
    assert_eq!(store.last_message(&key).await.unwrap(), None);
    let newest = message(&key, "M2", "", "$new", 300);
    store
        .insert_message(&message(&key, "M1", "", "$old", 100))
        .await
        .unwrap();
    store.insert_message(&newest).await.unwrap();
    store
        .insert_message(&message(&key, "M0", "", "$late-but-older", 200))
        .await
        .unwrap();
    store
        .insert_message(&message(&dm("C1", "alice"), "MX", "", "$elsewhere", 900))
        .await
        .unwrap();
    assert_eq!(store.last_message(&key).await.unwrap(), Some(newest));
    let tie = message(&key, "M3", "", "$tie", 300);
    store.insert_message(&tie).await.unwrap();
    assert_eq!(store.last_message(&key).await.unwrap(), Some(tie));
    let second_part = message(&key, "M3", "1", "$tie-part", 300);
    store.insert_message(&second_part).await.unwrap();
    assert_eq!(store.last_message(&key).await.unwrap(), Some(second_part));
}
