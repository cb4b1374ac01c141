//! Notifications mode: a login's receiving loop when Graph can reach the bridge
//! (`appservice.public_url`, or `platforms.teams.public_url`). Change notifications
//! (`web.rs`) say which chat changed; the loop then reads that chat's changes since its mark,
//! exactly as a polling round does (`poll.rs`), so the marks keep their guarantees: changes
//! are bridged in order, once each, and a notification that never came (lost, throttled,
//! sent while the bridge was down) only delays a change until the next look.
//!
//! Looks happen:
//! - for the chats notifications named, as soon as they arrive (one chat's changes per
//!   request: `/chats/{id}/messages` with the `$filter` on `lastModifiedDateTime`); for a
//!   channel a notification named, its delta query (`channels.rs`);
//! - for channels without a live subscription of their own (Graph refused it, or it is not
//!   made yet), every `poll_interval_secs`, as in polling mode;
//! - over every chat (a full round) at the start (catching up on the downtime), after each new
//!   or reauthorized subscription and each `missed` lifecycle event, and every
//!   `fallback_poll_secs` while a subscription is live (every `poll_interval_secs` while none
//!   is, so the login never goes deaf).
//!
//! A notification with resource data (decrypted with the login's key; `resource_crypto.rs`)
//! can spare the look: when the message it carries is one the chat's memory already has as
//! it is now (the bridge's own post, edit or reaction coming back, or a change a look has
//! already bridged), there is nothing to read. Anything else is read from Graph rather than
//! bridged from the notification, so a notification arriving before an earlier change's
//! cannot put messages out of order.

use crate::api::TeamsLogin;
use crate::graph::{Chat, ChatMessage};
use crate::iso_time::parse_ms;
use crate::poll_state::ChatMark;
use crate::resource_crypto::EncryptedContent;
use aqueduct_core::connector::{ConnectorError, RemoteState};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Aborts a task when dropped (the subscription keeper goes with the loop).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the next turn of the loop does.
enum Look {
    /// Every chat.
    Full,
    /// These chats, with the resource data their notifications carried.
    Chats(std::collections::BTreeMap<String, Vec<Option<EncryptedContent>>>),
}

/// Receives until the task is aborted, reporting the connection state as it goes.
pub(crate) async fn run(login: Arc<TeamsLogin>) {
    let _keeper = AbortOnDrop(tokio::spawn(crate::subscriptions::maintain(login.clone())));
    if let Some(warning) = https_warning(&login) {
        tracing::warn!(login = %login.id(), "{warning}");
    }
    let mut failing = false;
    let mut look = Look::Full;
    let mut last_full = tokio::time::Instant::now();
    loop {
        let outcome = match std::mem::replace(&mut look, Look::Full) {
            Look::Full => {
                last_full = tokio::time::Instant::now();
                // A full round covers whatever notifications asked for until now.
                drop(login.notifications.take_pending());
                crate::poll::round(&login).await
            }
            Look::Chats(chats) => look_at(&login, chats).await,
        };
        match outcome {
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
                tracing::warn!(login = %login.id(), error = %e, "a Teams look for changes failed; trying again");
                failing = true;
                login.report(RemoteState::TransientDisconnect(e.to_string()));
                // Looked at again soon, all of it.
                let wait = Duration::from_secs(login.config.poll_interval_secs.clamp(1, 30));
                tokio::time::sleep(wait).await;
                look = Look::Full;
                continue;
            }
        }
        let pending = login.notifications.take_pending();
        if pending.full {
            look = Look::Full;
            continue;
        }
        if !pending.chats.is_empty() {
            look = Look::Chats(pending.chats);
            continue;
        }
        let period = Duration::from_secs(
            if login.notifications.live() {
                login.config.fallback_poll_secs
            } else {
                login.config.poll_interval_secs
            }
            .max(1),
        );
        // Channels without a subscription of their own are polled as in polling mode.
        let uncovered = uncovered_channels(&login).await;
        let (wait, on_time) = if uncovered.is_empty() {
            (period, Look::Full)
        } else {
            let poll = Duration::from_secs(login.config.poll_interval_secs.max(1));
            let full_due = period.saturating_sub(last_full.elapsed());
            if full_due <= poll {
                (full_due, Look::Full)
            } else {
                let chats = uncovered.into_iter().map(|k| (k, vec![None])).collect();
                (poll, Look::Chats(chats))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => look = on_time,
            _ = login.poke.notified() => look = Look::Full,
            _ = login.notifications.wake.notified() => {
                let pending = login.notifications.take_pending();
                look = if pending.full {
                    Look::Full
                } else {
                    Look::Chats(pending.chats)
                };
            }
        }
    }
}

/// The watched channels that have no live subscription of their own.
async fn uncovered_channels(login: &TeamsLogin) -> Vec<String> {
    let keys: Vec<String> = login.state.lock().await.channels.keys().cloned().collect();
    keys.into_iter()
        .filter(|k| {
            crate::ids::Conversation::of(k).is_channel() && !login.notifications.channel_covered(k)
        })
        .collect()
}

/// Looks at the chats (and channels) notifications named.
async fn look_at(
    login: &TeamsLogin,
    chats: std::collections::BTreeMap<String, Vec<Option<EncryptedContent>>>,
) -> Result<(), ConnectorError> {
    if chats.is_empty() {
        return Ok(());
    }
    if !login.state.lock().await.primed {
        return crate::poll::round(login).await; // the first round notes where chats stand
    }
    for (chat, contents) in chats {
        // A channel's notification (or its turn to be polled): its delta query reads it.
        if crate::ids::Conversation::of(&chat).is_channel() {
            match crate::channels::poll_channel(login, &chat).await {
                Ok(()) => {}
                Err(e @ (ConnectorError::BadCredentials(_) | ConnectorError::Temporary(_))) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(login = %login.id(), channel = %chat, error = %e, "cannot read a Teams channel")
                }
            }
            continue;
        }
        if nothing_to_read(login, &chat, &contents).await {
            tracing::debug!(chat = %chat, "a Teams notification told of nothing new; no look needed");
            continue;
        }
        let chat: Chat = serde_json::from_value(serde_json::json!({ "id": chat }))
            .map_err(|e| ConnectorError::Temporary(e.to_string()))?;
        crate::poll::poll_chat(login, &chat).await?;
    }
    Ok(())
}

/// Whether every notification for `chat` carried a message the chat's memory already has
/// as it is now.
async fn nothing_to_read(
    login: &TeamsLogin,
    chat: &str,
    contents: &[Option<EncryptedContent>],
) -> bool {
    let mut messages = Vec::with_capacity(contents.len());
    for content in contents {
        let Some(message) = content.as_ref().and_then(|c| decrypt(login, c)) else {
            return false;
        };
        if message.chat_id.as_deref().is_some_and(|c| c != chat) {
            return false;
        }
        messages.push(message);
    }
    // Held as sends hold it: a post's echo waits until the post is remembered.
    let state = login.state.lock().await;
    let mark = state.chats.get(chat);
    messages.iter().all(|m| known(mark, m))
}

/// The message a notification carried, when it decrypts with one of the login's keys.
fn decrypt(login: &TeamsLogin, content: &EncryptedContent) -> Option<ChatMessage> {
    let Some(key) = login.notifications.key(&content.encryption_certificate_id) else {
        tracing::info!(certificate = %content.encryption_certificate_id, "a Teams notification encrypted for a key the bridge no longer has; reading the chat instead");
        return None;
    };
    match crate::resource_crypto::decrypt(&key.key, content) {
        Ok(json) => match serde_json::from_slice::<ChatMessage>(&json) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::info!(error = %e, "a Teams notification's resource data is not a chat message; reading the chat instead");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "a Teams notification's resource data did not decrypt; reading the chat instead");
            None
        }
    }
}

/// Whether the chat's memory has `m` as it is now: a change looked at already, or the
/// bridge's own post, edit or reaction.
fn known(mark: Option<&ChatMark>, m: &ChatMessage) -> bool {
    let Some(mark) = mark else {
        return false;
    };
    let modified = m
        .last_modified_date_time
        .as_deref()
        .or(m.created_date_time.as_deref())
        .and_then(parse_ms);
    if modified.is_some_and(|ms| ms <= mark.modified_ms) {
        return true;
    }
    let Some(seen) = mark.seen.get(&m.id) else {
        return false;
    };
    let reactions: BTreeSet<(String, String)> = m
        .reactions
        .iter()
        .filter_map(|r| {
            let user = r.user.user.as_ref()?.id.clone()?;
            Some((user, crate::reactions::to_matrix(&r.reaction_type)))
        })
        .collect();
    seen.deleted == m.deleted_date_time.is_some()
        && seen.edited == m.last_edited_date_time
        && seen.reactions == reactions
}

/// Graph delivers only to `https` URLs; a plain `http` one works with test fakes only.
fn https_warning(login: &TeamsLogin) -> Option<String> {
    let url = login.config.public_url.as_deref()?;
    (!url.starts_with("https://")).then(|| {
        format!("the public URL {url} is not https: Microsoft Graph refuses such notification URLs, so subscriptions will fail and the login will fall back to polling")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll_state::SeenMessage;

    fn message(json: serde_json::Value) -> ChatMessage {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_what_the_memory_has_as_it_is_spares_a_look() {
        let mut mark = ChatMark {
            modified_ms: parse_ms("2026-01-01T10:00:00.000Z").unwrap(),
            ..ChatMark::default()
        };
        mark.remember(
            "ours",
            SeenMessage {
                created_ms: 1,
                ..SeenMessage::default()
            },
        );
        let old = message(
            serde_json::json!({"id": "1", "lastModifiedDateTime": "2026-01-01T09:00:00.000Z"}),
        );
        assert!(known(Some(&mark), &old), "a round already had it");
        let new = message(
            serde_json::json!({"id": "2", "lastModifiedDateTime": "2026-01-01T11:00:00.000Z"}),
        );
        assert!(!known(Some(&mark), &new), "someone's new message is read");
        assert!(!known(None, &old), "a chat never looked at is read");
        let echo = message(
            serde_json::json!({"id": "ours", "lastModifiedDateTime": "2026-01-01T11:00:00.000Z", "reactions": []}),
        );
        assert!(known(Some(&mark), &echo), "the bridge's own post");
        let edited = message(
            serde_json::json!({"id": "ours", "lastModifiedDateTime": "2026-01-01T11:00:00.000Z", "lastEditedDateTime": "2026-01-01T11:00:00.000Z"}),
        );
        assert!(!known(Some(&mark), &edited), "an edit made elsewhere");
        let reacted = message(
            serde_json::json!({"id": "ours", "lastModifiedDateTime": "2026-01-01T11:00:00.000Z",
            "reactions": [{"reactionType": "like", "user": {"user": {"id": "u-bob"}}}]}),
        );
        assert!(!known(Some(&mark), &reacted), "someone's reaction");
    }
}
