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
//! File uploads (`files.completeUploadExternal`) take no metadata, so they are not covered:
//! see the limits in `docs/architecture.md`.

use crate::calls::{Calls, thread_of};
use aqueduct_core::connector::ConnectorError;
use aqueduct_core::event::MatrixMessage;
use aqueduct_core::records::Portal;
use serde::{Deserialize, Serialize};

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
}

impl ListedMessage {
    fn posted_for(&self, event_id: &str) -> bool {
        matches!(&self.metadata, Some(AnyMetadata::Bridge(m))
            if m.event_type == EVENT_TYPE && m.event_payload.matrix_event_id == event_id)
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
        match self.find_earlier_post(portal, message).await {
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

    async fn find_earlier_post(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> Result<Option<String>, ConnectorError> {
        let channel = portal.key.chat.to_string();
        let Some(root) = thread_of(message) else {
            let params = [
                ("channel", channel),
                ("include_all_metadata", "true".to_owned()),
                ("limit", LOOK_BACK.to_string()),
            ];
            let page = self.message_page("conversations.history", &params).await?;
            return Ok(found_in(page.messages, &message.event_id));
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
            if let Some(ts) = found_in(page.messages, &message.event_id) {
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

fn found_in(messages: Vec<ListedMessage>, event_id: &str) -> Option<String> {
    messages
        .into_iter()
        .find(|m| m.posted_for(event_id))
        .map(|m| m.ts)
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
        assert_eq!(found_in(page.messages, "$e").as_deref(), Some("1.000005"));
    }

    #[test]
    fn a_page_without_messages_finds_nothing() {
        let page: MessagePage = serde_json::from_value(json!({"ok": true})).unwrap();
        assert_eq!(found_in(page.messages, "$e"), None);
    }
}
