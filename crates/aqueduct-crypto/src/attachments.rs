//! Attachments for encrypted rooms: encrypted with a fresh key before upload, so the
//! homeserver only ever stores ciphertext; the key travels inside the encrypted event.

use matrix_sdk_crypto::AttachmentEncryptor;
use ruma::OwnedMxcUri;
use ruma::events::room::EncryptedFile;
use std::io::Read;

/// Ciphertext of `data` and the finishing step that turns an upload's URI into the
/// `EncryptedFile` to put in the event.
pub(crate) fn encrypt_attachment(
    data: &[u8],
) -> (Vec<u8>, impl FnOnce(OwnedMxcUri) -> EncryptedFile) {
    let mut reader = std::io::Cursor::new(data);
    let mut encryptor = AttachmentEncryptor::new(&mut reader);
    let mut ciphertext = Vec::with_capacity(data.len());
    encryptor
        .read_to_end(&mut ciphertext)
        .expect("reading from memory cannot fail");
    let info = encryptor.finish();
    let finish = move |url: OwnedMxcUri| EncryptedFile::new(url, info.encryption_info, info.hashes);
    (ciphertext, finish)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::BridgeCrypto;

    #[test]
    fn an_encrypted_attachment_decrypts_to_its_plaintext_and_refuses_tampering() {
        let (ciphertext, finish) = encrypt_attachment(b"the quarterly report");
        assert_ne!(ciphertext, b"the quarterly report");
        let file = finish(OwnedMxcUri::from("mxc://hs/abc"));
        let file = serde_json::to_value(&file).unwrap();
        assert_eq!(
            BridgeCrypto::decrypt_file(&ciphertext, &file).unwrap(),
            b"the quarterly report"
        );
        let mut tampered = ciphertext.clone();
        tampered[0] ^= 1;
        assert!(BridgeCrypto::decrypt_file(&tampered, &file).is_err());
    }
}
