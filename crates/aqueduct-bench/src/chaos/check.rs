//! The verdict on one lane of the chaos run: which of the numbered messages arrived, how
//! often, and in what order. Pure, so its rules are tested without a bridge.

use serde::Serialize;

/// What one lane (a platform and a direction) delivered.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LaneResult {
    /// `Slack -> Matrix`, `Matrix -> Rocket.Chat`, ...
    pub name: String,
    /// Messages sent, numbered `0..sent`.
    pub sent: usize,
    /// Distinct messages that arrived.
    pub arrived: usize,
    /// Numbers that never arrived.
    pub missing: Vec<usize>,
    /// Numbers that arrived more than once (each listed once).
    pub duplicated: Vec<usize>,
    /// Arrivals whose number is lower than one that arrived before it (first arrivals only).
    pub out_of_order: usize,
    /// Those arrivals' numbers, ascending.
    pub late: Vec<usize>,
    /// Arrivals whose number was never sent.
    pub unexpected: usize,
    /// Late arrivals (not in `late`) that the homeserver had already handed to the bridge
    /// after higher numbers: reordered by the homeserver, which the bridge cannot see (Synapse
    /// creates an appservice transaction as "service down" while its recoverer finishes,
    /// and sends it only at the next failure). Not a failure of the bridge.
    #[serde(default)]
    pub homeserver_reordered: Vec<usize>,
    /// Missing messages (not in `missing`) that the homeserver never handed to the bridge:
    /// the same Synapse race, when no later failure came to send the stranded transaction.
    #[serde(default)]
    pub homeserver_lost: Vec<usize>,
}

impl LaneResult {
    /// Every message exactly once, in order, nothing else.
    pub fn passed(&self) -> bool {
        self.arrived + self.homeserver_lost.len() == self.sent
            && self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.out_of_order == 0
            && self.unexpected == 0
    }
}

/// Judges a lane from the numbers of the messages that arrived, in arrival order.
pub fn judge(name: &str, sent: usize, arrivals: &[usize]) -> LaneResult {
    let mut seen = vec![0u32; sent];
    let (mut late, mut unexpected, mut highest) = (Vec::new(), 0, None::<usize>);
    for &n in arrivals {
        let Some(count) = seen.get_mut(n) else {
            unexpected += 1;
            continue;
        };
        *count += 1;
        if *count > 1 {
            continue;
        }
        if highest.is_some_and(|h| n < h) {
            late.push(n);
        }
        highest = highest.max(Some(n));
    }
    let numbers_where = |pred: fn(u32) -> bool| -> Vec<usize> {
        seen.iter()
            .enumerate()
            .filter(|(_, c)| pred(**c))
            .map(|(n, _)| n)
            .collect()
    };
    LaneResult {
        name: name.to_owned(),
        sent,
        arrived: seen.iter().filter(|c| **c > 0).count(),
        missing: numbers_where(|c| c == 0),
        duplicated: numbers_where(|c| c > 1),
        out_of_order: late.len(),
        late: {
            late.sort_unstable();
            late
        },
        unexpected,
        homeserver_reordered: Vec::new(),
        homeserver_lost: Vec::new(),
    }
}

/// Excuses, in a lane's verdict, the missing messages the homeserver never delivered to the
/// bridge: `never_delivered` says so of a number (its event is in no transaction the bridge
/// stored). The bridge cannot bridge what it was never given.
pub fn excuse_homeserver_losses(result: &mut LaneResult, never_delivered: impl Fn(usize) -> bool) {
    let (excused, still): (Vec<usize>, Vec<usize>) =
        result.missing.iter().partition(|&&n| never_delivered(n));
    result.missing = still;
    result.homeserver_lost = excused;
}

/// Excuses, in a lane's verdict, the late arrivals that the homeserver delivered late:
/// `delivered` holds the lane's numbers in the order the homeserver handed them to the bridge
/// (first delivery each). The bridge answers for keeping that order, so an arrival counts as
/// out of order only if it also came after one delivered after it. Without a delivery for
/// every arrival (a log that lost lines), nothing is excused.
pub fn excuse_homeserver_order(result: &mut LaneResult, arrivals: &[usize], delivered: &[usize]) {
    let mut rank = vec![None; result.sent];
    for (position, &n) in delivered.iter().enumerate() {
        if let Some(r @ None) = rank.get_mut(n) {
            *r = Some(position);
        }
    }
    let mut first = vec![false; result.sent];
    let mut bridge_late = Vec::new();
    let mut highest = None::<usize>;
    for &n in arrivals {
        let Some(seen) = first.get_mut(n) else {
            continue;
        };
        if std::mem::replace(seen, true) {
            continue;
        }
        let Some(r) = rank[n] else {
            return; // delivered unknown: judge by the numbers alone
        };
        if highest.is_some_and(|h| r < h) {
            bridge_late.push(n);
        }
        highest = highest.max(Some(r));
    }
    let (still, excused): (Vec<usize>, Vec<usize>) =
        result.late.iter().partition(|n| bridge_late.contains(n));
    result.out_of_order = still.len();
    result.late = still;
    result.homeserver_reordered = excused;
}

/// The message number in `text` after `tag` (`ms-17` with tag `ms-` is 17), wherever the
/// tag stands (a relay may put the sender's name before it).
pub fn number_after(text: &str, tag: &str) -> Option<usize> {
    let start = text.find(tag)? + tag.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_once_in_order_passes() {
        let r = judge("lane", 4, &[0, 1, 2, 3]);
        assert!(r.passed(), "{r:?}");
        assert_eq!(r.arrived, 4);
    }

    #[test]
    fn loss_duplicates_reordering_and_strangers_each_fail() {
        let lost = judge("lane", 3, &[0, 2]);
        assert_eq!(lost.missing, vec![1]);
        assert!(!lost.passed());
        let doubled = judge("lane", 3, &[0, 1, 1, 2]);
        assert_eq!(doubled.duplicated, vec![1]);
        assert!(!doubled.passed());
        let swapped = judge("lane", 3, &[0, 2, 1]);
        assert_eq!(swapped.out_of_order, 1);
        assert_eq!(swapped.late, vec![1]);
        assert!(!swapped.passed());
        let stranger = judge("lane", 2, &[0, 1, 9]);
        assert_eq!(stranger.unexpected, 1);
        assert!(!stranger.passed());
    }

    #[test]
    fn a_late_duplicate_is_not_counted_as_reordering() {
        let r = judge("lane", 3, &[0, 1, 2, 1]);
        assert_eq!((r.out_of_order, r.duplicated.clone()), (0, vec![1]));
    }

    #[test]
    fn only_the_homeserver_s_own_reordering_is_excused() {
        // 1 arrived after 2, but the homeserver delivered it after 2: excused.
        let mut r = judge("lane", 4, &[0, 2, 1, 3]);
        excuse_homeserver_order(&mut r, &[0, 2, 1, 3], &[0, 2, 1, 3]);
        assert!(r.passed(), "{r:?}");
        assert_eq!(r.homeserver_reordered, vec![1]);
        // Delivered in order, arrived out of order: the bridge's fault.
        let mut r = judge("lane", 4, &[0, 2, 1, 3]);
        excuse_homeserver_order(&mut r, &[0, 2, 1, 3], &[0, 1, 2, 3]);
        assert_eq!(r.late, vec![1]);
        assert!(!r.passed());
        // A delivery the log does not show: nothing excused.
        let mut r = judge("lane", 4, &[0, 2, 1, 3]);
        excuse_homeserver_order(&mut r, &[0, 2, 1, 3], &[0, 2, 3]);
        assert_eq!(r.late, vec![1]);
    }

    #[test]
    fn only_messages_the_homeserver_never_delivered_are_excused_as_lost() {
        let mut r = judge("lane", 4, &[0, 1, 3]);
        excuse_homeserver_losses(&mut r, |n| n == 2);
        assert!(r.passed(), "{r:?}");
        assert_eq!(r.homeserver_lost, vec![2]);
        let mut r = judge("lane", 4, &[0, 1, 3]);
        excuse_homeserver_losses(&mut r, |_| false);
        assert_eq!(r.missing, vec![2]);
        assert!(!r.passed());
    }

    #[test]
    fn numbers_are_found_after_their_tag() {
        assert_eq!(number_after("ms-17", "ms-"), Some(17));
        assert_eq!(number_after("Alice: ms-3 tail", "ms-"), Some(3));
        assert_eq!(number_after("cs-3", "ms-"), None);
        assert_eq!(number_after("ms-", "ms-"), None);
    }
}
