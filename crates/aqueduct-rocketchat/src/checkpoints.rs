//! Per-room checkpoints: the time of the newest message of each room that is in Matrix, kept
//! as the login's state so a catch-up after a gap knows where to start.

use aqueduct_connector::save_throttle::SaveThrottle;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One room's checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RoomMark {
    /// The room type (`c` channel, `p` private group, `d` direct), which picks the history
    /// endpoint.
    pub t: String,
    /// Time of the newest message bridged, in milliseconds since the epoch.
    pub ts: i64,
}

/// The checkpoints of one login.
#[derive(Debug, Default)]
pub(crate) struct Checkpoints {
    rooms: BTreeMap<String, RoomMark>,
    /// Every change (edit, reaction, delete) made before this time, in milliseconds, reached
    /// the login; the catch-up asks `chat.syncMessages` for changes since then.
    synced_until: Option<i64>,
    /// When a save is due.
    saves: SaveThrottle,
}

impl Checkpoints {
    /// Reads the login's saved state (empty for a new login or unreadable state).
    pub(crate) fn from_state(state: &Value) -> Self {
        Self {
            rooms: serde_json::from_value(state["rooms"].clone()).unwrap_or_default(),
            synced_until: state["synced_until"].as_i64(),
            ..Self::default()
        }
    }

    /// Records that the message of `room` sent at `ts` is in Matrix. Returns the state to
    /// save when it moved and the last save is a second old: a lagging checkpoint only makes
    /// the next catch-up fetch messages the engine already has and skips.
    pub(crate) fn advance(&mut self, room: &str, t: &str, ts: i64) -> Option<Value> {
        let mark = self.rooms.entry(room.to_owned()).or_insert(RoomMark {
            t: t.to_owned(),
            ts: i64::MIN,
        });
        if mark.ts >= ts {
            return None;
        }
        let first = mark.ts == i64::MIN;
        mark.ts = ts;
        // A room's first checkpoint is saved at once: without it a restart would not catch
        // the room up at all.
        if !self.saves.due(true, first) {
            return None;
        }
        self.take_unsaved()
    }

    /// The state to save if anything changed since the last save.
    pub(crate) fn take_unsaved(&mut self) -> Option<Value> {
        self.saves
            .take_unsaved()
            .then(|| json!({ "rooms": self.rooms, "synced_until": self.synced_until }))
    }

    /// Notes that something else kept with the checkpoints changed (the seen messages);
    /// returns the state to save when the last save is a second old.
    pub(crate) fn touch(&mut self) -> Option<Value> {
        if !self.saves.due(true, false) {
            return None;
        }
        self.take_unsaved()
    }

    /// The state to save now, changed or not (when the login stops).
    pub(crate) fn take_all(&mut self) -> Value {
        self.saves.due(true, true);
        self.take_unsaved().unwrap_or_default()
    }

    /// Moves [`Checkpoints::synced_until`] forward to `ts`.
    pub(crate) fn synced(&mut self, ts: i64) {
        if self.synced_until.is_none_or(|s| s < ts) {
            self.synced_until = Some(ts);
        }
    }

    /// Since when changes may have been missed; `None` when the login never kept any.
    pub(crate) fn synced_until(&self) -> Option<i64> {
        self.synced_until
    }

    /// Gives `room` its first checkpoint, `ts`, unless it has one; returns the state to save
    /// when it changed.
    pub(crate) fn start(&mut self, room: &str, t: &str, ts: i64) -> Option<Value> {
        if self.rooms.contains_key(room) {
            return None;
        }
        self.rooms.insert(
            room.to_owned(),
            RoomMark {
                t: t.to_owned(),
                ts,
            },
        );
        self.saves.due(true, true);
        self.take_unsaved()
    }

    /// Where each known room's catch-up starts.
    pub(crate) fn marks(&self) -> Vec<(String, RoomMark)> {
        self.rooms
            .iter()
            .map(|(r, m)| (r.clone(), m.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_only_move_forward_and_survive_a_restart() {
        let mut cps = Checkpoints::default();
        let saved = cps.advance("R1", "c", 200).expect("first mark is saved");
        assert_eq!(cps.advance("R1", "c", 100), None);
        let again = Checkpoints::from_state(&saved);
        assert_eq!(
            again.marks(),
            vec![(
                "R1".to_owned(),
                RoomMark {
                    t: "c".into(),
                    ts: 200
                }
            )]
        );
        cps.advance("R1", "c", 300);
        assert_eq!(cps.take_unsaved().unwrap()["rooms"]["R1"]["ts"], 300);
        assert_eq!(cps.take_unsaved(), None);
    }

    #[test]
    fn synced_until_only_moves_forward_and_is_saved() {
        let mut cps = Checkpoints::default();
        assert_eq!(cps.synced_until(), None);
        cps.synced(500);
        cps.synced(400);
        assert_eq!(cps.synced_until(), Some(500));
        let state = cps.take_all();
        assert_eq!(Checkpoints::from_state(&state).synced_until(), Some(500));
        assert!(cps.touch().is_none(), "saved a moment ago");
    }
}
