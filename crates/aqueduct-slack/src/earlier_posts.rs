//! Posting a Matrix message at most once. Slack's `chat.postMessage` has no idempotency key,
//! so every post carries Slack message metadata naming its Matrix event
//! (<https://docs.slack.dev/messaging/message-metadata>):
//! `{"event_type": "aqueduct_matrix_event", "event_payload": {"matrix_event_id": "$..."}}`.
//! When the engine says a message may have reached Slack already
//! ([`MatrixMessage::maybe_sent_before`]: a replay after a restart, or a retry after a lost
//! answer), the connector first reads the channel's newest messages (or the thread's replies)
//! with `include_all_metadata=true`, and a message carrying that event id is the earlier
//! delivery: its `ts` is returned and nothing is posted. A look-up that fails is logged and the
//! message posted: a possible duplicate is better than a lost message.
//!
//! File uploads (`files.completeUploadExternal`) take no metadata. Their file ids name them
//! exactly, though, so the connector remembers (in memory, [`RecentUploads`]) the files each
//! Matrix event's last upload shared, and a retried upload looks for a message carrying one
//! of them the same way. After a restart that memory is gone, so an upload replayed then is
//! uploaded again: see the limits in `docs/architecture.md`.

use crate::calls::{Calls, thread_of};
use aqueduct_core::connector::ConnectorError;
use aqueduct_core::event::MatrixMessage;
use aqueduct_core::records::Portal;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The `event_type` of the bridge's metadata.
pub(crate) const EVENT_TYPE: &str = "aqueduct_matrix_event";
/// Top-level messages read back before a replayed post: the newest ones of the channel. A
/// message posted before the bridge stopped is found unless this many top-level messages came
/// after it meanwhile.
pub(crate) const LOOK_BACK: usize = 50;
/// Replies read per page of a thread (Slack lists them oldest first, so a thread is read to
/// its end), and the most pages read.
const THREAD_PAGE: usize = 200;
const THREAD_PAGES: usize = 5;

/// Matrix events whose files [`RecentUploads`] remembers; a retry follows within seconds.
const RECENT_UPLOADS: usize = 64;

/// The files of the latest uploads, by Matrix event (newest last, bounded), so that a retried
/// upload finds the message an earlier attempt shared. Shared by the clones of one client.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentUploads(Arc<Mutex<VecDeque<Upload>>>);

/// A Matrix event and the Slack files its upload shared.
type Upload = (String, Vec<String>);

impl RecentUploads {
    /// Remembers that the upload for `event_id` shares `files` (Slack file ids).
    pub fn remember(&self, event_id: &str, files: Vec<String>) {
        let mut recent = self.0.lock().expect("recent uploads");
        recent.retain(|(e, _)| e != event_id);
        recent.push_back((event_id.to_owned(), files));
        while recent.len() > RECENT_UPLOADS {
            recent.pop_front();
        }
    }

    /// The files an earlier upload for `event_id` shared, if one was tried in this run.
    pub fn files_of(&self, event_id: &str) -> Vec<String> {
        let recent = self.0.lock().expect("recent uploads");
        recent
            .iter()
            .rev()
            .find(|(e, _)| e == event_id)
            .map(|(_, files)| files.clone())
            .unwrap_or_default()
    }
}

/// The metadata every post of the bridge carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BridgeMetadata {
    /// Always [`EVENT_TYPE`].
    pub event_type: String,
    /// The Matrix event.
    pub event_payload: EventPayload,
}

/// The payload of [`BridgeMetadata`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventPayload {
    /// The Matrix event id the message was posted for.
    pub matrix_event_id: String,
}

impl BridgeMetadata {
    /// The metadata of a post for Matrix event `event_id`.
    pub fn for_event(event_id: &str) -> Self {
        Self {
            event_type: EVENT_TYPE.to_owned(),
            event_payload: EventPayload {
                matrix_event_id: event_id.to_owned(),
            },
        }
    }

    /// The `metadata` argument of `chat.postMessage` (form bodies carry it as JSON text).
    pub fn to_param(&self) -> String {
        serde_json::to_string(self).expect("plain strings serialize")
    }
}

/// A message's metadata as Slack returns it: the bridge's, or anything another app attached.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AnyMetadata {
    Bridge(BridgeMetadata),
    Other(serde::de::IgnoredAny),
}

/// One message of `conversations.history` / `conversations.replies`, as far as it is read here.
#[derive(Debug, Deserialize)]
struct ListedMessage {
    ts: String,
    #[serde(default)]
    metadata: Option<AnyMetadata>,
    #[serde(default)]
    files: Vec<ListedFile>,
}

/// A file of a [`ListedMessage`].
#[derive(Debug, Deserialize)]
struct ListedFile {
    #[serde(default)]
    id: String,
}

/// What an earlier delivery of a Matrix message is recognised by.
enum Mark<'a> {
    /// The bridge's metadata naming this Matrix event.
    Event(&'a str),
    /// One of these Slack files (a message's share of an upload).
    Files(&'a [String]),
}

impl ListedMessage {
    fn carries(&self, mark: &Mark<'_>) -> bool {
        match mark {
            Mark::Event(event_id) => matches!(&self.metadata, Some(AnyMetadata::Bridge(m))
                if m.event_type == EVENT_TYPE && m.event_payload.matrix_event_id == *event_id),
            Mark::Files(ids) => self
                .files
                .iter()
                .any(|f| !f.id.is_empty() && ids.contains(&f.id)),
        }
    }
}

/// A page of `conversations.history` / `conversations.replies`.
#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
    #[serde(default)]
    response_metadata: Option<PageCursor>,
}

#[derive(Debug, Deserialize)]
struct PageCursor {
    #[serde(default)]
    next_cursor: String,
}

impl Calls<'_> {
    /// The `ts` of an earlier post of `message` in its channel or thread, if the newest
    /// messages hold one. A failed look-up is logged and answers `None`.
    pub async fn earlier_post(&self, portal: &Portal, message: &MatrixMessage) -> Option<String> {
        self.earlier(portal, message, Mark::Event(&message.event_id))
            .await
    }

    /// The `ts` of the message that an earlier upload of `message`'s files in this run
    /// shared, if the newest messages hold one.
    pub async fn earlier_upload(&self, portal: &Portal, message: &MatrixMessage) -> Option<String> {
        let files = self.web.recent_uploads().files_of(&message.event_id);
        if files.is_empty() {
            return None;
        }
        self.earlier(portal, message, Mark::Files(&files)).await
    }

    async fn earlier(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
        mark: Mark<'_>,
    ) -> Option<String> {
        match self.find_earlier(portal, message, &mark).await {
            Ok(found) => {
                if let Some(ts) = &found {
                    tracing::info!(
                        channel = portal.key.chat.as_str(),
                        ts = ts.as_str(),
                        "a replayed Matrix message was on Slack already; not posting it again"
                    );
                }
                found
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    channel = portal.key.chat.as_str(),
                    "cannot look for an earlier post of a replayed Matrix message; posting it"
                );
                None
            }
        }
    }

    async fn find_earlier(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
        mark: &Mark<'_>,
    ) -> Result<Option<String>, ConnectorError> {
        let channel = portal.key.chat.to_string();
        let Some(root) = thread_of(message) else {
            let lookups = self.web.replay_lookups();
            if let Mark::Event(event_id) = mark
                && let Some(answer) = lookups.answer(&channel, event_id)
            {
                return Ok(answer);
            }
            let params = [
                ("channel", channel.clone()),
                ("include_all_metadata", "true".to_owned()),
                ("limit", LOOK_BACK.to_string()),
            ];
            let page = self.message_page("conversations.history", &params).await?;
            lookups.keep(&channel, bridge_posts(&page.messages));
            return Ok(found_in(page.messages, mark));
        };
        let mut cursor = String::new();
        for _ in 0..THREAD_PAGES {
            let mut params = vec![
                ("channel", channel.clone()),
                ("ts", root.clone()),
                ("include_all_metadata", "true".to_owned()),
                ("limit", THREAD_PAGE.to_string()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor));
            }
            let page = self.message_page("conversations.replies", &params).await?;
            cursor = page
                .response_metadata
                .map(|m| m.next_cursor)
                .unwrap_or_default();
            if let Some(ts) = found_in(page.messages, mark) {
                return Ok(Some(ts));
            }
            if cursor.is_empty() {
                break;
            }
        }
        Ok(None)
    }

    async fn message_page(
        &self,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<MessagePage, ConnectorError> {
        let answer = self.web.call(method, params).await?;
        serde_json::from_value(answer)
            .map_err(|e| ConnectorError::Temporary(format!("{method}: unexpected answer: {e}")))
    }
}

/// The Matrix event id and `ts` of each of the bridge's posts among `messages`.
fn bridge_posts(messages: &[ListedMessage]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match &m.metadata {
            Some(AnyMetadata::Bridge(b)) if b.event_type == EVENT_TYPE => {
                Some((b.event_payload.matrix_event_id.clone(), m.ts.clone()))
            }
            _ => None,
        })
        .collect()
}

fn found_in(messages: Vec<ListedMessage>, mark: &Mark<'_>) -> Option<String> {
    messages.into_iter().find(|m| m.carries(mark)).map(|m| m.ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_metadata_is_slacks_shape() {
        let param = BridgeMetadata::for_event("$abc:example.org").to_param();
        let value: serde_json::Value = serde_json::from_str(&param).unwrap();
        assert_eq!(
            value,
            json!({"event_type": "aqueduct_matrix_event",
                   "event_payload": {"matrix_event_id": "$abc:example.org"}})
        );
    }

    #[test]
    fn only_the_bridges_metadata_for_that_event_matches() {
        let page: MessagePage = serde_json::from_value(json!({
            "ok": true,
            "messages": [
                {"ts": "1.000001", "text": "no metadata"},
                {"ts": "1.000002", "metadata": {"event_type": "task_created",
                                                "event_payload": {"id": 7, "tags": ["a"]}}},
                {"ts": "1.000003", "metadata": {"event_type": "aqueduct_matrix_event",
                                                "event_payload": {"matrix_event_id": "$other"}}},
                {"ts": "1.000004", "metadata": {"event_type": "someone_else",
                                                "event_payload": {"matrix_event_id": "$e"}}},
                {"ts": "1.000005", "metadata": {"event_type": "aqueduct_matrix_event",
                                                "event_payload": {"matrix_event_id": "$e"}}},
                {"ts": "1.000006", "metadata": "not even an object"},
            ],
            "response_metadata": {"next_cursor": ""}
        }))
        .unwrap();
        assert_eq!(
            found_in(page.messages, &Mark::Event("$e")).as_deref(),
            Some("1.000005")
        );
    }

    #[test]
    fn an_upload_is_found_by_its_files() {
        let page = || -> MessagePage {
            serde_json::from_value(json!({
                "messages": [
                    {"ts": "2.000001", "files": [{"id": "F1"}, {"id": "F2"}]},
                    {"ts": "2.000002", "files": [{"id": "F3"}, {"mode": "tombstone"}]},
                ]
            }))
            .unwrap()
        };
        let ids = ["F3".to_owned()];
        assert_eq!(
            found_in(page().messages, &Mark::Files(&ids)).as_deref(),
            Some("2.000002")
        );
        assert_eq!(found_in(page().messages, &Mark::Files(&[])), None);
        assert_eq!(found_in(page().messages, &Mark::Event("$e")), None);
    }

    #[test]
    fn recent_uploads_are_bounded_and_the_latest_attempt_counts() {
        let recent = RecentUploads::default();
        recent.remember("$a", vec!["F1".into()]);
        recent.remember("$a", vec!["F2".into()]);
        assert_eq!(recent.files_of("$a"), ["F2"]);
        for i in 0..RECENT_UPLOADS {
            recent.remember(&format!("$n{i}"), vec![format!("G{i}")]);
        }
        assert!(recent.files_of("$a").is_empty());
        assert_eq!(recent.files_of("$n0"), ["G0"]);
    }

    #[test]
    fn a_page_without_messages_finds_nothing() {
        let page: MessagePage = serde_json::from_value(json!({"ok": true})).unwrap();
        assert_eq!(found_in(page.messages, &Mark::Event("$e")), None);
    }
}
