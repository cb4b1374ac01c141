//! Checks of the record: entries appended with their mapping changes, numbered without gaps,
//! chained, appended once per crossing, and read back as written.

use super::fixtures::*;
use crate::{AuditQuery, SqlStore};
use aqueduct_core::audit::{
    AuditAction, AuditDirection, AuditDraft, AuditSeal, ChainCheck, Crossing, GENESIS_HASH,
    MappingChange, content_digest,
};
use aqueduct_core::ids::{PortalKey, RemoteMessageId};
use aqueduct_core::store::Store;

fn draft(portal: &PortalKey, action: AuditAction, event_id: &str, remote: &str) -> AuditDraft {
    AuditDraft {
        at_ms: 1_700_000_000_000,
        direction: AuditDirection::ToMatrix,
        action,
        portal: portal.clone(),
        room_id: "!room:example.org".into(),
        matrix_event_id: event_id.into(),
        remote_message_id: Some(RemoteMessageId::new(remote)),
        matrix_sender: "@slack_U1:example.org".into(),
        remote_sender: "U1".into(),
        content_digest: Some(content_digest(&serde_json::json!({ "body": event_id }))),
        content: None,
    }
}

fn all() -> AuditQuery {
    AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    }
}

/// A crossing's mapping change and its entry are kept together; entries are numbered from 1,
/// chained from the genesis hash, and read back exactly as drafted.
pub async fn audit_crossings_keep_mapping_and_entry(store: &SqlStore) {
    let key = shared("C1");
    let m = message(&key, "M1", "", "$one", 10);
    let crossings = [
        Crossing {
            mapping: MappingChange::InsertMessage(m.clone()),
            audit: draft(&key, AuditAction::Message, "$one", "M1"),
        },
        Crossing {
            mapping: MappingChange::InsertReaction(reaction(&key, "M1", "U2", "👍", "$r")),
            audit: draft(&key, AuditAction::Reaction, "$r", "M1"),
        },
        Crossing {
            mapping: MappingChange::None,
            audit: draft(&key, AuditAction::Edit, "$edit", "M1"),
        },
    ];
    store.record_crossings(&crossings).await.unwrap();
    assert_eq!(store.message_by_event("$one").await.unwrap(), Some(m));
    assert!(store.reaction_by_event("$r").await.unwrap().is_some());
    let entries = store.audit_entries(&all()).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    for (entry, crossing) in entries.iter().zip(&crossings) {
        assert_eq!(entry.draft, crossing.audit);
    }
    let mut chain = ChainCheck::contiguous(None);
    for e in &entries {
        chain.next(e).unwrap();
    }
    assert_eq!(
        store.audit_head().await.unwrap(),
        (3, entries[2].entry_hash.clone())
    );

    store
        .record_crossings(&[
            Crossing {
                mapping: MappingChange::DeleteReaction {
                    portal: key.clone(),
                    event_id: "$r".into(),
                },
                audit: draft(&key, AuditAction::Unreaction, "$unr", "M1"),
            },
            Crossing {
                mapping: MappingChange::DeleteMessage {
                    portal: key.clone(),
                    remote_id: "M1".into(),
                },
                audit: AuditDraft {
                    content_digest: None,
                    remote_message_id: None,
                    ..draft(&key, AuditAction::Delete, "$del", "M1")
                },
            },
        ])
        .await
        .unwrap();
    assert_eq!(store.message_by_event("$one").await.unwrap(), None);
    assert_eq!(store.reaction_by_event("$r").await.unwrap(), None);
    let entries = store.audit_entries(&all()).await.unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[4].draft.remote_message_id, None);
    assert_eq!(entries[4].draft.content_digest, None);
    let mut chain = ChainCheck::contiguous(None);
    for e in &entries {
        chain.next(e).unwrap();
    }
}

/// A replayed crossing (same direction, portal and Matrix event) appends nothing; the same
/// event crossing into another portal (a hub room) or the other way is a new entry.
pub async fn audit_replay_appends_nothing(store: &SqlStore) {
    let key = shared("C1");
    let other = shared("C2");
    let crossing = Crossing {
        mapping: MappingChange::InsertMessage(message(&key, "M1", "", "$one", 10)),
        audit: draft(&key, AuditAction::Message, "$one", "M1"),
    };
    store
        .record_crossings(std::slice::from_ref(&crossing))
        .await
        .unwrap();
    store
        .record_crossings(&[crossing.clone(), crossing.clone()])
        .await
        .unwrap();
    assert_eq!(store.audit_entries(&all()).await.unwrap().len(), 1);
    store
        .record_crossings(&[
            Crossing {
                mapping: MappingChange::None,
                audit: draft(&other, AuditAction::Message, "$one", "M9"),
            },
            Crossing {
                mapping: MappingChange::None,
                audit: AuditDraft {
                    direction: AuditDirection::ToRemote,
                    ..draft(&key, AuditAction::Message, "$one", "M1")
                },
            },
        ])
        .await
        .unwrap();
    let entries = store.audit_entries(&all()).await.unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(store.audit_head().await.unwrap().0, 3);
}

/// Crossings recorded concurrently are numbered one at a time: no gap, no repeat, one chain.
pub async fn audit_concurrent_crossings_form_one_chain(store: &SqlStore) {
    let key = shared("C1");
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (store, key) = (store.clone(), key.clone());
        writes.spawn(async move {
            let event = format!("$e{i}");
            let remote = format!("M{i}");
            store
                .record_crossings(&[Crossing {
                    mapping: MappingChange::InsertMessage(message(&key, &remote, "", &event, i)),
                    audit: draft(&key, AuditAction::Message, &event, &remote),
                }])
                .await
                .unwrap();
        });
    }
    writes.join_all().await;
    let entries = store.audit_entries(&all()).await.unwrap();
    assert_eq!(entries.len(), 40);
    let mut chain = ChainCheck::contiguous(None);
    for e in &entries {
        chain.next(e).unwrap();
    }
}

/// With the record off, crossings change the message map only.
pub async fn audit_off_changes_the_map_only(store: &SqlStore) {
    let key = shared("C1");
    let off = store.clone().keep_record(false);
    off.record_crossings(&[Crossing {
        mapping: MappingChange::InsertMessage(message(&key, "M1", "", "$one", 10)),
        audit: draft(&key, AuditAction::Message, "$one", "M1"),
    }])
    .await
    .unwrap();
    assert!(store.message_by_event("$one").await.unwrap().is_some());
    assert!(store.audit_entries(&all()).await.unwrap().is_empty());
}

/// Filters select by time and room; seals are kept once per entry; pruning drops what lies
/// before a checkpoint and keeps the checkpoint entry and its seal.
pub async fn audit_filters_seals_and_pruning(store: &SqlStore) {
    let key = shared("C1");
    for i in 1..=6 {
        let event = format!("$e{i}");
        store
            .record_crossings(&[Crossing {
                mapping: MappingChange::None,
                audit: AuditDraft {
                    at_ms: i * 1000,
                    room_id: if i % 2 == 0 { "!even:x" } else { "!odd:x" }.into(),
                    ..draft(&key, AuditAction::Message, &event, "M")
                },
            }])
            .await
            .unwrap();
    }
    let q = AuditQuery {
        from_ms: Some(2000),
        until_ms: Some(5000),
        ..all()
    };
    let seqs =
        |v: Vec<aqueduct_core::audit::AuditEntry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.audit_entries(&q).await.unwrap()), vec![2, 3, 4]);
    let q = AuditQuery {
        room_id: Some("!even:x".into()),
        ..all()
    };
    assert_eq!(seqs(store.audit_entries(&q).await.unwrap()), vec![2, 4, 6]);
    let q = AuditQuery {
        after_seq: 4,
        limit: 1,
        ..AuditQuery::default()
    };
    assert_eq!(seqs(store.audit_entries(&q).await.unwrap()), vec![5]);

    let entries = store.audit_entries(&all()).await.unwrap();
    let seal = |seq: i64| AuditSeal {
        seq,
        entry_hash: entries[seq as usize - 1].entry_hash.clone(),
        sealed_at_ms: seq,
        public_key: "pk".into(),
        signature: "sig".into(),
    };
    store.insert_audit_seal(&seal(2)).await.unwrap();
    store.insert_audit_seal(&seal(4)).await.unwrap();
    store.insert_audit_seal(&seal(4)).await.unwrap();
    assert_eq!(store.audit_seals().await.unwrap(), vec![seal(2), seal(4)]);
    assert_eq!(store.prune_audit_through(4).await.unwrap(), 3);
    assert_eq!(
        seqs(store.audit_entries(&all()).await.unwrap()),
        vec![4, 5, 6]
    );
    assert_eq!(store.audit_seals().await.unwrap(), vec![seal(4)]);
    // What remains chains on from the checkpoint, and new entries follow the head.
    store
        .record_crossings(&[Crossing {
            mapping: MappingChange::None,
            audit: draft(&key, AuditAction::Message, "$e7", "M"),
        }])
        .await
        .unwrap();
    let rest = store.audit_entries(&all()).await.unwrap();
    let mut chain = ChainCheck::contiguous(Some((3, rest[0].prev_hash.clone())));
    for e in &rest {
        chain.next(e).unwrap();
    }
    assert_eq!(rest.last().unwrap().seq, 7);
}

/// With a content key the content is kept sealed: the raw column holds no plaintext, it opens
/// with the key only, and matches the entry's digest; without content nothing is kept.
pub async fn audit_content_is_kept_sealed(store: &SqlStore) {
    let key = shared("C1");
    let content = serde_json::json!({ "msgtype": "m.text", "body": "the budget is 4.2 million" });
    let canonical = aqueduct_core::audit::canonical_content(&content);
    let sealed_store = store
        .clone()
        .keep_record_content(crate::SecretsKey::generate());
    sealed_store
        .record_crossings(&[
            Crossing {
                mapping: MappingChange::None,
                audit: AuditDraft {
                    content: Some(canonical.clone()),
                    content_digest: Some(content_digest(&content)),
                    ..draft(&key, AuditAction::Message, "$said", "M1")
                },
            },
            Crossing {
                mapping: MappingChange::None,
                audit: AuditDraft {
                    content: None,
                    content_digest: None,
                    ..draft(&key, AuditAction::Delete, "$gone", "M1")
                },
            },
        ])
        .await
        .unwrap();
    let raw: Option<String> =
        sqlx::query_scalar("SELECT content_sealed FROM audit_log WHERE seq = 1")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    let raw = raw.expect("content kept");
    assert!(!raw.contains("budget"), "{raw}");
    assert_eq!(
        sealed_store.audit_content(1).await.unwrap().as_deref(),
        Some(canonical.as_str())
    );
    assert_eq!(
        aqueduct_core::audit::digest_of(&canonical),
        content_digest(&content)
    );
    assert_eq!(sealed_store.audit_content(2).await.unwrap(), None);
    // The store without the key, or with another, cannot open it.
    assert!(store.audit_content(1).await.is_err());
    let other = store
        .clone()
        .keep_record_content(crate::SecretsKey::generate());
    assert!(other.audit_content(1).await.is_err());
    // Entries read back carry no content, and a store without a content key keeps none.
    assert_eq!(
        store.audit_entries(&all()).await.unwrap()[0].draft.content,
        None
    );
    store
        .record_crossings(&[Crossing {
            mapping: MappingChange::None,
            audit: AuditDraft {
                content: Some(canonical.clone()),
                ..draft(&key, AuditAction::Message, "$plain", "M2")
            },
        }])
        .await
        .unwrap();
    let raw: Option<String> =
        sqlx::query_scalar("SELECT content_sealed FROM audit_log WHERE seq = 3")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(raw, None);
}
