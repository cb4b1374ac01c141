//! Errors of the Matrix side that are not homeserver answers (those are
//! [`aqueduct_core::matrix::MatrixError`]).

/// A configuration or start-up problem on the Matrix side.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is unusable.
    #[error("invalid Matrix settings: {0}")]
    Config(String),
    /// The homeserver and the bridge cannot talk to each other.
    #[error("{0}")]
    Unreachable(String),
}

/// Result of a Matrix-side set-up step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
