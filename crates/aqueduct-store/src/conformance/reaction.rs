//! Checks of reaction mappings.

use super::fixtures::*;
use crate::SqlStore;
use aqueduct_core::ids::{RemoteMessageId, RemoteUserId};
use aqueduct_core::store::Store;

/// Reactions are found by their coordinates; a second record for them is ignored.
pub async fn reaction_insert_get_idempotent(store: &SqlStore) {
    let key = dm("D1", "alice");
    let target = RemoteMessageId::new("M1");
    let sender = RemoteUserId::new("U2");
    assert_eq!(
        store.reaction(&key, &target, &sender, "👍").await.unwrap(),
        None
    );
    let r = reaction(&key, "M1", "U2", "👍", "$r1");
    store.insert_reaction(&r).await.unwrap();
    store
        .insert_reaction(&reaction(&key, "M1", "U2", "👍", "$r2"))
        .await
        .unwrap();
    assert_eq!(
        store.reaction(&key, &target, &sender, "👍").await.unwrap(),
        Some(r)
    );
    assert_eq!(store.reaction_by_event("$r2").await.unwrap(), None);
    // Any coordinate differing makes another reaction.
    let other_key = reaction(&key, "M1", "U2", ":tada:", "$r3");
    store.insert_reaction(&other_key).await.unwrap();
    assert_eq!(
        store
            .reaction(&key, &target, &sender, ":tada:")
            .await
            .unwrap(),
        Some(other_key)
    );
    assert_eq!(
        store
            .reaction(&shared("D1"), &target, &sender, "👍")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .reaction(&key, &target, &"U3".into(), "👍")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .reaction(&key, &"M2".into(), &sender, "👍")
            .await
            .unwrap(),
        None
    );
}

/// A reaction is found and deleted by its Matrix event.
pub async fn reaction_by_event_and_delete(store: &SqlStore) {
    let key = shared("C1");
    let r = reaction(&key, "M1", "U2", "❤️", "$heart");
    let kept = reaction(&key, "M1", "U3", "❤️", "$heart2");
    store.insert_reaction(&r).await.unwrap();
    store.insert_reaction(&kept).await.unwrap();
    assert_eq!(
        store.reaction_by_event("$heart").await.unwrap(),
        Some(r.clone())
    );
    store.delete_reaction("$heart").await.unwrap();
    assert_eq!(store.reaction_by_event("$heart").await.unwrap(), None);
    assert_eq!(
        store
            .reaction(&key, &r.target, &r.remote_sender, &r.key)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.reaction_by_event("$heart2").await.unwrap(),
        Some(kept)
    );
    store.delete_reaction("$heart").await.unwrap();
    // Once deleted, the same reaction can be recorded again.
    let again = reaction(&key, "M1", "U2", "❤️", "$heart-again");
    store.insert_reaction(&again).await.unwrap();
    assert_eq!(
        store
            .reaction(&key, &r.target, &r.remote_sender, &r.key)
            .await
            .unwrap(),
        Some(again)
    );
}
