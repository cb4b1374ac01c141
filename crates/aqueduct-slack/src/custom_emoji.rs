//! A workspace's custom emoji (`emoji.list`): names to image URLs, aliases resolved. Turns
//! custom emoji in received messages and reactions into neutral [`CustomEmoji`] references,
//! and fetches their images for the engine.

use crate::api::SlackLogin;
use crate::web::SlackWeb;
use aqueduct_core::connector::{ConnectorError, ConnectorResult, CustomEmojiHandler, EmojiImage};
use aqueduct_core::custom_emoji::emoticon_html;
use aqueduct_core::event::{CustomEmoji, MessageContent, RemoteEvent, RemoteEventKind};
use aqueduct_core::text::escape_html;
use aqueduct_format::shortcodes::{replace_shortcodes_in_html, shortcode_names};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often at most an unknown name makes the list be fetched again (a custom emoji added
/// since the last fetch), so that text full of colons cannot flood `emoji.list`.
const REFRESH_AFTER: Duration = Duration::from_secs(60);

/// Largest custom emoji image taken from Slack (Slack itself caps uploads at 128 KB).
const MAX_IMAGE_BYTES: u64 = 1024 * 1024;

/// Aliases followed at most; Slack allows no alias of an alias, this guards against loops.
const MAX_ALIAS_HOPS: usize = 4;

/// What a name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A custom emoji's image URL.
    Image(String),
    /// A standard emoji (a custom alias of one), as Unicode.
    Standard(String),
}

/// The workspace's `emoji.list`, fetched on first need.
#[derive(Default)]
pub(crate) struct EmojiCache {
    list: tokio::sync::Mutex<Option<(HashMap<String, String>, Instant)>>,
}

/// Applies an `emoji_changed` event (`add`, `remove`, `rename`) to a fetched list. `false`
/// when the event says something this cannot apply, so the list must be fetched again.
fn apply_change(list: &mut HashMap<String, String>, ev: &Value) -> bool {
    match ev["subtype"].as_str() {
        Some("add") => match (ev["name"].as_str(), ev["value"].as_str()) {
            (Some(name), Some(value)) => {
                list.insert(name.to_owned(), value.to_owned());
                true
            }
            _ => false,
        },
        Some("remove") => match ev["names"].as_array() {
            Some(names) => {
                for name in names.iter().filter_map(Value::as_str) {
                    list.remove(name);
                }
                true
            }
            None => false,
        },
        Some("rename") => match (
            ev["old_name"].as_str(),
            ev["new_name"].as_str(),
            ev["value"].as_str(),
        ) {
            (Some(old), Some(new), Some(value)) => {
                list.remove(old);
                list.insert(new.to_owned(), value.to_owned());
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// Follows `name` through aliases to an image URL or a standard emoji.
fn resolve_in(list: &HashMap<String, String>, name: &str) -> Option<Resolved> {
    let mut name = name;
    for _ in 0..=MAX_ALIAS_HOPS {
        match list.get(name) {
            Some(value) => match value.strip_prefix("alias:") {
                Some(target) => name = target,
                None => return Some(Resolved::Image(value.clone())),
            },
            None => return aqueduct_format::emoji::from_shortcode(name).map(Resolved::Standard),
        }
    }
    None
}

impl EmojiCache {
    async fn fetch(web: &SlackWeb) -> HashMap<String, String> {
        match web.call("emoji.list", &[]).await {
            Ok(answer) => answer["emoji"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            Err(e) => {
                // Without `emoji:read` custom emoji stay text: worth a line, not a failure.
                tracing::warn!(error = %e, "cannot list the workspace's custom emoji");
                HashMap::new()
            }
        }
    }

    /// Keeps the list in step with an `emoji_changed` event: an emoji added, removed or
    /// renamed in the workspace shows as such at once, and a changed image is not served
    /// from the old URL. An event it cannot apply drops the list, fetched again on next need.
    pub(crate) async fn changed(&self, ev: &Value) {
        let mut list = self.list.lock().await;
        if let Some((names, _)) = &mut *list
            && !apply_change(names, ev)
        {
            *list = None;
        }
    }

    /// What custom emoji `name` stands for; `None` for standard emoji and unknown names.
    pub(crate) async fn resolve(&self, web: &SlackWeb, name: &str) -> Option<Resolved> {
        if aqueduct_format::emoji::from_shortcode(name).is_some() {
            return None;
        }
        let mut list = self.list.lock().await;
        let stale = match &*list {
            None => true,
            Some((names, at)) => !names.contains_key(name) && at.elapsed() >= REFRESH_AFTER,
        };
        if stale {
            *list = Some((Self::fetch(web).await, Instant::now()));
        }
        list.as_ref().and_then(|(names, _)| resolve_in(names, name))
    }
}

fn custom(name: &str, url: String) -> CustomEmoji {
    CustomEmoji {
        shortcode: format!(":{name}:"),
        source: url,
    }
}

impl SlackLogin {
    /// Marks the custom emoji of a converted event: images inline in message text, and
    /// reactions with a custom emoji (or an alias of a standard one, which becomes Unicode).
    pub(crate) async fn resolve_custom_emoji(&self, event: &mut RemoteEvent) {
        match &mut event.kind {
            RemoteEventKind::Message { content, .. } | RemoteEventKind::Edit { content, .. } => {
                self.inline_custom_emoji(content).await;
            }
            RemoteEventKind::ReactionAdd { key, custom: c, .. } => {
                let Some(name) = key.strip_prefix(':').and_then(|k| k.strip_suffix(':')) else {
                    return;
                };
                match self.emoji.resolve(&self.bot, name).await {
                    Some(Resolved::Image(url)) => *c = Some(custom(name, url)),
                    Some(Resolved::Standard(unicode)) => *key = unicode,
                    None => {}
                }
            }
            RemoteEventKind::ReactionRemove { key, .. } => {
                let Some(name) = key.strip_prefix(':').and_then(|k| k.strip_suffix(':')) else {
                    return;
                };
                // Keyed as when it was added.
                if let Some(Resolved::Standard(unicode)) = self.emoji.resolve(&self.bot, name).await
                {
                    *key = unicode;
                }
            }
            _ => {}
        }
    }

    async fn inline_custom_emoji(&self, content: &mut MessageContent) {
        let mut images = HashMap::new();
        for name in shortcode_names(&content.body) {
            if let Some(Resolved::Image(url)) = self.emoji.resolve(&self.bot, &name).await {
                images.insert(name, url);
            }
        }
        if images.is_empty() {
            return;
        }
        let html = content
            .html
            .take()
            .unwrap_or_else(|| escape_html(&content.body).replace('\n', "<br>"));
        let replace = |name: &str| {
            images
                .get(name)
                .map(|url| emoticon_html(url, &format!(":{name}:")))
        };
        let html = replace_shortcodes_in_html(&html, &replace);
        content.custom_emoji = images
            .into_iter()
            .filter(|(name, url)| html.contains(&emoticon_html(url, &format!(":{name}:"))))
            .map(|(name, url)| custom(&name, url))
            .collect();
        content.html = Some(html);
    }
}

/// Fetches a custom emoji's image from its URL (public on Slack's CDN, so without the token).
pub(crate) async fn fetch_image(
    web: &SlackWeb,
    emoji: &CustomEmoji,
) -> ConnectorResult<EmojiImage> {
    let (data, _) = web.download_public(&emoji.source, MAX_IMAGE_BYTES).await?;
    let mime = aqueduct_core::public_media::image_mime(&data).ok_or_else(|| {
        ConnectorError::Refused(format!("the image of {} is not an image", emoji.shortcode))
    })?;
    Ok(EmojiImage {
        mime: mime.to_owned(),
        data,
    })
}

#[async_trait]
impl CustomEmojiHandler for SlackLogin {
    async fn fetch_custom_emoji(&self, emoji: &CustomEmoji) -> ConnectorResult<EmojiImage> {
        fetch_image(&self.bot, emoji).await
    }
}

#[async_trait]
impl CustomEmojiHandler for crate::puppet::SlackPuppet {
    async fn fetch_custom_emoji(&self, emoji: &CustomEmoji) -> ConnectorResult<EmojiImage> {
        fetch_image(&self.web, emoji).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_changed_events_update_the_list() {
        use serde_json::json;
        let mut list: HashMap<String, String> =
            [("oldparrot".to_owned(), "https://e/parrot.gif".to_owned())].into();
        let add = json!({"type": "emoji_changed", "subtype": "add", "name": "shipit",
                         "value": "https://e/shipit.png", "event_ts": "1.0"});
        assert!(apply_change(&mut list, &add));
        assert_eq!(
            resolve_in(&list, "shipit"),
            Some(Resolved::Image("https://e/shipit.png".into()))
        );
        let rename = json!({"type": "emoji_changed", "subtype": "rename", "old_name": "oldparrot",
                            "new_name": "party_parrot", "value": "https://e/parrot2.gif"});
        assert!(apply_change(&mut list, &rename));
        assert_eq!(resolve_in(&list, "oldparrot"), None);
        assert_eq!(
            resolve_in(&list, "party_parrot"),
            Some(Resolved::Image("https://e/parrot2.gif".into()))
        );
        let remove = json!({"type": "emoji_changed", "subtype": "remove", "names": ["shipit"]});
        assert!(apply_change(&mut list, &remove));
        assert_eq!(resolve_in(&list, "shipit"), None);
        assert!(!apply_change(
            &mut list,
            &json!({"type": "emoji_changed", "subtype": "other"})
        ));
    }

    #[test]
    fn aliases_resolve_to_images_or_standard_emoji() {
        let list: HashMap<String, String> = [
            ("parrot", "https://e/parrot.gif"),
            ("party_parrot", "alias:parrot"),
            ("yay", "alias:tada"),
            ("loop", "alias:loop"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            resolve_in(&list, "party_parrot"),
            Some(Resolved::Image("https://e/parrot.gif".into()))
        );
        assert_eq!(
            resolve_in(&list, "yay"),
            Some(Resolved::Standard("🎉".into()))
        );
        assert_eq!(resolve_in(&list, "loop"), None);
        assert_eq!(resolve_in(&list, "unknown_thing"), None);
    }
}
