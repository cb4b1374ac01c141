//! One read of a channel for all the Matrix messages replayed into it after a restart.
//!
//! A replayed message may have reached Slack before the bridge stopped, so it is looked for
//! among the channel's newest messages first ([`crate::earlier_posts`]). Reading the channel
//! once per replayed message made a backlog left at a crash drain at the rate Slack allows
//! `conversations.history` (Tier 3, about 50 a minute), and the portal's other direction
//! waited behind it: the full-size chaos run saw a Slack portal move about one message a
//! second for its whole backlog after each SIGKILL.
//!
//! A message this process has not tried to post was, if ever, posted by an earlier run, so
//! before this process started: any read of the channel this process made shows it (within
//! the newest [`crate::earlier_posts::LOOK_BACK`] messages at the time of the read, which an
//! earlier read covers at least as well as a later one). So the first read of a channel is
//! kept and answers every later replay of a message not tried in this run. A message tried
//! in this run (a retry after a lost answer) may have been posted after that read, so it is
//! always looked for afresh.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Matrix events whose posts this run remembers having tried.
const TRIED: usize = 10_000;
/// Channels whose first read is kept.
const CHANNELS: usize = 1_000;

/// Shared by the clones of one Slack client.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReplayLookups(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    tried: HashSet<String>,
    tried_order: VecDeque<String>,
    /// Per channel: the Matrix event id and `ts` of each of the bridge's posts the first read
    /// found.
    reads: HashMap<String, Vec<(String, String)>>,
}

impl ReplayLookups {
    /// Notes that this run is about to post Matrix event `event_id`.
    pub(crate) fn trying(&self, event_id: &str) {
        let mut inner = self.0.lock().expect("replay lookups");
        if inner.tried.insert(event_id.to_owned()) {
            inner.tried_order.push_back(event_id.to_owned());
        }
        while inner.tried_order.len() > TRIED {
            if let Some(old) = inner.tried_order.pop_front() {
                inner.tried.remove(&old);
            }
        }
    }

    /// What a kept read of `channel` says of `event_id`: `None` when there is no read to
    /// trust for it (none kept, or this run tried to post it); `Some(None)` when the read
    /// shows no post of it; `Some(Some(ts))` when it shows one.
    pub(crate) fn answer(&self, channel: &str, event_id: &str) -> Option<Option<String>> {
        let inner = self.0.lock().expect("replay lookups");
        if inner.tried.contains(event_id) {
            return None;
        }
        let read = inner.reads.get(channel)?;
        Some(
            read.iter()
                .find(|(event, _)| event == event_id)
                .map(|(_, ts)| ts.clone()),
        )
    }

    /// Keeps the read of `channel` (the bridge's posts in it: event id and `ts`), unless one
    /// is kept already.
    pub(crate) fn keep(&self, channel: &str, posts: Vec<(String, String)>) {
        let mut inner = self.0.lock().expect("replay lookups");
        if inner.reads.len() >= CHANNELS && !inner.reads.contains_key(channel) {
            inner.reads.clear();
        }
        inner.reads.entry(channel.to_owned()).or_insert(posts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_read_answers_replays_of_earlier_runs_only() {
        let lookups = ReplayLookups::default();
        assert_eq!(lookups.answer("C1", "$a"), None, "nothing read yet");
        lookups.keep("C1", vec![("$a".into(), "1.000001".into())]);
        assert_eq!(lookups.answer("C1", "$a"), Some(Some("1.000001".into())));
        assert_eq!(lookups.answer("C1", "$b"), Some(None), "not posted before");
        assert_eq!(
            lookups.answer("C2", "$a"),
            None,
            "another channel is read afresh"
        );
        lookups.trying("$b");
        assert_eq!(
            lookups.answer("C1", "$b"),
            None,
            "tried in this run: perhaps posted after the read"
        );
        lookups.keep("C1", vec![]);
        assert_eq!(
            lookups.answer("C1", "$a"),
            Some(Some("1.000001".into())),
            "the first read is kept"
        );
    }
}
