//! The store conformance suite on SQLite, plus what only a file-backed store has to show:
//! data survives reopening, and the URI forms `connect` accepts.

use aqueduct_core::ids::{ConnectorId, LoginId, PortalKey, RemoteChatId};
use aqueduct_core::records::Portal;
use aqueduct_core::store::Store;
use aqueduct_store::{Backend, SqlStore, store_conformance_tests};
use std::borrow::Borrow;
use std::path::Path;
use tempfile::TempDir;

/// A store on a fresh file. Owns the temporary directory so the file outlives every
/// connection the pool may still open.
struct TempStore {
    store: SqlStore,
    _dir: TempDir,
}

impl Borrow<SqlStore> for TempStore {
    fn borrow(&self) -> &SqlStore {
        &self.store
    }
}

async fn open(path: &Path) -> SqlStore {
    let store = SqlStore::connect(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store
}

async fn make_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("aqueduct.db")).await;
    TempStore { store, _dir: dir }
}

store_conformance_tests!(make_store);

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aqueduct.db");
    let key = PortalKey {
        connector: ConnectorId::new("slack"),
        chat: RemoteChatId::new("D1"),
        receiver: Some(LoginId::new("alice")),
    };
    let portal = Portal {
        room_id: Some("!dm:x".into()),
        is_direct: true,
        ..Portal::new(key.clone())
    };

    let store = open(&path).await;
    assert!(
        store
            .enqueue_transaction("t1", &[(None, "{}".into())])
            .await
            .unwrap()
    );
    store.upsert_portal(&portal).await.unwrap();
    store.set_member("!dm:x", "@a:x", true).await.unwrap();
    store.close().await;
    drop(store);

    let store = open(&path).await;
    let pending = store.pending_inbox(0, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].json, "{}");
    assert!(
        !store
            .enqueue_transaction("t1", &[(None, "{}".into())])
            .await
            .unwrap(),
        "txn id forgotten"
    );
    assert_eq!(store.portal_by_key(&key).await.unwrap(), Some(portal));
    assert!(store.is_member("!dm:x", "@a:x").await.unwrap());
    store.close().await;
}

#[tokio::test]
async fn accepts_uri_forms_and_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    // `sqlite:` URIs are sqlx's syntax (%-encoded); a bare path is taken literally.
    for (uri, file) in [
        (format!("sqlite://{base}/a.db"), "a.db"),
        (format!("sqlite:{base}/b.db"), "b.db"),
        (format!("{base}/with space #and?.db"), "with space #and?.db"),
    ] {
        let store = SqlStore::connect(&uri)
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        store.set_member("!r:x", "@a:x", true).await.unwrap();
        store.close().await;
        assert!(
            dir.path().join(file).is_file(),
            "{uri} did not create {file}"
        );
    }
    // The file is not created twice: reopening finds the data.
    let store = SqlStore::connect(&format!("{base}/with space #and?.db"))
        .await
        .unwrap();
    assert!(store.is_member("!r:x", "@a:x").await.unwrap());
    store.close().await;
}

#[tokio::test]
async fn in_memory_database_is_one_database() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    store.set_management_room("@a:x", "!m:x").await.unwrap();
    assert_eq!(
        store.management_room("@a:x").await.unwrap().as_deref(),
        Some("!m:x")
    );
}

#[tokio::test]
async fn unopenable_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("x.db");
    let err = SqlStore::connect(path.to_str().unwrap())
        .await
        .unwrap_err()
        .to_string();
    let expected = format!("cannot open SQLite database at {}", path.display());
    assert!(err.starts_with(&expected), "{err}");
    assert!(!err.contains("timed out"), "the cause is lost: {err}");
}
