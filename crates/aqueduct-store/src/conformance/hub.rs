//! Checks of hub rooms: one Matrix room bridged to several chats, with one mapping per
//! portal for the same Matrix event.

use super::fixtures::*;
use crate::SqlStore;
use aqueduct_core::ids::{ConnectorId, PortalKey, RemoteChatId};
use aqueduct_core::store::Store;

fn rocketchat(chat: &str) -> PortalKey {
    PortalKey::shared(ConnectorId::new("rocketchat"), RemoteChatId::new(chat))
}

/// A room holds several portals: each is found by key, all by room (ordered by key), and
/// `portal_by_room` answers with the first; removing one leaves the others.
pub async fn hub_room_holds_several_portals(store: &SqlStore) {
    let slack = shared("C1");
    let rc = rocketchat("R1");
    for key in [&slack, &rc] {
        store
            .upsert_portal(&full_portal(key.clone(), "!hub:x"))
            .await
            .unwrap();
    }
    let keys: Vec<PortalKey> = store
        .portals_by_room("!hub:x")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(keys, vec![rc.clone(), slack.clone()]);
    assert_eq!(
        store.portal_by_room("!hub:x").await.unwrap().unwrap().key,
        rc
    );
    assert!(store.portals_by_room("!none:x").await.unwrap().is_empty());
    store.delete_portal(&rc).await.unwrap();
    assert_eq!(
        store.portal_by_room("!hub:x").await.unwrap().unwrap().key,
        slack
    );
    assert_eq!(store.portals_by_room("!hub:x").await.unwrap().len(), 1);
}

/// One Matrix event maps to one message and one reaction per portal; the look-ups by
/// portal find each, and forgetting one portal's reaction keeps the other's.
pub async fn hub_event_maps_once_per_portal(store: &SqlStore) {
    let slack = shared("C1");
    let rc = rocketchat("R1");
    let on_slack = message(&slack, "1.000", "", "$e", 1);
    let on_rc = message(&rc, "abc", "", "$e", 1);
    store.insert_message(&on_slack).await.unwrap();
    store.insert_message(&on_rc).await.unwrap();
    assert_eq!(
        store.message_by_event_in(&slack, "$e").await.unwrap(),
        Some(on_slack)
    );
    assert_eq!(
        store.message_by_event_in(&rc, "$e").await.unwrap(),
        Some(on_rc)
    );
    assert_eq!(
        store
            .message_by_event_in(&shared("C2"), "$e")
            .await
            .unwrap(),
        None
    );
    let r_slack = reaction(&slack, "1.000", "U2", "👍", "$r");
    let r_rc = reaction(&rc, "abc", "U2", "👍", "$r");
    store.insert_reaction(&r_slack).await.unwrap();
    store.insert_reaction(&r_rc).await.unwrap();
    assert_eq!(
        store.reaction_by_event_in(&rc, "$r").await.unwrap(),
        Some(r_rc)
    );
    store.delete_reaction_in(&rc, "$r").await.unwrap();
    assert_eq!(store.reaction_by_event_in(&rc, "$r").await.unwrap(), None);
    assert_eq!(
        store.reaction_by_event_in(&slack, "$r").await.unwrap(),
        Some(r_slack)
    );
}
