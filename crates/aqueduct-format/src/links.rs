//! Which link targets may become a clickable `href` in the Matrix HTML the bridge writes.
//!
//! Links arrive from platforms as text the platform's users typed: `<javascript:alert(1)|x>`
//! in Slack mrkdwn, `[x](data:text/html,...)` in Rocket.Chat markdown. A Matrix client that
//! renders such an `href` runs or opens whatever the scheme means, so only an allowlist of
//! schemes becomes a link; every other target is shown as text (nothing is lost).

/// The schemes a link from a platform may keep, lowercase with their colon.
const ALLOWED: [&str; 3] = ["http:", "https:", "mailto:"];

/// Whether `url` may become an `href` in Matrix HTML: its scheme is `http`, `https` or
/// `mailto`, read the way a browser reads it (ASCII case ignored, leading whitespace and
/// control characters skipped, tabs and newlines inside ignored). Relative URLs, URLs with an
/// entity in the scheme (`&#106;avascript:`) and every other scheme are refused.
pub fn is_allowed_link(url: &str) -> bool {
    // Browsers strip leading C0 controls and spaces and remove tabs and newlines anywhere
    // before they look at the scheme; do the same, then compare the scheme exactly.
    let mut scheme = String::with_capacity(8);
    for c in url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
    {
        scheme.push(c.to_ascii_lowercase());
        if c == ':' || scheme.len() >= 7 {
            break;
        }
    }
    ALLOWED.iter().any(|allowed| scheme.starts_with(allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_and_mail_links_are_allowed() {
        for url in [
            "https://example.org/a?b=1&c=2",
            "http://x",
            "HTTPS://EXAMPLE.ORG",
            "mailto:a@b.c",
            " https://x.org",
            "ht\ttps://x.org",
        ] {
            assert!(is_allowed_link(url), "{url:?}");
        }
    }

    #[test]
    fn every_other_scheme_and_obfuscation_is_refused() {
        for url in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            " \u{1}javascript:alert(1)",
            "&#106;avascript:alert(1)",
            "&#x6A;avascript:alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "mxc://server/media",
            "//evil.example/x",
            "/relative",
            "https",
            "httpx://x",
            "",
        ] {
            assert!(!is_allowed_link(url), "{url:?}");
        }
    }
}
