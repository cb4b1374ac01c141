//! Reading a room's `m.room.power_levels` to tell whether the bot may run a portal in it,
//! before it takes over a room it did not create.

use serde_json::Value;

/// What a portal's bot does in its room, and the power-levels field that governs each.
const ACTIONS: &[(&str, Requirement)] = &[
    ("invite the chat's members", Requirement::Field("invite", 0)),
    ("set the room name", Requirement::StateEvent("m.room.name")),
    (
        "set the room topic",
        Requirement::StateEvent("m.room.topic"),
    ),
    (
        "remove messages deleted in the chat",
        Requirement::Field("redact", 50),
    ),
];

enum Requirement {
    /// A top-level field, with its default when the event exists but lacks it.
    Field(&'static str, i64),
    /// A state event type: `events.<type>`, else `state_default`.
    StateEvent(&'static str),
}

/// The bot's power in a room compared with what running a portal there takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PowerCheck {
    /// The bot's power level.
    pub(crate) have: i64,
    /// The highest level any portal action needs.
    pub(crate) need: i64,
    /// The actions the bot may not do, in words.
    pub(crate) missing: Vec<&'static str>,
}

/// Power levels are integers, but old rooms may carry them as strings.
pub(crate) fn level(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Checks `user` against a room's power-levels content. `None` means the room has no such
/// event; the spec then sets every required level to 0, so nothing is missing.
pub(crate) fn check(content: Option<&Value>, user: &str) -> PowerCheck {
    let Some(pl) = content else {
        return PowerCheck {
            have: 0,
            need: 0,
            missing: Vec::new(),
        };
    };
    let field = |name: &str, default: i64| pl.get(name).and_then(level).unwrap_or(default);
    let have = pl
        .get("users")
        .and_then(|u| u.get(user))
        .and_then(level)
        .unwrap_or_else(|| field("users_default", 0));
    let state_default = field("state_default", 50);
    let mut need = i64::MIN;
    let mut missing = Vec::new();
    for (what, req) in ACTIONS {
        let required = match req {
            Requirement::Field(name, default) => field(name, *default),
            Requirement::StateEvent(ty) => pl
                .get("events")
                .and_then(|e| e.get(*ty))
                .and_then(level)
                .unwrap_or(state_default),
        };
        need = need.max(required);
        if have < required {
            missing.push(*what);
        }
    }
    PowerCheck {
        have,
        need,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_default_member_lacks_state_and_redact_power() {
        let pl = json!({ "users": { "@admin:x": 100 }, "users_default": 0 });
        let c = check(Some(&pl), "@bot:x");
        assert_eq!(c.have, 0);
        assert_eq!(c.need, 50);
        assert_eq!(
            c.missing,
            vec![
                "set the room name",
                "set the room topic",
                "remove messages deleted in the chat"
            ]
        );
    }

    #[test]
    fn a_moderator_may_do_everything_and_event_overrides_count() {
        let pl = json!({ "users": { "@bot:x": "50" }, "events": { "m.room.name": 75 } });
        let c = check(Some(&pl), "@bot:x");
        assert_eq!((c.have, c.need), (50, 75));
        assert_eq!(c.missing, vec!["set the room name"]);
        let pl = json!({ "users": { "@bot:x": 100 }, "events": { "m.room.name": 75 } });
        assert!(check(Some(&pl), "@bot:x").missing.is_empty());
    }

    #[test]
    fn no_power_levels_event_restricts_nothing() {
        assert!(check(None, "@bot:x").missing.is_empty());
    }
}
