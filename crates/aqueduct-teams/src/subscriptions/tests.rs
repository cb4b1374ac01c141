use super::*;
use serde_json::json;

fn sub(renewed_ms: i64, expires_ms: i64) -> Subscription {
    Subscription {
        id: "s".into(),
        resource: "/me/chats/getAllMessages".into(),
        scope: Scope::AllChats,
        client_state: "c".into(),
        expires_ms,
        renewed_ms,
        certificate_id: None,
        todo: None,
    }
}

#[test]
fn renewals_come_well_before_the_end() {
    // An hour's subscription: 15 minutes before its end.
    assert_eq!(sub(0, 3_540_000).renew_at_ms(), 3_540_000 - 885_000);
    assert_eq!(sub(0, 3_600_000).renew_at_ms(), 3_600_000 - 900_000);
    // A short one (tests): a quarter of it, at least 2 s.
    assert_eq!(sub(0, 20_000).renew_at_ms(), 15_000);
    assert_eq!(sub(0, 4_000).renew_at_ms(), 2_000);
}

#[test]
fn graph_timestamps_with_offsets_are_read() {
    assert_eq!(
        parse_any_ms("2021-02-02T10:30:34.9097561-08:00"),
        parse_ms("2021-02-02T18:30:34.909Z")
    );
    assert_eq!(
        parse_any_ms("2016-11-20T18:23:45.9356913Z"),
        parse_ms("2016-11-20T18:23:45.935Z")
    );
    assert_eq!(
        parse_any_ms("2021-02-02T10:30:34+01:30"),
        parse_ms("2021-02-02T09:00:34Z")
    );
    assert_eq!(parse_any_ms("yesterday"), None);
}

#[test]
fn client_states_are_secret_sized_and_distinct() {
    let (a, b) = (new_client_state(), new_client_state());
    assert_eq!(a.len(), 43);
    assert!(a.len() <= 128);
    assert_ne!(a, b);
}

#[test]
fn subscriptions_survive_a_save_and_lifecycle_requests_are_noted() {
    let settings = Settings {
        notification_url: "https://b/_aqueduct/teams/notifications".into(),
        lifecycle_url: "https://b/_aqueduct/teams/lifecycle".into(),
        lifetime_ms: 3_540_000,
        resource_data: false,
        max_chats: 50,
    };
    let n = Notifications::new(Some(settings.clone()), &json!({}));
    n.inner()
        .subscriptions
        .push(sub(now_ms(), now_ms() + 60_000));
    n.changed();
    let state = n.merged(json!({"poll": {"primed": true}}));
    assert_eq!(state["poll"]["primed"], true);
    let back = Notifications::new(Some(settings), &state);
    assert_eq!(back.client_state_of("s").as_deref(), Some("c"));
    assert!(back.live());
    assert_eq!(back.client_state_of("other"), None);
    back.lifecycle("s", "reauthorizationRequired");
    assert_eq!(back.inner().subscriptions[0].todo, Some(Todo::Reauthorize));
    back.lifecycle("s", "subscriptionRemoved");
    back.lifecycle("s", "reauthorizationRequired");
    assert_eq!(back.inner().subscriptions[0].todo, Some(Todo::Recreate));
    assert!(!back.live(), "a removed subscription tells of nothing");
    back.lifecycle("s", "missed");
    assert!(back.take_pending().full);
    back.note_change(Some("19:a".into()), None);
    back.note_change(Some("19:a".into()), None);
    let pending = back.take_pending();
    assert!(!pending.full);
    assert_eq!(pending.chats["19:a"].len(), 2);
    assert!(back.take_pending().chats.is_empty());
}

#[test]
fn subscription_bodies_carry_the_certificate_only_with_resource_data() {
    let encryption = SubscriptionEncryption {
        include_resource_data: true,
        encryption_certificate: "MIIB".into(),
        encryption_certificate_id: "k1".into(),
    };
    let mut body = NewSubscription {
        change_type: CHANGE_TYPES.into(),
        notification_url: "https://b/n".into(),
        lifecycle_notification_url: "https://b/l".into(),
        resource: "/chats/19:a/messages".into(),
        expiration_date_time: "2026-01-01T10:00:00.000Z".into(),
        client_state: "secret".into(),
        encryption: Some(encryption.clone()),
    };
    let with = serde_json::to_value(&body).unwrap();
    assert_eq!(with["includeResourceData"], true);
    assert_eq!(with["encryptionCertificateId"], "k1");
    assert_eq!(with["lifecycleNotificationUrl"], "https://b/l");
    body.encryption = None;
    let without = serde_json::to_value(&body).unwrap();
    assert!(without.get("includeResourceData").is_none(), "{without}");
    assert!(without.get("encryptionCertificate").is_none(), "{without}");
    let renewal = serde_json::to_value(SubscriptionRenewal {
        expiration_date_time: "2026-01-01T11:00:00.000Z".into(),
        encryption: None,
    })
    .unwrap();
    assert_eq!(
        renewal,
        json!({"expirationDateTime": "2026-01-01T11:00:00.000Z"})
    );
}
