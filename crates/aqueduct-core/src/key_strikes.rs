//! Senders whose room keys did not arrive. Each encrypted event whose key is missing waits for
//! it at the head of its room's queue (keys usually trail their event by milliseconds), so a
//! member who floods a room with events of a session whose key they never share could hold
//! the room for `key_wait` per event. After one such wait, a sender's later events get a
//! shorter wait, then none, and only the first failure is announced in the room; one event
//! of theirs that decrypts clears the record.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::crypto::KeyWait;

/// The wait after a sender's first missing key: long enough for a key that trails its event
/// (a legitimate new session), short enough that a flood cannot hold the room for long.
const SECOND_CHANCE_WAIT: Duration = Duration::from_secs(1);
/// (room, sender) pairs remembered; over it the record is emptied (a flood then costs one
/// full wait per sender again, never memory).
const MAX_SENDERS: usize = 10_000;
/// Sessions remembered per sender; further ones count as strikes but are not listed.
const MAX_SESSIONS_PER_SENDER: usize = 64;

#[derive(Default)]
struct Strikes {
    /// Missing-key failures since the sender's last readable event.
    count: u32,
    /// Sessions whose key is known not to have arrived: their events are not waited for.
    sessions: HashSet<String>,
}

/// What the engine knows of senders whose keys did not arrive, per room.
#[derive(Default)]
pub(crate) struct KeyStrikes {
    by_sender: Mutex<HashMap<(String, String), Strikes>>,
}

impl KeyStrikes {
    /// How long an event from `sender` in `room`, encrypted with `session`, may wait for its key.
    pub(crate) fn wait_for(&self, room: &str, sender: &str, session: &str) -> KeyWait {
        let map = self.by_sender.lock().expect("key strikes");
        match map.get(&(room.to_owned(), sender.to_owned())) {
            None => KeyWait::Full,
            Some(s) if s.sessions.contains(session) || s.count >= 2 => {
                KeyWait::AtMost(Duration::ZERO)
            }
            Some(_) => KeyWait::AtMost(SECOND_CHANCE_WAIT),
        }
    }

    /// Records that the key of `session` did not arrive. Returns whether this is the
    /// sender's first failure since their last readable event (the one the room is told of).
    pub(crate) fn missed(&self, room: &str, sender: &str, session: &str) -> bool {
        let mut map = self.by_sender.lock().expect("key strikes");
        if map.len() >= MAX_SENDERS {
            map.clear();
        }
        let strikes = map.entry((room.to_owned(), sender.to_owned())).or_default();
        strikes.count = strikes.count.saturating_add(1);
        if strikes.sessions.len() < MAX_SESSIONS_PER_SENDER {
            strikes.sessions.insert(session.to_owned());
        }
        strikes.count == 1
    }

    /// Records that an event from `sender` in `room` decrypted: their keys arrive again.
    pub(crate) fn decrypted(&self, room: &str, sender: &str) {
        let mut map = self.by_sender.lock().expect("key strikes");
        if !map.is_empty() {
            map.remove(&(room.to_owned(), sender.to_owned()));
        }
    }

    /// Senders currently remembered (for the cache gauge).
    pub(crate) fn len(&self) -> usize {
        self.by_sender.lock().expect("key strikes").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_waits_in_full_once_then_briefly_then_not_at_all() {
        let s = KeyStrikes::default();
        assert_eq!(s.wait_for("!r", "@a", "s1"), KeyWait::Full);
        assert!(s.missed("!r", "@a", "s1"), "the first failure is announced");
        assert_eq!(
            s.wait_for("!r", "@a", "s1"),
            KeyWait::AtMost(Duration::ZERO),
            "a session known to be missing is not waited for"
        );
        assert_eq!(
            s.wait_for("!r", "@a", "s2"),
            KeyWait::AtMost(SECOND_CHANCE_WAIT)
        );
        assert!(
            !s.missed("!r", "@a", "s2"),
            "later failures are not announced"
        );
        assert_eq!(
            s.wait_for("!r", "@a", "s3"),
            KeyWait::AtMost(Duration::ZERO)
        );
        // Others, and the same sender elsewhere, are unaffected.
        assert_eq!(s.wait_for("!r", "@b", "s1"), KeyWait::Full);
        assert_eq!(s.wait_for("!other", "@a", "s1"), KeyWait::Full);
    }

    #[test]
    fn a_readable_event_clears_the_record() {
        let s = KeyStrikes::default();
        s.missed("!r", "@a", "s1");
        s.missed("!r", "@a", "s2");
        s.decrypted("!r", "@a");
        assert_eq!(s.wait_for("!r", "@a", "s1"), KeyWait::Full);
        assert!(
            s.missed("!r", "@a", "s1"),
            "announced again after a success"
        );
    }

    #[test]
    fn the_record_never_grows_past_its_cap() {
        let s = KeyStrikes::default();
        for i in 0..MAX_SENDERS + 10 {
            s.missed("!r", &format!("@u{i}"), "s");
        }
        assert!(s.len() <= MAX_SENDERS);
    }
}
