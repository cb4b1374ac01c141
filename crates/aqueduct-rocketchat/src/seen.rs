//! What the login last saw of each recent message: its text and reactions. Rocket.Chat's
//! realtime API pushes the whole message again on every change (an edit, a reaction, a new
//! thread reply), so what changed is found by comparing with this. The bridge's own writes
//! are recorded here before they are made, so their echoes compare equal and are not bridged
//! back.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Messages remembered; older ones are forgotten (an edit of one is then bridged as an edit
/// all the same, see [`crate::convert`]).
const CAPACITY: usize = 10_000;

/// Reactions of a message: emoji shortcode (`:tada:`) -> usernames.
pub(crate) type Reactions = BTreeMap<String, BTreeSet<String>>;

/// One message as last seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SeenMessage {
    /// The author's user id.
    pub author: String,
    /// The text (`msg`).
    pub text: String,
    /// The reactions.
    pub reactions: Reactions,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// The remembered messages, by id.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    messages: HashMap<String, SeenMessage>,
    order: VecDeque<String>,
}

impl Seen {
    /// The message `id` as last seen.
    pub(crate) fn get(&self, id: &str) -> Option<&SeenMessage> {
        self.messages.get(id)
    }

    /// Records the message `id` as now seen.
    pub(crate) fn put(&mut self, id: &str, message: SeenMessage) {
        if self.messages.insert(id.to_owned(), message).is_none() {
            self.order.push_back(id.to_owned());
            if self.order.len() > CAPACITY
                && let Some(old) = self.order.pop_front()
            {
                self.messages.remove(&old);
            }
        }
    }

    /// Changes the remembered message `id` (creating it if unknown).
    pub(crate) fn update(&mut self, id: &str, f: impl FnOnce(&mut SeenMessage)) {
        let mut m = self.messages.get(id).cloned().unwrap_or_default();
        f(&mut m);
        self.put(id, m);
    }
}
