//! Matrix -> Rocket.Chat through REST: messages with a client-chosen `_id` (so a retry of the
//! same Matrix event cannot post twice), edits, deletes and reactions.

use crate::api::RocketLogin;
use crate::convert::seen_state;
use crate::iso_time;
use aqueduct_core::connector::{ConnectorError, ConnectorResult};
use aqueduct_core::event::{MatrixMessage, MessageContent, SentMessage};
use aqueduct_core::ids::RemoteMessageId;
use aqueduct_core::records::Portal;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The characters of Rocket.Chat (Meteor) ids.
const ID_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";

/// The Rocket.Chat message id for a Matrix event: 17 id characters derived from the event id,
/// the shape of the ids Rocket.Chat makes itself. The same event always gets the same id.
pub(crate) fn message_id_for(event_id: &str) -> String {
    Sha256::digest(event_id.as_bytes())
        .iter()
        .take(17)
        .map(|b| ID_ALPHABET[*b as usize % ID_ALPHABET.len()] as char)
        .collect()
}

/// A reaction key as Rocket.Chat's `:shortcode:`.
fn reaction_shortcode(key: &str) -> ConnectorResult<String> {
    if key.starts_with(':') && key.ends_with(':') && key.len() > 2 {
        return Ok(key.to_owned());
    }
    aqueduct_format::rocketchat::emoji::name_for(key)
        .map(|name| format!(":{name}:"))
        .ok_or_else(|| {
            ConnectorError::Unsupported(format!("the reaction {key} (no Rocket.Chat emoji for it)"))
        })
}

impl RocketLogin {
    /// A Matrix message's text as Rocket.Chat markdown, with mentions of bridged users as
    /// `@username`.
    pub(crate) async fn text_for(&self, content: &MessageContent) -> String {
        let mut usernames = HashMap::new();
        for u in &content.mentions.users {
            if let Some(remote) = &u.remote_id
                && let Some(name) = self.username_of(remote.as_str()).await
            {
                usernames.insert(u.matrix_id.clone(), name);
            }
        }
        let text = aqueduct_format::rocketchat::matrix_to_markdown(
            &content.body,
            content.html.as_deref(),
            &|mxid| usernames.get(mxid).cloned(),
        );
        if content.mentions.room && !text.contains("@all") && !text.contains("@here") {
            return format!("@all {text}");
        }
        text
    }

    /// Sends a text message (`chat.sendMessage`), as the login or, for a relayed Matrix user,
    /// under their name (`alias`).
    pub(crate) async fn post(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        let mut text = if message.content.body.is_empty() {
            String::new()
        } else {
            self.text_for(&message.content).await
        };
        if let Some(quoted) = &message.reply_to {
            let link = self.permalink(portal.key.chat.as_str(), quoted).await;
            text = format!("[ ]({link}) {text}").trim_end().to_owned();
        }
        if !message.content.attachments.is_empty() {
            return self.post_files(portal, message, &text).await;
        }
        let id = message_id_for(&message.event_id);
        let mut body = json!({ "_id": id, "rid": portal.key.chat.as_str(), "msg": text });
        if let Some(root) = &message.thread_root {
            body["tmid"] = json!(root.as_str());
        }
        if let Some(r) = &message.relayed_for {
            body["alias"] = json!(r.display_name);
            // The picture the bridge serves publicly (with `appservice.public_url`).
            if let Some(avatar) = &r.avatar_url {
                body["avatar"] = json!(avatar);
            }
        }
        // Recorded before sending: the realtime echo may arrive before the answer.
        self.seen.lock().expect("seen").update(&id, |m| {
            m.author = self.rest.user_id().to_owned();
            m.text = crate::seen::text_digest(&text);
        });
        let answer = match self
            .rest
            .post("chat.sendMessage", json!({ "message": body }))
            .await
        {
            Ok(a) => a,
            // A retry of a message that did reach Rocket.Chat: it has our id already.
            Err(ConnectorError::Refused(e)) => match self.existing_message(&id).await {
                Some(a) => a,
                None => return Err(ConnectorError::Refused(e)),
            },
            Err(e) => return Err(e),
        };
        let m = &answer["message"];
        let ts = iso_time::millis(&m["ts"]);
        if let Some(ts) = ts {
            self.start_checkpoint(portal.key.chat.as_str(), ts).await;
        }
        Ok(SentMessage {
            id: RemoteMessageId::new(m["_id"].as_str().unwrap_or(&id)),
            timestamp_ms: ts,
        })
    }

    /// The permalink of message `quoted` in room `rid`, which quotes it when put in a text.
    async fn permalink(&self, rid: &str, quoted: &RemoteMessageId) -> String {
        let t = self.room_type(rid).await;
        let name = if t == "d" {
            rid.to_owned()
        } else {
            self.room_name(rid).await.unwrap_or_else(|| rid.to_owned())
        };
        crate::quote::permalink(self.config.base(), &t, &name, quoted.as_str())
    }

    /// The message with `id` (`chat.getMessage`), if it exists.
    async fn existing_message(&self, id: &str) -> Option<serde_json::Value> {
        self.rest
            .get("chat.getMessage", &[("msgId", id.to_owned())])
            .await
            .ok()
            .filter(|a| a["message"]["_id"] == id)
    }

    /// Replaces a message's text (`chat.update`).
    pub(crate) async fn edit(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
    ) -> ConnectorResult<()> {
        let text = self.text_for(content).await;
        self.seen
            .lock()
            .expect("seen")
            .update(target.as_str(), |m| {
                m.text = crate::seen::text_digest(&text)
            });
        let answer = self
            .rest
            .post(
                "chat.update",
                json!({ "roomId": portal.key.chat.as_str(), "msgId": target.as_str(), "text": text }),
            )
            .await?;
        // Remember the text as stored, so its echo is not taken for another edit.
        if answer["message"].is_object() {
            let stored = seen_state(&answer["message"]);
            self.seen
                .lock()
                .expect("seen")
                .update(target.as_str(), |m| m.text = stored.text);
        }
        Ok(())
    }

    /// Deletes a message (`chat.delete`).
    pub(crate) async fn delete(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
    ) -> ConnectorResult<()> {
        self.seen
            .lock()
            .expect("seen")
            .update(target.as_str(), |m| m.deleted = true);
        self.rest
            .post(
                "chat.delete",
                json!({ "roomId": portal.key.chat.as_str(), "msgId": target.as_str() }),
            )
            .await?;
        Ok(())
    }

    /// Adds or removes the login's reaction (`chat.react` with `shouldReact`, which makes a
    /// repeat harmless).
    pub(crate) async fn react(
        &self,
        add: bool,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        let emoji = reaction_shortcode(key)?;
        let me = self.username.clone();
        self.seen
            .lock()
            .expect("seen")
            .update(target.as_str(), |m| {
                let users = m.reactions.entry(emoji.clone()).or_default();
                if add {
                    users.insert(me);
                } else {
                    users.remove(&me);
                    if users.is_empty() {
                        m.reactions.remove(&emoji);
                    }
                }
            });
        self.rest
            .post(
                "chat.react",
                json!({ "messageId": target.as_str(), "emoji": emoji, "shouldReact": add }),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_shaped_like_rocket_chat_ids() {
        let a = message_id_for("$abc:hs");
        assert_eq!(a, message_id_for("$abc:hs"));
        assert_ne!(a, message_id_for("$abd:hs"));
        assert_eq!(a.len(), 17);
        assert!(a.bytes().all(|b| ID_ALPHABET.contains(&b)));
    }

    #[test]
    fn reactions_become_shortcodes() {
        assert_eq!(reaction_shortcode("🎉").unwrap(), ":tada:");
        assert_eq!(reaction_shortcode("👍🏻").unwrap(), ":+1_tone1:");
        assert_eq!(
            reaction_shortcode(":party_parrot:").unwrap(),
            ":party_parrot:"
        );
        assert!(reaction_shortcode("not an emoji").is_err());
    }
}
