//! Custom (image) emoji across the bridge. Matrix shows them as inline emoticon images
//! (`<img data-mx-emoticon>`) and as reactions whose key is the image's `mxc://` URI with a
//! `com.beeper.reaction.shortcode`; networks name them by shortcode. The engine uploads each
//! image once, keyed by its source on the network, and maps the upload back to the shortcode
//! for the other direction.

use crate::bridge::{Inner, LoadedLogin};
use crate::event::{CustomEmoji, MessageContent};
use crate::ids::ConnectorId;
use crate::records::CustomEmojiRecord;
use crate::text::escape_html;
use std::ops::Range;

/// Content key carrying a custom emoji reaction's shortcode (as Beeper's clients read it).
pub const REACTION_SHORTCODE_KEY: &str = "com.beeper.reaction.shortcode";

/// The inline HTML of a custom emoji whose image is at `src`. Connectors write it with the
/// emoji's source; the engine swaps in the `mxc://` URI of the upload.
pub fn emoticon_html(src: &str, shortcode: &str) -> String {
    let src = escape_html(src);
    let code = escape_html(shortcode);
    format!(r#"<img data-mx-emoticon src="{src}" alt="{code}" title="{code}" height="32">"#)
}

/// Emoticon images (`<img ... data-mx-emoticon ...>`) in Matrix HTML: the byte range of each
/// tag and its `src`, in order.
pub(crate) fn emoticon_images(html: &str) -> Vec<(Range<usize>, String)> {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("<img") {
        let start = from + at;
        let Some(len) = lower[start..].find('>') else {
            break;
        };
        let end = start + len + 1;
        let tag = &lower[start..end];
        if tag.contains("data-mx-emoticon")
            && let Some(src) = attribute(&html[start..end], tag, "src")
        {
            out.push((start..end, src));
        }
        from = end;
    }
    out
}

/// The unescaped value of a quoted attribute in a tag (`lower` is the tag lowercased).
fn attribute(tag: &str, lower: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = lower[from..].find(name) {
        let pos = from + at;
        from = pos + name.len();
        let preceded = lower[..pos].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = lower[from..].trim_start();
        if !preceded || !rest.starts_with('=') {
            continue;
        }
        let value_at = tag.len() - rest[1..].trim_start().len();
        let quote = tag[value_at..].chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let value = &tag[value_at + 1..];
        let close = value.find(quote)?;
        return Some(unescape_attribute(&value[..close]));
    }
    None
}

fn unescape_attribute(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn file_name(shortcode: &str, mime: &str) -> String {
    let ext = mime.strip_prefix("image/").unwrap_or("bin");
    format!("{}.{ext}", shortcode.trim_matches(':'))
}

impl Inner {
    /// The `mxc://` URI of a custom emoji's image: the upload made for its source before, or
    /// a new one fetched through the login's connector. `None` (logged) when the image cannot
    /// be had; callers then show the shortcode as text, losing nothing a user typed.
    pub(crate) async fn custom_emoji_mxc(
        &self,
        login: &LoadedLogin,
        emoji: &CustomEmoji,
    ) -> Option<String> {
        match self.store.custom_emoji_by_source(&emoji.source).await {
            Ok(Some(known)) => return Some(known.mxc),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a custom emoji");
                return None;
            }
        }
        let handler = login.api.as_custom_emoji()?;
        let image = match handler.fetch_custom_emoji(emoji).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, emoji = %emoji.shortcode, "cannot fetch a custom emoji");
                return None;
            }
        };
        let bot = self.matrix.bot_user_id().to_owned();
        let name = file_name(&emoji.shortcode, &image.mime);
        let mxc = match self
            .retry_matrix("upload custom emoji", || {
                self.matrix
                    .upload(&bot, image.data.clone(), &image.mime, &name)
            })
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, emoji = %emoji.shortcode, "cannot upload a custom emoji");
                return None;
            }
        };
        let record = CustomEmojiRecord {
            connector: login.login.connector.clone(),
            source: emoji.source.clone(),
            mxc: mxc.clone(),
            shortcode: emoji.shortcode.clone(),
        };
        if let Err(e) = self.store.insert_custom_emoji(&record).await {
            tracing::warn!(error = %e, "cannot remember a custom emoji upload");
            return Some(mxc);
        }
        // A concurrent upload of the same image may have been recorded first: use that one,
        // so every event shows the same URI.
        match self.store.custom_emoji_by_source(&emoji.source).await {
            Ok(Some(known)) => Some(known.mxc),
            _ => Some(mxc),
        }
    }

    /// Points the content's custom emoji at their uploads in Matrix, or shows the shortcode
    /// as text where an image cannot be had.
    pub(crate) async fn upload_custom_emoji(
        &self,
        login: &LoadedLogin,
        content: &mut MessageContent,
    ) {
        let emoji = std::mem::take(&mut content.custom_emoji);
        let Some(html) = content.html.as_mut() else {
            return;
        };
        for e in &emoji {
            let placeholder = emoticon_html(&e.source, &e.shortcode);
            if !html.contains(&placeholder) {
                continue;
            }
            let shown = match self.custom_emoji_mxc(login, e).await {
                Some(mxc) => emoticon_html(&mxc, &e.shortcode),
                None => escape_html(&e.shortcode),
            };
            *html = html.replace(&placeholder, &shown);
        }
        content.custom_emoji = emoji;
    }

    /// The custom emoji of `connector` uploaded as `mxc`, if the bridge made that upload.
    pub(crate) async fn known_custom_emoji(
        &self,
        connector: &ConnectorId,
        mxc: &str,
    ) -> crate::Result<Option<CustomEmojiRecord>> {
        Ok(self
            .store
            .custom_emoji_by_mxc(mxc)
            .await?
            .filter(|r| &r.connector == connector))
    }

    /// Replaces the emoticon images of `connector`'s custom emoji in a Matrix message's HTML
    /// with their shortcodes, and lists them in `custom_emoji`. Other images stay as they are.
    pub(crate) async fn emoticons_to_shortcodes(
        &self,
        connector: &ConnectorId,
        content: &mut MessageContent,
    ) -> crate::Result<()> {
        let Some(html) = content.html.clone() else {
            return Ok(());
        };
        let mut out = String::with_capacity(html.len());
        let mut last = 0;
        for (range, src) in emoticon_images(&html) {
            let Some(known) = self.known_custom_emoji(connector, &src).await? else {
                continue;
            };
            out.push_str(&html[last..range.start]);
            out.push_str(&escape_html(&known.shortcode));
            last = range.end;
            content.custom_emoji.push(CustomEmoji {
                shortcode: known.shortcode,
                source: known.source,
            });
        }
        out.push_str(&html[last..]);
        content.html = Some(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoticon_html_escapes_and_is_found_again() {
        let html = format!(
            "hi {} and <img src=\"mxc://x/plain\"> {}",
            emoticon_html("https://e.x/a?b=1&c=2", ":party:"),
            emoticon_html("mxc://hs/abc", ":ok\"go:")
        );
        assert!(html.contains(r#"src="https://e.x/a?b=1&amp;c=2""#));
        let found: Vec<String> = emoticon_images(&html).into_iter().map(|f| f.1).collect();
        assert_eq!(found, vec!["https://e.x/a?b=1&c=2", "mxc://hs/abc"]);
    }

    #[test]
    fn reads_emoticons_written_by_other_clients() {
        let html = "<IMG alt=':p:' data-mx-emoticon height=32 SRC='mxc://hs/p'>x<img data-src=\"n\" data-mx-emoticon>";
        let found = emoticon_images(html);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "mxc://hs/p");
        assert_eq!(
            &html[found[0].0.clone()],
            &html[..html.find("'>").unwrap() + 2]
        );
    }
}
