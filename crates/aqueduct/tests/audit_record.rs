//! `aqueduct audit` on a record that someone has tampered with, run as an operator or auditor
//! would: the real binary, on a SQLite file and on PostgreSQL. Every kind of tampering (edit,
//! delete, reorder, truncate, a rewritten chain, a forged seal, an edited export) is caught and
//! named; an intact record verifies.

use aqueduct_core::audit::{
    AuditAction, AuditDirection, AuditDraft, Crossing, MappingChange, canonical_content,
    content_digest, entry_hash,
};
use aqueduct_core::ids::{ConnectorId, PortalKey, RemoteChatId, RemoteMessageId};
use aqueduct_core::store::Store;
use aqueduct_store::SqlStore;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

const ENTRIES: i64 = 10;

/// A record of ten crossings, sealed through entry 10, and what the commands need.
struct Sealed {
    dir: TempDir,
    uri: String,
    config: PathBuf,
    public_key: String,
}

fn postgres_url() -> String {
    std::env::var("AQUEDUCT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database for one case: a SQLite file in `dir`, or a fresh PostgreSQL schema.
async fn database(dir: &Path, postgres: bool) -> String {
    if !postgres {
        return format!("sqlite://{}", dir.join("aqueduct.db").display());
    }
    sqlx::any::install_default_drivers();
    let url = postgres_url();
    let schema = format!(
        "aqueduct_test_{}_{:08x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        rand::random::<u32>()
    );
    let mut admin = AnyConnection::connect(&url).await.unwrap();
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

async fn sealed(postgres: bool) -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let uri = database(dir.path(), postgres).await;
    // Content is kept too, sealed with the content key, as with `record.keep_content`.
    let content_key =
        aqueduct::record::content_key::read_or_create(&dir.path().join("content.key")).unwrap();
    let store = SqlStore::connect(&uri)
        .await
        .unwrap()
        .keep_record_content(content_key);
    let portal = PortalKey::shared(ConnectorId::new("slack"), RemoteChatId::new("C1"));
    for i in 1..=ENTRIES {
        let event = format!("$event{i}");
        let content = serde_json::json!({ "msgtype": "m.text", "body": format!("message {i}") });
        store
            .record_crossings(&[Crossing {
                mapping: MappingChange::None,
                audit: AuditDraft {
                    at_ms: 1_765_000_000_000 + i * 60_000,
                    direction: if i % 2 == 0 {
                        AuditDirection::ToRemote
                    } else {
                        AuditDirection::ToMatrix
                    },
                    action: AuditAction::Message,
                    portal: portal.clone(),
                    room_id: if i % 3 == 0 { "!other:x" } else { "!room:x" }.into(),
                    matrix_event_id: event,
                    remote_message_id: Some(RemoteMessageId::new(format!("1765.{i}"))),
                    matrix_sender: "@alice:x".into(),
                    remote_sender: "U1".into(),
                    content_digest: Some(content_digest(&content)),
                    content: Some(canonical_content(&content)),
                },
            }])
            .await
            .unwrap();
    }
    store.close().await;
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "homeserver: {{url: 'http://127.0.0.1:1', server_name: x}}\n\
             appservice: {{address: 'http://127.0.0.1:2', listen: '127.0.0.1:2', as_token: aaaaaaaaaaaaaaaaaaaa, hs_token: bbbbbbbbbbbbbbbbbbbb}}\n\
             database: {{uri: \"{uri}\"}}\n\
             record: {{signing_key_file: \"{}\", keep_content: true, content_key_file: \"{}\"}}\n",
            dir.path().join("record.key").display(),
            dir.path().join("content.key").display()
        ),
    )
    .unwrap();
    // The key is the bridge's: made by its first start. Here, by the same code the bridge runs.
    aqueduct::record::signing_key::load_or_create(&dir.path().join("record.key")).unwrap();
    let public_key = stdout_of(aqueduct(&config, &["audit", "public-key"]));
    let sealed = stdout_of(aqueduct(&config, &["audit", "seal"]));
    assert!(sealed.contains("through entry 10"), "{sealed}");
    Sealed {
        dir,
        uri,
        config,
        public_key: public_key.trim().to_owned(),
    }
}

fn aqueduct(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_of(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Sealed {
    /// `audit verify` with the auditor's public key: Ok(stdout) or Err(stderr).
    fn verify(&self, extra: &[&str]) -> Result<String, String> {
        let mut args = vec!["audit", "verify", "--public-key", &self.public_key];
        args.extend_from_slice(extra);
        let out = aqueduct(&self.config, &args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    async fn sql(&self, statements: &[&str]) {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&self.uri).await.unwrap();
        for s in statements {
            conn.execute(AssertSqlSafe(s.to_string())).await.unwrap();
        }
        conn.close().await.unwrap();
    }
}

async fn intact_record_verifies(postgres: bool) {
    let r = sealed(postgres).await;
    let out = r.verify(&[]).unwrap();
    assert!(out.contains("10 entries checked"), "{out}");
    assert!(out.contains("sealed through entry 10"), "{out}");
    // New entries after the last seal verify as chained but not yet sealed.
    let store = SqlStore::connect(&r.uri).await.unwrap();
    let portal = PortalKey::shared(ConnectorId::new("slack"), RemoteChatId::new("C1"));
    store
        .record_crossings(&[Crossing {
            mapping: MappingChange::None,
            audit: AuditDraft {
                at_ms: 1,
                direction: AuditDirection::ToMatrix,
                action: AuditAction::Edit,
                portal,
                room_id: "!room:x".into(),
                matrix_event_id: "$later".into(),
                remote_message_id: None,
                matrix_sender: "@g:x".into(),
                remote_sender: "U1".into(),
                content_digest: None,
                content: None,
            },
        }])
        .await
        .unwrap();
    store.close().await;
    let out = r.verify(&[]).unwrap();
    assert!(
        out.contains("1 newer entries chained but not yet sealed"),
        "{out}"
    );
}

async fn each_tampering_is_caught(postgres: bool) {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "edit",
            &["UPDATE audit_log SET remote_sender = 'U-someone-else' WHERE seq = 4"],
            "entry 4 was altered",
        ),
        (
            "delete",
            &["DELETE FROM audit_log WHERE seq = 5"],
            "entries 5 to 5 are missing",
        ),
        (
            "reorder",
            &[
                "UPDATE audit_log SET seq = -3 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = 6",
                "UPDATE audit_log SET seq = 6 WHERE seq = -3",
            ],
            "entry 3 was altered",
        ),
        (
            "truncate",
            &["DELETE FROM audit_log WHERE seq > 7"],
            "the record ends at entry 7, but entry 10 was sealed",
        ),
        (
            "drop the beginning",
            &["DELETE FROM audit_log WHERE seq <= 2"],
            "the record starts at entry 3",
        ),
    ];
    for (name, statements, expected) in cases {
        let r = sealed(postgres).await;
        r.sql(statements).await;
        let err = r.verify(&[]).expect_err(name);
        assert!(err.contains("does NOT verify"), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err}"
        );
    }
}

/// Someone with write access recomputes every hash after changing entry 4: the chain holds,
/// but the seal signed before does not match, and a new seal needs the operator's key.
async fn a_rewritten_chain_is_caught_by_the_seal(postgres: bool) {
    let r = sealed(postgres).await;
    let store = SqlStore::connect(&r.uri).await.unwrap();
    let entries = store
        .audit_entries(&aqueduct_store::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    store.close().await;
    let mut prev = entries[2].entry_hash.clone();
    let mut statements = Vec::new();
    for e in &entries[3..] {
        let mut draft = e.draft.clone();
        if e.seq == 4 {
            draft.remote_sender = "U-someone-else".into();
        }
        let hash = entry_hash(e.seq, &prev, &draft);
        statements.push(format!(
            "UPDATE audit_log SET remote_sender = '{}', prev_hash = '{prev}', entry_hash = '{hash}' WHERE seq = {}",
            draft.remote_sender, e.seq
        ));
        prev = hash;
    }
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    r.sql(&refs).await;
    let err = r.verify(&[]).unwrap_err();
    assert!(
        err.contains("entry 10 is not the entry that was sealed"),
        "{err}"
    );

    // Re-sealing with a key of one's own is refused: the auditor trusts the operator's key.
    let forged_key = r.dir.path().join("forged.key");
    aqueduct::record::signing_key::load_or_create(&forged_key).unwrap();
    r.sql(&["DELETE FROM audit_seal"]).await;
    let forged_config = r.dir.path().join("forged.yaml");
    std::fs::write(
        &forged_config,
        std::fs::read_to_string(&r.config)
            .unwrap()
            .replace("record.key", "forged.key"),
    )
    .unwrap();
    stdout_of(aqueduct(&forged_config, &["audit", "seal"]));
    let err = r.verify(&[]).unwrap_err();
    assert!(err.contains("not one of the trusted public keys"), "{err}");
}

/// An export verifies on its own, with only the public key; an edited export does not.
async fn an_export_verifies_and_an_edited_one_does_not(postgres: bool) {
    let r = sealed(postgres).await;
    let export = r.dir.path().join("record.jsonl");
    let out = aqueduct(
        &r.config,
        &["audit", "export", "--output", export.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = r.verify(&["--input", export.to_str().unwrap()]).unwrap();
    assert!(ok.contains("10 entries checked"), "{ok}");

    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(
        text.lines().count(),
        1 + 10 + 1,
        "header, entries, seal:\n{text}"
    );
    let edited = text.replacen("\"remote_sender\":\"U1\"", "\"remote_sender\":\"U9\"", 1);
    std::fs::write(&export, edited).unwrap();
    let err = r
        .verify(&["--input", export.to_str().unwrap()])
        .unwrap_err();
    assert!(err.contains("entry 1 was altered"), "{err}");

    // With the content key, the content comes along; altered, it is caught by its digest.
    let with_content = r.dir.path().join("content.jsonl");
    let out = aqueduct(
        &r.config,
        &[
            "audit",
            "export",
            "--with-content",
            "--output",
            with_content.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&with_content).unwrap();
    assert!(
        text.contains(r#""content":{"body":"message 7","msgtype":"m.text"}"#),
        "{text}"
    );
    assert!(
        !std::fs::read_to_string(&export)
            .unwrap()
            .contains("message 7")
    );
    r.verify(&["--input", with_content.to_str().unwrap()])
        .unwrap();
    std::fs::write(&with_content, text.replace("message 7", "message seven")).unwrap();
    let err = r
        .verify(&["--input", with_content.to_str().unwrap()])
        .unwrap_err();
    assert!(
        err.contains("the content exported with entry 7 is not the content that was recorded"),
        "{err}"
    );

    // One room's entries: each checked on its own.
    let room = r.dir.path().join("room.jsonl");
    let out = aqueduct(
        &r.config,
        &[
            "audit",
            "export",
            "--room",
            "!other:x",
            "--output",
            room.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let ok = r.verify(&["--input", room.to_str().unwrap()]).unwrap();
    assert!(ok.contains("3 entries checked"), "{ok}");
    // A time range: entries 3 to 5.
    let range = r.dir.path().join("range.jsonl");
    let from = (1_765_000_000_000i64 + 3 * 60_000).to_string();
    let until = (1_765_000_000_000i64 + 6 * 60_000).to_string();
    let out = aqueduct(
        &r.config,
        &[
            "audit",
            "export",
            "--from",
            &from,
            "--until",
            &until,
            "--output",
            range.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let ok = r.verify(&["--input", range.to_str().unwrap()]).unwrap();
    assert!(ok.contains("entries 3 to 5"), "{ok}");
}

/// Retention drops entries before a sealed checkpoint; what remains still verifies, and
/// dropping more than that (past the checkpoint) is caught.
async fn a_pruned_record_still_verifies(postgres: bool) {
    let r = sealed(postgres).await;
    let store = SqlStore::connect(&r.uri).await.unwrap();
    assert_eq!(store.prune_audit_through(10).await.unwrap(), 9);
    store.close().await;
    let out = r.verify(&[]).unwrap();
    assert!(out.contains("entries 10 to 10"), "{out}");
    r.sql(&["DELETE FROM audit_log WHERE seq = 10"]).await;
    let err = r.verify(&[]).unwrap_err();
    assert!(
        err.contains("the record ends at entry 0, but entry 10 was sealed"),
        "{err}"
    );
}

/// The retention period decides the checkpoint: the newest seal made before the cutoff. Seals
/// are re-signed here with older times, as a record kept for months would have them.
#[tokio::test]
async fn retention_prunes_to_the_newest_seal_older_than_the_cutoff() {
    let r = sealed(false).await;
    let store = SqlStore::connect(&r.uri).await.unwrap();
    let key = aqueduct::record::signing_key::load(&r.dir.path().join("record.key")).unwrap();
    let entries = store
        .audit_entries(&aqueduct_store::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    r.sql(&["DELETE FROM audit_seal"]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 86_400_000;
    for (seq, age_days) in [(3, 40), (6, 20), (10, 1)] {
        let entry_hash = entries[seq as usize - 1].entry_hash.clone();
        let sealed_at_ms = now - age_days * day;
        let message = aqueduct_core::audit::seal_message(seq, &entry_hash, sealed_at_ms);
        store
            .insert_audit_seal(&aqueduct_core::audit::AuditSeal {
                seq,
                signature: aqueduct::record::signing_key::sign(&key, &message),
                entry_hash,
                sealed_at_ms,
                public_key: r.public_key.clone(),
            })
            .await
            .unwrap();
    }
    let retention = std::time::Duration::from_secs(30 * 86_400);
    assert_eq!(
        aqueduct::record::sealer::prune_expired(&store, retention)
            .await
            .unwrap(),
        2
    );
    let retention = std::time::Duration::from_secs(10 * 86_400);
    assert_eq!(
        aqueduct::record::sealer::prune_expired(&store, retention)
            .await
            .unwrap(),
        3
    );
    store.close().await;
    let out = r.verify(&[]).unwrap();
    assert!(out.contains("entries 6 to 10"), "{out}");
}

#[tokio::test]
async fn sqlite_a_pruned_record_still_verifies() {
    a_pruned_record_still_verifies(false).await;
}
#[tokio::test]
async fn postgres_a_pruned_record_still_verifies() {
    a_pruned_record_still_verifies(true).await;
}
#[tokio::test]
async fn sqlite_intact_record_verifies() {
    intact_record_verifies(false).await;
}
#[tokio::test]
async fn sqlite_each_tampering_is_caught() {
    each_tampering_is_caught(false).await;
}
#[tokio::test]
async fn sqlite_a_rewritten_chain_is_caught_by_the_seal() {
    a_rewritten_chain_is_caught_by_the_seal(false).await;
}
#[tokio::test]
async fn sqlite_an_export_verifies_and_an_edited_one_does_not() {
    an_export_verifies_and_an_edited_one_does_not(false).await;
}
#[tokio::test]
async fn postgres_intact_record_verifies() {
    intact_record_verifies(true).await;
}
#[tokio::test]
async fn postgres_each_tampering_is_caught() {
    each_tampering_is_caught(true).await;
}
#[tokio::test]
async fn postgres_a_rewritten_chain_is_caught_by_the_seal() {
    a_rewritten_chain_is_caught_by_the_seal(true).await;
}
#[tokio::test]
async fn postgres_an_export_verifies_and_an_edited_one_does_not() {
    an_export_verifies_and_an_edited_one_does_not(true).await;
}
