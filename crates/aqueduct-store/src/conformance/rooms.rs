//! Checks of management rooms and memberships.

use crate::SqlStore;
use aqueduct_core::store::Store;

/// Set, replace, and per-user separation.
pub async fn management_room_set_and_replace(store: &SqlStore) {
    assert_eq!(store.management_room("@alice:x").await.unwrap(), None);
    store
        .set_management_room("@alice:x", "!m1:x")
        .await
        .unwrap();
    store.set_management_room("@bob:x", "!m2:x").await.unwrap();
    assert_eq!(
        store.management_room("@alice:x").await.unwrap().as_deref(),
        Some("!m1:x")
    );
    store
        .set_management_room("@alice:x", "!m3:x")
        .await
        .unwrap();
    assert_eq!(
        store.management_room("@alice:x").await.unwrap().as_deref(),
        Some("!m3:x")
    );
    assert_eq!(
        store.management_room("@bob:x").await.unwrap().as_deref(),
        Some("!m2:x")
    );
}

/// Set and unset, both idempotent, per (room, user).
pub async fn membership_set_unset(store: &SqlStore) {
    assert!(!store.is_member("!r:x", "@a:x").await.unwrap());
    store.set_member("!r:x", "@a:x", true).await.unwrap();
    store.set_member("!r:x", "@a:x", true).await.unwrap();
    assert!(store.is_member("!r:x", "@a:x").await.unwrap());
    assert!(!store.is_member("!r:x", "@b:x").await.unwrap());
    assert!(!store.is_member("!s:x", "@a:x").await.unwrap());
    store.set_member("!s:x", "@a:x", true).await.unwrap();
    store.set_member("!r:x", "@a:x", false).await.unwrap();
    store.set_member("!r:x", "@a:x", false).await.unwrap();
    assert!(!store.is_member("!r:x", "@a:x").await.unwrap());
    assert!(store.is_member("!s:x", "@a:x").await.unwrap());
}

/// Forgetting a room removes all of its memberships and no other room's; an unknown room is fine.
pub async fn membership_forget_room(store: &SqlStore) {
    store.set_member("!r:x", "@a:x", true).await.unwrap();
    store.set_member("!r:x", "@b:x", true).await.unwrap();
    store.set_member("!s:x", "@a:x", true).await.unwrap();
    store.forget_room_members("!r:x").await.unwrap();
    store.forget_room_members("!unknown:x").await.unwrap();
    assert!(!store.is_member("!r:x", "@a:x").await.unwrap());
    assert!(!store.is_member("!r:x", "@b:x").await.unwrap());
    assert!(store.is_member("!s:x", "@a:x").await.unwrap());
}
