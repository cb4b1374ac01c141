//! Turning a database URI into a ready pool: picking the backend, opening it with the right
//! settings, and applying the embedded migrations.

use crate::{Backend, Error, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Run on every new SQLite connection (these settings are per connection, except
/// `journal_mode`, which sticks to the file).
/// - busy_timeout first, so the others wait for a lock instead of failing.
/// - WAL lets readers proceed during a write.
/// - synchronous=FULL fsyncs the WAL on every commit: an appservice transaction is answered
///   200 once `enqueue_transaction` returns, so a commit must survive power loss.
/// - foreign_keys is off by default in SQLite (sqlx turns it on); no table declares one yet,
///   but one added later must be enforced on SQLite as it is on PostgreSQL.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON;";

/// SQLite has a single writer anyway; a few connections let reads overlap a write.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// How long a call waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a URI asks for.
#[derive(Debug, PartialEq)]
enum Target {
    /// `url` is what sqlx gets; `path` is what error messages show.
    Sqlite {
        url: String,
        path: String,
        in_memory: bool,
    },
    /// `target` (`host:port/db`) is what error messages show, so no password leaks.
    Postgres { url: String, target: String },
}

/// An opened database: the pool reads go through, and the one writes go through.
pub(crate) struct Opened {
    pub readers: AnyPool,
    /// On SQLite, one connection: SQLite lets one writer at a time hold the file, and a
    /// second one waiting for the lock sleeps in SQLite's busy handler (1, 2, 5, 10 ms and
    /// up) instead of being woken when the lock is free. Queued on one connection, writes
    /// wait in the pool's FIFO and start the moment the previous one commits. On PostgreSQL
    /// it is the same pool as `readers`.
    pub writer: AnyPool,
    pub backend: Backend,
}

/// Opens the database `uri` names and brings its schema up to date.
pub(crate) async fn open(uri: &str) -> Result<Opened> {
    // Registers the SQLite and PostgreSQL drivers with `Any`; idempotent.
    sqlx::any::install_default_drivers();
    let target = parse(uri)?;
    let (backend, url, in_memory) = match &target {
        Target::Sqlite { url, in_memory, .. } => (Backend::Sqlite, url, *in_memory),
        Target::Postgres { url, .. } => (Backend::Postgres, url, false),
    };
    let open_error = |source| match &target {
        Target::Sqlite { path, .. } => Error::OpenSqlite {
            path: path.clone(),
            source,
        },
        Target::Postgres { target, .. } => Error::ConnectPostgres {
            target: target.clone(),
            source,
        },
    };
    let migrate_error = |source| Error::Migrate { backend, source };
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };

    if let Target::Sqlite { url, .. } = &target
        && !in_memory
        && url.contains("mode=rwc")
    {
        create_private(&sqlite_file_of(&target))?;
    }
    if !in_memory {
        // A lone connection first. If the database cannot be reached it fails with the reason
        // (the pool would retry until its timeout, then report only "timed out"), and it
        // migrates (and switches SQLite to WAL) before any other connection exists.
        let mut first = AnyConnection::connect(url).await.map_err(open_error)?;
        if backend == Backend::Sqlite {
            first.execute(SQLITE_PRAGMAS).await.map_err(open_error)?;
        }
        // `run_direct` rather than `run`: `run` goes through `Acquire`, whose lifetime bound
        // makes every future awaiting this one fail to prove `Send`.
        migrator
            .run_direct(None, &mut first, false)
            .await
            .map_err(migrate_error)?;
        first.close().await.map_err(open_error)?;
    }
    let pool = pool_options(backend, in_memory)
        .connect(url)
        .await
        .map_err(open_error)?;
    if in_memory {
        // Any other connection would see another, empty database: migrate through the pool.
        migrator.run(&pool).await.map_err(migrate_error)?;
    }
    let writer = if backend == Backend::Sqlite && !in_memory {
        pool_options(backend, in_memory)
            .max_connections(1)
            .connect(url)
            .await
            .map_err(open_error)?
    } else {
        // PostgreSQL has row locks and takes concurrent writers; an in-memory SQLite
        // database is a single connection already.
        pool.clone()
    };
    match &target {
        Target::Sqlite { path, .. } => tracing::info!(%path, "opened SQLite database"),
        Target::Postgres { target, .. } => tracing::info!(%target, "connected to PostgreSQL"),
    }
    Ok(Opened {
        readers: pool,
        writer,
        backend,
    })
}

fn pool_options(backend: Backend, in_memory: bool) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
    match backend {
        Backend::Postgres => options.max_connections(POSTGRES_MAX_CONNECTIONS),
        Backend::Sqlite => {
            let options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            });
            // A SQLite connection is a file handle in this process: it cannot go stale the way
            // a network connection can, so the ping sqlx sends before every checkout (a round
            // trip through the connection's worker thread) buys nothing.
            let options = options.test_before_acquire(false);
            if in_memory {
                // Every connection to `:memory:` is a database of its own: keep one, forever.
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                options.max_connections(SQLITE_MAX_CONNECTIONS)
            }
        }
    }
}

/// The file of a SQLite database on disk (`None` for PostgreSQL and in-memory SQLite).
pub(crate) fn sqlite_file(uri: &str) -> Result<Option<PathBuf>> {
    let target = parse(uri)?;
    Ok(match &target {
        Target::Sqlite {
            in_memory: false, ..
        } => Some(sqlite_file_of(&target)),
        _ => None,
    })
}

/// The file path sqlx opens for a SQLite target: the URL's path, %-decoded.
fn sqlite_file_of(target: &Target) -> PathBuf {
    let Target::Sqlite { url, .. } = target else {
        unreachable!("only called for SQLite");
    };
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let encoded = rest.split_once('?').map_or(rest, |(path, _)| path);
    PathBuf::from(aqueduct_core::text::percent_decode(encoded))
}

/// Creates the database file, readable and writable by its owner only (0600), if it does not
/// exist yet; SQLite gives the `-wal` and `-shm` files it creates beside it the same mode. An
/// existing file is left as it is. A missing directory is left for the driver to report.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::InvalidUri {
            uri: path.display().to_string(),
            reason: format!("cannot create the database file: {e}"),
        }),
    }
}

/// Sorts a URI into a backend and the URL sqlx should get.
fn parse(uri: &str) -> Result<Target> {
    if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(uri).map_err(|e| Error::InvalidUri {
            uri: redact_password(uri),
            reason: e.to_string(),
        })?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        return Ok(Target::Postgres {
            url: uri.to_owned(),
            target,
        });
    }
    if let Some(rest) = uri.strip_prefix("sqlite:") {
        // sqlx's own syntax: `sqlite://PATH?params` or `sqlite:PATH?params`, path %-encoded.
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path == ":memory:" || params.split('&').any(|p| p == "mode=memory");
        let has_mode = params.split('&').any(|p| p.starts_with("mode="));
        let url = match (in_memory || has_mode, params.is_empty()) {
            (true, _) => uri.to_owned(),
            // "created if missing": sqlx only creates the file with mode=rwc.
            (false, true) => format!("{uri}?mode=rwc"),
            (false, false) => format!("{uri}&mode=rwc"),
        };
        return Ok(Target::Sqlite {
            url,
            path: path.to_owned(),
            in_memory,
        });
    }
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err(Error::InvalidUri {
            uri: redact_password(uri),
            reason: format!(
                "unsupported scheme {scheme:?}; use sqlite://PATH, a file path, or postgres://..."
            ),
        });
    }
    if uri.is_empty() {
        return Err(Error::InvalidUri {
            uri: String::new(),
            reason: "empty".into(),
        });
    }
    Ok(Target::Sqlite {
        url: sqlite_url_for_path(uri)?,
        path: uri.to_owned(),
        in_memory: false,
    })
}

/// A bare file path as a `sqlite://` URL. sqlx parses the URL (a relative path's first
/// segment would become a "host") and %-decodes the path, so make the path absolute and
/// %-encode everything that is not plainly safe.
fn sqlite_url_for_path(path: &str) -> Result<String> {
    let absolute = std::path::absolute(Path::new(path)).map_err(|e| Error::InvalidUri {
        uri: path.to_owned(),
        reason: format!("cannot make the path absolute: {e}"),
    })?;
    let Some(absolute) = absolute.to_str() else {
        return Err(Error::InvalidUri {
            uri: path.to_owned(),
            reason: "path is not UTF-8".into(),
        });
    };
    let mut url = String::from("sqlite://");
    for byte in absolute.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for error messages.
fn redact_password(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return uri.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_url(uri: &str) -> String {
        match parse(uri).unwrap() {
            Target::Sqlite { url, .. } => url,
            other => panic!("expected SQLite, got {other:?}"),
        }
    }

    #[test]
    fn sqlite_uris_get_create_mode() {
        assert_eq!(
            sqlite_url("sqlite://data/a.db"),
            "sqlite://data/a.db?mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite:a.db"), "sqlite:a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite:a.db?cache=shared"),
            "sqlite:a.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite:a.db?mode=ro"), "sqlite:a.db?mode=ro");
        assert!(matches!(
            parse("sqlite::memory:").unwrap(),
            Target::Sqlite {
                in_memory: true,
                ..
            }
        ));
    }

    #[test]
    fn bare_paths_become_absolute_encoded_urls() {
        assert_eq!(
            sqlite_url("/var/lib/a b#c?.db"),
            "sqlite:///var/lib/a%20b%23c%3F.db?mode=rwc"
        );
        let relative = sqlite_url("rel/x.db");
        assert!(relative.starts_with("sqlite:///"), "{relative}");
        assert!(relative.ends_with("/rel/x.db?mode=rwc"), "{relative}");
    }

    #[test]
    fn postgres_uris_keep_their_parameters() {
        let uri = "postgresql://u:pw@db.example:6543/bridge?options=-csearch_path%3Dx";
        match parse(uri).unwrap() {
            Target::Postgres { url, target } => {
                assert_eq!(url, uri);
                assert_eq!(target, "db.example:6543/bridge");
            }
            other => panic!("expected PostgreSQL, got {other:?}"),
        }
    }

    #[test]
    fn other_schemes_are_rejected_without_leaking_passwords() {
        let err = parse("mysql://root:hunter2@localhost/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported scheme"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("root:***@localhost"), "{err}");
    }

    /// A new database file and the `-wal` and `-shm` files beside it are the owner's only,
    /// whatever the umask.
    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_files_are_created_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (i, uri) in [
            dir.path().join("bare.db").display().to_string(),
            format!("sqlite://{}/url%20form.db", dir.path().display()),
        ]
        .iter()
        .enumerate()
        {
            let opened = open(uri).await.unwrap();
            // A write, so the write-ahead log and its index exist.
            sqlx::query("INSERT INTO management_room (matrix_user, room_id) VALUES ($1, $2)")
                .bind("@a:x")
                .bind("!r:x")
                .execute(&opened.writer)
                .await
                .unwrap();
            let file = if i == 0 { "bare.db" } else { "url form.db" };
            for suffix in ["", "-wal", "-shm"] {
                let path = dir.path().join(format!("{file}{suffix}"));
                let mode = std::fs::metadata(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
            opened.writer.close().await;
            opened.readers.close().await;
        }
    }

    /// Every pooled connection, not only the first, carries the durability settings, and
    /// the writer is one connection of its own.
    #[tokio::test]
    async fn sqlite_connections_are_durable_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let opened = open(path.to_str().unwrap()).await.unwrap();
        assert_eq!(opened.backend, Backend::Sqlite);
        let (pool, writer) = (opened.readers, opened.writer);
        // Hold several connections at once so the pool has to open more than one.
        let mut conns = Vec::new();
        for _ in 0..SQLITE_MAX_CONNECTIONS {
            conns.push(pool.acquire().await.unwrap());
        }
        assert_eq!(writer.options().get_max_connections(), 1);
        conns.push(writer.acquire().await.unwrap());
        for conn in &mut conns {
            let pragma = |name: &'static str| sqlx::query_scalar::<_, i64>(name);
            assert_eq!(
                pragma("PRAGMA synchronous")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                2
            ); // FULL
            assert_eq!(
                pragma("PRAGMA foreign_keys")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(
                pragma("PRAGMA busy_timeout")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                10000
            );
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
        }
        drop(conns);
        writer.close().await;
        pool.close().await;
    }
}
