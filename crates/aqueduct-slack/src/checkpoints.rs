//! Per-channel checkpoints: the newest bridged message of each channel and the threads that
//! were active lately, kept as the login's state so a catch-up after downtime knows where to
//! start and which old threads may have new replies. The same state holds what was bridged of
//! each channel's recent messages ([`RecentMessages`]), against which the catch-up finds the
//! edits, deletes and reactions made meanwhile.

use crate::recent::RecentMessages;
use aqueduct_connector::save_throttle::SaveThrottle;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};

/// Threads remembered per channel for the catch-up (each costs one call per catch-up).
const THREADS_PER_CHANNEL: usize = 20;

/// Orders Slack timestamps (`"1700000000.000100"`) exactly, unlike a float.
pub(crate) fn ts_order(ts: &str) -> (u64, u64) {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let micros = format!("{frac:0<6}");
    (
        secs.parse().unwrap_or(0),
        micros.get(..6).and_then(|m| m.parse().ok()).unwrap_or(0),
    )
}

/// The checkpoints of one login.
#[derive(Debug, Default)]
pub(crate) struct Checkpoints {
    /// Channel -> newest bridged message `ts`.
    newest: HashMap<String, String>,
    /// Channel -> roots of threads with bridged replies, most recent last.
    threads: HashMap<String, VecDeque<String>>,
    /// What was bridged of each channel's recent messages.
    recent: RecentMessages,
    /// Channel -> the Slack user (team, user) whose own conversation it is, for channels the
    /// bot cannot read.
    owners: HashMap<String, (String, String)>,
    /// When a save is due.
    saves: SaveThrottle,
}

/// What a catch-up of one channel starts from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChannelMark {
    /// The channel.
    pub channel: String,
    /// The newest message already bridged.
    pub newest: String,
    /// Threads that were active lately.
    pub threads: Vec<String>,
    /// For a user's own conversation (one the bot is not in): the Slack user (team, user)
    /// whose token reads it and whose login receives it.
    pub owner: Option<(String, String)>,
}

impl Checkpoints {
    /// Reads the login's saved state (empty for a new login or unreadable state).
    pub(crate) fn from_state(state: &Value) -> Self {
        Self {
            newest: serde_json::from_value(state["checkpoints"].clone()).unwrap_or_default(),
            threads: serde_json::from_value(state["threads"].clone()).unwrap_or_default(),
            recent: serde_json::from_value(state["recent"].clone()).unwrap_or_default(),
            owners: serde_json::from_value(state["owners"].clone()).unwrap_or_default(),
            saves: SaveThrottle::default(),
        }
    }

    /// Records that message `ts` of `channel` (in thread `thread_root`, if any) is bridged.
    /// Returns the state to save when it changed and the last save is a second old: a lagging
    /// checkpoint only makes the next catch-up fetch messages the engine already has and skips.
    pub(crate) fn advance(
        &mut self,
        channel: &str,
        ts: &str,
        thread_root: Option<&str>,
    ) -> Option<Value> {
        let mut changed = false;
        // A thread newly remembered is saved at once: losing it in a crash would let the
        // next catch-up miss the replies it gets meanwhile.
        let mut urgent = false;
        if let Some(root) = thread_root {
            let roots = self.threads.entry(channel.to_owned()).or_default();
            if roots.back().map(String::as_str) != Some(root) {
                roots.retain(|r| r != root);
                roots.push_back(root.to_owned());
                if roots.len() > THREADS_PER_CHANNEL {
                    roots.pop_front();
                }
                changed = true;
                urgent = true;
            }
        }
        let newer = self
            .newest
            .get(channel)
            .is_none_or(|old| ts_order(old) < ts_order(ts));
        if newer {
            self.newest.insert(channel.to_owned(), ts.to_owned());
            changed = true;
        }
        self.changed(changed, urgent)
    }

    /// Changes the remembered recent messages with `f` (which says whether it changed
    /// anything). Returns the state to save as [`Self::advance`] does, at once if `urgent`.
    pub(crate) fn note(
        &mut self,
        urgent: bool,
        f: impl FnOnce(&mut RecentMessages) -> bool,
    ) -> Option<Value> {
        let changed = f(&mut self.recent);
        self.changed(changed, urgent)
    }

    /// What was bridged of each channel's recent messages.
    pub(crate) fn recent(&self) -> &RecentMessages {
        &self.recent
    }

    fn changed(&mut self, changed: bool, urgent: bool) -> Option<Value> {
        if !self.saves.due(changed, urgent) {
            return None;
        }
        self.take_unsaved()
    }

    /// The state to save if anything changed since the last save (on disconnect, so a
    /// clean stop loses no checkpoint).
    pub(crate) fn take_unsaved(&mut self) -> Option<Value> {
        self.saves.take_unsaved().then(|| self.state())
    }

    /// Gives `channel` its first checkpoint, `ts`, unless it has one; returns the state to
    /// save when it changed.
    pub(crate) fn start(&mut self, channel: &str, ts: &str) -> Option<Value> {
        if self.newest.contains_key(channel) {
            return None;
        }
        self.newest.insert(channel.to_owned(), ts.to_owned());
        self.changed(true, true)
    }

    /// The state as saved.
    pub(crate) fn state(&self) -> Value {
        json!({
            "checkpoints": self.newest, "threads": self.threads, "recent": self.recent,
            "owners": self.owners,
        })
    }

    /// Where each known channel's catch-up starts.
    pub(crate) fn marks(&self) -> Vec<ChannelMark> {
        self.newest
            .iter()
            .map(|(channel, newest)| ChannelMark {
                channel: channel.clone(),
                newest: newest.clone(),
                threads: self
                    .threads
                    .get(channel)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default(),
                owner: self.owners.get(channel).cloned(),
            })
            .collect()
    }

    /// Records that `channel` is the own conversation of Slack user `owner` (team, user), read
    /// with their token. Returns the state to save (at once) when it changed.
    pub(crate) fn set_owner(&mut self, channel: &str, owner: (&str, &str)) -> Option<Value> {
        let owner = (owner.0.to_owned(), owner.1.to_owned());
        if self.owners.get(channel) == Some(&owner) {
            return None;
        }
        self.owners.insert(channel.to_owned(), owner);
        self.changed(true, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_exactly_where_floats_would_not() {
        assert!(ts_order("1700000000.000100") < ts_order("1700000000.000101"));
        assert!(ts_order("1700000000.999999") < ts_order("1700000001.000000"));
        assert_eq!(ts_order("1700000000.1"), (1_700_000_000, 100_000));
    }

    #[test]
    fn checkpoints_only_move_forward_and_survive_a_restart() {
        let mut cps = Checkpoints::default();
        let saved = cps
            .advance("C1", "1700000000.000200", None)
            .expect("first save");
        cps.advance("C1", "1700000000.000100", None);
        let again = Checkpoints::from_state(&saved);
        assert_eq!(
            again.marks(),
            vec![ChannelMark {
                channel: "C1".into(),
                newest: "1700000000.000200".into(),
                threads: vec![],
                owner: None,
            }]
        );
        assert_eq!(cps.marks()[0].newest, "1700000000.000200");
    }

    #[test]
    fn recent_threads_are_remembered_and_bounded() {
        let mut cps = Checkpoints::default();
        for i in 0..(THREADS_PER_CHANNEL + 5) {
            cps.advance(
                "C1",
                &format!("1700000100.{i:06}"),
                Some(&format!("1700000000.{i:06}")),
            );
        }
        cps.advance("C1", "1700000200.000000", Some("1700000000.000010"));
        let threads = &cps.marks()[0].threads;
        assert_eq!(threads.len(), THREADS_PER_CHANNEL);
        assert_eq!(
            threads.last().map(String::as_str),
            Some("1700000000.000010")
        );
        assert!(!threads.contains(&"1700000000.000000".to_owned()));
    }
}
