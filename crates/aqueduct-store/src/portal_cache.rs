//! The portal rows already read, kept in memory. Every bridged message looks its portal up
//! (by key from the remote side, by room from Matrix), and portals change rarely, so a warm
//! message should not pay a query for it.
//!
//! Sound because the bridge is the only writer of its database (one bridge process per
//! store), and every write of the `portal` table goes through [`SqlStore`](crate::SqlStore),
//! which tells this cache. A read that raced with a write is not cached: each write bumps a
//! generation, and a row read under an older generation is returned but not kept.

use aqueduct_core::ids::PortalKey;
use aqueduct_core::records::Portal;
use std::collections::HashMap;
use std::sync::Mutex;

/// More portals than this are not all kept: the cache starts over (a bound on memory for
/// bridges with very many chats; the rows are read again on demand).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub(crate) struct PortalCache {
    state: Mutex<State>,
}

impl std::fmt::Debug for PortalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalCache")
            .field("entries", &self.state().by_key.len())
            .finish()
    }
}

#[derive(Default)]
struct State {
    generation: u64,
    by_key: HashMap<PortalKey, Portal>,
    key_by_room: HashMap<String, PortalKey>,
}

/// Where a read started, to tell whether a write happened during it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Generation(u64);

impl PortalCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("portal cache poisoned")
    }

    /// The cached portal for `key`, or the generation to pass to [`Self::remember`] after
    /// reading it from the database.
    pub(crate) fn by_key(&self, key: &PortalKey) -> Result<Portal, Generation> {
        let state = self.state();
        state
            .by_key
            .get(key)
            .cloned()
            .ok_or(Generation(state.generation))
    }

    /// The cached portal bridged to `room`, or the generation as in [`Self::by_key`].
    pub(crate) fn by_room(&self, room: &str) -> Result<Portal, Generation> {
        let state = self.state();
        state
            .key_by_room
            .get(room)
            .and_then(|k| state.by_key.get(k))
            .cloned()
            .ok_or(Generation(state.generation))
    }

    /// Keeps a row read from the database, unless a write happened since `read_at`.
    /// `by_room`: the row was read as the room's portal (the first of a hub room's, by key),
    /// so it may answer for the room too; a row read by key may not, since a hub room has
    /// several.
    pub(crate) fn remember(&self, portal: &Portal, read_at: Generation, by_room: bool) {
        let mut state = self.state();
        if state.generation != read_at.0 {
            return;
        }
        if state.by_key.len() >= MAX_ENTRIES {
            state.by_key.clear();
            state.key_by_room.clear();
        }
        state.insert(portal.clone(), by_room);
    }

    /// The row for `portal.key` is now `portal`. Which portal answers for its room may have
    /// changed (a hub room's first by key), so that is read again on the next look-up.
    pub(crate) fn written(&self, portal: &Portal) {
        let mut state = self.state();
        state.generation += 1;
        state.remove(&portal.key);
        if let Some(room) = &portal.room_id {
            state.key_by_room.remove(room);
        }
        state.insert(portal.clone(), false);
    }

    /// The row for `key` is gone.
    pub(crate) fn deleted(&self, key: &PortalKey) {
        let mut state = self.state();
        state.generation += 1;
        state.remove(key);
    }

    /// Rows may have changed in ways not worth tracking one by one (a login's relay cleared).
    pub(crate) fn forget_all(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.by_key.clear();
        state.key_by_room.clear();
    }
}

impl State {
    fn insert(&mut self, portal: Portal, by_room: bool) {
        if let Some(room) = portal.room_id.as_ref().filter(|_| by_room) {
            self.key_by_room.insert(room.clone(), portal.key.clone());
        }
        self.by_key.insert(portal.key.clone(), portal);
    }

    fn remove(&mut self, key: &PortalKey) {
        if let Some(old) = self.by_key.remove(key)
            && let Some(room) = old.room_id
        {
            self.key_by_room.remove(&room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqueduct_core::ids::{ConnectorId, RemoteChatId};

    fn portal(chat: &str, room: Option<&str>) -> Portal {
        let mut p = Portal::new(PortalKey {
            connector: ConnectorId::new("slack"),
            chat: RemoteChatId::new(chat),
            receiver: None,
        });
        p.room_id = room.map(str::to_owned);
        p
    }

    #[test]
    fn a_row_read_by_key_does_not_answer_for_its_room() {
        let cache = PortalCache::default();
        let second = portal("C2", Some("!hub:x"));
        cache.remember(&second, cache.by_key(&second.key).unwrap_err(), false);
        assert_eq!(cache.by_key(&second.key).unwrap(), second);
        assert!(cache.by_room("!hub:x").is_err());
    }

    #[test]
    fn a_row_read_while_a_write_happened_is_not_kept() {
        let cache = PortalCache::default();
        let old = portal("C1", Some("!old:x"));
        let read_at = cache.by_key(&old.key).unwrap_err();
        let new = portal("C1", Some("!new:x"));
        cache.written(&new);
        cache.remember(&old, read_at, true);
        assert_eq!(cache.by_key(&old.key).unwrap(), new);
        assert!(cache.by_room("!old:x").is_err());
    }

    #[test]
    fn a_moved_room_is_found_only_under_its_new_id() {
        let cache = PortalCache::default();
        let first = portal("C1", Some("!a:x"));
        cache.remember(&first, cache.by_key(&first.key).unwrap_err(), true);
        assert_eq!(cache.by_room("!a:x").unwrap(), first);
        let moved = portal("C1", Some("!b:x"));
        cache.written(&moved);
        assert!(cache.by_room("!a:x").is_err());
        // Which portal answers for a room is read again after a write (a hub room's first).
        assert!(cache.by_room("!b:x").is_err());
        assert_eq!(cache.by_key(&moved.key).unwrap(), moved);
        cache.remember(&moved, cache.by_room("!b:x").unwrap_err(), true);
        assert_eq!(cache.by_room("!b:x").unwrap(), moved);
        cache.deleted(&moved.key);
        assert!(cache.by_key(&moved.key).is_err());
        assert!(cache.by_room("!b:x").is_err());
    }
}
