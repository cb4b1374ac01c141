//! What a room member may do in their room by its `m.room.power_levels`, for the bridge's own
//! decisions: Matrix lets anyone send an edit or a redaction of someone else's event (the
//! homeserver only declines to apply it), and an `@room` mention from anyone, so the bridge
//! must check the sender's power before it repeats them on a platform, where its login may
//! well have the power the Matrix user lacks.

use crate::bridge::Inner;
use crate::power_levels::level;
use serde_json::Value;

/// A room's power levels, as read from its `m.room.power_levels` state.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoomPower {
    /// The event's content; `None` when the room has none.
    content: Option<Value>,
}

impl RoomPower {
    /// Power levels from an event's content (`None`: the room has no such event).
    pub(crate) fn new(content: Option<Value>) -> Self {
        Self { content }
    }

    fn field(&self, name: &str, default: i64) -> i64 {
        self.content
            .as_ref()
            .and_then(|pl| pl.get(name))
            .and_then(level)
            .unwrap_or(default)
    }

    /// `user`'s level: their `users` entry, else `users_default` (0). Without a power-levels
    /// event the spec gives the room's creator 100 and everyone else 0; the creator is not
    /// known here, so everyone gets 0 (the cautious side).
    pub(crate) fn user_level(&self, user: &str) -> i64 {
        self.content
            .as_ref()
            .and_then(|pl| pl.get("users"))
            .and_then(|u| u.get(user))
            .and_then(level)
            .unwrap_or_else(|| self.field("users_default", 0))
    }

    /// Whether `user` may redact other people's events (`redact`, default 50).
    pub(crate) fn may_redact_others(&self, user: &str) -> bool {
        self.user_level(user) >= self.field("redact", 50)
    }

    /// Whether `user` may notify the whole room (`notifications.room`, default 50).
    pub(crate) fn may_ping_room(&self, user: &str) -> bool {
        let need = self
            .content
            .as_ref()
            .and_then(|pl| pl.get("notifications"))
            .and_then(|n| n.get("room"))
            .and_then(level)
            .unwrap_or(50);
        self.user_level(user) >= need
    }

    /// Whether `user` may change the room's state in general (`state_default`, default 50).
    pub(crate) fn may_change_state(&self, user: &str) -> bool {
        self.user_level(user) >= self.field("state_default", 50)
    }
}

impl Inner {
    /// The power levels of `room`, read from the homeserver each time (they change, and the
    /// decisions that need them are rare: edits and redactions of others, room pings, relay
    /// commands). A read failure is an error: deciding without them would open what they close.
    pub(crate) async fn room_power(&self, room: &str) -> crate::Result<RoomPower> {
        let content = self
            .matrix
            .get_state(room, "m.room.power_levels", "")
            .await?;
        Ok(RoomPower::new(content))
    }
}

/// Words that platforms read as a mention of everyone in a chat when they stand alone after
/// an `@`: Matrix's `@room`, Rocket.Chat's and others' `@all`/`@here`, Slack's (with
/// `link_names`) `@channel`/`@everyone`/`@here`.
const ROOM_PINGS: &[&str] = &["room", "all", "here", "channel", "everyone"];

/// U+2060 WORD JOINER: invisible, and it stops a converter or a platform from seeing `@all`.
const JOINER: char = '\u{2060}';

/// Returns `text` with every standalone `@room`-like word defused by an invisible joiner after
/// its `@`, so no converter or platform turns it into a mention of everyone. `@room:server`
/// (a user id) and `a@all.example` (an address) are not standalone and stay as they are.
pub(crate) fn defuse_room_pings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        prev = rest[..at].chars().last().or(prev);
        let after = &rest[at + 1..];
        let word_end = after
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(after.len(), |(i, _)| i);
        let word = &after[..word_end];
        let next = after[word_end..].chars().next();
        let standalone = !prev.is_some_and(|c| c.is_alphanumeric() || "_-.@:/".contains(c))
            && !next.is_some_and(|c| "_-:".contains(c))
            && ROOM_PINGS.iter().any(|p| p.eq_ignore_ascii_case(word));
        out.push('@');
        if standalone {
            out.push(JOINER);
        }
        prev = Some('@');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_come_from_users_then_users_default() {
        let p = RoomPower::new(Some(json!({
            "users": { "@mod:x": 50, "@admin:x": "100" },
            "users_default": 10,
            "notifications": { "room": 100 },
        })));
        assert_eq!(p.user_level("@admin:x"), 100);
        assert_eq!(p.user_level("@someone:x"), 10);
        assert!(p.may_redact_others("@mod:x"));
        assert!(!p.may_redact_others("@someone:x"));
        assert!(!p.may_ping_room("@mod:x"));
        assert!(p.may_ping_room("@admin:x"));
        assert!(p.may_change_state("@mod:x") && !p.may_change_state("@someone:x"));
    }

    #[test]
    fn defaults_need_a_moderator() {
        let p = RoomPower::new(Some(json!({ "users": { "@mod:x": 50 } })));
        assert!(p.may_ping_room("@mod:x") && p.may_redact_others("@mod:x"));
        assert!(!p.may_ping_room("@user:x") && !p.may_redact_others("@user:x"));
        // No power-levels event at all: nobody is known to have power.
        let none = RoomPower::new(None);
        assert!(!none.may_ping_room("@user:x") && !none.may_redact_others("@user:x"));
    }

    #[test]
    fn room_pings_are_defused_and_nothing_else() {
        let d = defuse_room_pings("hey @room, @ALL and @here! (@channel) @everyone");
        assert!(!d.contains("@room") && !d.contains("@ALL") && !d.contains("@here"));
        assert!(!d.contains("@channel") && !d.contains("@everyone"));
        assert_eq!(
            d.replace(JOINER, ""),
            "hey @room, @ALL and @here! (@channel) @everyone"
        );
        for kept in [
            "@room:server.org",
            "mail me@all.example",
            "@roomy @allison",
            "<a href=\"https://matrix.to/#/@room:hs\">x</a>",
        ] {
            assert_eq!(defuse_room_pings(kept), kept);
        }
        assert_eq!(
            defuse_room_pings("<p>@room</p>"),
            format!("<p>@{JOINER}room</p>")
        );
    }
}
