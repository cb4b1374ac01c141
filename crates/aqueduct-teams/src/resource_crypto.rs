//! Graph's encrypted resource data (`encryptedContent` of a change notification), as
//! Microsoft documents it ("Decrypting resource data from change notifications"): Graph
//! makes a one-time symmetric key, encrypts the resource's JSON with it (AES-CBC, PKCS7
//! padding, the IV being the key's first 16 bytes), signs the ciphertext with it
//! (HMAC-SHA256, `dataSignature`) and encrypts the key itself with the public key of the
//! subscription's certificate (RSA-OAEP with SHA-1, `dataKey`).
//!
//! [`decrypt`] checks the signature, in constant time, before it decrypts anything.
//! [`encrypt`] is the same in reverse, for tests and the test kit's fake Graph.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use rsa::{Oaep, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `microsoft.graph.changeNotificationEncryptedContent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedContent {
    /// The resource's JSON, encrypted, base64.
    #[serde(default)]
    pub data: String,
    /// HMAC-SHA256 of the encrypted data with the symmetric key, base64.
    #[serde(default)]
    pub data_signature: String,
    /// The symmetric key, encrypted with the certificate's public key, base64.
    #[serde(default)]
    pub data_key: String,
    /// The subscription's `encryptionCertificateId`.
    #[serde(default)]
    pub encryption_certificate_id: String,
    /// The certificate's SHA-1 thumbprint.
    #[serde(default)]
    pub encryption_certificate_thumbprint: String,
}

/// Why resource data could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CryptoError {
    /// A field is not base64.
    #[error("{0} is not base64")]
    Base64(&'static str),
    /// The data key does not decrypt with this private key.
    #[error("the data key does not decrypt with this certificate's key")]
    DataKey,
    /// The symmetric key has a length AES does not take.
    #[error("a symmetric key of {0} bytes")]
    KeyLength(usize),
    /// The signature does not match the data: tampered with, or not from Graph.
    #[error("the data signature does not match")]
    Signature,
    /// The data does not decrypt (bad padding).
    #[error("the data does not decrypt")]
    Data,
    /// Encrypting failed (tests and the fake only).
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

fn base64(field: &'static str, value: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD
        .decode(value.trim())
        .map_err(|_| CryptoError::Base64(field))
}

/// The resource JSON of `content`, decrypted with `key` (the private key of the certificate
/// `content.encryption_certificate_id` names).
pub fn decrypt(key: &PrivateKey, content: &EncryptedContent) -> Result<Vec<u8>, CryptoError> {
    let data_key = base64("dataKey", &content.data_key)?;
    let data = base64("data", &content.data)?;
    let signature = base64("dataSignature", &content.data_signature)?;
    let symmetric = key
        .decrypt(Oaep::<sha1::Sha1>::new(), &data_key)
        .map_err(|_| CryptoError::DataKey)?;
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&symmetric)
        .map_err(|_| CryptoError::KeyLength(symmetric.len()))?;
    mac.update(&data);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| CryptoError::Signature)?;
    let iv = symmetric
        .get(..16)
        .ok_or(CryptoError::KeyLength(symmetric.len()))?;
    let mut buffer = data;
    let plain_len = match symmetric.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&symmetric, iv)
            .map_err(|_| CryptoError::KeyLength(16))?
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| CryptoError::Data)?
            .len(),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(&symmetric, iv)
            .map_err(|_| CryptoError::KeyLength(24))?
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| CryptoError::Data)?
            .len(),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(&symmetric, iv)
            .map_err(|_| CryptoError::KeyLength(32))?
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| CryptoError::Data)?
            .len(),
        other => return Err(CryptoError::KeyLength(other)),
    };
    buffer.truncate(plain_len);
    Ok(buffer)
}

/// Encrypts `plaintext` as Graph does for a subscription whose certificate holds `public`:
/// a fresh AES-256 key, its first 16 bytes as IV.
pub fn encrypt(
    public: &PublicKey,
    certificate_id: &str,
    thumbprint: &str,
    plaintext: &[u8],
) -> Result<EncryptedContent, CryptoError> {
    let mut symmetric = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut symmetric);
    encrypt_with_key(public, certificate_id, thumbprint, plaintext, &symmetric)
}

/// [`encrypt`] with a given AES-256 key.
pub fn encrypt_with_key(
    public: &PublicKey,
    certificate_id: &str,
    thumbprint: &str,
    plaintext: &[u8],
    symmetric: &[u8; 32],
) -> Result<EncryptedContent, CryptoError> {
    let data = cbc::Encryptor::<aes::Aes256>::new_from_slices(symmetric, &symmetric[..16])
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(symmetric)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    mac.update(&data);
    let signature = mac.finalize().into_bytes();
    let data_key = public
        .encrypt(&mut rand::rng(), Oaep::<sha1::Sha1>::new(), symmetric)
        .map_err(|e| CryptoError::Encrypt(e.to_string()))?;
    Ok(EncryptedContent {
        data: STANDARD.encode(data),
        data_signature: STANDARD.encode(signature),
        data_key: STANDARD.encode(data_key),
        encryption_certificate_id: certificate_id.to_owned(),
        encryption_certificate_thumbprint: thumbprint.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::BridgeKey;
    use rsa::BoxedUint;

    /// A vector made by OpenSSL 3.0 (`openssl genrsa 2048`; the data key encrypted with
    /// `pkeyutl -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1`; the JSON with
    /// `enc -aes-256-cbc -K <key> -iv <first 16 bytes>`; the signature with
    /// `dgst -sha256 -mac HMAC` over the ciphertext), so this module is checked against an
    /// implementation other than its own.
    const P: &str = "ffcb90c38ce82c786269b961ba01fd2dff722eb638f9cf8385b176e4c9a6de3ca437f7362f6f03077c0a7a90abced34e6aa7663f16e45cb5edf851bc63980be1a6bb63b408ebde8423a34d94777fdb0d41f835838e61969b955e4f7e85f7da8d82fb09af956dd380dc72978a04c76e78af63e7f829d307fcfeb57b134675fea5";
    const Q: &str = "faba9eecef13cbfc671ac2d6e46aa8ff6d2993de93850d32f05215d65891f2f502a94bb8d9f02ecb363c89b9a27adb318748f1cc36550bf43c7eb37e9b413b3149f3bd2aad0e049b7ba5db73d22a8e69abb1718f5c09cc4b62fe2242f74a1eb57f359cc0d5eedeb9874eacb39325e4031fe7a504783a4671a83b663af706ec8f";
    const DATA: &str = "B40/y13wyRn/TR9VwxOeMX1XS30GGhIBWqEQH3l2MmboMzN3FJSeeCdIriWIwU8JVNqdvg/R86Xd7KZnNygR8XyYprlbf0EbMjI2TRRby8d5WljD5U9kFK2UZfPhecMoz4zucPDp5HU8l+d+9ulZjS9PsMIQaeC+uEf3NtXBc3oNSnvqb3QP4FsI5izXothzU7TaBz6DV+5WXb/p1ZC/u7GrPOsjZUthVmXmB8x052YBlgd2ZUTUuUdCObaNdMp1egxdmiqs6LLqQLIWAgXauG+uuyGADxDOQDwHCYHk92FX+x7MOJJZBvIrPUfdWcWit0xc3pB25U2ANzEZuj19cs6SCioq0MiipgHuamrQAeU/8nyxs1eLw5rj6+GlE1SB";
    const SIGNATURE: &str = "VTfe/9ODozaMBlU90+rrMrrW5YkZ3FzrgU6HyzHiSlo=";
    const DATA_KEY: &str = "7BG1K6k7Ks50XB26zwb/LIE3mV57R1XhTDiqS/9UEq+F1S0MPC95KdQKvUGOiDfPcElpAtMOB5SklfD6AXODOMONzCYLgxzZAiva6C42sp/yAKEO1Nn1SKrZLRYSWU3tCMEuoNCacia/4YBJy27POFwp0acpkomNkJn8LU6WpxhMicRddU0JqdYS6DUCN2aw6HdY8MMqp+mR1wvV1iy0UwKyLGhOfgjI6MOKL6vid8KDj6tr3lmXI8TZ8JuSkZM5fN6vscP2+XgLjBRoexc0clDOz+nW8rmaWZh7NQX0X8u2pmdoC8m26BxB1FLOosZrlJb0jjSS2nceHA8K2pqQJw==";
    const PLAIN: &str = r#"{"id":"1612289992105","messageType":"message","chatId":"19:known@unq.gbl.spaces","createdDateTime":"2021-02-02T18:19:52Z","lastModifiedDateTime":"2021-02-02T18:19:52.105Z","from":{"user":{"id":"u-bob","displayName":"Bob"}},"body":{"contentType":"html","content":"<p>a known vector</p>"}}"#;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn openssl_key() -> PrivateKey {
        PrivateKey::from_p_q(
            BoxedUint::from_be_slice_vartime(&hex(P)),
            BoxedUint::from_be_slice_vartime(&hex(Q)),
            BoxedUint::from(65_537u64),
        )
        .expect("the vector's key")
    }

    fn vector() -> EncryptedContent {
        EncryptedContent {
            data: DATA.into(),
            data_signature: SIGNATURE.into(),
            data_key: DATA_KEY.into(),
            encryption_certificate_id: "known".into(),
            encryption_certificate_thumbprint: String::new(),
        }
    }

    #[test]
    fn openssls_vector_decrypts() {
        let plain = decrypt(&openssl_key(), &vector()).expect("decrypts");
        assert_eq!(String::from_utf8(plain).unwrap(), PLAIN);
    }

    #[test]
    fn a_tampered_payload_is_refused_before_decrypting() {
        let key = openssl_key();
        let mut bad = vector();
        let mut data = STANDARD.decode(DATA).unwrap();
        data[0] ^= 1;
        bad.data = STANDARD.encode(&data);
        assert_eq!(decrypt(&key, &bad), Err(CryptoError::Signature));
        let mut bad = vector();
        bad.data_signature = STANDARD.encode([0u8; 32]);
        assert_eq!(decrypt(&key, &bad), Err(CryptoError::Signature));
        let mut bad = vector();
        bad.data_key = STANDARD.encode([7u8; 256]);
        assert_eq!(decrypt(&key, &bad), Err(CryptoError::DataKey));
        let mut bad = vector();
        bad.data = "not base64!".into();
        assert_eq!(decrypt(&key, &bad), Err(CryptoError::Base64("data")));
    }

    #[test]
    fn what_encrypt_makes_decrypts_with_the_certificates_key_only() {
        let ours = BridgeKey::generate(1_780_000_000_000).expect("a key");
        let public = crate::certificate::public_key_of(&ours.certificate).expect("a key");
        let symmetric: [u8; 32] = std::array::from_fn(|i| i as u8 + 0x10);
        let content = encrypt_with_key(&public, &ours.id, "T", PLAIN.as_bytes(), &symmetric)
            .expect("encrypts");
        // AES-CBC and HMAC are deterministic for a given key: the same as OpenSSL's.
        assert_eq!(content.data, DATA);
        assert_eq!(content.data_signature, SIGNATURE);
        assert_eq!(content.encryption_certificate_id, ours.id);
        assert_eq!(decrypt(&ours.key, &content).unwrap(), PLAIN.as_bytes());
        assert_eq!(
            decrypt(&openssl_key(), &content),
            Err(CryptoError::DataKey),
            "another key cannot read it"
        );
        let random = encrypt(&public, &ours.id, "T", b"{}").unwrap();
        assert_eq!(decrypt(&ours.key, &random).unwrap(), b"{}");
    }
}
