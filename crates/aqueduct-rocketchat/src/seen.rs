//! What the login last saw of each recent message: its text and reactions. Rocket.Chat's
//! realtime API pushes the whole message again on every change (an edit, a reaction, a new
//! thread reply), so what changed is found by comparing with this. The bridge's own writes
//! are recorded here before they are made, so their echoes compare equal and are not bridged
//! back.
//!
//! Two views are kept: what was last seen (compared with the next push, so a change is
//! queued once) and what is known to be in Matrix (kept across a restart). A message seen
//! but still queued when the bridge dies must not be remembered as bridged, or the catch-up
//! after the restart would compare it equal and drop it.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Messages remembered; older ones are forgotten (an edit of one is then bridged as an edit
/// all the same, see [`crate::convert`]).
const CAPACITY: usize = 10_000;

/// Reactions of a message: emoji shortcode (`:tada:`) -> usernames.
pub(crate) use aqueduct_connector::recent::Reactions;

/// One message as last seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeenMessage {
    /// The author's user id.
    pub author: String,
    /// A digest of the text (`msg`), see [`text_digest`]: enough to tell an edit, and small
    /// enough to keep the recent messages in the login's state across a restart.
    pub text: String,
    /// The reactions.
    #[serde(default)]
    pub reactions: Reactions,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// The digest of a message text that [`SeenMessage::text`] keeps.
pub(crate) fn text_digest(text: &str) -> String {
    aqueduct_connector::recent::text_digest(text, 12)
}

/// The remembered messages, by id.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Each message as last seen.
    messages: HashMap<String, SeenMessage>,
    /// Each message as last known to be in Matrix: what a restart starts from.
    bridged: HashMap<String, SeenMessage>,
    order: VecDeque<String>,
}

impl Seen {
    /// The messages kept in a login's saved state (`seen`: `[[id, message], ...]`).
    pub(crate) fn from_state(state: &serde_json::Value) -> Self {
        let mut seen = Self::default();
        let kept: Vec<(String, SeenMessage)> =
            serde_json::from_value(state["seen"].clone()).unwrap_or_default();
        for (id, m) in kept {
            seen.put_bridged(&id, m);
        }
        seen
    }

    /// The message `id` as last seen.
    pub(crate) fn get(&self, id: &str) -> Option<&SeenMessage> {
        self.messages.get(id)
    }

    /// Records the message `id` as now seen; what changed is still on its way to Matrix
    /// until [`Seen::confirm`].
    pub(crate) fn put(&mut self, id: &str, message: SeenMessage) {
        if self.messages.insert(id.to_owned(), message).is_none() {
            self.order.push_back(id.to_owned());
            if self.order.len() > CAPACITY
                && let Some(old) = self.order.pop_front()
            {
                self.messages.remove(&old);
                self.bridged.remove(&old);
            }
        }
    }

    /// Records that `message`, a state of `id` put before, is now in Matrix. A message
    /// forgotten meanwhile stays forgotten.
    pub(crate) fn confirm(&mut self, id: &str, message: SeenMessage) {
        if self.messages.contains_key(id) {
            self.bridged.insert(id.to_owned(), message);
        }
    }

    /// Takes back a [`Seen::put`] whose change did not reach Matrix: the message is again as
    /// Matrix has it (or unknown), so the next push or catch-up brings the change again
    /// instead of comparing equal and dropping it.
    pub(crate) fn take_back(&mut self, id: &str) {
        match self.bridged.get(id) {
            Some(bridged) => {
                self.messages.insert(id.to_owned(), bridged.clone());
            }
            None => {
                self.messages.remove(id);
                self.order.retain(|o| o != id);
            }
        }
    }

    /// Records the message `id` as seen and in Matrix at once: the bridge's own writes,
    /// which came from Matrix, and what a saved state says.
    pub(crate) fn put_bridged(&mut self, id: &str, message: SeenMessage) {
        self.put(id, message.clone());
        self.confirm(id, message);
    }

    /// The `n` messages seen last that are known to be in Matrix, oldest first, as they are
    /// there, to keep across a restart.
    pub(crate) fn recent(&self, n: usize) -> Vec<(String, SeenMessage)> {
        let skip = self.order.len().saturating_sub(n);
        self.order
            .iter()
            .skip(skip)
            .filter_map(|id| Some((id.clone(), self.bridged.get(id)?.clone())))
            .collect()
    }

    /// Changes the remembered message `id` (creating it if unknown) for a write the bridge
    /// makes from Matrix, so it is in Matrix already.
    pub(crate) fn update(&mut self, id: &str, f: impl FnOnce(&mut SeenMessage)) {
        let mut m = self.messages.get(id).cloned().unwrap_or_default();
        f(&mut m);
        self.put_bridged(id, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_recent_messages_survive_a_restart_through_the_state() {
        let mut seen = Seen::default();
        for i in 0..5 {
            seen.update(&format!("M{i}"), |m| {
                m.author = "U".into();
                m.text = text_digest(&format!("text {i}"));
                m.reactions
                    .entry(":tada:".into())
                    .or_default()
                    .insert("bob".into());
            });
        }
        let kept = seen.recent(3);
        assert_eq!(
            kept.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["M2", "M3", "M4"]
        );
        let again = Seen::from_state(&json!({ "seen": kept }));
        assert_eq!(again.get("M4"), seen.get("M4"));
        assert_eq!(again.get("M1"), None);
        assert_ne!(text_digest("a"), text_digest("b"));
    }

    #[test]
    fn a_message_still_on_its_way_to_matrix_is_not_kept_as_bridged() {
        let mut seen = Seen::default();
        let first = SeenMessage {
            author: "U".into(),
            text: text_digest("first"),
            ..SeenMessage::default()
        };
        seen.put("M1", first.clone());
        assert!(seen.get("M1").is_some(), "known at once, for the next push");
        assert!(
            seen.recent(10).is_empty(),
            "not saved before it is in Matrix"
        );
        seen.confirm("M1", first.clone());
        let edited = SeenMessage {
            text: text_digest("edited"),
            ..first.clone()
        };
        seen.put("M1", edited);
        assert_eq!(
            seen.recent(10),
            vec![("M1".to_owned(), first)],
            "a restart starts from what Matrix has, so the edit is bridged again"
        );
    }

    #[test]
    fn a_change_that_did_not_reach_matrix_is_seen_as_new_again() {
        let mut seen = Seen::default();
        let first = SeenMessage {
            author: "U".into(),
            text: text_digest("first"),
            ..SeenMessage::default()
        };
        seen.put("M1", first.clone());
        seen.take_back("M1");
        assert_eq!(
            seen.get("M1"),
            None,
            "a new message not bridged is new again"
        );
        seen.put_bridged("M1", first.clone());
        seen.put(
            "M1",
            SeenMessage {
                text: text_digest("edited"),
                ..first.clone()
            },
        );
        seen.take_back("M1");
        assert_eq!(
            seen.get("M1"),
            Some(&first),
            "an edit not bridged is an edit again"
        );
    }
}
