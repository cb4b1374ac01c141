//! History for a new portal: a chat's newest messages (`$orderby=createdDateTime desc`), or a
//! channel's newest threads with their replies (`$expand=replies`), older than the message
//! that opened the portal, oldest first, files included. What is handed over is remembered as
//! bridged, so a later edit or reaction to it crosses as one.

use crate::api::TeamsLogin;
use crate::graph::{ChatMessage, Collection};
use crate::ids::{Conversation, reply_id};
use crate::inbound::{Placed, changes, created_ms};
use aqueduct_core::connector::{BackfillHandler, ConnectorError, ConnectorResult};
use aqueduct_core::event::{RemoteEvent, RemoteEventKind};
use aqueduct_core::ids::{RemoteChatId, RemoteMessageId};
use async_trait::async_trait;

/// Pages read at most for one backfill.
const MAX_PAGES: usize = 10;

#[async_trait]
impl BackfillHandler for TeamsLogin {
    async fn fetch_messages(
        &self,
        chat: &RemoteChatId,
        before: Option<&RemoteMessageId>,
        limit: usize,
    ) -> ConnectorResult<Vec<RemoteEvent>> {
        let key = chat.as_str();
        let conv = Conversation::of(key);
        let cutoff = match before {
            Some(id) => {
                let m: ChatMessage = self.graph.get(&conv.message_path(id.as_str()), &[]).await?;
                Some(created_ms(&m))
            }
            None => None,
        };
        let mut found = if conv.is_channel() {
            channel_history(self, key, cutoff, limit).await?
        } else {
            chat_history(self, key, cutoff, limit).await?
        };
        found.sort_by_key(|(_, m)| created_ms(m));
        let skip = found.len().saturating_sub(limit);
        let mut out = Vec::new();
        for (at, message) in found.into_iter().skip(skip) {
            let at = Placed {
                chat: key,
                id: at.0,
                thread_root: at.1,
            };
            let (events, after) = {
                let state = self.state.lock().await;
                let team = state.channels.get(key).and_then(|c| c.team_name.as_deref());
                changes(self, &at, &message, None, team)
            };
            for mut event in events {
                if let RemoteEventKind::Message { content, .. } = &mut event.kind {
                    crate::files::attach_inbound(self, conv, &at.id, &message, content).await;
                    out.push(event);
                }
            }
            if let Some(after) = after {
                self.state
                    .lock()
                    .await
                    .chats
                    .entry(key.to_owned())
                    .or_default()
                    .remember(&at.id, after);
            }
        }
        Ok(out)
    }
}

/// (bridge id, thread root) and the message.
type Found = Vec<((String, Option<String>), ChatMessage)>;

fn older(cutoff: Option<i64>, m: &ChatMessage) -> bool {
    cutoff.is_none_or(|c| created_ms(m) < c)
}

async fn chat_history(
    login: &TeamsLogin,
    key: &str,
    cutoff: Option<i64>,
    limit: usize,
) -> Result<Found, ConnectorError> {
    let conv = Conversation::of(key);
    let mut page: Collection<ChatMessage> = login
        .graph
        .get(
            &conv.messages_path(),
            &[
                ("$top", "50".into()),
                ("$orderby", "createdDateTime desc".into()),
            ],
        )
        .await?;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        for m in std::mem::take(&mut page.value) {
            if older(cutoff, &m) && m.message_type.as_deref() == Some("message") {
                out.push(((m.id.clone(), None), m));
            }
        }
        match page.next_link.take() {
            Some(next) if out.len() < limit => page = login.graph.get(&next, &[]).await?,
            _ => break,
        }
    }
    Ok(out)
}

async fn channel_history(
    login: &TeamsLogin,
    key: &str,
    cutoff: Option<i64>,
    limit: usize,
) -> Result<Found, ConnectorError> {
    let conv = Conversation::of(key);
    let mut page: Collection<ChatMessage> = login
        .graph
        .get(
            &conv.messages_path(),
            &[("$top", "50".into()), ("$expand", "replies".into())],
        )
        .await?;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        for mut root in std::mem::take(&mut page.value) {
            let replies = match root.replies.take() {
                Some(r) => r,
                None => crate::channels::list_replies(login, key, &root.id).await?,
            };
            for reply in replies {
                if older(cutoff, &reply) && reply.message_type.as_deref() == Some("message") {
                    out.push((
                        (reply_id(&root.id, &reply.id), Some(root.id.clone())),
                        reply,
                    ));
                }
            }
            if older(cutoff, &root) && root.message_type.as_deref() == Some("message") {
                out.push(((root.id.clone(), None), root));
            }
        }
        match page.next_link.take() {
            Some(next) if out.len() < limit => page = login.graph.get(&next, &[]).await?,
            _ => break,
        }
    }
    Ok(out)
}
