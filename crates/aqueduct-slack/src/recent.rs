//! What the connector last bridged of each channel's most recent messages: author, a hash of
//! the text and the reactions. Live events keep it current; after downtime the catch-up
//! compares it with what Slack's history says now, so edits, deletes and reactions made while
//! the bridge was away reach Matrix, each once. Kept bounded, in the login's saved state.

use crate::checkpoints::ts_order;
use aqueduct_connector::recent::Reactions;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Messages remembered per channel (the newest ones). Each costs nothing on Slack's side: the
/// catch-up reads them back from the history it fetches anyway, plus one
/// `conversations.replies` per thread they are in.
pub(crate) const PER_CHANNEL: usize = 25;

/// One message as last bridged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bridged {
    /// Its author (a Slack user id), who a delete is attributed to.
    #[serde(rename = "u")]
    pub user: String,
    /// [`text_hash`] of its text.
    #[serde(rename = "h")]
    pub text: String,
    /// Its thread's root, for a reply (replies are read back through their thread).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Reactions: emoji short name -> the users who reacted with it.
    #[serde(rename = "x", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, BTreeSet<String>>,
}

/// A short, stable digest of a message's text (8 bytes: what saved states hold).
pub(crate) fn text_hash(text: &str) -> String {
    aqueduct_connector::recent::text_digest(text, 8)
}

/// Channel -> message `ts` -> what was bridged of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct RecentMessages {
    channels: HashMap<String, BTreeMap<String, Bridged>>,
}

/// A difference between what was bridged and what Slack holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// The message `ts` has new text; `message` is it as Slack returns it now.
    Edit { ts: String, message: Value },
    /// The message `ts` of `user` is gone.
    Delete { ts: String, user: String },
    /// `user` added (`add`) or removed reaction `name` on message `ts`.
    React {
        ts: String,
        name: String,
        user: String,
        add: bool,
    },
}

impl RecentMessages {
    /// Remembers a newly bridged message (a message already remembered keeps its state).
    /// Returns whether anything changed.
    pub fn bridged(
        &mut self,
        channel: &str,
        ts: &str,
        user: &str,
        text: &str,
        root: Option<&str>,
    ) -> bool {
        let messages = self.channels.entry(channel.to_owned()).or_default();
        if messages.contains_key(ts) {
            return false;
        }
        messages.insert(
            ts.to_owned(),
            Bridged {
                user: user.to_owned(),
                text: text_hash(text),
                root: root.filter(|r| *r != ts).map(str::to_owned),
                reactions: BTreeMap::new(),
            },
        );
        while messages.len() > PER_CHANNEL {
            let oldest = messages
                .keys()
                .min_by_key(|t| ts_order(t))
                .cloned()
                .expect("not empty");
            messages.remove(&oldest);
        }
        true
    }

    /// Records that message `ts` now has `text`. Returns whether anything changed.
    pub fn edited(&mut self, channel: &str, ts: &str, text: &str) -> bool {
        match self.get_mut(channel, ts) {
            Some(m) if m.text != text_hash(text) => {
                m.text = text_hash(text);
                true
            }
            _ => false,
        }
    }

    /// Forgets a deleted message. Returns whether anything changed.
    pub fn deleted(&mut self, channel: &str, ts: &str) -> bool {
        self.channels
            .get_mut(channel)
            .is_some_and(|m| m.remove(ts).is_some())
    }

    /// Records `user` adding (`add`) or removing reaction `name` on message `ts`. Returns
    /// whether anything changed.
    pub fn reacted(&mut self, channel: &str, ts: &str, name: &str, user: &str, add: bool) -> bool {
        let Some(m) = self.get_mut(channel, ts) else {
            return false;
        };
        if add {
            return m
                .reactions
                .entry(name.to_owned())
                .or_default()
                .insert(user.to_owned());
        }
        let Some(users) = m.reactions.get_mut(name) else {
            return false;
        };
        let removed = users.remove(user);
        if users.is_empty() {
            m.reactions.remove(name);
        }
        removed
    }

    /// Applies a change once it is in Matrix. Returns whether anything changed.
    pub fn apply(&mut self, channel: &str, change: &Change) -> bool {
        match change {
            Change::Edit { ts, message } => {
                self.edited(channel, ts, message["text"].as_str().unwrap_or_default())
            }
            Change::Delete { ts, .. } => self.deleted(channel, ts),
            Change::React {
                ts,
                name,
                user,
                add,
            } => self.reacted(channel, ts, name, user, *add),
        }
    }

    /// The oldest remembered message of `channel`.
    pub fn oldest(&self, channel: &str) -> Option<&str> {
        self.channels
            .get(channel)?
            .keys()
            .min_by_key(|t| ts_order(t))
            .map(String::as_str)
    }

    /// The thread roots of the remembered replies of `channel`, each with its oldest
    /// remembered reply.
    pub fn threads(&self, channel: &str) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (ts, m) in self.channels.get(channel).into_iter().flatten() {
            if let Some(root) = &m.root {
                let oldest = out.entry(root.clone()).or_insert_with(|| ts.clone());
                if ts_order(ts) < ts_order(oldest) {
                    *oldest = ts.clone();
                }
            }
        }
        out
    }

    /// What differs between the remembered messages of `channel` and `now` (the messages
    /// Slack returned, by `ts`). A remembered message missing from `now` counts as deleted
    /// only where `complete` says the fetch that would have returned it was complete (it
    /// gets the message's thread root, `None` for top-level messages).
    pub fn changes(
        &self,
        channel: &str,
        now: &HashMap<String, Value>,
        complete: impl Fn(Option<&str>) -> bool,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        let mut remembered: Vec<(&String, &Bridged)> =
            self.channels.get(channel).into_iter().flatten().collect();
        remembered.sort_by_key(|(ts, _)| ts_order(ts));
        for (ts, was) in remembered {
            let current = now.get(ts.as_str());
            let gone = match current {
                None => complete(was.root.as_deref()),
                // A deleted thread root that still has replies.
                Some(m) => m["subtype"] == "tombstone",
            };
            if gone {
                out.push(Change::Delete {
                    ts: ts.clone(),
                    user: was.user.clone(),
                });
                continue;
            }
            let Some(m) = current else { continue };
            let text = m["text"].as_str().unwrap_or_default();
            if m["edited"].is_object() && text_hash(text) != was.text {
                out.push(Change::Edit {
                    ts: ts.clone(),
                    message: m.clone(),
                });
            }
            out.extend(reaction_changes(ts, was, m));
        }
        out
    }

    fn get_mut(&mut self, channel: &str, ts: &str) -> Option<&mut Bridged> {
        self.channels.get_mut(channel)?.get_mut(ts)
    }
}

/// The reactions added to and removed from message `ts` since `was`, given `m` as Slack
/// returns it now. Slack may list fewer `users` than `count`: removals of such a reaction
/// are not guessed.
fn reaction_changes(ts: &str, was: &Bridged, m: &Value) -> Vec<Change> {
    let mut now = Reactions::new();
    let mut partial = BTreeSet::new();
    for r in m["reactions"].as_array().into_iter().flatten() {
        let Some(name) = r["name"].as_str() else {
            continue;
        };
        let users: BTreeSet<String> = r["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        if r["count"]
            .as_u64()
            .is_some_and(|c| c as usize > users.len())
        {
            partial.insert(name.to_owned());
        }
        now.insert(name.to_owned(), users);
    }
    aqueduct_connector::recent::reaction_changes(&was.reactions, &now, |k| partial.contains(k))
        .into_iter()
        .map(|c| Change::React {
            ts: ts.to_owned(),
            name: c.key,
            user: c.user,
            add: c.added,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now(messages: &[Value]) -> HashMap<String, Value> {
        messages
            .iter()
            .map(|m| (m["ts"].as_str().unwrap().to_owned(), m.clone()))
            .collect()
    }

    #[test]
    fn edits_deletes_and_reactions_are_found_once_applied() {
        let mut r = RecentMessages::default();
        r.bridged("C1", "1.000001", "U1", "hello", None);
        r.bridged("C1", "1.000002", "U1", "gone soon", None);
        r.bridged("C1", "1.000003", "U2", "liked", None);
        r.reacted("C1", "1.000003", "tada", "U1", true);
        r.reacted("C1", "1.000003", "eyes", "U1", true);
        let slack = now(&[
            json!({"ts": "1.000001", "user": "U1", "text": "hello, edited", "edited": {"user": "U1", "ts": "2.0"}}),
            json!({"ts": "1.000003", "user": "U2", "text": "liked",
                   "reactions": [{"name": "tada", "users": ["U1", "U3"], "count": 2}]}),
        ]);
        let changes = r.changes("C1", &slack, |_| true);
        assert_eq!(
            changes,
            vec![
                Change::Edit {
                    ts: "1.000001".into(),
                    message: slack["1.000001"].clone()
                },
                Change::Delete {
                    ts: "1.000002".into(),
                    user: "U1".into()
                },
                Change::React {
                    ts: "1.000003".into(),
                    name: "tada".into(),
                    user: "U3".into(),
                    add: true
                },
                Change::React {
                    ts: "1.000003".into(),
                    name: "eyes".into(),
                    user: "U1".into(),
                    add: false
                },
            ]
        );
        for c in &changes {
            assert!(r.apply("C1", c));
        }
        let saved: RecentMessages =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert!(
            saved.changes("C1", &slack, |_| true).is_empty(),
            "nothing twice, after a restart either"
        );
    }

    #[test]
    fn a_message_missing_from_an_incomplete_fetch_is_not_deleted() {
        let mut r = RecentMessages::default();
        r.bridged("C1", "1.000001", "U1", "top", None);
        r.bridged("C1", "1.000002", "U1", "reply", Some("1.000001"));
        let top_only = |root: Option<&str>| root.is_none();
        let changes = r.changes("C1", &HashMap::new(), top_only);
        assert_eq!(
            changes,
            vec![Change::Delete {
                ts: "1.000001".into(),
                user: "U1".into()
            }]
        );
        let tombstone = now(&[
            json!({"ts": "1.000001", "subtype": "tombstone", "text": "This message was deleted."}),
            json!({"ts": "1.000002", "text": "reply"}),
        ]);
        assert_eq!(r.changes("C1", &tombstone, |_| false).len(), 1);
    }

    #[test]
    fn unedited_text_and_partial_reaction_lists_change_nothing() {
        let mut r = RecentMessages::default();
        r.bridged("C1", "1.000001", "U1", "same", None);
        r.reacted("C1", "1.000001", "+1", "U9", true);
        let slack = now(&[
            json!({"ts": "1.000001", "text": "same", "edited": {"ts": "2.0"},
                                 "reactions": [{"name": "+1", "users": ["U1"], "count": 40}]}),
        ]);
        assert_eq!(
            r.changes("C1", &slack, |_| true),
            vec![Change::React {
                ts: "1.000001".into(),
                name: "+1".into(),
                user: "U1".into(),
                add: true
            }]
        );
    }

    #[test]
    fn memory_is_bounded_to_the_newest_messages() {
        let mut r = RecentMessages::default();
        for i in 0..(PER_CHANNEL + 10) {
            r.bridged("C1", &format!("1.{i:06}"), "U1", "x", None);
        }
        assert_eq!(r.channels["C1"].len(), PER_CHANNEL);
        assert_eq!(r.oldest("C1"), Some("1.000010"));
        r.bridged("C1", "1.000300", "U1", "reply", Some("1.000020"));
        assert_eq!(r.threads("C1")["1.000020"], "1.000300");
    }
}
