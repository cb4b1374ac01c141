//! The record of recently bridged messages, in the parts every connector shares. A platform
//! that says "this message changed" (Rocket.Chat pushes the whole message again, Slack's
//! history shows it as it is now after downtime, Teams lists it by its modification time)
//! leaves the connector to find out what changed by comparing with what it bridged: a text
//! digest tells an edit, and the reaction lists tell which reactions came and went.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Reactions of a message: reaction key (an emoji or the platform's name for it) -> the
/// users who reacted with it.
pub type Reactions = BTreeMap<String, BTreeSet<String>>;

/// A short digest of a message's text, stable across builds and versions (unlike `Hash`):
/// the first `bytes` bytes of its SHA-256, in hex. Enough to tell an edit, small enough to
/// keep many recent messages in a login's saved state. A connector keeps its length for
/// good: a different length makes every stored digest look like an edit.
pub fn text_digest(text: &str, bytes: usize) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..bytes.min(digest.len())])
}

/// One reaction that came or went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionChange {
    /// The reaction key.
    pub key: String,
    /// Who reacted (or took it back).
    pub user: String,
    /// `true` when it came, `false` when it went.
    pub added: bool,
}

/// The reactions added and removed between `before` and `now`: additions first, in key
/// order, then removals. A key for which `now` lists only part of its users (`partial`:
/// Slack lists at most some users of a popular reaction) loses none: a removal is not
/// guessed from a shortened list.
pub fn reaction_changes(
    before: &Reactions,
    now: &Reactions,
    partial: impl Fn(&str) -> bool,
) -> Vec<ReactionChange> {
    let mut out = Vec::new();
    for (key, users) in now {
        for user in users {
            if !before.get(key).is_some_and(|b| b.contains(user)) {
                out.push(ReactionChange {
                    key: key.clone(),
                    user: user.clone(),
                    added: true,
                });
            }
        }
    }
    for (key, users) in before {
        if now.contains_key(key) && partial(key) {
            continue;
        }
        for user in users {
            if !now.get(key).is_some_and(|n| n.contains(user)) {
                out.push(ReactionChange {
                    key: key.clone(),
                    user: user.clone(),
                    added: false,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reactions(pairs: &[(&str, &[&str])]) -> Reactions {
        pairs
            .iter()
            .map(|(k, users)| (k.to_string(), users.iter().map(|u| u.to_string()).collect()))
            .collect()
    }

    #[test]
    fn additions_and_removals_are_found_and_partial_lists_remove_nothing() {
        let before = reactions(&[("tada", &["ann", "bob"]), ("eyes", &["ann"])]);
        let now = reactions(&[("tada", &["ann"]), ("heart", &["cat"])]);
        let changes = reaction_changes(&before, &now, |_| false);
        let shown: Vec<(String, String, bool)> = changes
            .into_iter()
            .map(|c| (c.key, c.user, c.added))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("heart".into(), "cat".into(), true),
                ("eyes".into(), "ann".into(), false),
                ("tada".into(), "bob".into(), false),
            ]
        );
        // "tada" is listed only in part now: bob is not taken to have left it.
        let changes = reaction_changes(&before, &now, |k| k == "tada");
        assert!(!changes.iter().any(|c| c.key == "tada"));
        assert!(reaction_changes(&now, &now, |_| false).is_empty());
    }

    #[test]
    fn digests_tell_texts_apart_and_keep_their_length() {
        assert_eq!(text_digest("hello", 8).len(), 16);
        assert_eq!(text_digest("hello", 12), text_digest("hello", 12));
        assert_ne!(text_digest("hello", 12), text_digest("hello!", 12));
    }
}
