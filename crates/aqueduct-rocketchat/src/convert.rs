//! Rocket.Chat messages (as the realtime API pushes them and the history endpoints return
//! them) to neutral changes, by comparing with what was seen before. Pure functions of the
//! JSON, so they are tested without a network; user names in reactions are resolved by the
//! caller.

use crate::iso_time;
use crate::seen::{Reactions, SeenMessage};
use aqueduct_core::event::{MembershipChange, MessageContent, RemoteEventKind, TextKind};
use aqueduct_core::ids::RemoteMessageId;
use serde_json::Value;

/// Who caused a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    /// A user by id, with a display name when the message carries one.
    Id(String, Option<String>),
    /// A user known only by username (reactions list usernames).
    Username(String),
}

/// One change found in a pushed message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    /// Who made it.
    pub who: Who,
    /// What it is.
    pub kind: RemoteEventKind,
}

/// The message's state, to remember.
pub(crate) fn seen_state(m: &Value) -> SeenMessage {
    SeenMessage {
        author: m["u"]["_id"].as_str().unwrap_or_default().to_owned(),
        text: crate::seen::text_digest(m["msg"].as_str().unwrap_or_default()),
        reactions: reactions(m),
        deleted: m["t"] == "rm",
    }
}

/// The message's reactions: shortcode -> usernames.
pub(crate) fn reactions(m: &Value) -> Reactions {
    m["reactions"]
        .as_object()
        .map(|r| {
            r.iter()
                .map(|(emoji, v)| {
                    let users = v["usernames"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect();
                    (emoji.clone(), users)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The message's time in milliseconds.
pub(crate) fn ts_millis(m: &Value) -> i64 {
    iso_time::millis(&m["ts"]).unwrap_or(0)
}

/// Gives each change to message `m` the time it was made: an edit its `editedAt`, a
/// reaction the message's `_updatedAt`. The engine derives the Matrix transaction of an edit
/// or reaction from it, so a later change that happens to look the same (the same text
/// again, a reaction added back) is not taken for a retry of the earlier one, while the same
/// change received twice (by two logins) still is.
pub(crate) fn retime(m: &Value, events: &mut [aqueduct_core::event::RemoteEvent]) {
    for e in events {
        let at = match e.kind {
            RemoteEventKind::Edit { .. } => iso_time::millis(&m["editedAt"]),
            RemoteEventKind::ReactionAdd { .. } | RemoteEventKind::ReactionRemove { .. } => {
                iso_time::millis(&m["_updatedAt"])
            }
            _ => None,
        };
        if let Some(at) = at {
            e.timestamp_ms = at;
        }
    }
}

/// A reaction shortcode (`:tada:`) as Unicode where known, else kept as `:name:`.
pub(crate) fn reaction_key(shortcode: &str) -> String {
    let name = shortcode.trim_matches(':');
    aqueduct_format::rocketchat::emoji::unicode_for(name).unwrap_or_else(|| format!(":{name}:"))
}

/// Finds what changed in `m` since `before` (`None`: never seen). `content` converts a text
/// into message content.
pub(crate) fn changes(
    m: &Value,
    before: Option<&SeenMessage>,
    content: &dyn Fn(&Value) -> MessageContent,
) -> Vec<Change> {
    let Some(id) = m["_id"].as_str() else {
        return Vec::new();
    };
    let target = RemoteMessageId::new(id);
    let author = Who::Id(
        m["u"]["_id"].as_str().unwrap_or_default().to_owned(),
        m["alias"]
            .as_str()
            .or(m["u"]["name"].as_str())
            .map(str::to_owned),
    );
    let now = seen_state(m);
    let mut out = Vec::new();
    match before {
        Some(b) if b.deleted => return out,
        Some(_) if now.deleted => {
            out.push(Change {
                who: author,
                kind: RemoteEventKind::Delete { target },
            });
            return out;
        }
        Some(b) => {
            if b.text != now.text {
                out.push(Change {
                    who: Who::Id(
                        m["editedBy"]["_id"]
                            .as_str()
                            .unwrap_or(&now.author)
                            .to_owned(),
                        None,
                    ),
                    kind: RemoteEventKind::Edit {
                        target: target.clone(),
                        content: content(m),
                    },
                });
            }
            reaction_changes(&b.reactions, &now.reactions, &target, &mut out);
        }
        None => {
            if now.deleted {
                return out;
            }
            if let Some(kind) = system_message(m) {
                out.push(Change { who: author, kind });
                return out;
            }
            out.push(Change {
                who: author,
                kind: RemoteEventKind::Message {
                    id: target.clone(),
                    content: content(m),
                    reply_to: crate::quote::quoted_id(m).map(RemoteMessageId::new),
                    thread_root: m["tmid"].as_str().map(RemoteMessageId::new),
                },
            });
            reaction_changes(&Reactions::new(), &now.reactions, &target, &mut out);
        }
    }
    out
}

fn reaction_changes(
    before: &Reactions,
    now: &Reactions,
    target: &RemoteMessageId,
    out: &mut Vec<Change>,
) {
    // Rocket.Chat lists every user of every reaction: no list is partial.
    for c in aqueduct_connector::recent::reaction_changes(before, now, |_| false) {
        let key = reaction_key(&c.key);
        out.push(Change {
            who: Who::Username(c.user),
            kind: if c.added {
                RemoteEventKind::ReactionAdd {
                    target: target.clone(),
                    key,
                    custom: None,
                }
            } else {
                RemoteEventKind::ReactionRemove {
                    target: target.clone(),
                    key,
                }
            },
        });
    }
}

/// Marks a membership's user given by username (resolved to a user id by the caller).
pub(crate) const BY_USERNAME: &str = "username:";

/// System messages (`t` set) the bridge carries: joins, leaves, topic and name changes.
/// Other system messages are not bridged.
fn system_message(m: &Value) -> Option<RemoteEventKind> {
    let t = m["t"].as_str()?;
    let user = || aqueduct_core::ids::RemoteUserId::new(m["u"]["_id"].as_str().unwrap_or_default());
    // `au`/`ru` (added, removed by someone) carry the member's username as their text; the
    // author is whoever added or removed them.
    let subject = || {
        aqueduct_core::ids::RemoteUserId::new(format!(
            "{BY_USERNAME}{}",
            m["msg"].as_str().unwrap_or_default()
        ))
    };
    Some(match t {
        "uj" | "ujt" => RemoteEventKind::Membership {
            user: user(),
            change: MembershipChange::Join,
        },
        "au" => RemoteEventKind::Membership {
            user: subject(),
            change: MembershipChange::Join,
        },
        "ul" | "ult" => RemoteEventKind::Membership {
            user: user(),
            change: MembershipChange::Leave,
        },
        "ru" => RemoteEventKind::Membership {
            user: subject(),
            change: MembershipChange::Leave,
        },
        "room_changed_topic" => RemoteEventKind::ChatInfoChange {
            name: None,
            topic: m["msg"].as_str().map(str::to_owned),
        },
        "r" => RemoteEventKind::ChatInfoChange {
            name: m["msg"].as_str().map(str::to_owned),
            topic: None,
        },
        // Anything else with a type is a system notice or an unknown kind: bridged as a
        // notice so nothing disappears silently.
        _ => RemoteEventKind::Message {
            id: RemoteMessageId::new(m["_id"].as_str()?),
            content: MessageContent {
                kind: TextKind::Notice,
                body: format!(
                    "[Rocket.Chat event {t}] {}",
                    m["msg"].as_str().unwrap_or_default()
                ),
                ..MessageContent::default()
            },
            reply_to: None,
            thread_root: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(m: &Value) -> MessageContent {
        MessageContent::text(m["msg"].as_str().unwrap_or_default())
    }

    fn msg(text: &str, reactions: Value) -> Value {
        json!({"_id": "M1", "rid": "R1", "msg": text, "ts": {"$date": 1000}, "u": {"_id": "U1", "username": "bob", "name": "Bob"}, "reactions": reactions})
    }

    #[test]
    fn new_messages_edits_and_reactions_are_told_apart() {
        let first = msg("hi", json!({}));
        let c = changes(&first, None, &text);
        assert!(
            matches!(&c[..], [Change { kind: RemoteEventKind::Message { content, thread_root: None, .. }, who: Who::Id(u, Some(n)) }] if content.body == "hi" && u == "U1" && n == "Bob")
        );
        let seen = seen_state(&first);
        assert!(
            changes(&first, Some(&seen), &text).is_empty(),
            "an echo is no change"
        );
        let edited = msg("hi!", json!({":tada:": {"usernames": ["alice"]}}));
        let c = changes(&edited, Some(&seen), &text);
        assert!(
            matches!(&c[0].kind, RemoteEventKind::Edit { content, .. } if content.body == "hi!")
        );
        assert!(
            matches!(&c[1], Change { who: Who::Username(u), kind: RemoteEventKind::ReactionAdd { key, .. } } if u == "alice" && key == "🎉")
        );
        let unreacted = msg("hi!", json!({}));
        let c = changes(&unreacted, Some(&seen_state(&edited)), &text);
        assert!(matches!(
            &c[..],
            [Change {
                kind: RemoteEventKind::ReactionRemove { .. },
                ..
            }]
        ));
    }

    #[test]
    fn thread_replies_system_messages_and_deleted_status() {
        let mut reply = msg("in thread", json!({}));
        reply["tmid"] = json!("ROOT");
        let c = changes(&reply, None, &text);
        assert!(
            matches!(&c[0].kind, RemoteEventKind::Message { thread_root: Some(r), .. } if r.as_str() == "ROOT")
        );
        let mut joined = msg("bob", json!({}));
        joined["t"] = json!("uj");
        assert!(matches!(
            &changes(&joined, None, &text)[0].kind,
            RemoteEventKind::Membership {
                change: MembershipChange::Join,
                ..
            }
        ));
        let plain = msg("x", json!({}));
        let mut removed = plain.clone();
        removed["t"] = json!("rm");
        let c = changes(&removed, Some(&seen_state(&plain)), &text);
        assert!(matches!(
            &c[..],
            [Change {
                kind: RemoteEventKind::Delete { .. },
                ..
            }]
        ));
    }
}
