//! Files sent to Rocket.Chat whose message may exist without the bridge knowing it.
//! `rooms.mediaConfirm` (and `rooms.upload`) take no client-chosen message id, so a crash (or a lost answer)
//! after the server posted the file but before the bridge heard back would, on the retry of
//! the same Matrix event, post the file a second time. Each upload is therefore recorded in
//! the login's saved state before it is confirmed: a retry looks for the message carrying
//! the recorded file instead of uploading again, and that message's echo (live or in a
//! catch-up) is known as the bridge's own.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How long an upload can be confirmed: Rocket.Chat discards unconfirmed uploads after 24 h,
/// so an older record can no longer matter.
const LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// One recorded upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingUpload {
    /// The room it was uploaded to.
    pub rid: String,
    /// The file id `rooms.media` gave it; empty for `rooms.upload` (servers before 6.8),
    /// which names the file only in the message it posts.
    pub file_id: String,
    /// When it was uploaded, in milliseconds since the epoch.
    pub at: i64,
    /// The account that uploaded it.
    #[serde(default)]
    pub author: String,
    /// The file's name and size, which tell its message when there is no file id.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: u64,
}

/// How much earlier than the upload a message it posted may be stamped (clocks differ).
pub(crate) const CLOCK_SLACK_MS: i64 = 60_000;

impl PendingUpload {
    /// Whether message `m` is the one this upload posted: it carries the file id, or, for
    /// `rooms.upload`, it is the uploader's message in the room, no older than the upload,
    /// with a file of the same name and size.
    pub(crate) fn posted(&self, m: &Value) -> bool {
        if !self.file_id.is_empty() {
            return file_ids(m).any(|id| id == self.file_id);
        }
        m["rid"] == self.rid.as_str()
            && m["u"]["_id"] == self.author.as_str()
            && crate::iso_time::millis(&m["ts"]).is_some_and(|ts| ts >= self.at - CLOCK_SLACK_MS)
            && m["files"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["name"] == self.name.as_str() && f["size"].as_u64() == Some(self.size))
    }
}

/// The recorded uploads, by the key of the Matrix attachment they carry
/// (see [`upload_key`]).
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    pending: BTreeMap<String, PendingUpload>,
}

/// The key of attachment `index` of the Matrix message whose Rocket.Chat id is `message_id`.
pub(crate) fn upload_key(message_id: &str, index: usize) -> String {
    format!("{message_id}/{index}")
}

impl Uploads {
    /// The uploads kept in a login's saved state (`uploads`), dropping those past their
    /// lifetime at `now`.
    pub(crate) fn from_state(state: &Value, now: i64) -> Self {
        let mut pending: BTreeMap<String, PendingUpload> =
            serde_json::from_value(state["uploads"].clone()).unwrap_or_default();
        pending.retain(|_, u| now - u.at < LIFETIME_MS);
        Self { pending }
    }

    /// The uploads as saved state.
    pub(crate) fn to_state(&self) -> Value {
        serde_json::to_value(&self.pending).unwrap_or_default()
    }

    /// The upload recorded for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<PendingUpload> {
        self.pending.get(key).cloned()
    }

    /// Records the upload for `key`.
    pub(crate) fn put(&mut self, key: &str, upload: PendingUpload) {
        self.pending.insert(key.to_owned(), upload);
    }

    /// Forgets the upload for `key` (its message is known).
    pub(crate) fn remove(&mut self, key: &str) {
        self.pending.remove(key);
    }

    /// Whether message `m` carries a recorded upload: the bridge posted it.
    pub(crate) fn carries_pending(&self, m: &Value) -> bool {
        self.pending.values().any(|u| u.posted(m))
    }
}

/// The ids of the files message `m` carries (`file` and `files`).
pub(crate) fn file_ids(m: &Value) -> impl Iterator<Item = &str> {
    m["file"]["_id"].as_str().into_iter().chain(
        m["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["_id"].as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uploads_survive_a_restart_until_they_expire() {
        let mut uploads = Uploads::default();
        let key = upload_key("MSGID", 0);
        uploads.put(
            &key,
            PendingUpload {
                rid: "R".into(),
                file_id: "F1".into(),
                at: 1_000,
                author: "U".into(),
                name: "a.png".into(),
                size: 3,
            },
        );
        let state = json!({ "uploads": uploads.to_state() });
        let again = Uploads::from_state(&state, 2_000);
        assert_eq!(again.get(&key).map(|u| u.file_id), Some("F1".to_owned()));
        assert!(again.carries_pending(&json!({"files": [{"_id": "F1"}]})));
        assert!(!again.carries_pending(&json!({"file": {"_id": "F2"}})));
        let expired = Uploads::from_state(&state, 1_000 + LIFETIME_MS);
        assert_eq!(expired.get(&key), None);
    }

    #[test]
    fn an_upload_without_file_id_is_told_by_author_room_name_size_and_time() {
        let upload = PendingUpload {
            rid: "R".into(),
            file_id: String::new(),
            at: 100_000,
            author: "U".into(),
            name: "a.png".into(),
            size: 3,
        };
        let m = |rid: &str, user: &str, name: &str, ts: i64| {
            json!({"rid": rid, "u": {"_id": user}, "ts": {"$date": ts},
                   "files": [{"_id": "F", "name": name, "size": 3}]})
        };
        assert!(upload.posted(&m("R", "U", "a.png", 100_500)));
        assert!(!upload.posted(&m("R", "OTHER", "a.png", 100_500)));
        assert!(!upload.posted(&m("R2", "U", "a.png", 100_500)));
        assert!(!upload.posted(&m("R", "U", "b.png", 100_500)));
        assert!(!upload.posted(&m("R", "U", "a.png", 100_000 - CLOCK_SLACK_MS - 1)));
    }
}
