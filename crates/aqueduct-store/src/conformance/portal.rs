//! Checks of portals, including what deleting one takes with it.

use super::fixtures::*;
use crate::SqlStore;
use aqueduct_core::records::Portal;
use aqueduct_core::store::Store;

/// A portal is found by key and by room; unknown ones are None.
pub async fn portal_by_key_and_room(store: &SqlStore) {
    let key = shared("C1");
    assert_eq!(store.portal_by_key(&key).await.unwrap(), None);
    let portal = full_portal(key.clone(), "!general:x");
    store.upsert_portal(&portal).await.unwrap();
    assert_eq!(
        store.portal_by_key(&key).await.unwrap(),
        Some(portal.clone())
    );
    assert_eq!(
        store.portal_by_room("!general:x").await.unwrap(),
        Some(portal)
    );
    assert_eq!(store.portal_by_room("!other:x").await.unwrap(), None);
    assert_eq!(store.portal_by_key(&shared("C2")).await.unwrap(), None);
}

/// Upserting the same key replaces every field, including clearing optional ones.
pub async fn portal_upsert_replaces(store: &SqlStore) {
    let key = dm("D1", "alice");
    store
        .upsert_portal(&Portal::new(key.clone()))
        .await
        .unwrap();
    let full = Portal {
        is_direct: true,
        ..full_portal(key.clone(), "!dm:x")
    };
    store.upsert_portal(&full).await.unwrap();
    assert_eq!(store.portal_by_key(&key).await.unwrap(), Some(full));
    let bare = Portal::new(key.clone());
    store.upsert_portal(&bare).await.unwrap();
    assert_eq!(store.portal_by_key(&key).await.unwrap(), Some(bare));
    assert_eq!(store.portal_by_room("!dm:x").await.unwrap(), None);
}

/// The same chat without a receiver, and with different receivers, are different portals.
pub async fn portal_receiver_none_and_some_are_distinct(store: &SqlStore) {
    let keys = [shared("D1"), dm("D1", "alice"), dm("D1", "bob")];
    for (i, key) in keys.iter().enumerate() {
        store
            .upsert_portal(&full_portal(key.clone(), &format!("!r{i}:x")))
            .await
            .unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let found = store.portal_by_key(key).await.unwrap().unwrap();
        assert_eq!(found.key, *key);
        assert_eq!(found.room_id.as_deref(), Some(format!("!r{i}:x").as_str()));
        assert_eq!(
            store
                .portal_by_room(&format!("!r{i}:x"))
                .await
                .unwrap()
                .unwrap()
                .key,
            *key
        );
    }
    store.delete_portal(&keys[0]).await.unwrap();
    assert_eq!(store.portal_by_key(&keys[0]).await.unwrap(), None);
    assert!(store.portal_by_key(&keys[1]).await.unwrap().is_some());
}

/// list_portals returns every portal with a room, and only those.
pub async fn portal_list_only_with_room(store: &SqlStore) {
    let with_room = [
        full_portal(shared("C1"), "!a:x"),
        full_portal(dm("D1", "alice"), "!b:x"),
    ];
    for p in &with_room {
        store.upsert_portal(p).await.unwrap();
    }
    store
        .upsert_portal(&Portal::new(shared("C2")))
        .await
        .unwrap();
    let mut listed = store.list_portals().await.unwrap();
    listed.sort_by_key(|p| p.room_id.clone());
    assert_eq!(listed, with_room.to_vec());
}

/// Deleting a portal forgets its messages and reactions, and nobody else's.
pub async fn portal_delete_removes_messages_and_reactions(store: &SqlStore) {
    let gone = shared("C1");
    let kept = dm("C1", "alice"); // same chat, other portal
    for (key, room) in [(&gone, "!gone:x"), (&kept, "!kept:x")] {
        store
            .upsert_portal(&full_portal(key.clone(), room))
            .await
            .unwrap();
        let tag = room.trim_start_matches('!');
        store
            .insert_message(&message(key, "M1", "", &format!("$m-{tag}"), 1))
            .await
            .unwrap();
        store
            .insert_reaction(&reaction(key, "M1", "U2", "👍", &format!("$r-{tag}")))
            .await
            .unwrap();
    }
    store.delete_portal(&gone).await.unwrap();
    assert_eq!(store.portal_by_key(&gone).await.unwrap(), None);
    assert_eq!(store.portal_by_room("!gone:x").await.unwrap(), None);
    assert!(
        store
            .message_parts(&gone, &"M1".into())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.message_by_event("$m-gone:x").await.unwrap(), None);
    assert_eq!(store.reaction_by_event("$r-gone:x").await.unwrap(), None);
    assert_eq!(store.last_message(&gone).await.unwrap(), None);
    assert!(store.portal_by_key(&kept).await.unwrap().is_some());
    assert_eq!(
        store
            .message_parts(&kept, &"M1".into())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .reaction_by_event("$r-kept:x")
            .await
            .unwrap()
            .is_some()
    );
    // Deleting an unknown portal is not an error.
    store.delete_portal(&shared("nope")).await.unwrap();
}
