//! What a Teams login remembers between polling rounds, saved as the login's state: per chat,
//! the newest change handled (so a round asks Graph only for later ones, and a restart goes
//! on from there) and what was bridged of its recent messages (so a changed message becomes
//! an edit, a delete or reactions, and the bridge's own posts are not bridged back).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Messages remembered per chat; older ones are forgotten (a change to them is then missed).
const SEEN_PER_CHAT: usize = 200;

/// What was bridged of one message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeenMessage {
    /// Its `lastEditedDateTime` when last bridged.
    pub(crate) edited: Option<String>,
    /// Whether its deletion was bridged.
    pub(crate) deleted: bool,
    /// Its reactions as (user, Matrix reaction key) pairs.
    pub(crate) reactions: BTreeSet<(String, String)>,
    /// When it was created (ms), to forget the oldest first.
    pub(crate) created_ms: i64,
    /// Whether the bridge posted it for a Matrix event (not merely saw it): a retried send
    /// never takes such a message for its own earlier post.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) posted_by_bridge: bool,
}

/// One chat's memory.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChatMark {
    /// The newest `lastModifiedDateTime` handled, in ms.
    pub(crate) modified_ms: i64,
    /// Recent messages by id.
    pub(crate) seen: HashMap<String, SeenMessage>,
}

impl ChatMark {
    /// Remembers `id`, forgetting the oldest message over the cap.
    pub(crate) fn remember(&mut self, id: &str, seen: SeenMessage) {
        self.seen.insert(id.to_owned(), seen);
        if self.seen.len() > SEEN_PER_CHAT
            && let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, s)| s.created_ms)
                .map(|(id, _)| id.clone())
        {
            self.seen.remove(&oldest);
        }
    }
}

/// A team channel the login polls (one it bridged or was asked about): channels are not
/// listed by activity the way chats are, so each is asked for its changes by name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChannelWatch {
    /// The team's name, for the room name (`Team / Channel`).
    #[serde(default)]
    pub(crate) team_name: Option<String>,
    /// The `@odata.deltaLink` of the channel's last delta round: the next round asks it for
    /// what changed since.
    #[serde(default)]
    pub(crate) delta_link: Option<String>,
}

/// A login's polling memory.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct PollState {
    /// Whether the first round ran: it only notes where each existing chat stands, so a new
    /// login does not flood Matrix with old history.
    #[serde(default)]
    pub(crate) primed: bool,
    /// Chat id (a channel's `{team}/{channel}` too) -> its memory.
    #[serde(default)]
    pub(crate) chats: HashMap<String, ChatMark>,
    /// The channels polled, by `{team}/{channel}`.
    #[serde(default)]
    pub(crate) channels: BTreeMap<String, ChannelWatch>,
}

impl PollState {
    /// Reads the saved state (empty when there is none or it is unreadable).
    pub(crate) fn from_state(state: &serde_json::Value) -> Self {
        serde_json::from_value(state.get("poll").cloned().unwrap_or_default()).unwrap_or_default()
    }

    /// The state to save.
    pub(crate) fn to_state(&self) -> serde_json::Value {
        serde_json::json!({ "poll": self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_capped_oldest_first_and_survives_a_save() {
        let mut mark = ChatMark::default();
        for i in 0..SEEN_PER_CHAT + 5 {
            mark.remember(
                &format!("m{i}"),
                SeenMessage {
                    created_ms: i as i64,
                    ..Default::default()
                },
            );
        }
        assert_eq!(mark.seen.len(), SEEN_PER_CHAT);
        assert!(!mark.seen.contains_key("m0") && mark.seen.contains_key("m204"));
        let mut state = PollState {
            primed: true,
            ..Default::default()
        };
        state.chats.insert("c".into(), mark);
        let back = PollState::from_state(&state.to_state());
        assert!(back.primed);
        assert_eq!(back.chats["c"].seen.len(), SEEN_PER_CHAT);
    }
}
