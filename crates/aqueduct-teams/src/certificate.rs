//! The bridge's own key pair for Graph's encrypted resource data: an RSA key and a
//! self-signed X.509 certificate carrying its public half, which a subscription hands Graph
//! (`encryptionCertificate`, base64 DER). Graph does not check who issued the certificate; it
//! only encrypts each notification's data key with the public key. The certificate is built
//! here with a small DER writer (a certificate is a handful of nested sequences) rather than
//! an X.509 crate, and read back by an equally small reader (for tests and the test kit's fake
//! Graph, which encrypts with the key it finds in the certificate).
//!
//! A key lives as long as its certificate ([`VALIDITY_DAYS`]); the connector makes a new one
//! [`ROTATE_BEFORE_DAYS`] before that and keeps the previous one while Graph may still use it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Pkcs1v15Sign, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Key size: Graph takes RSA keys of 2048 to 4096 bits.
pub const KEY_BITS: usize = 2048;
/// How long a certificate is valid.
pub const VALIDITY_DAYS: i64 = 60;
/// A new key is made when the current one has less than this left.
pub const ROTATE_BEFORE_DAYS: i64 = 15;

const DAY_MS: i64 = 86_400_000;
const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113_549, 1, 1, 1];
const OID_SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113_549, 1, 1, 11];
const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];

/// Why a key or certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The RSA library refused (key generation, signing, a bad prime).
    #[error("RSA: {0}")]
    Rsa(String),
    /// The bytes are not the DER this module reads.
    #[error("not an RSA certificate: {0}")]
    Malformed(&'static str),
}

/// A key pair and its certificate.
#[derive(Clone)]
pub struct BridgeKey {
    /// The id the bridge gives Graph for this certificate (`encryptionCertificateId`); each
    /// notification names the one its data key was encrypted for.
    pub id: String,
    /// The private key.
    pub key: PrivateKey,
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// When the certificate stops being valid, ms since the epoch.
    pub not_after_ms: i64,
}

impl std::fmt::Debug for BridgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeKey")
            .field("id", &self.id)
            .field("not_after_ms", &self.not_after_ms)
            .finish_non_exhaustive()
    }
}

/// A [`BridgeKey`] as it is saved in the login's state: the primes (from which the rest is
/// derived again) and the certificate, base64.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedKey {
    /// [`BridgeKey::id`].
    pub id: String,
    /// The primes p and q, big-endian, base64.
    pub p: String,
    pub q: String,
    /// The public exponent, big-endian, base64.
    pub e: String,
    /// The certificate, DER, base64.
    pub certificate: String,
    /// [`BridgeKey::not_after_ms`].
    pub not_after_ms: i64,
}

impl BridgeKey {
    /// Makes a new key pair and a certificate valid from an hour before `now_ms` (clocks
    /// differ) for [`VALIDITY_DAYS`]. Slow (prime search): call it off the async threads.
    pub fn generate(now_ms: i64) -> Result<Self, CertificateError> {
        let mut rng = rand::rng();
        let key = PrivateKey::new(&mut rng, KEY_BITS)
            .map_err(|e| CertificateError::Rsa(e.to_string()))?;
        let mut serial = [0u8; 16];
        rand::Rng::fill_bytes(&mut rng, &mut serial);
        serial[0] = (serial[0] & 0x7f) | 0x40; // positive and never zero
        let not_after_ms = now_ms + VALIDITY_DAYS * DAY_MS;
        let certificate = self_signed(&key, &serial, now_ms - 3_600_000, not_after_ms)?;
        Ok(Self {
            id: format!("aqueduct-{}", hex_upper(&serial[..8]).to_ascii_lowercase()),
            key,
            certificate,
            not_after_ms,
        })
    }

    /// Whether it is time to make the next key.
    pub fn due_for_rotation(&self, now_ms: i64) -> bool {
        self.not_after_ms - now_ms < ROTATE_BEFORE_DAYS * DAY_MS
    }

    /// The certificate as a subscription carries it.
    pub fn certificate_base64(&self) -> String {
        STANDARD.encode(&self.certificate)
    }

    /// The form kept in the login's state.
    pub fn to_saved(&self) -> SavedKey {
        let primes = self.key.primes();
        let bytes = |n: &BoxedUint| STANDARD.encode(n.to_be_bytes_trimmed_vartime());
        SavedKey {
            id: self.id.clone(),
            p: primes
                .first()
                .map(|p| bytes(p.as_ref()))
                .unwrap_or_default(),
            q: primes.get(1).map(|q| bytes(q.as_ref())).unwrap_or_default(),
            e: bytes(self.key.e()),
            certificate: STANDARD.encode(&self.certificate),
            not_after_ms: self.not_after_ms,
        }
    }

    /// Rebuilds a key from its saved form.
    pub fn from_saved(saved: &SavedKey) -> Result<Self, CertificateError> {
        let number = |s: &str| -> Result<BoxedUint, CertificateError> {
            let bytes = STANDARD
                .decode(s)
                .map_err(|_| CertificateError::Malformed("a saved number is not base64"))?;
            Ok(BoxedUint::from_be_slice_vartime(&bytes))
        };
        let key = PrivateKey::from_p_q(number(&saved.p)?, number(&saved.q)?, number(&saved.e)?)
            .map_err(|e| CertificateError::Rsa(e.to_string()))?;
        let certificate = STANDARD
            .decode(&saved.certificate)
            .map_err(|_| CertificateError::Malformed("the saved certificate is not base64"))?;
        let public = public_key_of(&certificate)?;
        if public.n_bytes() != key.n_bytes() {
            return Err(CertificateError::Malformed(
                "the saved certificate is not the saved key's",
            ));
        }
        Ok(Self {
            id: saved.id.clone(),
            key,
            certificate,
            not_after_ms: saved.not_after_ms,
        })
    }
}

/// The DER of a certificate as a subscription carries it (`encryptionCertificate`, base64).
pub fn from_base64(certificate: &str) -> Result<Vec<u8>, CertificateError> {
    STANDARD
        .decode(certificate.trim())
        .map_err(|_| CertificateError::Malformed("not base64"))
}

/// The SHA-1 thumbprint of a certificate as Graph names it (`encryptionCertificateThumbprint`:
/// upper-case hex).
pub fn thumbprint(certificate_der: &[u8]) -> String {
    use sha1::Digest as _;
    hex_upper(&sha1::Sha1::digest(certificate_der))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A self-signed v3 certificate for `key` (sha256WithRSAEncryption), with a key usage for
/// encryption.
fn self_signed(
    key: &PrivateKey,
    serial: &[u8],
    not_before_ms: i64,
    not_after_ms: i64,
) -> Result<Vec<u8>, CertificateError> {
    let algorithm = der::seq(&[der::oid(OID_SHA256_WITH_RSA), der::null()]);
    let name = der::seq(&[der::set(&[der::seq(&[
        der::oid(OID_COMMON_NAME),
        der::utf8("aqueduct teams change notifications"),
    ])])]);
    let public = der::seq(&[
        der::seq(&[der::oid(OID_RSA_ENCRYPTION), der::null()]),
        der::bit_string(&der::seq(&[
            der::uint(&key.n_bytes()),
            der::uint(&key.e_bytes()),
        ])),
    ]);
    // digitalSignature, keyEncipherment, dataEncipherment (bits 0, 2, 3; 4 unused).
    let key_usage = der::seq(&[
        der::oid(OID_KEY_USAGE),
        der::boolean(true),
        der::octet_string(&der::tlv(0x03, &[4, 0xb0])),
    ]);
    let tbs = der::seq(&[
        der::explicit(0, &der::uint(&[2])),
        der::uint(serial),
        algorithm.clone(),
        name.clone(),
        der::seq(&[der::time(not_before_ms), der::time(not_after_ms)]),
        name,
        public,
        der::explicit(3, &der::seq(&[key_usage])),
    ]);
    let signature = key
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&tbs))
        .map_err(|e| CertificateError::Rsa(e.to_string()))?;
    Ok(der::seq(&[tbs, algorithm, der::bit_string(&signature)]))
}

/// The parts of a certificate the bridge and its tests look at.
pub struct CertificateParts<'a> {
    /// The signed part, DER.
    pub tbs: &'a [u8],
    /// The modulus, big-endian, and the public exponent.
    pub modulus: &'a [u8],
    pub exponent: &'a [u8],
    /// The signature over `tbs`.
    pub signature: &'a [u8],
}

/// Reads the signed part, the RSA public key and the signature of a DER certificate.
pub fn parts(certificate_der: &[u8]) -> Result<CertificateParts<'_>, CertificateError> {
    let (cert, _) = der::read(certificate_der, 0x30)?;
    let (tbs_all, after_tbs) = der::read_whole(cert, 0x30)?;
    let (_algorithm, rest) = der::read(after_tbs, 0x30)?;
    let (signature, _) = der::read(rest, 0x03)?;
    let signature = signature
        .split_first()
        .filter(|(unused, _)| **unused == 0)
        .ok_or(CertificateError::Malformed("signature bits"))?
        .1;
    let (tbs, _) = der::read(tbs_all, 0x30)?;
    let mut fields = tbs;
    if fields.first() == Some(&0xa0) {
        fields = der::read(fields, 0xa0)?.1; // version
    }
    for tag in [0x02, 0x30, 0x30, 0x30, 0x30] {
        fields = der::read(fields, tag)?.1; // serial, signature, issuer, validity, subject
    }
    let (spki, _) = der::read(fields, 0x30)?;
    let (algorithm, rest) = der::read(spki, 0x30)?;
    let (oid, _) = der::read(algorithm, 0x06)?;
    if oid != &der::oid(OID_RSA_ENCRYPTION)[2..] {
        return Err(CertificateError::Malformed("the key is not rsaEncryption"));
    }
    let (bits, _) = der::read(rest, 0x03)?;
    let key = bits
        .split_first()
        .filter(|(unused, _)| **unused == 0)
        .ok_or(CertificateError::Malformed("key bits"))?
        .1;
    let (rsa_key, _) = der::read(key, 0x30)?;
    let (modulus, rest) = der::read(rsa_key, 0x02)?;
    let (exponent, _) = der::read(rest, 0x02)?;
    Ok(CertificateParts {
        tbs: tbs_all,
        modulus: trim_zeros(modulus),
        exponent: trim_zeros(exponent),
        signature,
    })
}

fn trim_zeros(n: &[u8]) -> &[u8] {
    let zeros = n.iter().take_while(|b| **b == 0).count();
    &n[zeros..]
}

/// The RSA public key a DER certificate carries.
pub fn public_key_of(certificate_der: &[u8]) -> Result<PublicKey, CertificateError> {
    let parts = parts(certificate_der)?;
    PublicKey::new(
        BoxedUint::from_be_slice_vartime(parts.modulus),
        BoxedUint::from_be_slice_vartime(parts.exponent),
    )
    .map_err(|e| CertificateError::Rsa(e.to_string()))
}

/// Just enough DER (X.690) to write and read a certificate.
mod der {
    use super::CertificateError;

    /// Tag, length, value.
    pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    pub(super) fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    pub(super) fn set(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x31, &parts.concat())
    }

    /// A non-negative INTEGER from big-endian bytes.
    pub(super) fn uint(be: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
        let mut content = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            content.push(0);
        }
        content.extend(trimmed);
        tlv(0x02, &content)
    }

    pub(super) fn oid(arcs: &[u64]) -> Vec<u8> {
        let mut content = vec![(arcs[0] * 40 + arcs[1]) as u8];
        for &arc in &arcs[2..] {
            let mut groups = vec![(arc & 0x7f) as u8];
            let mut rest = arc >> 7;
            while rest > 0 {
                groups.push(0x80 | (rest & 0x7f) as u8);
                rest >>= 7;
            }
            content.extend(groups.iter().rev());
        }
        tlv(0x06, &content)
    }

    pub(super) fn null() -> Vec<u8> {
        vec![0x05, 0x00]
    }

    pub(super) fn boolean(value: bool) -> Vec<u8> {
        vec![0x01, 0x01, if value { 0xff } else { 0 }]
    }

    pub(super) fn bit_string(bytes: &[u8]) -> Vec<u8> {
        let mut content = vec![0];
        content.extend_from_slice(bytes);
        tlv(0x03, &content)
    }

    pub(super) fn octet_string(bytes: &[u8]) -> Vec<u8> {
        tlv(0x04, bytes)
    }

    pub(super) fn utf8(s: &str) -> Vec<u8> {
        tlv(0x0c, s.as_bytes())
    }

    pub(super) fn explicit(number: u8, inner: &[u8]) -> Vec<u8> {
        tlv(0xa0 | number, inner)
    }

    /// UTCTime through 2049, GeneralizedTime after, as RFC 5280 asks.
    pub(super) fn time(ms: i64) -> Vec<u8> {
        let iso = crate::iso_time::format_ms(ms); // 2026-12-07T05:42:12.816Z
        let digits: String = iso
            .get(..19)
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect(); // 20261207054212
        let year: i32 = digits.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2000);
        if (1950..2050).contains(&year) {
            tlv(0x17, format!("{}Z", &digits[2..]).as_bytes())
        } else {
            tlv(0x18, format!("{digits}Z").as_bytes())
        }
    }

    /// The content of the element at the start of `input`, which must have tag `tag`, and
    /// what follows it.
    pub(super) fn read(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CertificateError> {
        let (whole, rest) = read_whole(input, tag)?;
        let header = header_len(whole)?;
        Ok((&whole[header..], rest))
    }

    /// The whole element (tag and length included) at the start of `input`, and what follows.
    pub(super) fn read_whole(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CertificateError> {
        if input.first() != Some(&tag) {
            return Err(CertificateError::Malformed("unexpected DER tag"));
        }
        let header = header_len(input)?;
        let len = content_len(input)?;
        let end = header
            .checked_add(len)
            .filter(|end| *end <= input.len())
            .ok_or(CertificateError::Malformed("DER length past the end"))?;
        Ok(input.split_at(end))
    }

    fn header_len(input: &[u8]) -> Result<usize, CertificateError> {
        match input.get(1) {
            Some(b) if b & 0x80 == 0 => Ok(2),
            Some(b) => Ok(2 + (b & 0x7f) as usize),
            None => Err(CertificateError::Malformed("truncated DER")),
        }
    }

    fn content_len(input: &[u8]) -> Result<usize, CertificateError> {
        let first = *input
            .get(1)
            .ok_or(CertificateError::Malformed("truncated DER"))?;
        if first & 0x80 == 0 {
            return Ok(first as usize);
        }
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(CertificateError::Malformed("unsupported DER length"));
        }
        let bytes = input
            .get(2..2 + n)
            .ok_or(CertificateError::Malformed("truncated DER"))?;
        Ok(bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> &'static BridgeKey {
        static KEY: std::sync::OnceLock<BridgeKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| BridgeKey::generate(1_780_000_000_000).expect("a key"))
    }

    #[test]
    fn der_lengths_and_integers_follow_x690() {
        assert_eq!(der::tlv(0x04, &[1; 3]), vec![0x04, 3, 1, 1, 1]);
        let long = der::tlv(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der::uint(&[0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(der::uint(&[0, 0, 5]), vec![0x02, 1, 5]);
        assert_eq!(der::uint(&[]), vec![0x02, 1, 0]);
        // 1.2.840.113549 is the classic multi-byte arc.
        assert_eq!(
            der::oid(&[1, 2, 840, 113_549]),
            vec![0x06, 6, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
        );
        assert_eq!(der::time(0), b"\x17\x0d700101000000Z".to_vec());
        // 2050-01-01 needs GeneralizedTime.
        assert_eq!(
            der::time(2_524_608_000_000),
            b"\x18\x0f20500101000000Z".to_vec()
        );
        assert!(
            der::read(&[0x30, 5, 1], 0x30).is_err(),
            "length past the end"
        );
    }

    #[test]
    fn the_certificate_carries_the_key_and_its_own_valid_signature() {
        let key = key();
        let parts = parts(&key.certificate).expect("readable");
        assert_eq!(parts.modulus, &*key.key.n_bytes());
        assert_eq!(parts.exponent, &[1, 0, 1]);
        key.key
            .to_public_key()
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(parts.tbs),
                parts.signature,
            )
            .expect("the self-signature verifies");
        assert_eq!(
            public_key_of(&key.certificate).expect("a key").n_bytes(),
            key.key.n_bytes()
        );
        assert_eq!(thumbprint(&key.certificate).len(), 40);
    }

    #[test]
    fn openssl_reads_the_certificate_when_it_is_installed() {
        let dir = std::env::temp_dir().join(format!("aqueduct-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert.der");
        std::fs::write(&path, &key().certificate).unwrap();
        let Ok(out) = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&path)
            .output()
        else {
            eprintln!("openssl is not installed; skipped");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Version: 3"), "{text}");
        assert!(text.contains("sha256WithRSAEncryption"), "{text}");
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(text.contains("Key Encipherment"), "{text}");
        assert!(
            text.contains("aqueduct teams change notifications"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_saved_key_comes_back_whole_and_rotation_is_due_two_weeks_ahead() {
        let key = key();
        let saved = key.to_saved();
        let back = BridgeKey::from_saved(&saved).expect("rebuilt");
        assert_eq!(back.key.n_bytes(), key.key.n_bytes());
        // The private exponent may be derived differently (Carmichael's function); what
        // matters is that it decrypts what the certificate's key encrypts.
        let sealed = public_key_of(&key.certificate)
            .unwrap()
            .encrypt(&mut rand::rng(), rsa::Oaep::<sha1::Sha1>::new(), b"k")
            .unwrap();
        assert_eq!(
            back.key
                .decrypt(rsa::Oaep::<sha1::Sha1>::new(), &sealed)
                .unwrap(),
            b"k"
        );
        assert_eq!(back.to_saved(), saved);
        let mut wrong = saved.clone();
        wrong.certificate = STANDARD.encode(b"\x30\x00");
        assert!(BridgeKey::from_saved(&wrong).is_err());
        let issued = 1_780_000_000_000;
        assert!(!key.due_for_rotation(issued));
        assert!(!key.due_for_rotation(issued + (VALIDITY_DAYS - ROTATE_BEFORE_DAYS - 1) * DAY_MS));
        assert!(key.due_for_rotation(issued + (VALIDITY_DAYS - ROTATE_BEFORE_DAYS + 1) * DAY_MS));
    }
}
