//! Errors of the store. Opening errors name the database so a misconfigured path or URI is
//! obvious from the message alone; query errors name the store operation that failed.

use crate::Backend;
use aqueduct_core::store::StoreError;

/// Why the store could not open a database or answer a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URI names no backend this store supports, or cannot be parsed.
    #[error("invalid database URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given (PostgreSQL passwords are not shown).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The SQLite file could not be opened or created.
    #[error("cannot open SQLite database at {path}: {source}")]
    OpenSqlite {
        /// The file path, as given.
        path: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    ConnectPostgres {
        /// `host:port/database`, without credentials.
        target: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Applying the embedded migrations failed; the database is left at the last good version.
    #[error("cannot migrate the {backend} database: {source}")]
    Migrate {
        /// Which backend.
        backend: Backend,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("{op}: {source}")]
    Query {
        /// The store operation, e.g. `enqueue_transaction`.
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value could not be read back (e.g. a login's JSON no longer parses).
    #[error("{op}: corrupt {what} in the database: {detail}")]
    Corrupt {
        /// The store operation.
        op: &'static str,
        /// Which value.
        what: &'static str,
        /// Why it could not be read.
        detail: String,
    },
    /// A sealed login secret could not be opened (no key, another key, or an altered value).
    #[error("{op}: {source}")]
    Sealing {
        /// The store operation.
        op: &'static str,
        /// Why it did not open.
        source: crate::sealing::SealError,
    },
}

/// Result of a store call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// For `.map_err(query("op"))`: tags a driver error with the operation that hit it.
pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { op, source }
}

// The engine sees only `StoreError`, a message; the full chain goes into it.
impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError(e.to_string())
    }
}
