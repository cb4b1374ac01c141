//! The engine's error type.

use crate::connector::ConnectorError;
use crate::matrix::MatrixError;
use crate::store::StoreError;

/// Anything that can go wrong while bridging.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The homeserver failed or refused.
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    /// The connector failed or refused.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The engine is shutting down; the work was not done and will be redone after restart.
    #[error("the bridge is shutting down")]
    ShuttingDown,
    /// The event refers to something the bridge does not know (an unbridged message).
    #[error("{0}")]
    Unknown(String),
}

/// Result of an engine operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
