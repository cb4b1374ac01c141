//! Public URLs for Matrix media the bridge serves itself, for networks that fetch images from
//! the internet (a relayed sender's avatar as Slack's `icon_url`).
//!
//! A URL is `<public_url>/_aqueduct/media/<signature>/<server>/<media id>`. The signature is an
//! HMAC over `<server>/<media id>` with a key derived from the bridge's secret, so the route
//! serves only media the bridge itself handed out, and is no open proxy to the homeserver's
//! (authenticated) media.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Path prefix of the route that serves the media.
pub const MEDIA_PATH: &str = "/_aqueduct/media";

/// Bytes of the HMAC kept in a URL: 128 bits, unguessable and still short.
const SIGNATURE_BYTES: usize = 16;

/// Signs and checks public media URLs.
#[derive(Clone)]
pub struct PublicMedia {
    base: String,
    key: [u8; 32],
}

impl std::fmt::Debug for PublicMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("PublicMedia")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Server names and media ids as the Matrix spec allows them; anything else is refused, so a
/// signed path cannot smuggle `/`, `?` or `..`.
fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:[]".contains(&b))
}

impl PublicMedia {
    /// URLs under `public_url` (the bridge's listener as the internet reaches it), signed with
    /// a key derived from `secret` (one of the bridge's own secrets, never sent anywhere).
    pub fn new(public_url: &str, secret: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"aqueduct public media v1\0");
        h.update(secret.as_bytes());
        Self {
            base: public_url.trim_end_matches('/').to_owned(),
            key: h.finalize().into(),
        }
    }

    fn mac(&self, server: &str, media_id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(server.as_bytes());
        mac.update(b"/");
        mac.update(media_id.as_bytes());
        mac
    }

    /// The public URL of `mxc://<server>/<media id>`; `None` for anything else.
    pub fn url_for(&self, mxc: &str) -> Option<String> {
        let (server, media_id) = mxc.strip_prefix("mxc://")?.split_once('/')?;
        if !plain_segment(server) || !plain_segment(media_id) {
            return None;
        }
        let tag = self.mac(server, media_id).finalize().into_bytes();
        let signature = hex::encode(&tag[..SIGNATURE_BYTES]);
        Some(format!(
            "{}{MEDIA_PATH}/{signature}/{server}/{media_id}",
            self.base
        ))
    }

    /// The `mxc://` URI a request for `<signature>/<server>/<media id>` may serve, or `None`
    /// when the signature is not the bridge's (checked in constant time).
    pub fn verify(&self, signature: &str, server: &str, media_id: &str) -> Option<String> {
        if !plain_segment(server) || !plain_segment(media_id) {
            return None;
        }
        let tag = hex::decode(signature).ok()?;
        if tag.len() != SIGNATURE_BYTES {
            return None;
        }
        self.mac(server, media_id)
            .verify_truncated_left(&tag)
            .ok()
            .map(|()| format!("mxc://{server}/{media_id}"))
    }
}

/// The MIME type of an image from its first bytes (PNG, JPEG, GIF, WebP), `None` for anything
/// else, so that only images are served or uploaded as such whatever a source claims.
pub fn image_mime(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, String, String) {
        let rest = url
            .strip_prefix("https://bridge.example/_aqueduct/media/")
            .unwrap();
        let mut it = rest.split('/');
        let p = (
            it.next().unwrap().to_owned(),
            it.next().unwrap().to_owned(),
            it.next().unwrap().to_owned(),
        );
        assert!(it.next().is_none());
        p
    }

    #[test]
    fn signed_urls_verify_to_their_mxc() {
        let m = PublicMedia::new("https://bridge.example/", "as-token");
        let url = m.url_for("mxc://hs.example:8448/AbC-123_x").unwrap();
        let (sig, server, id) = parts(&url);
        assert_eq!(
            m.verify(&sig, &server, &id).as_deref(),
            Some("mxc://hs.example:8448/AbC-123_x")
        );
    }

    #[test]
    fn tampered_or_foreign_signatures_are_refused() {
        let m = PublicMedia::new("https://bridge.example", "as-token");
        let (sig, server, id) = parts(&m.url_for("mxc://hs/avatar1").unwrap());
        assert_eq!(m.verify(&sig, &server, "avatar2"), None);
        assert_eq!(m.verify(&sig, "other", &id), None);
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            m.verify(std::str::from_utf8(&flipped).unwrap(), &server, &id),
            None
        );
        assert_eq!(m.verify(&sig[..10], &server, &id), None);
        assert_eq!(m.verify("not hex", &server, &id), None);
        let other = PublicMedia::new("https://bridge.example", "another secret");
        assert_eq!(other.verify(&sig, &server, &id), None);
    }

    #[test]
    fn recognises_images_only() {
        assert_eq!(image_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_mime(b"GIF89a.."), Some("image/gif"));
        assert_eq!(image_mime(b"<html>"), None);
    }

    #[test]
    fn only_plain_mxc_uris_get_urls() {
        let m = PublicMedia::new("https://bridge.example", "k");
        assert_eq!(m.url_for("https://x/y"), None);
        assert_eq!(m.url_for("mxc://hs/a/b"), None);
        assert_eq!(m.url_for("mxc://hs/a?x=1"), None);
        assert_eq!(m.url_for("mxc://hs/.."), None);
        assert!(!format!("{m:?}").contains("key"));
    }
}
