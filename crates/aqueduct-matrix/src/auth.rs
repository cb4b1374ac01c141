//! Checking the homeserver's token on pushes.

/// Compares two tokens in time independent of where they differ, so a caller cannot learn a
/// token byte by byte from response times.
pub(crate) fn tokens_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    // Fold the length difference in rather than returning early.
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, expected_byte) in b.iter().enumerate() {
        diff |= a.get(i).copied().unwrap_or(0) ^ expected_byte;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn matches_only_equal_tokens() {
        assert!(tokens_match("secret", "secret"));
        assert!(!tokens_match("secreT", "secret"));
        assert!(!tokens_match("secret1", "secret"));
        assert!(!tokens_match("", "secret"));
        assert!(!tokens_match("secre", "secret"));
    }
}
