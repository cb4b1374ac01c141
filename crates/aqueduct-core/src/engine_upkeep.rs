//! Keeps the engine's memory and tables from growing without end.
//!
//! - **Caches** (`members`, `ghosts`, `room_portals`, `profiles`, `typing` in
//!   [`Inner`]) only save homeserver and store round trips: every entry can be read again
//!   from the store or the homeserver. So a cache over its cap is simply emptied after a job
//!   ([`Inner::trim_caches`]); the next jobs refill it with what they use. A cache can exceed
//!   its cap only by what one job adds. `typing` first drops rooms where nobody types (the
//!   usual growth); only if still over its cap is it emptied, which can cost a remote "stopped
//!   typing" that the platform's own typing timeout then covers.
//! - **Transaction ids** (`appservice_txn`) are pruned after [`TXN_ID_RETENTION`]: the
//!   homeserver retries a transaction until it is answered and never resends one it saw
//!   answered, so an old id protects against nothing. At start, then every hour.
//! - **Gauges** show each bound: cache sizes, queues with a task, the inbox backlog.

use crate::bridge::Inner;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most (room, user) memberships remembered in memory.
pub const MAX_MEMBERS: usize = 50_000;
/// Most ghosts remembered in memory.
pub const MAX_GHOSTS: usize = 20_000;
/// Most room -> portal routes remembered in memory.
pub const MAX_ROOM_PORTALS: usize = 20_000;
/// Most (room, user) member profiles remembered in memory.
pub const MAX_PROFILES: usize = 20_000;
/// Most rooms whose typing users are remembered.
pub const MAX_TYPING_ROOMS: usize = 10_000;
/// How long an appservice transaction id is remembered.
pub const TXN_ID_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often the upkeep task prunes and refreshes the gauges.
const UPKEEP_EVERY: Duration = Duration::from_secs(3600);
/// How often the inbox backlog gauge is refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(15);

fn trim_map<K: Eq + Hash, V>(map: &Mutex<HashMap<K, V>>, cap: usize) -> usize {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() > cap {
        map.clear();
        map.shrink_to(cap / 4);
    }
    map.len()
}

/// Drops rooms where nobody types once over `cap`; empties the map if that is not enough.
fn trim_typing(map: &Mutex<HashMap<String, HashSet<String>>>, cap: usize) -> usize {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() > cap {
        map.retain(|_, users| !users.is_empty());
    }
    if map.len() > cap {
        map.clear();
    }
    map.len()
}

impl Inner {
    /// Empties every cache over its cap and updates the cache gauges. Cheap: called after
    /// every job.
    pub(crate) fn trim_caches(&self) {
        let members = {
            let mut set = self.members.lock().unwrap_or_else(|p| p.into_inner());
            if set.len() > MAX_MEMBERS {
                set.clear();
                set.shrink_to(MAX_MEMBERS / 4);
            }
            set.len()
        };
        let ghosts = trim_map(&self.ghosts, MAX_GHOSTS);
        let rooms = trim_map(&self.room_portals, MAX_ROOM_PORTALS);
        let profiles = trim_map(&self.profiles, MAX_PROFILES);
        let typing = trim_typing(&self.typing, MAX_TYPING_ROOMS);
        let gauge = &self.engine.cache_entries;
        for (name, n) in [
            ("members", members),
            ("ghosts", ghosts),
            ("room_portals", rooms),
            ("profiles", profiles),
            ("typing", typing),
            ("key_strikes", self.key_strikes.len()),
        ] {
            gauge.with_label_values(&[name]).set(n as i64);
        }
        self.engine
            .active_queues
            .set(self.queues.active_queues() as i64);
    }

    /// Prunes old transaction ids and refreshes the inbox gauge, at start and then
    /// periodically, until shutdown. Failures are logged and tried again next round. Holds
    /// the engine only while it works, never while it waits: a stopped engine must go at
    /// once (its crypto store's lock with it), not at the next round.
    pub(crate) async fn upkeep(engine: Weak<Self>) {
        let mut since_prune = UPKEEP_EVERY;
        loop {
            let Some(this) = engine.upgrade() else { return };
            if this.is_shutting_down() {
                return;
            }
            this.upkeep_round(&mut since_prune).await;
            drop(this);
            tokio::time::sleep(GAUGES_EVERY).await;
            since_prune += GAUGES_EVERY;
        }
    }

    /// One round of [`Inner::upkeep`].
    async fn upkeep_round(&self, since_prune: &mut Duration) {
        if *since_prune >= UPKEEP_EVERY {
            *since_prune = Duration::ZERO;
            let cutoff = SystemTime::now()
                .checked_sub(TXN_ID_RETENTION)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            match self.store.prune_appservice_txns(cutoff).await {
                Ok(n) if n > 0 => {
                    tracing::info!(pruned = n, "forgot old appservice transaction ids")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prune old appservice transaction ids")
                }
            }
        }
        match self.store.inbox_len().await {
            Ok(n) => self.engine.inbox_backlog.set(n),
            Err(e) => tracing::warn!(error = %e, "cannot count the inbox"),
        }
        self.trim_caches();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_over_its_cap_is_emptied_and_one_under_it_is_kept() {
        let map = Mutex::new((0..10).map(|i| (i, i)).collect::<HashMap<u32, u32>>());
        assert_eq!(trim_map(&map, 10), 10);
        map.lock().unwrap().insert(10, 10);
        assert_eq!(trim_map(&map, 10), 0);
        assert!(map.lock().unwrap().is_empty());
    }

    #[test]
    fn typing_drops_quiet_rooms_first() {
        let users = |n: usize| (0..n).map(|i| format!("@u{i}:x")).collect::<HashSet<_>>();
        let map = Mutex::new(
            (0..10)
                .map(|i| (format!("!r{i}:x"), users(i % 2)))
                .collect::<HashMap<_, _>>(),
        );
        // Over a cap of 8: the 5 quiet rooms go, the 5 with someone typing stay.
        assert_eq!(trim_typing(&map, 8), 5);
        assert!(map.lock().unwrap().values().all(|u| !u.is_empty()));
        // Over a cap of 4 even then: all go.
        assert_eq!(trim_typing(&map, 4), 0);
    }
}
