//! Hub rooms: one Matrix room bridged to several remote chats at once (issue 16). Matrix is
//! the hub: a message from one chat is posted to the room as usual, and its Matrix event
//! reaches the room's other chats through the durable inbox like any Matrix user's event
//! (`matrix_to_remote/hub_out.rs`).
//!
//! This module keeps the set of hub rooms in memory, in step with `link` and `unbridge`, so
//! the transaction filter (`own_echo.rs`) can keep the bridge's own events in hub rooms,
//! which must travel on, and drop them everywhere else, as before.

use crate::Result;
use crate::bridge::Inner;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// The rooms that are the portal of more than one chat.
#[derive(Debug)]
pub(crate) struct HubRooms {
    rooms: RwLock<HashSet<String>>,
    /// Whether the set was read from the store. The appservice listener takes transactions
    /// before the engine starts (Synapse pushes what it held while the bridge was down as
    /// soon as it answers), and a ghost's event in a hub room filtered then would be lost.
    loaded: tokio::sync::watch::Sender<bool>,
}

impl Default for HubRooms {
    fn default() -> Self {
        Self {
            rooms: RwLock::default(),
            loaded: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl HubRooms {
    /// Whether `room` is a hub room.
    pub(crate) fn contains(&self, room: &str) -> bool {
        self.rooms.read().expect("hub rooms").contains(room)
    }

    /// Returns once the set was read from the store.
    pub(crate) async fn loaded(&self) {
        let mut rx = self.loaded.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(|loaded| *loaded).await;
    }

    fn set(&self, room: &str, hub: bool) {
        let mut rooms = self.rooms.write().expect("hub rooms");
        if hub {
            rooms.insert(room.to_owned());
        } else {
            rooms.remove(room);
        }
    }

    fn replace(&self, rooms: HashSet<String>) {
        *self.rooms.write().expect("hub rooms") = rooms;
        self.loaded.send_replace(true);
    }
}

impl Inner {
    /// Reads which rooms are hub rooms from the store (at start).
    pub(crate) async fn load_hub_rooms(&self) -> Result<()> {
        let mut count: HashMap<String, usize> = HashMap::new();
        for portal in self.store.list_portals().await? {
            if let Some(room) = portal.room_id {
                *count.entry(room).or_default() += 1;
            }
        }
        let hubs: HashSet<String> = count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(room, _)| room)
            .collect();
        if !hubs.is_empty() {
            tracing::info!(rooms = hubs.len(), "hub rooms loaded");
        }
        self.hub_rooms.replace(hubs);
        Ok(())
    }

    /// The portals of `room`: all of a hub room's (from the store), else the one portal
    /// through the store's portal cache, so a busy ordinary room's typing and receipts cost
    /// no database read.
    pub(crate) async fn portals_of_room(&self, room: &str) -> Result<Vec<crate::records::Portal>> {
        if self.hub_rooms.contains(room) {
            return Ok(self.store.portals_by_room(room).await?);
        }
        Ok(self.store.portal_by_room(room).await?.into_iter().collect())
    }

    /// Re-reads whether `room` is a hub room, after one of its portals was linked or removed.
    pub(crate) async fn refresh_hub_room(&self, room: &str) -> Result<()> {
        let portals = self.store.portals_by_room(room).await?;
        self.hub_rooms.set(room, portals.len() > 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::HubRooms;

    #[test]
    fn rooms_enter_and_leave_the_set() {
        let hubs = HubRooms::default();
        assert!(!hubs.contains("!a:x"));
        hubs.set("!a:x", true);
        assert!(hubs.contains("!a:x"));
        hubs.set("!a:x", false);
        assert!(!hubs.contains("!a:x"));
        hubs.replace(["!b:x".to_owned()].into());
        assert!(hubs.contains("!b:x"));
    }

    #[tokio::test]
    async fn loaded_waits_for_the_first_read() {
        let hubs = std::sync::Arc::new(HubRooms::default());
        let waiter = tokio::spawn({
            let hubs = hubs.clone();
            async move { hubs.loaded().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        hubs.replace(Default::default());
        waiter.await.unwrap();
        hubs.loaded().await;
    }
}
