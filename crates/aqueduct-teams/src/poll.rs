//! Polling mode: where no public URL reaches the bridge, each round lists the login's most
//! recently active chats and asks each for the messages changed since the last round
//! (`$orderby=lastModifiedDateTime desc` with a `$filter` on it, as Graph documents for chat
//! messages). New messages, edits, deletes and reactions are queued in order, and the chat's
//! mark moves only once the engine has them, so a crash or an outage repeats a round's work
//! instead of losing it (the engine drops what it already bridged).

use crate::api::TeamsLogin;
use crate::convert::teams_to_matrix;
use crate::graph::{Chat, ChatMessage, Collection};
use crate::iso_time::{format_ms, parse_ms};
use crate::poll_state::SeenMessage;
use aqueduct_core::connector::{ConnectorError, RemoteState};
use aqueduct_core::event::{RemoteEvent, RemoteEventKind, RemoteSender};
use aqueduct_core::ids::{RemoteChatId, RemoteMessageId, RemoteUserId};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Messages asked for per chat and round (Graph's largest page for chat messages).
const PAGE: usize = 50;

/// Polls until the task is aborted, reporting the connection state as it goes.
pub(crate) async fn run(login: Arc<TeamsLogin>) {
    let interval = Duration::from_secs(login.config.poll_interval_secs.max(1));
    let mut failing = false;
    loop {
        match round(&login).await {
            Ok(()) => {
                if failing {
                    failing = false;
                    login.report(RemoteState::Connected);
                }
            }
            Err(ConnectorError::BadCredentials(why)) => {
                login.report(RemoteState::BadCredentials(why));
                return;
            }
            Err(e) => {
                tracing::warn!(login = %login.id(), error = %e, "a Teams polling round failed; trying again");
                failing = true;
                login.report(RemoteState::TransientDisconnect(e.to_string()));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = login.poke.notified() => {}
        }
    }
}

/// One round over the login's recently active chats.
pub(crate) async fn round(login: &TeamsLogin) -> Result<(), ConnectorError> {
    let chats: Collection<Chat> = login
        .graph
        .get(
            "/me/chats",
            &[
                ("$expand", "lastMessagePreview".into()),
                ("$orderby", "lastMessagePreview/createdDateTime desc".into()),
                ("$top", login.config.max_chats_polled.min(50).to_string()),
            ],
        )
        .await?;
    let primed = login.state.lock().await.primed;
    if !primed {
        let mut state = login.state.lock().await;
        for chat in &chats.value {
            let newest = chat
                .last_message_preview
                .as_ref()
                .and_then(|p| p.created_date_time.as_deref())
                .and_then(parse_ms)
                .unwrap_or(0);
            state.chats.entry(chat.id.clone()).or_default().modified_ms = newest;
        }
        state.primed = true;
        let saved = state.to_state();
        drop(state);
        login.save_state(saved).await;
        return Ok(());
    }
    for chat in &chats.value {
        poll_chat(login, chat).await?;
    }
    Ok(())
}

/// Asks one chat for its changes since its mark and queues them.
async fn poll_chat(login: &TeamsLogin, chat: &Chat) -> Result<(), ConnectorError> {
    let since = login
        .state
        .lock()
        .await
        .chats
        .get(&chat.id)
        .map(|m| m.modified_ms);
    let mut query = vec![
        ("$top", PAGE.to_string()),
        ("$orderby", "lastModifiedDateTime desc".to_owned()),
    ];
    if let Some(since) = since.filter(|s| *s > 0) {
        query.push((
            "$filter",
            format!("lastModifiedDateTime gt {}", format_ms(since)),
        ));
    }
    let page: Collection<ChatMessage> = login
        .graph
        .get(&format!("/chats/{}/messages", encode(&chat.id)), &query)
        .await?;
    let mut messages = page.value;
    messages.sort_by_key(modified_ms);
    let mut changed = false;
    for message in &messages {
        let events = {
            let mut state = login.state.lock().await;
            let mark = state.chats.entry(chat.id.clone()).or_default();
            let before = mark.seen.get(&message.id).cloned();
            let (events, after) = changes(login, &chat.id, message, before.as_ref());
            if let Some(after) = after {
                mark.remember(&message.id, after);
            }
            events
        };
        for event in events {
            login
                .bridge
                .queue_remote_event(&login.login.id, event)
                .await
                .map_err(|e| {
                    ConnectorError::Temporary(format!(
                        "the bridge did not take a Teams message: {e}"
                    ))
                })?;
        }
        let mut state = login.state.lock().await;
        let mark = state.chats.entry(chat.id.clone()).or_default();
        mark.modified_ms = mark.modified_ms.max(modified_ms(message));
        changed = true;
    }
    if changed {
        let saved = login.state.lock().await.to_state();
        login.save_state(saved).await;
    }
    Ok(())
}

fn modified_ms(m: &ChatMessage) -> i64 {
    m.last_modified_date_time
        .as_deref()
        .or(m.created_date_time.as_deref())
        .and_then(parse_ms)
        .unwrap_or(0)
}

/// The events a message's change makes, given what was bridged of it before, and what to
/// remember of it now (`None` for nothing to remember: a system message).
fn changes(
    login: &TeamsLogin,
    chat: &str,
    message: &ChatMessage,
    before: Option<&SeenMessage>,
) -> (Vec<RemoteEvent>, Option<SeenMessage>) {
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
    let created_ms = message
        .created_date_time
        .as_deref()
        .and_then(parse_ms)
        .unwrap_or_else(|| modified_ms(message));
    let reactions: BTreeSet<(String, String)> = message
        .reactions
        .iter()
        .filter_map(|r| {
            let user = r.user.user.as_ref()?.id.clone()?;
            Some((user, crate::reactions::to_matrix(&r.reaction_type)))
        })
        .collect();
    let now = SeenMessage {
        edited: message.last_edited_date_time.clone(),
        deleted: message.deleted_date_time.is_some(),
        reactions: reactions.clone(),
        created_ms,
    };
    let target = RemoteMessageId::new(message.id.clone());
    let event = |sender: &str, name: Option<&str>, at: i64, kind| RemoteEvent {
        chat: RemoteChatId::new(chat.to_owned()),
        receiver: None,
        sender: RemoteSender {
            user: RemoteUserId::new(sender.to_owned()),
            is_from_me: sender == login.login.remote_user.as_str(),
            display_name: name.map(str::to_owned),
        },
        timestamp_ms: at,
        kind,
    };
    let ghost_of = |u: &RemoteUserId| login.bridge.matrix_id_for(u);
    let mut events = Vec::new();
    let Some(before) = before else {
        if now.deleted {
            return (events, Some(now)); // deleted before it was ever bridged
        }
        events.push(event(
            author,
            author_name,
            created_ms,
            RemoteEventKind::Message {
                id: target.clone(),
                content: teams_to_matrix(message, &ghost_of),
                reply_to: None,
                thread_root: None,
            },
        ));
        for (user, reaction) in &reactions {
            events.push(event(
                user,
                None,
                created_ms,
                RemoteEventKind::ReactionAdd {
                    target: target.clone(),
                    key: reaction.clone(),
                    custom: None,
                },
            ));
        }
        return (events, Some(now));
    };
    let at = modified_ms(message);
    if now.deleted {
        if !before.deleted {
            events.push(event(
                author,
                author_name,
                at,
                RemoteEventKind::Delete { target },
            ));
        }
        return (events, Some(now));
    }
    if now.edited.is_some() && now.edited != before.edited {
        events.push(event(
            author,
            author_name,
            at,
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
            at,
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
            at,
            RemoteEventKind::ReactionRemove {
                target: target.clone(),
                key: reaction.clone(),
            },
        ));
    }
    (events, Some(now))
}

/// A chat or message id as one URL path segment (chat ids hold `:` and `@`).
pub(crate) fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
