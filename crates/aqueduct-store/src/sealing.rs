//! Sealing a login's `secret` and `state` columns: XChaCha20-Poly1305 with a random 24-byte
//! nonce per write, and the row's connector, id and column as associated data, so a sealed
//! value moved to another row or column no longer opens.
//!
//! Stored form: `sealed:v1:<key id>:<base64(nonce || ciphertext)>`. Anything else is a
//! legacy plaintext value (JSON never starts with `sealed:`), read as is and sealed at the
//! next start.

use crate::secrets_key::SecretsKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const PREFIX: &str = "sealed:";
const V1: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

/// Why a sealed value could not be opened. Never quotes the value or the key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The database holds sealed values but the store was given no key.
    #[error(
        "the login secrets in the database are sealed (key id {key_id}) but no secrets key was given"
    )]
    NoKey {
        /// The id of the key that sealed the value.
        key_id: String,
    },
    /// The value was sealed with another key than the one given.
    #[error(
        "the login secrets in the database are sealed with key id {sealed_with}, not with the secrets key given (id {given})"
    )]
    WrongKey {
        /// The id the value names.
        sealed_with: String,
        /// The id of the key given.
        given: String,
    },
    /// The value names the right key but does not open: it was altered, or moved from
    /// another row.
    #[error(
        "a sealed {column} of login {connector}/{id} does not open: it was altered or copied from another login"
    )]
    Damaged {
        /// The login's connector.
        connector: String,
        /// The login's id.
        id: String,
        /// `secret` or `state`.
        column: &'static str,
    },
}

/// Which row and column a value belongs to; bound into its seal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place<'a> {
    pub connector: &'a str,
    pub id: &'a str,
    pub column: &'static str,
}

impl Place<'_> {
    /// The associated data: each part length-prefixed, so no two places share it.
    fn aad(&self) -> Vec<u8> {
        let mut aad = b"aqueduct login v1".to_vec();
        for part in [self.connector, self.id, self.column] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// Whether a stored value is sealed (of any version).
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The id of the key that sealed `stored`, if it is sealed in a form this version knows.
pub(crate) fn key_id_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(V1)?.split_once(':').map(|(id, _)| id)
}

/// `plaintext` sealed for `place` with `key`.
pub(crate) fn seal(key: &SecretsKey, place: Place<'_>, plaintext: &str) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = place.aad();
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message shorter than 256 GiB");
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ciphertext);
    format!("{V1}{}:{}", key.id(), BASE64.encode(blob))
}

/// The plaintext of `stored`: opened with `key` if sealed, as is otherwise (a legacy row).
pub(crate) fn open(
    key: Option<&SecretsKey>,
    place: Place<'_>,
    stored: &str,
) -> Result<String, SealError> {
    if !is_sealed(stored) {
        return Ok(stored.to_owned());
    }
    let damaged = || SealError::Damaged {
        connector: place.connector.to_owned(),
        id: place.id.to_owned(),
        column: place.column,
    };
    let (key_id, body) = stored
        .strip_prefix(V1)
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(damaged)?;
    let Some(key) = key else {
        return Err(SealError::NoKey {
            key_id: key_id.to_owned(),
        });
    };
    if key_id != key.id() {
        return Err(SealError::WrongKey {
            sealed_with: key_id.to_owned(),
            given: key.id().to_owned(),
        });
    }
    let blob = BASE64.decode(body).map_err(|_| damaged())?;
    if blob.len() < NONCE_LEN {
        return Err(damaged());
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = place.aad();
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| damaged())?;
    String::from_utf8(plaintext).map_err(|_| damaged())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: Place<'static> = Place {
        connector: "slack",
        id: "T1",
        column: "secret",
    };

    #[test]
    fn round_trip_hides_the_plaintext_and_differs_each_time() {
        let key = SecretsKey::generate();
        let plain = r#"{"token":"xoxb-very-secret"}"#;
        let a = seal(&key, PLACE, plain);
        let b = seal(&key, PLACE, plain);
        assert_ne!(a, b, "a fresh nonce per write");
        assert!(a.starts_with(&format!("sealed:v1:{}:", key.id())), "{a}");
        assert!(!a.contains("xoxb"), "{a}");
        assert_eq!(key_id_of(&a), Some(key.id()));
        assert_eq!(open(Some(&key), PLACE, &a).unwrap(), plain);
        assert_eq!(open(None, PLACE, plain).unwrap(), plain, "legacy plaintext");
    }

    #[test]
    fn another_place_key_or_byte_does_not_open() {
        let key = SecretsKey::generate();
        let sealed = seal(&key, PLACE, "{}");
        for other in [
            Place { id: "T2", ..PLACE },
            Place {
                connector: "teams",
                ..PLACE
            },
            Place {
                column: "state",
                ..PLACE
            },
        ] {
            let err = open(Some(&key), other, &sealed).unwrap_err();
            assert!(matches!(err, SealError::Damaged { .. }), "{err}");
        }
        let err = open(Some(&SecretsKey::generate()), PLACE, &sealed).unwrap_err();
        assert!(matches!(err, SealError::WrongKey { .. }), "{err}");
        let err = open(None, PLACE, &sealed).unwrap_err();
        assert!(matches!(err, SealError::NoKey { .. }), "{err}");
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let err = open(Some(&key), PLACE, std::str::from_utf8(&flipped).unwrap()).unwrap_err();
        assert!(matches!(err, SealError::Damaged { .. }), "{err}");
    }
}
