//! Slack's request signing ("Verifying requests from Slack"): `X-Slack-Signature` is `v0=`
//! followed by the hex HMAC-SHA256, keyed with the app's signing secret, of
//! `v0:<X-Slack-Request-Timestamp>:<raw body>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now: Slack's documented replay window.
pub(crate) const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    /// A header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The timestamp is not a number of seconds.
    #[error("X-Slack-Request-Timestamp is not a Unix time")]
    BadTimestamp,
    /// The timestamp is outside the replay window.
    #[error(
        "X-Slack-Request-Timestamp is {0} s away from now (more than 5 minutes): refused as a possible replay"
    )]
    Stale(i64),
    /// The signature does not match the body.
    #[error("X-Slack-Signature does not match the request")]
    Mismatch,
}

/// Checks a request's signature and timestamp against `secret`, with `now` in Unix seconds.
/// The comparison runs in constant time.
pub(crate) fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.saturating_sub(at);
    if skew.abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale(skew));
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Mismatch)?;
    mac(secret, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of Slack's "Verifying requests from Slack" page.
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: &str = "1531420618";
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const DOC_NOW: i64 = 1_531_420_618;

    fn check(
        secret: &str,
        ts: &str,
        sig: &str,
        body: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        verify(secret, Some(ts), Some(sig), body.as_bytes(), now)
    }

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(
            check(DOC_SECRET, DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, DOC_NOW),
            Ok(())
        );
    }

    #[test]
    fn another_secret_a_changed_body_or_a_changed_timestamp_is_refused() {
        let refused = Err(SignatureError::Mismatch);
        assert_eq!(
            check("other", DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, DOC_NOW),
            refused
        );
        let body = DOC_BODY.replace("foobar", "foobaz");
        assert_eq!(
            check(DOC_SECRET, DOC_TIMESTAMP, DOC_SIGNATURE, &body, DOC_NOW),
            refused
        );
        assert_eq!(
            check(DOC_SECRET, "1531420619", DOC_SIGNATURE, DOC_BODY, DOC_NOW),
            refused
        );
        assert_eq!(
            check(DOC_SECRET, DOC_TIMESTAMP, "v0=zz", DOC_BODY, DOC_NOW),
            refused
        );
        let unversioned = DOC_SIGNATURE.trim_start_matches("v0=");
        assert_eq!(
            check(DOC_SECRET, DOC_TIMESTAMP, unversioned, DOC_BODY, DOC_NOW),
            refused
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_are_refused_either_way() {
        let ok = |now| check(DOC_SECRET, DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, now);
        assert_eq!(ok(DOC_NOW + 300), Ok(()));
        assert_eq!(ok(DOC_NOW - 300), Ok(()));
        assert_eq!(ok(DOC_NOW + 301), Err(SignatureError::Stale(301)));
        assert_eq!(ok(DOC_NOW - 301), Err(SignatureError::Stale(-301)));
    }

    #[test]
    fn missing_headers_are_refused() {
        let body = DOC_BODY.as_bytes();
        assert_eq!(
            verify(DOC_SECRET, None, Some(DOC_SIGNATURE), body, DOC_NOW),
            Err(SignatureError::Missing("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            verify(DOC_SECRET, Some(DOC_TIMESTAMP), None, body, DOC_NOW),
            Err(SignatureError::Missing("X-Slack-Signature"))
        );
        assert_eq!(
            verify(DOC_SECRET, Some("soon"), Some(DOC_SIGNATURE), body, DOC_NOW),
            Err(SignatureError::BadTimestamp)
        );
    }
}
