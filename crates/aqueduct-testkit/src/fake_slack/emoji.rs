//! The workspace's custom emoji: `emoji.list` (name -> image URL, or `alias:<name>`) and the
//! images at their URLs, as Slack serves them from its emoji CDN (no token needed). Changes
//! emit `emoji_changed` events, as Slack does for apps with the `emoji:read` scope.

use super::{FakeSlack, Shared, TEAM_ID};
use axum::extract::{Path, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Custom emoji by name.
#[derive(Default)]
pub(crate) struct CustomEmoji {
    /// Name -> image URL or `alias:<name>`.
    names: BTreeMap<String, String>,
    /// Image URL path (`/emoji/<team>/<name>/<file>`) -> (MIME type, bytes).
    images: BTreeMap<String, (String, Vec<u8>)>,
}

impl CustomEmoji {
    /// The `emoji.list` answer (without `ok`).
    pub(crate) fn list(&self) -> Value {
        let emoji: Map<String, Value> = self
            .names
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({ "emoji": emoji, "cache_ts": "1700000000.000000" })
    }
}

/// `GET /emoji/<team>/<name>/<file>`: a custom emoji's image.
pub(crate) async fn image(
    AxState(sh): AxState<Arc<Shared>>,
    Path((team, name, file)): Path<(String, String, String)>,
) -> Response {
    let path = format!("/emoji/{team}/{name}/{file}");
    match sh.lock().custom_emoji.images.get(&path) {
        Some((mime, data)) => {
            ([(header::CONTENT_TYPE, mime.clone())], data.clone()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such emoji").into_response(),
    }
}

impl FakeSlack {
    /// Adds custom emoji `name` with image `data` (of type `mime`); returns its image URL.
    pub fn add_custom_emoji(&self, name: &str, mime: &str, data: &[u8]) -> String {
        let mut st = self.shared.lock();
        let ext = mime.strip_prefix("image/").unwrap_or("png");
        let path = format!(
            "/emoji/{TEAM_ID}/{name}/{:016x}.{ext}",
            rand::random::<u64>()
        );
        let url = format!("{}{path}", st.root());
        st.custom_emoji
            .images
            .insert(path, (mime.to_owned(), data.to_vec()));
        st.custom_emoji.names.insert(name.to_owned(), url.clone());
        st.emit(json!({"type": "emoji_changed", "subtype": "add", "name": name, "value": url}));
        drop(st);
        self.shared.changed();
        url
    }

    /// Removes custom emoji `name` (`emoji_changed`, subtype `remove`).
    pub fn remove_custom_emoji(&self, name: &str) {
        let mut st = self.shared.lock();
        st.custom_emoji.names.remove(name);
        st.emit(json!({"type": "emoji_changed", "subtype": "remove", "names": [name]}));
        drop(st);
        self.shared.changed();
    }

    /// Adds custom emoji `name` as an alias of emoji `target` (custom or standard).
    pub fn add_emoji_alias(&self, name: &str, target: &str) {
        let mut st = self.shared.lock();
        let value = format!("alias:{target}");
        st.custom_emoji.names.insert(name.to_owned(), value.clone());
        st.emit(json!({"type": "emoji_changed", "subtype": "add", "name": name, "value": value}));
        drop(st);
        self.shared.changed();
    }
}
