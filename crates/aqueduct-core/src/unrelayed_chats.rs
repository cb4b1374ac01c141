//! The chats of hub rooms that have no relay, and what their missing relay cost. In a hub
//! room every message from another chat's people goes on through the bridge; a chat without
//! a relay cannot take those of people with no login on its network, and telling the room so
//! for each one would bury the conversation. The room is told once per chat; the chat then
//! stays quiet, its skipped messages counted, until a message is relayed to it again (a
//! relay was set) or the bridge restarts (this memory is not stored, so a restart tells
//! each such chat once more).

use crate::ids::PortalKey;
use prometheus::{IntCounterVec, Opts, Registry};
use std::collections::HashSet;
use std::sync::Mutex;

/// Hub-room chats the room has been told lack a relay, and the count of messages they missed.
pub(crate) struct UnrelayedChats {
    told: Mutex<HashSet<PortalKey>>,
    skipped: IntCounterVec,
}

impl UnrelayedChats {
    /// Creates the memory and registers its counter in `registry` (a registry that has it
    /// already keeps its own, which only happens with two engines in one test process).
    pub(crate) fn new(registry: &Registry) -> Self {
        let skipped = IntCounterVec::new(
            Opts::new(
                "aqueduct_hub_messages_unrelayed_total",
                "Messages of a hub room's other chats not carried to a chat without a relay (their author has no login there), by platform",
            ),
            &["platform"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(skipped.clone()));
        Self {
            told: Mutex::new(HashSet::new()),
            skipped,
        }
    }

    /// Counts a message `portal` did not get for want of a relay; returns whether the room
    /// is to be told (the first such message since the chat last had a relay).
    pub(crate) fn skipped(&self, portal: &PortalKey) -> bool {
        self.skipped
            .with_label_values(&[portal.connector.as_str()])
            .inc();
        self.told.lock().expect("told").insert(portal.clone())
    }

    /// A message was relayed to `portal`: it has a relay again, so losing it is told anew.
    pub(crate) fn relayed(&self, portal: &PortalKey) {
        let mut told = self.told.lock().expect("told");
        if !told.is_empty() {
            told.remove(portal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectorId, RemoteChatId};

    #[test]
    fn a_chat_is_told_once_until_it_is_relayed_to_again() {
        let chats = UnrelayedChats::new(&Registry::new());
        let a = PortalKey::shared(ConnectorId::new("rocketchat"), RemoteChatId::new("R1"));
        let b = PortalKey::shared(ConnectorId::new("slack"), RemoteChatId::new("C1"));
        assert!(chats.skipped(&a));
        assert!(!chats.skipped(&a));
        assert!(chats.skipped(&b), "each chat is told on its own");
        chats.relayed(&a);
        assert!(chats.skipped(&a), "after a relay came and went, told again");
        assert_eq!(
            chats.skipped.with_label_values(&["rocketchat"]).get(),
            3,
            "every skipped message is counted"
        );
    }
}
