//! Why encryption could not start or act.

/// A failure of the encryption layer.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The crypto store could not be opened, read or written.
    #[error("crypto store: {0}")]
    Store(String),
    /// Another process holds the crypto store.
    #[error("the crypto store {0} is in use by another bridge process; only one may run on it")]
    Locked(String),
    /// The homeserver refused or could not be reached.
    #[error("homeserver: {0}")]
    Matrix(#[from] aqueduct_core::matrix::MatrixError),
    /// The crypto machine refused.
    #[error("encryption: {0}")]
    Olm(String),
}

impl From<matrix_sdk_crypto::CryptoStoreError> for CryptoError {
    fn from(e: matrix_sdk_crypto::CryptoStoreError) -> Self {
        CryptoError::Store(e.to_string())
    }
}

impl From<matrix_sdk_crypto::OlmError> for CryptoError {
    fn from(e: matrix_sdk_crypto::OlmError) -> Self {
        CryptoError::Olm(e.to_string())
    }
}

impl From<matrix_sdk_crypto::MegolmError> for CryptoError {
    fn from(e: matrix_sdk_crypto::MegolmError) -> Self {
        CryptoError::Olm(e.to_string())
    }
}
