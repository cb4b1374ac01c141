//! Slack events to neutral remote events. Pure functions of the event JSON plus lookups the
//! caller provides, so they are tested without a network.

use aqueduct_core::event::{
    MentionedChat, MentionedUser, Mentions, MessageContent, RemoteEvent, RemoteEventKind,
    RemoteSender,
};
use aqueduct_core::ids::{LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_format::slack::{ChannelRef, mrkdwn_to_matrix, rich_text_to_matrix};
use serde_json::Value;
use std::collections::HashMap;

/// What conversion needs to know about the surroundings.
pub(crate) struct Context<'a> {
    /// The team the events come from, to key users of Slack Connect by team.
    pub team: &'a str,
    /// Our own bot's ids, to drop echoes of what the bridge posted.
    pub bot_user: &'a str,
    /// Our bot id (`B...`).
    pub bot_id: Option<&'a str>,
    /// The login receiving the events (for DMs, which are per login).
    pub login: &'a LoginId,
    /// Ghost Matrix id of a Slack user, for mention pills.
    pub matrix_id: &'a dyn Fn(&RemoteUserId) -> String,
    /// Matrix rooms of bridged channels the event names, for links to them.
    pub channel_rooms: &'a HashMap<String, String>,
    /// Names of the users the event mentions, by Slack user id, for the text of their
    /// mention pills (a user missing here is shown by id).
    pub user_names: &'a HashMap<String, String>,
}

/// Adds the channel ids that `channel` elements of `rich_text` blocks name to `out`, each once.
pub(crate) fn block_channels(blocks: &Value, out: &mut Vec<String>) {
    block_element_ids(blocks, "channel", "channel_id", out);
}

/// Adds the ids that mrkdwn mentions opened by `opening` (`<@`, `<#`) name in `text` to
/// `out`, each once.
pub(crate) fn mentioned_ids(text: &str, opening: &str, out: &mut Vec<String>) {
    for (at, _) in text.match_indices(opening) {
        let id: String = text[at + opening.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !id.is_empty() && !out.contains(&id) {
            out.push(id);
        }
    }
}

/// Adds the ids that elements of type `kind` in `rich_text` blocks carry in `id_field` to
/// `out`, each once. (The JSON parser's depth limit bounds the recursion.)
pub(crate) fn block_element_ids(blocks: &Value, kind: &str, id_field: &str, out: &mut Vec<String>) {
    match blocks {
        Value::Array(items) => items
            .iter()
            .for_each(|v| block_element_ids(v, kind, id_field, out)),
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some(kind)
                && let Some(id) = o.get(id_field).and_then(Value::as_str)
                && !out.iter().any(|c| c == id)
            {
                out.push(id.to_owned());
            }
            o.values()
                .for_each(|v| block_element_ids(v, kind, id_field, out));
        }
        _ => {}
    }
}

/// The channel ids that `<#C...>` mentions in mrkdwn `text` name, each once.
pub(crate) fn mentioned_channels(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    mentioned_ids(text, "<#", &mut out);
    out
}

/// A Slack user's remote id: team and user, so Slack Connect users from other teams differ.
pub(crate) fn user_id(team: &str, user: &str) -> RemoteUserId {
    RemoteUserId::new(format!("{team}-{user}"))
}

/// The Slack user part of a remote user id.
pub(crate) fn slack_user(id: &RemoteUserId) -> &str {
    id.as_str().split_once('-').map_or(id.as_str(), |(_, u)| u)
}

/// A message's remote id is its channel and `ts`; only the `ts` is needed with the portal.
pub(crate) fn message_id(ts: &str) -> RemoteMessageId {
    RemoteMessageId::new(ts)
}

/// Milliseconds from a Slack `ts` ("1700000000.000100").
pub(crate) fn ts_millis(ts: &str) -> i64 {
    ts.parse::<f64>().map(|s| (s * 1000.0) as i64).unwrap_or(0)
}

fn is_echo(ev: &Value, cx: &Context<'_>) -> bool {
    ev["user"].as_str() == Some(cx.bot_user)
        || (cx.bot_id.is_some() && ev["bot_id"].as_str() == cx.bot_id)
}

/// Converts a message (its `rich_text` blocks where it has them, which carry the formatting
/// exactly, else its mrkdwn `text`) into neutral content with mentions.
pub(crate) fn content(message: &Value, cx: &Context<'_>) -> MessageContent {
    let text = message["text"].as_str().unwrap_or_default();
    let team = cx.team.to_owned();
    let user = |u: &str| {
        let id = user_id(&team, u);
        let name = cx
            .user_names
            .get(u)
            .cloned()
            .unwrap_or_else(|| u.to_owned());
        Some(((cx.matrix_id)(&id), name))
    };
    let channel = |id: &str| {
        Some(ChannelRef {
            name: None,
            matrix_room: cx.channel_rooms.get(id).cloned(),
        })
    };
    let converted = rich_text_to_matrix(&message["blocks"], &user, &channel)
        .unwrap_or_else(|| mrkdwn_to_matrix(text, &user, &channel));
    MessageContent {
        body: converted.body,
        html: converted.html,
        mentions: Mentions {
            users: converted
                .mentioned_users
                .iter()
                .map(|u| {
                    let id = user_id(cx.team, u);
                    MentionedUser {
                        matrix_id: (cx.matrix_id)(&id),
                        remote_id: Some(id),
                    }
                })
                .collect(),
            room: converted.room_mention,
            chats: mentioned_channels(text)
                .into_iter()
                .filter_map(|c| {
                    cx.channel_rooms.get(&c).map(|room| MentionedChat {
                        matrix_room: room.clone(),
                        chat: RemoteChatId::new(c),
                    })
                })
                .collect(),
        },
        ..Default::default()
    }
}

/// Files a message carries, still to be downloaded: (name, mime, private URL).
pub(crate) fn files(ev: &Value) -> Vec<(String, String, String)> {
    ev["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter_map(|f| {
                    Some((
                        f["name"].as_str().unwrap_or("file").to_owned(),
                        f["mimetype"]
                            .as_str()
                            .unwrap_or("application/octet-stream")
                            .to_owned(),
                        f["url_private_download"]
                            .as_str()
                            .or(f["url_private"].as_str())?
                            .to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Converts one Events API `event`. `None` for events the bridge does not carry or its own
/// echoes. Files are left to the caller (they need downloading).
pub(crate) fn event(ev: &Value, cx: &Context<'_>) -> Option<RemoteEvent> {
    let kind = ev["type"].as_str()?;
    let channel = ev["channel"].as_str().or(ev["item"]["channel"].as_str())?;
    let receiver = (ev["channel_type"].as_str() == Some("im")).then(|| cx.login.clone());
    // Slack Connect: users of other workspaces carry their own team, and become ghosts
    // keyed by it.
    let team = ev["user_team"]
        .as_str()
        .or(ev["message"]["user_team"].as_str())
        .unwrap_or(cx.team);
    let sender_user = |u: &str| RemoteSender {
        user: user_id(team, u),
        is_from_me: false,
        display_name: None,
    };
    let (sender, ts, kind) = match (kind, ev["subtype"].as_str()) {
        (
            "message",
            None
            | Some("thread_broadcast")
            | Some("file_share")
            | Some("bot_message")
            | Some("me_message"),
        ) => {
            if is_echo(ev, cx) {
                return None;
            }
            let user = ev["user"].as_str().or(ev["bot_id"].as_str())?;
            let ts = ev["ts"].as_str()?;
            let thread = ev["thread_ts"].as_str().filter(|t| *t != ts);
            let mut content = content(ev, cx);
            if ev["subtype"].as_str() == Some("me_message") {
                content.kind = aqueduct_core::event::TextKind::Emote;
            }
            let mut sender = sender_user(user);
            sender.display_name = ev["username"].as_str().map(str::to_owned);
            (
                sender,
                ts,
                RemoteEventKind::Message {
                    id: message_id(ts),
                    content,
                    reply_to: None,
                    thread_root: thread.map(message_id),
                },
            )
        }
        ("message", Some("message_changed")) => {
            let m = &ev["message"];
            if is_echo(m, cx) || m["text"] == ev["previous_message"]["text"] {
                return None; // our own edit, or an unfurl that changed no text
            }
            let user = m["user"].as_str()?;
            (
                sender_user(user),
                ev["ts"].as_str()?,
                RemoteEventKind::Edit {
                    target: message_id(m["ts"].as_str()?),
                    content: content(m, cx),
                },
            )
        }
        ("message", Some("message_deleted")) => {
            let prev = &ev["previous_message"];
            if is_echo(prev, cx) {
                return None;
            }
            let user = prev["user"].as_str().unwrap_or("USLACKBOT");
            (
                sender_user(user),
                ev["ts"].as_str()?,
                RemoteEventKind::Delete {
                    target: message_id(ev["deleted_ts"].as_str()?),
                },
            )
        }
        ("message", Some("channel_topic")) => (
            sender_user(ev["user"].as_str()?),
            ev["ts"].as_str()?,
            RemoteEventKind::ChatInfoChange {
                name: None,
                topic: ev["topic"].as_str().map(str::to_owned),
            },
        ),
        ("message", Some("channel_name")) => (
            sender_user(ev["user"].as_str()?),
            ev["ts"].as_str()?,
            RemoteEventKind::ChatInfoChange {
                name: ev["name"].as_str().map(str::to_owned),
                topic: None,
            },
        ),
        ("reaction_added" | "reaction_removed", _) => {
            if is_echo(ev, cx) {
                return None;
            }
            let name = ev["reaction"].as_str()?;
            let key =
                aqueduct_format::emoji::from_shortcode(name).unwrap_or_else(|| format!(":{name}:"));
            let target = message_id(ev["item"]["ts"].as_str()?);
            let kind = if kind == "reaction_added" {
                RemoteEventKind::ReactionAdd {
                    target,
                    key,
                    custom: None,
                }
            } else {
                RemoteEventKind::ReactionRemove { target, key }
            };
            (
                sender_user(ev["user"].as_str()?),
                ev["event_ts"].as_str()?,
                kind,
            )
        }
        ("member_joined_channel" | "member_left_channel", _) => {
            let user = ev["user"].as_str()?;
            if user == cx.bot_user {
                return None;
            }
            let change = if kind == "member_joined_channel" {
                aqueduct_core::event::MembershipChange::Join
            } else {
                aqueduct_core::event::MembershipChange::Leave
            };
            (
                sender_user(user),
                ev["event_ts"].as_str().unwrap_or("0"),
                RemoteEventKind::Membership {
                    user: user_id(cx.team, user),
                    change,
                },
            )
        }
        _ => return None,
    };
    Some(RemoteEvent {
        chat: RemoteChatId::new(channel),
        receiver,
        sender,
        timestamp_ms: ts_millis(ts),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static NO_ROOMS: std::sync::LazyLock<HashMap<String, String>> =
        std::sync::LazyLock::new(HashMap::new);

    fn cx<'a>(login: &'a LoginId, f: &'a dyn Fn(&RemoteUserId) -> String) -> Context<'a> {
        Context {
            team: "T1",
            bot_user: "UBOT",
            bot_id: Some("BBOT"),
            login,
            matrix_id: f,
            channel_rooms: &NO_ROOMS,
            user_names: &NO_ROOMS,
        }
    }

    #[test]
    fn channel_mentions_are_found_once_each() {
        assert_eq!(
            mentioned_channels("in <#C1>, <#C2|random> and <#C1|general>"),
            ["C1", "C2"]
        );
        assert!(mentioned_channels("no <@U1> channels").is_empty());
        let mut found = vec!["C1".to_owned()];
        block_channels(
            &json!([{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
                {"type": "channel", "channel_id": "C1"}, {"type": "channel", "channel_id": "C7"}
            ]}]}]),
            &mut found,
        );
        assert_eq!(found, ["C1", "C7"]);
    }

    #[test]
    fn messages_threads_edits_deletes_and_reactions() {
        let login = LoginId::new("T1");
        let f = |u: &RemoteUserId| format!("@slack_{}:hs", u.as_str().to_lowercase());
        let cx = cx(&login, &f);
        let m = event(&json!({"type":"message","channel":"C1","user":"U1","text":"hi *there*","ts":"1700000000.000100","thread_ts":"1699999999.000001"}), &cx).unwrap();
        assert_eq!(m.sender.user.as_str(), "T1-U1");
        assert_eq!(m.timestamp_ms, 1_700_000_000_000);
        match m.kind {
            RemoteEventKind::Message {
                id,
                content,
                thread_root,
                ..
            } => {
                assert_eq!(id.as_str(), "1700000000.000100");
                assert_eq!(thread_root.unwrap().as_str(), "1699999999.000001");
                assert!(content.html.unwrap().contains("<strong>there</strong>"));
            }
            other => panic!("{other:?}"),
        }
        let e = event(&json!({"type":"message","subtype":"message_changed","channel":"C1","ts":"2.0","message":{"user":"U1","text":"new","ts":"1.0"},"previous_message":{"user":"U1","text":"old","ts":"1.0"}}), &cx).unwrap();
        assert!(
            matches!(e.kind, RemoteEventKind::Edit { ref target, ref content } if target.as_str() == "1.0" && content.body == "new")
        );
        let d = event(&json!({"type":"message","subtype":"message_deleted","channel":"C1","ts":"3.0","deleted_ts":"1.0","previous_message":{"user":"U1","ts":"1.0"}}), &cx).unwrap();
        assert!(
            matches!(d.kind, RemoteEventKind::Delete { ref target } if target.as_str() == "1.0")
        );
        let r = event(&json!({"type":"reaction_added","user":"U2","reaction":"tada","item":{"type":"message","channel":"C1","ts":"1.0"},"event_ts":"4.0"}), &cx).unwrap();
        assert!(matches!(r.kind, RemoteEventKind::ReactionAdd { ref key, .. } if key == "🎉"));
        let im = event(&json!({"type":"message","channel":"D1","channel_type":"im","user":"U1","text":"dm","ts":"5.0"}), &cx).unwrap();
        assert_eq!(im.receiver, Some(login.clone()));
    }

    #[test]
    fn slack_connect_users_are_keyed_by_their_own_team() {
        let login = LoginId::new("T1");
        let f = |u: &RemoteUserId| u.to_string();
        let cx = cx(&login, &f);
        let m = event(&json!({"type":"message","channel":"C1","user":"U9","user_team":"T2","text":"hi","ts":"1.0"}), &cx).unwrap();
        assert_eq!(m.sender.user.as_str(), "T2-U9");
        assert_eq!(slack_user(&m.sender.user), "U9");
    }

    #[test]
    fn drops_own_echoes() {
        let login = LoginId::new("T1");
        let f = |u: &RemoteUserId| u.to_string();
        let cx = cx(&login, &f);
        assert!(event(&json!({"type":"message","channel":"C1","user":"UBOT","bot_id":"BBOT","text":"x","ts":"1.0"}), &cx).is_none());
        assert!(event(&json!({"type":"message","subtype":"bot_message","channel":"C1","bot_id":"BBOT","username":"alice","text":"x","ts":"1.0"}), &cx).is_none());
        assert!(event(&json!({"type":"reaction_added","user":"UBOT","reaction":"+1","item":{"channel":"C1","ts":"1.0"},"event_ts":"2.0"}), &cx).is_none());
        assert!(event(&json!({"type":"message","subtype":"message_changed","channel":"C1","ts":"2.0","message":{"user":"UBOT","bot_id":"BBOT","text":"n","ts":"1.0"},"previous_message":{"text":"o"}}), &cx).is_none());
    }
}
