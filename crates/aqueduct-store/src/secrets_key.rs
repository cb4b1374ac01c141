//! [`SecretsKey`]: the 32-byte key that seals login secrets at rest, and its file form
//! (the key in base64 on one line, mode 0600).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// Why a key could not be read, made or used. Messages name files and key ids, never a key.
#[derive(Debug, thiserror::Error)]
pub enum SecretsKeyError {
    /// The text is not the base64 of exactly 32 bytes.
    #[error("{origin} is not a secrets key: expected the base64 of {KEY_LEN} random bytes")]
    Malformed {
        /// Where the text came from (a file path, an environment variable).
        origin: String,
    },
    /// The key file could not be read.
    #[error("cannot read the secrets key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file could not be created.
    #[error("cannot create the secrets key file {path}: {source}")]
    Create {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The key sealing login secrets. Its `Debug` shows only its [id](SecretsKey::id); the bytes
/// are wiped from memory when it is dropped.
#[derive(Clone)]
pub struct SecretsKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl SecretsKey {
    /// A new random key.
    pub fn generate() -> SecretsKey {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        SecretsKey::from_bytes(bytes)
    }

    /// The key whose base64 (standard alphabet, padded; surrounding whitespace ignored) is
    /// `text`. `origin` names where it came from in the error.
    pub fn from_base64(text: &str, origin: &str) -> Result<SecretsKey, SecretsKeyError> {
        let malformed = || SecretsKeyError::Malformed {
            origin: origin.to_owned(),
        };
        let decoded = Zeroizing::new(BASE64.decode(text.trim()).map_err(|_| malformed())?);
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| malformed())?;
        Ok(SecretsKey::from_bytes(Zeroizing::new(bytes)))
    }

    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> SecretsKey {
        let digest = Sha256::new()
            .chain_update(b"aqueduct secrets key id\0")
            .chain_update(bytes.as_ref())
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        SecretsKey { bytes, id }
    }

    /// The key in base64, as its file holds it.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.bytes.as_ref()))
    }

    /// A short public name of the key (8 hex digits of a hash of it), written next to every
    /// value it seals so that a wrong key is told apart from a damaged value. It reveals
    /// nothing usable about the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw key, for the cipher.
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Reads the key from `path` (its base64 on one line).
    pub fn read_file(path: &Path) -> Result<SecretsKey, SecretsKeyError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            SecretsKeyError::Read {
                path: path.display().to_string(),
                source,
            }
        })?);
        SecretsKey::from_base64(&text, &path.display().to_string())
    }

    /// Writes this key to `path`, a new file readable by its owner only (0600). Fails if
    /// the file exists: a key is never overwritten.
    pub fn create_file(&self, path: &Path) -> Result<(), SecretsKeyError> {
        let error = |source| SecretsKeyError::Create {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(error)?;
        let mut line = self.to_base64();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(error)?;
        file.sync_all().map_err(error)
    }
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_id_not_the_key() {
        let key = SecretsKey::generate();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.id()), "{debug}");
        assert!(!debug.contains(key.to_base64().as_str()), "{debug}");
        let bytes = format!("{:?}", key.bytes());
        assert!(!debug.contains(&bytes[1..bytes.len() - 1]), "{debug}");
    }

    #[test]
    fn base64_round_trip_and_malformed_keys() {
        let key = SecretsKey::generate();
        let again = SecretsKey::from_base64(&format!(" {}\n", *key.to_base64()), "x").unwrap();
        assert_eq!(again.bytes(), key.bytes());
        assert_eq!(again.id(), key.id());
        assert_ne!(SecretsKey::generate().id(), key.id());
        for bad in ["", "not base64!", &BASE64.encode([7u8; 16])] {
            let err = SecretsKey::from_base64(bad, "AQUEDUCT_SECRETS_KEY").unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("AQUEDUCT_SECRETS_KEY is not a secrets key"),
                "{err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_0600_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SecretsKey::generate();
        key.create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(SecretsKey::read_file(&path).unwrap().id(), key.id());
        let err = SecretsKey::generate().create_file(&path).unwrap_err();
        assert!(err.to_string().contains("cannot create"), "{err}");
        assert_eq!(SecretsKey::read_file(&path).unwrap().id(), key.id());
    }
}
