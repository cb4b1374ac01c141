//! Records and keys the checks build on.

use crate::SqlStore;
use aqueduct_core::ids::{
    ConnectorId, LoginId, PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId,
};
use aqueduct_core::records::{Login, MessageRecord, Portal, ReactionRecord};
use aqueduct_core::store::Store;
use serde_json::json;

pub(super) fn shared(chat: &str) -> PortalKey {
    PortalKey::shared(ConnectorId::new("slack"), RemoteChatId::new(chat))
}

pub(super) fn dm(chat: &str, receiver: &str) -> PortalKey {
    PortalKey {
        receiver: Some(LoginId::new(receiver)),
        ..shared(chat)
    }
}

pub(super) fn login(connector: &str, id: &str, matrix_user: &str) -> Login {
    Login {
        connector: ConnectorId::new(connector),
        id: LoginId::new(id),
        matrix_user: matrix_user.into(),
        remote_user: RemoteUserId::new(format!("U-{id}")),
        remote_name: format!("{id}@acme"),
        secret: json!({ "token": format!("xoxp-{id}"), "nested": { "n": 1, "list": [true, null] } }),
        state: json!({ "cursor": 0 }),
    }
}

pub(super) fn message(
    portal: &PortalKey,
    remote_id: &str,
    part: &str,
    event_id: &str,
    ts: i64,
) -> MessageRecord {
    MessageRecord {
        portal: portal.clone(),
        remote_id: RemoteMessageId::new(remote_id),
        part: part.into(),
        event_id: event_id.into(),
        room_id: "!room:example.org".into(),
        sender_mxid: "@slack_U1:example.org".into(),
        remote_sender: RemoteUserId::new("U1"),
        thread_root: None,
        timestamp_ms: ts,
    }
}

pub(super) fn reaction(
    portal: &PortalKey,
    target: &str,
    sender: &str,
    key: &str,
    event_id: &str,
) -> ReactionRecord {
    ReactionRecord {
        portal: portal.clone(),
        target: RemoteMessageId::new(target),
        remote_sender: RemoteUserId::new(sender),
        key: key.into(),
        event_id: event_id.into(),
    }
}

pub(super) fn event(room: Option<&str>, body: &str) -> (Option<String>, String) {
    (
        room.map(Into::into),
        format!(r#"{{"type":"m.room.message","body":"{body}"}}"#),
    )
}

/// (room, json) of every pending inbox event, oldest first.
pub(super) async fn pending(store: &SqlStore) -> Vec<(Option<String>, String)> {
    let events = store.pending_inbox(0, 1000).await.unwrap();
    events.into_iter().map(|e| (e.room_id, e.json)).collect()
}

pub(super) fn full_portal(key: PortalKey, room: &str) -> Portal {
    Portal {
        key,
        room_id: Some(room.into()),
        name: Some("General".into()),
        topic: Some("Chat about things".into()),
        is_direct: false,
        relay_login: Some(LoginId::new("relay")),
    }
}
