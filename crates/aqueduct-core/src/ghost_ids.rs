//! Matrix user ids for remote users. A ghost's localpart is `{prefix}{connector}_{remote id}`
//! with the remote id escaped into the characters Matrix allows in a localpart, reversibly, so
//! the bridge can tell which remote user any id in its namespace stands for.

use crate::ids::{ConnectorId, RemoteUserId};
use std::fmt::Write;

/// Builds and parses ghost user ids for one homeserver and namespace.
#[derive(Clone, Debug)]
pub struct GhostNamer {
    prefix: String,
    server_name: String,
}

impl GhostNamer {
    /// `prefix` starts every ghost localpart (`aqueduct_`); `server_name` is the homeserver's.
    pub fn new(prefix: impl Into<String>, server_name: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            server_name: server_name.into(),
        }
    }

    /// The localpart of a remote user's ghost.
    pub fn localpart(&self, connector: &ConnectorId, user: &RemoteUserId) -> String {
        format!("{}{}_{}", self.prefix, connector, escape(user.as_str()))
    }

    /// The full Matrix user id of a remote user's ghost.
    pub fn user_id(&self, connector: &ConnectorId, user: &RemoteUserId) -> String {
        format!("@{}:{}", self.localpart(connector, user), self.server_name)
    }

    /// Whether `user_id` lies in the ghost namespace of this homeserver.
    pub fn is_ghost(&self, user_id: &str) -> bool {
        self.parse(user_id).is_some()
    }

    /// The connector and remote user a ghost id stands for.
    pub fn parse(&self, user_id: &str) -> Option<(ConnectorId, RemoteUserId)> {
        let rest = user_id.strip_prefix('@')?;
        let (localpart, server) = rest.split_once(':')?;
        if server != self.server_name {
            return None;
        }
        let rest = localpart.strip_prefix(&self.prefix)?;
        let (connector, escaped) = rest.split_once('_')?;
        if connector.is_empty() {
            return None;
        }
        Some((
            ConnectorId::new(connector),
            RemoteUserId::new(unescape(escaped)?),
        ))
    }

    /// The regular expression for the registration's user namespace.
    pub fn namespace_regex(&self) -> String {
        format!(
            "@{}.*:{}",
            regex_escape(&self.prefix),
            regex_escape(&self.server_name)
        )
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes any string into localpart characters: lower-case letters, digits, `.-/` stay;
/// upper-case `X` becomes `_x`; `_` becomes `__`; every other byte becomes `=hh`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'/' => out.push(b as char),
            b'A'..=b'Z' => {
                out.push('_');
                out.push(b.to_ascii_lowercase() as char);
            }
            b'_' => out.push_str("__"),
            _ => {
                let _ = write!(out, "={b:02x}");
            }
        }
    }
    out
}

/// Reverses [`escape`]; `None` for text [`escape`] cannot have produced.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let next = *bytes.get(i + 1)?;
                match next {
                    b'_' => out.push(b'_'),
                    b'a'..=b'z' => out.push(next.to_ascii_uppercase()),
                    _ => return None,
                }
                i += 2;
            }
            b'=' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reversibly() {
        for id in [
            "U123ABC",
            "T01-U02",
            "alice_smith",
            "é ü",
            "a=b",
            "x/y.z",
            "AbC_dE",
        ] {
            let e = escape(id);
            assert!(
                e.bytes()
                    .all(|b| b"abcdefghijklmnopqrstuvwxyz0123456789._=-/".contains(&b)),
                "{e}"
            );
            assert_eq!(unescape(&e).as_deref(), Some(id));
        }
    }

    #[test]
    fn parses_its_own_ids_only() {
        let n = GhostNamer::new("aqueduct_", "example.org");
        let c = ConnectorId::new("chat");
        let u = RemoteUserId::new("T1-U_X");
        let id = n.user_id(&c, &u);
        assert_eq!(id, "@aqueduct_chat__t1-_u___x:example.org");
        assert_eq!(n.parse(&id), Some((c, u)));
        assert_eq!(n.parse("@aqueduct_chat_x:other.org"), None);
        assert_eq!(n.parse("@alice:example.org"), None);
        assert_eq!(n.parse("@aqueduct_chat_=zz:example.org"), None);
    }

    #[test]
    fn namespace_regex_escapes_dots() {
        let n = GhostNamer::new("aq_", "example.org");
        assert_eq!(n.namespace_regex(), "@aq_.*:example\\.org");
    }
}
