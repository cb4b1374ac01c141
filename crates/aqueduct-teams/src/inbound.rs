//! One Teams message into the bridge's events, whatever found it (a chat's or a channel's
//! polling round, a backfill): compared with what was bridged of it before (`poll_state.rs`),
//! it becomes a new message (with its files, its quoted message as `reply_to`, its thread as
//! `thread_root`), an edit, a delete, reactions added or removed, or, for a system message,
//! members added or removed and a name or topic change. Events are queued in order and the
//! message is remembered only once the engine has them all.

use crate::api::TeamsLogin;
use crate::convert::teams_to_matrix;
use crate::graph::{ChatMessage, MessageReference};
use crate::ids::Conversation;
use crate::iso_time::parse_ms;
use crate::poll_state::SeenMessage;
use aqueduct_core::connector::ConnectorError;
use aqueduct_core::event::{MembershipChange, RemoteEvent, RemoteEventKind, RemoteSender};
use aqueduct_core::ids::{RemoteChatId, RemoteMessageId, RemoteUserId};
use std::collections::BTreeSet;

/// Where a message is and what it is called there.
#[derive(Clone, Debug)]
pub(crate) struct Placed<'a> {
    /// The bridge chat id (a chat's id, or `{team}/{channel}`).
    pub(crate) chat: &'a str,
    /// The bridge message id (`{root}/{reply}` for a channel reply).
    pub(crate) id: String,
    /// The thread root, for a channel reply.
    pub(crate) thread_root: Option<String>,
}

/// When a message last changed, in ms.
pub(crate) fn modified_ms(m: &ChatMessage) -> i64 {
    m.last_modified_date_time
        .as_deref()
        .or(m.created_date_time.as_deref())
        .and_then(parse_ms)
        .unwrap_or(0)
}

/// When a message was written, in ms.
pub(crate) fn created_ms(m: &ChatMessage) -> i64 {
    m.created_date_time
        .as_deref()
        .and_then(parse_ms)
        .unwrap_or_else(|| modified_ms(m))
}

/// Bridges what changed of `message` since it was last seen, and remembers it.
pub(crate) async fn bridge_message(
    login: &TeamsLogin,
    at: &Placed<'_>,
    message: &ChatMessage,
) -> Result<(), ConnectorError> {
    let (events, after) = {
        let state = login.state.lock().await;
        let before = state.chats.get(at.chat).and_then(|m| m.seen.get(&at.id));
        let team_name = state
            .channels
            .get(at.chat)
            .and_then(|c| c.team_name.as_deref());
        changes(login, at, message, before, team_name)
    };
    for mut event in events {
        if let RemoteEventKind::Message { content, .. } = &mut event.kind {
            crate::files::attach_inbound(
                login,
                Conversation::of(at.chat),
                &at.id,
                message,
                content,
            )
            .await;
        }
        login
            .bridge
            .queue_remote_event(&login.login.id, event)
            .await
            .map_err(|e| {
                ConnectorError::Temporary(format!("the bridge did not take a Teams message: {e}"))
            })?;
    }
    if let Some(after) = after {
        let mut state = login.state.lock().await;
        state
            .chats
            .entry(at.chat.to_owned())
            .or_default()
            .remember(&at.id, after);
    }
    Ok(())
}

/// What the memory keeps of a message as it is now (to note it without bridging it).
pub(crate) fn as_seen(message: &ChatMessage) -> SeenMessage {
    SeenMessage {
        edited: message.last_edited_date_time.clone(),
        deleted: message.deleted_date_time.is_some(),
        reactions: message
            .reactions
            .iter()
            .filter_map(|r| {
                let user = r.user.user.as_ref()?.id.clone()?;
                Some((user, crate::reactions::to_matrix(&r.reaction_type)))
            })
            .collect(),
        created_ms: created_ms(message),
        posted_by_bridge: false,
    }
}

/// The message a Teams quote (`messageReference` attachment) names.
pub(crate) fn quoted(message: &ChatMessage) -> Option<String> {
    message
        .attachments
        .iter()
        .filter(|a| a.content_type.as_deref() == Some("messageReference"))
        .find_map(|a| {
            let from_content = a
                .content
                .as_deref()
                .and_then(|c| serde_json::from_str::<MessageReference>(c).ok())
                .and_then(|r| r.message_id);
            from_content.or_else(|| a.id.clone())
        })
        .or_else(|| {
            (message.body.content_type.as_deref() == Some("html"))
                .then(|| crate::convert::legacy_quote(message.body.content.as_deref()?))
                .flatten()
        })
        .filter(|id| !id.is_empty())
}

/// The events a message's change makes, given what was bridged of it before, and what to
/// remember of it now (`None` for nothing to remember).
pub(crate) fn changes(
    login: &TeamsLogin,
    at: &Placed<'_>,
    message: &ChatMessage,
    before: Option<&SeenMessage>,
    team_name: Option<&str>,
) -> (Vec<RemoteEvent>, Option<SeenMessage>) {
    let created = created_ms(message);
    if message.message_type.as_deref() == Some("systemEventMessage")
        || (message.event_detail.is_some() && message.message_type.as_deref() != Some("message"))
    {
        if before.is_some() {
            return (Vec::new(), None); // handled already
        }
        let seen = SeenMessage {
            created_ms: created,
            ..SeenMessage::default()
        };
        return (system_events(login, at, message, team_name), Some(seen));
    }
    if message
        .message_type
        .as_deref()
        .is_some_and(|t| t != "message")
    {
        return (Vec::new(), None);
    }
    let Some((author, author_name)) = message.author() else {
        return (Vec::new(), None); // an app's message: no person to show it as
    };
    let now = as_seen(message);
    let reactions: BTreeSet<(String, String)> = now.reactions.clone();
    let target = RemoteMessageId::new(at.id.clone());
    let event = |sender: &str, name: Option<&str>, ts: i64, kind| RemoteEvent {
        chat: RemoteChatId::new(at.chat.to_owned()),
        receiver: None,
        sender: RemoteSender {
            user: RemoteUserId::new(sender.to_owned()),
            is_from_me: sender == login.login.remote_user.as_str(),
            display_name: name.map(str::to_owned),
        },
        timestamp_ms: ts,
        kind,
    };
    let ghost_of = |u: &RemoteUserId| login.bridge.matrix_id_for(u);
    let mut events = Vec::new();
    let Some(before) = before else {
        if now.deleted {
            return (events, Some(now)); // deleted before it was ever bridged
        }
        // The bridge's own post whose answer it never got: the retry under way claims it
        // (`earlier_posts.rs`); bridging it back would put the user's message twice in Matrix.
        if author == login.login.remote_user.as_str()
            && login.is_uncertain_post(at.chat, message.body.content.as_deref().unwrap_or_default())
        {
            return (events, None);
        }
        events.push(event(
            author,
            author_name,
            created,
            RemoteEventKind::Message {
                id: target.clone(),
                content: teams_to_matrix(message, &ghost_of),
                reply_to: quoted(message)
                    .filter(|q| Some(q.as_str()) != at.thread_root.as_deref())
                    .map(RemoteMessageId::new),
                thread_root: at.thread_root.clone().map(RemoteMessageId::new),
            },
        ));
        for (user, reaction) in &reactions {
            events.push(event(
                user,
                None,
                created,
                RemoteEventKind::ReactionAdd {
                    target: target.clone(),
                    key: reaction.clone(),
                    custom: None,
                },
            ));
        }
        return (events, Some(now));
    };
    let ts = modified_ms(message);
    if now.deleted {
        if !before.deleted {
            events.push(event(
                author,
                author_name,
                ts,
                RemoteEventKind::Delete { target },
            ));
        }
        return (events, Some(now));
    }
    if now.edited.is_some() && now.edited != before.edited {
        events.push(event(
            author,
            author_name,
            ts,
            RemoteEventKind::Edit {
                target: target.clone(),
                content: teams_to_matrix(message, &ghost_of),
            },
        ));
    }
    for (user, reaction) in reactions.difference(&before.reactions) {
        events.push(event(
            user,
            None,
            ts,
            RemoteEventKind::ReactionAdd {
                target: target.clone(),
                key: reaction.clone(),
                custom: None,
            },
        ));
    }
    for (user, reaction) in before.reactions.difference(&reactions) {
        events.push(event(
            user,
            None,
            ts,
            RemoteEventKind::ReactionRemove {
                target: target.clone(),
                key: reaction.clone(),
            },
        ));
    }
    (events, Some(now))
}

/// A room name for a channel: `Team / Channel`, or the channel's alone.
pub(crate) fn channel_room_name(team: Option<&str>, channel: &str) -> String {
    match team.filter(|t| !t.is_empty()) {
        Some(team) => format!("{team} / {channel}"),
        None => channel.to_owned(),
    }
}

/// What a system message reports: members added or removed, a chat or channel renamed, a
/// channel's description changed. Other kinds (calls, pinned messages, apps) are not bridged.
fn system_events(
    login: &TeamsLogin,
    at: &Placed<'_>,
    message: &ChatMessage,
    team_name: Option<&str>,
) -> Vec<RemoteEvent> {
    let Some(detail) = &message.event_detail else {
        return Vec::new();
    };
    let me = login.login.remote_user.as_str();
    let initiator = detail
        .initiator
        .as_ref()
        .and_then(|i| i.user.as_ref())
        .and_then(|u| Some((u.id.clone()?, u.display_name.clone())));
    let ts = created_ms(message);
    let event = |sender: (String, Option<String>), kind| RemoteEvent {
        chat: RemoteChatId::new(at.chat.to_owned()),
        receiver: None,
        sender: RemoteSender {
            is_from_me: sender.0 == me,
            user: RemoteUserId::new(sender.0),
            display_name: sender.1,
        },
        timestamp_ms: ts,
        kind,
    };
    let change = match detail.kind() {
        "membersAddedEventMessageDetail" | "membersJoinedEventMessageDetail" => {
            Some(MembershipChange::Join)
        }
        "membersDeletedEventMessageDetail" | "membersLeftEventMessageDetail" => {
            Some(MembershipChange::Leave)
        }
        _ => None,
    };
    if let Some(change) = change {
        return detail
            .members
            .iter()
            .filter_map(|m| m.id.clone().map(|id| (id, m.display_name.clone())))
            .filter(|(id, _)| id != me)
            .map(|member| {
                let sender = match change {
                    // The member's own ghost shows the join; the remover shows a removal.
                    MembershipChange::Join => member.clone(),
                    MembershipChange::Leave => initiator.clone().unwrap_or(member.clone()),
                };
                event(
                    sender,
                    RemoteEventKind::Membership {
                        user: RemoteUserId::new(member.0),
                        change,
                    },
                )
            })
            .collect();
    }
    let (name, topic) = match detail.kind() {
        "chatRenamedEventMessageDetail" => (detail.chat_display_name.clone(), None),
        "channelRenamedEventMessageDetail" => (
            detail
                .channel_display_name
                .as_deref()
                .map(|c| channel_room_name(team_name, c)),
            None,
        ),
        "channelDescriptionUpdatedEventMessageDetail" => (
            None,
            Some(detail.channel_description.clone().unwrap_or_default()),
        ),
        _ => return Vec::new(),
    };
    if name.is_none() && topic.is_none() {
        return Vec::new();
    }
    let sender = initiator.unwrap_or((me.to_owned(), None));
    vec![event(
        sender,
        RemoteEventKind::ChatInfoChange { name, topic },
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(value: serde_json::Value) -> ChatMessage {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn quotes_name_their_message_by_reference_or_by_an_older_clients_blockquote() {
        let quote = message(serde_json::json!({
            "id": "2", "body": {"contentType": "html", "content": "<attachment id=\"1\"></attachment>yes"},
            "attachments": [{"id": "1", "contentType": "messageReference",
                             "content": "{\"messageId\":\"1\",\"messagePreview\":\"q\"}"}]
        }));
        assert_eq!(quoted(&quote).as_deref(), Some("1"));
        let legacy = message(serde_json::json!({
            "id": "3", "body": {"contentType": "html", "content":
                "<blockquote itemscope=\"\" itemtype=\"http://schema.skype.com/Reply\" itemid=\"7\"><p>q</p></blockquote><p>yes</p>"}
        }));
        assert_eq!(quoted(&legacy).as_deref(), Some("7"));
        let text = crate::convert::teams_to_matrix(&legacy, &|u| u.as_str().to_owned());
        assert_eq!(text.body, "yes", "the quote's text stays out of the reply");
        let file = message(serde_json::json!({
            "id": "4", "attachments": [{"id": "g", "contentType": "reference", "contentUrl": "https://x/y", "name": "y"}]
        }));
        assert_eq!(quoted(&file), None);
    }

    #[test]
    fn system_message_kinds_are_read_without_their_namespace() {
        let m = message(serde_json::json!({
            "id": "5", "messageType": "systemEventMessage",
            "eventDetail": {"@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
                            "members": [{"id": "u-c", "displayName": "C"}]}
        }));
        let detail = m.event_detail.unwrap();
        assert_eq!(detail.kind(), "membersAddedEventMessageDetail");
        assert_eq!(detail.members[0].id.as_deref(), Some("u-c"));
        assert_eq!(channel_room_name(Some("Eng"), "General"), "Eng / General");
        assert_eq!(channel_room_name(None, "General"), "General");
    }
}
