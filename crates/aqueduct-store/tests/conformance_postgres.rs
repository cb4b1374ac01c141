//! The store conformance suite on PostgreSQL. Runs by default and fails if the server is
//! unreachable: it connects to `postgres://postgres@127.0.0.1:5432/test` (without TLS), or to
//! the URL in `AQUEDUCT_TEST_POSTGRES`.
//!
//! Isolation: that database is shared with other test runs, so every test creates a schema
//! of its own (`aqueduct_test_<unix seconds>_<random>`) and opens the store with
//! `options=-csearch_path=<schema>`; the migrations then create all tables, `_sqlx_migrations`
//! included, in that schema. A passing test drops its schema; a failing one leaves it for
//! inspection, and the first test of a later run drops such leftovers once they are an hour
//! old.

use aqueduct_store::{Backend, SqlStore, store_conformance_tests};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::borrow::Borrow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// TLS off: on loopback it buys nothing, and the handshake (in a debug build) is most of the
/// cost of each test's three connections.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";
const SCHEMA_PREFIX: &str = "aqueduct_test_";
/// Leftover schemas older than this are from runs long finished.
const STALE_AFTER_SECS: u64 = 3600;

fn server_url() -> String {
    std::env::var("AQUEDUCT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A store living in its own schema.
struct SchemaStore {
    store: SqlStore,
    schema: String,
}

impl Borrow<SqlStore> for SchemaStore {
    fn borrow(&self) -> &SqlStore {
        &self.store
    }
}

async fn admin() -> PgConnection {
    let url = server_url();
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {url}: {e}\n\
             Start it, or set AQUEDUCT_TEST_POSTGRES to a database URL where tests may create schemas."
        )
    })
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `url` with the schema as search_path, as a libpq `options` parameter.
fn url_with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

async fn make_store() -> SchemaStore {
    let mut admin = admin().await;
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::Relaxed) {
        drop_stale_schemas(&mut admin).await;
    }
    let schema = format!(
        "{SCHEMA_PREFIX}{}_{:08x}",
        unix_secs(),
        rand::random::<u32>()
    );
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    admin.close().await.ok();
    let store = SqlStore::connect(&url_with_schema(&server_url(), &schema))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.backend(), Backend::Postgres);
    SchemaStore { store, schema }
}

async fn drop_schema(store: SchemaStore) {
    store.store.close().await;
    let mut admin = admin().await;
    if let Err(e) = admin
        .execute(AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            store.schema
        )))
        .await
    {
        eprintln!("could not drop test schema {}: {e}", store.schema);
    }
}

/// Best effort: another run may be dropping the same schemas.
async fn drop_stale_schemas(admin: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)",
    )
    .bind(SCHEMA_PREFIX)
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let now = unix_secs();
    for name in names {
        let created = name[SCHEMA_PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS) {
            let _ = admin
                .execute(AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .await;
        }
    }
}

store_conformance_tests!(make_store, drop_schema);

#[tokio::test]
async fn reconnecting_finds_migrations_applied() {
    let first = make_store().await;
    let again = SqlStore::connect(&url_with_schema(&server_url(), &first.schema))
        .await
        .unwrap();
    again.close().await;
    drop_schema(first).await;
}

#[tokio::test]
async fn unreachable_server_fails_clearly() {
    // Port 1 on loopback: nothing listens there.
    let err = SqlStore::connect("postgres://postgres:secret@127.0.0.1:1/db")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot connect to PostgreSQL at 127.0.0.1:1/db: "),
        "{err}"
    );
    assert!(err.contains("refused"), "the cause is lost: {err}");
    assert!(!err.contains("secret"), "{err}");
}
