//! The Ed25519 key that seals the record: kept in a file as the unpadded base64 of its 32-byte
//! seed, created mode 0600 on first use.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::path::Path;

/// Why a key could not be read, made or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("record signing key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not a key (the key itself is never quoted).
    #[error("{what} is not an Ed25519 key in unpadded base64 (32 bytes)")]
    Malformed {
        /// Which value.
        what: String,
    },
}

/// Reads the key at `path`, creating a new random one there (0600) if there is none.
pub fn load_or_create(path: &Path) -> Result<SigningKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_signing_key(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = rand::random();
            let key = SigningKey::from_bytes(&seed);
            write_private(path, &format!("{}\n", STANDARD_NO_PAD.encode(seed))).map_err(io)?;
            tracing::warn!(
                path = %path.display(),
                public_key = %public_key_text(&key.verifying_key()),
                "created a new record signing key; keep a copy of its public key where auditors can find it"
            );
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Reads the key at `path`; a missing file is an error.
pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_signing_key(&text, &path.display().to_string())
}

fn parse_signing_key(text: &str, what: &str) -> Result<SigningKey, KeyError> {
    let seed: [u8; 32] = STANDARD_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::Malformed { what: what.into() })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key as `aqueduct audit public-key` prints it and seals store it.
pub fn public_key_text(key: &VerifyingKey) -> String {
    STANDARD_NO_PAD.encode(key.as_bytes())
}

/// Parses a public key given as text (as printed by [`public_key_text`]) or the path of a
/// file holding it.
pub fn parse_public_key(text_or_path: &str) -> Result<VerifyingKey, KeyError> {
    let text = match std::fs::read_to_string(text_or_path) {
        Ok(contents) => contents,
        Err(_) => text_or_path.to_owned(),
    };
    STANDARD_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| KeyError::Malformed {
            what: "the public key".into(),
        })
}

/// Signs `message`; the signature in unpadded base64.
pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    STANDARD_NO_PAD.encode(key.sign(message).to_bytes())
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let made = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(made.to_bytes(), again.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let public = public_key_text(&made.verifying_key());
        assert_eq!(parse_public_key(&public).unwrap(), made.verifying_key());
    }

    #[test]
    fn a_malformed_key_is_refused_without_quoting_it() {
        let e = parse_signing_key("not-a-key-secret", "k")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("not-a-key-secret"), "{e}");
    }
}
