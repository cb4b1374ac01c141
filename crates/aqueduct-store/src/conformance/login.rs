//! Checks of ghosts and logins.

use super::fixtures::*;
use crate::SqlStore;
use aqueduct_core::ids::{ConnectorId, PortalKey, RemoteUserId};
use aqueduct_core::records::{Ghost, Login, Portal};
use aqueduct_core::store::Store;
use serde_json::json;

/// Ghosts are found by (connector, remote user); upsert replaces.
pub async fn ghost_upsert_and_get(store: &SqlStore) {
    let connector = ConnectorId::new("slack");
    let user = RemoteUserId::new("U1");
    assert_eq!(store.ghost(&connector, &user).await.unwrap(), None);
    let bare = Ghost {
        connector: connector.clone(),
        remote_user: user.clone(),
        mxid: "@slack_u1:x".into(),
        display_name: None,
        avatar_mxc: None,
        avatar_source: None,
        registered: false,
    };
    store.upsert_ghost(&bare).await.unwrap();
    assert_eq!(
        store.ghost(&connector, &user).await.unwrap(),
        Some(bare.clone())
    );
    let full = Ghost {
        display_name: Some("Alice".into()),
        avatar_mxc: Some("mxc://x/abc".into()),
        avatar_source: Some("https://cdn/a.png".into()),
        registered: true,
        ..bare.clone()
    };
    store.upsert_ghost(&full).await.unwrap();
    assert_eq!(store.ghost(&connector, &user).await.unwrap(), Some(full));
    store.upsert_ghost(&bare).await.unwrap();
    assert_eq!(store.ghost(&connector, &user).await.unwrap(), Some(bare));
    // Same remote user id on another connector is another ghost.
    assert_eq!(
        store
            .ghost(&ConnectorId::new("rocketchat"), &user)
            .await
            .unwrap(),
        None
    );
}

/// Insert, read back (JSON intact), replace, list.
pub async fn login_crud(store: &SqlStore) {
    let a = login("slack", "a", "@alice:x");
    assert_eq!(store.login(&a.connector, &a.id).await.unwrap(), None);
    store.upsert_login(&a).await.unwrap();
    assert_eq!(
        store.login(&a.connector, &a.id).await.unwrap(),
        Some(a.clone())
    );
    let replaced = Login {
        remote_name: "renamed".into(),
        secret: json!({ "token": "new" }),
        state: json!([1, "two", { "three": 3.5 }]),
        ..a.clone()
    };
    store.upsert_login(&replaced).await.unwrap();
    assert_eq!(
        store.login(&a.connector, &a.id).await.unwrap(),
        Some(replaced.clone())
    );
    let b = login("rocketchat", "a", "@bob:x"); // same id, other connector
    store.upsert_login(&b).await.unwrap();
    let mut all = store.list_logins().await.unwrap();
    all.sort_by_key(|l| l.connector.clone());
    assert_eq!(all, vec![b, replaced]);
}

/// set_login_state changes the state and nothing else; an unknown login is left alone.
pub async fn login_set_state_touches_only_state(store: &SqlStore) {
    let a = login("slack", "a", "@alice:x");
    store.upsert_login(&a).await.unwrap();
    let state = json!({ "cursor": 42, "channels": ["C1", "C2"] });
    store
        .set_login_state(&a.connector, &a.id, &state)
        .await
        .unwrap();
    assert_eq!(
        store.login(&a.connector, &a.id).await.unwrap(),
        Some(Login {
            state: state.clone(),
            ..a
        })
    );
    store
        .set_login_state(&"slack".into(), &"ghost".into(), &state)
        .await
        .unwrap();
    assert_eq!(
        store.login(&"slack".into(), &"ghost".into()).await.unwrap(),
        None
    );
}

/// logins_of_user spans connectors and excludes other users.
pub async fn login_logins_of_user_across_connectors(store: &SqlStore) {
    let mine = [
        login("slack", "a", "@alice:x"),
        login("rocketchat", "b", "@alice:x"),
    ];
    for l in &mine {
        store.upsert_login(l).await.unwrap();
    }
    store
        .upsert_login(&login("slack", "c", "@bob:x"))
        .await
        .unwrap();
    let mut found = store.logins_of_user("@alice:x").await.unwrap();
    found.sort_by_key(|l| l.connector.clone());
    assert_eq!(found, vec![mine[1].clone(), mine[0].clone()]);
    assert!(store.logins_of_user("@nobody:x").await.unwrap().is_empty());
}

/// delete_login forgets the login and stops exactly the portals relaying through it.
pub async fn login_delete_clears_relay(store: &SqlStore) {
    let relay = login("slack", "relay", "@alice:x");
    store.upsert_login(&relay).await.unwrap();
    let relaying = full_portal(shared("C1"), "!a:x"); // relay_login = "relay"
    let other_relay = Portal {
        relay_login: Some("other".into()),
        ..full_portal(shared("C2"), "!b:x")
    };
    let other_connector = Portal {
        key: PortalKey::shared("rocketchat".into(), "C1".into()),
        ..full_portal(shared("C3"), "!c:x")
    };
    for p in [&relaying, &other_relay, &other_connector] {
        store.upsert_portal(p).await.unwrap();
    }
    store
        .delete_login(&relay.connector, &relay.id)
        .await
        .unwrap();
    assert_eq!(
        store.login(&relay.connector, &relay.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.portal_by_key(&relaying.key).await.unwrap(),
        Some(Portal {
            relay_login: None,
            ..relaying
        })
    );
    assert_eq!(
        store.portal_by_key(&other_relay.key).await.unwrap(),
        Some(other_relay)
    );
    assert_eq!(
        store.portal_by_key(&other_connector.key).await.unwrap(),
        Some(other_connector)
    );
    // Deleting an unknown login is not an error.
    store
        .delete_login(&relay.connector, &relay.id)
        .await
        .unwrap();
}
