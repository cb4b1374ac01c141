//! Who may do what, mautrix style: a map from a Matrix user id, a homeserver name or `*` to a
//! level. The most specific entry wins.

use serde::Deserialize;
use std::collections::HashMap;

/// What a Matrix user may do with the bridge, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Ignored entirely.
    None,
    /// May talk in portals with a relay; may not log in.
    Relay,
    /// May log in to platforms and bridge chats.
    User,
    /// May run administrative commands.
    Admin,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::None => "none",
            Level::Relay => "relay",
            Level::User => "user",
            Level::Admin => "admin",
        })
    }
}

/// The permission map from config.
#[derive(Clone, Debug, Default)]
pub struct Permissions {
    entries: HashMap<String, Level>,
}

impl Permissions {
    /// From `{ "@alice:example.org": admin, "example.org": user, "*": relay }`.
    pub fn new(entries: HashMap<String, Level>) -> Self {
        Self { entries }
    }

    /// The level of `user_id`: its own entry, else its server's, else `*`, else `None`.
    pub fn level(&self, user_id: &str) -> Level {
        if let Some(l) = self.entries.get(user_id) {
            return *l;
        }
        if let Some((_, server)) = user_id.split_once(':')
            && let Some(l) = self.entries.get(server)
        {
            return *l;
        }
        self.entries.get("*").copied().unwrap_or(Level::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_entry_wins() {
        let p = Permissions::new(HashMap::from([
            ("*".to_owned(), Level::Relay),
            ("example.org".to_owned(), Level::User),
            ("@boss:example.org".to_owned(), Level::Admin),
            ("@banned:example.org".to_owned(), Level::None),
        ]));
        assert_eq!(p.level("@boss:example.org"), Level::Admin);
        assert_eq!(p.level("@alice:example.org"), Level::User);
        assert_eq!(p.level("@banned:example.org"), Level::None);
        assert_eq!(p.level("@eve:elsewhere.net"), Level::Relay);
        assert_eq!(Permissions::default().level("@a:b"), Level::None);
        assert!(Level::Relay < Level::User && Level::User < Level::Admin);
    }
}
