//! Polling mode: where no public URL reaches the bridge, each round lists the login's most
//! recently active chats and asks each for the messages changed since the last round
//! (`$orderby=lastModifiedDateTime desc` with a `$filter` on it, as Graph documents for chat
//! messages), then the team channels it watches (`channels.rs`). New messages, edits,
//! deletes and reactions are queued in order (`inbound.rs`), and the chat's mark moves only
//! once the engine has them, so a crash or an outage repeats a round's work instead of
//! losing it (the engine drops what it already bridged).

use crate::api::TeamsLogin;
use crate::graph::{Chat, ChatMessage, Collection};
use crate::inbound::{Placed, bridge_message, modified_ms};
use crate::iso_time::{format_ms, parse_ms};
use aqueduct_core::connector::{ConnectorError, RemoteState};
use std::sync::Arc;
use std::time::Duration;

/// Messages asked for per chat and page (Graph's largest page for chat messages).
const PAGE: usize = 50;
/// Pages read per chat and round at most (50,000 changes).
const MAX_PAGES: usize = 1000;

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
                .unwrap_or(login.started_ms)
                // What was written since the login started is new, whenever this round runs.
                .min(login.started_ms);
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
    crate::channels::poll_channels(login).await
}

/// Asks one chat for its changes since its mark and queues them.
pub(crate) async fn poll_chat(login: &TeamsLogin, chat: &Chat) -> Result<(), ConnectorError> {
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
    let mut page: Collection<ChatMessage> = login
        .graph
        .get(&format!("/chats/{}/messages", encode(&chat.id)), &query)
        .await?;
    let mut messages = std::mem::take(&mut page.value);
    // Newest first, a page at a time: every page of the change is read before any of it is
    // bridged, or a burst larger than a page would move the mark past the rest.
    let mut pages = 1;
    while let Some(next) = page.next_link.take() {
        if pages >= MAX_PAGES {
            // Graph lists newest first: what is left is older than everything read, and the
            // mark is about to pass it. Said loudly; 50,000 changes in one chat between two
            // rounds is far beyond any downtime the bridge is built for.
            tracing::error!(chat = %chat.id, pages, "more changes than a round reads; the oldest are not bridged");
            break;
        }
        page = login.graph.get(&next, &[]).await?;
        messages.append(&mut page.value);
        pages += 1;
    }
    messages.sort_by_key(modified_ms);
    let mut changed = false;
    for message in &messages {
        let at = Placed {
            chat: &chat.id,
            id: message.id.clone(),
            thread_root: None,
        };
        bridge_message(login, &at, message).await?;
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

/// A chat or message id as one URL path segment (chat ids hold `:` and `@`).
pub(crate) fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
