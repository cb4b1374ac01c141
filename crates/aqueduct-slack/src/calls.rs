//! Web API operations that both kinds of login perform, each with its own token: the
//! workspace app (bot token, [`crate::api::SlackLogin`]) and a user's personal login (user
//! token, [`crate::puppet::SlackPuppet`]). Slack answers them the same way for either token;
//! only who the result is attributed to differs.

use crate::convert::{self, slack_user};
use crate::earlier_posts::BridgeMetadata;
use crate::web::SlackWeb;
use aqueduct_core::connector::{ChatInfo, ConnectorError, ConnectorResult, RemoteAvatar, UserInfo};
use aqueduct_core::event::{MatrixMessage, MessageContent, SentMessage};
use aqueduct_core::ids::{RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::Portal;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The Web API with one token, for one workspace.
pub(crate) struct Calls<'a> {
    /// The client carrying the token that acts.
    pub web: &'a SlackWeb,
    /// The workspace, to build remote user ids.
    pub team: &'a str,
    /// Largest file sent to Slack, in bytes.
    pub max_file_bytes: u64,
}

/// A Matrix message's text as mrkdwn, with mentions of bridged users as `<@U...>` and links to
/// bridged rooms as `<#C...>`.
pub(crate) fn text_for(content: &MessageContent) -> String {
    // Matrix users and bridged rooms named in the message, by their matrix.to target.
    let slack_ids: HashMap<&str, String> = content
        .mentions
        .users
        .iter()
        .filter_map(|u| {
            u.remote_id
                .as_ref()
                .map(|r| (u.matrix_id.as_str(), slack_user(r).to_owned()))
        })
        .chain(
            content
                .mentions
                .chats
                .iter()
                .map(|c| (c.matrix_room.as_str(), c.chat.to_string())),
        )
        .collect();
    let text =
        aqueduct_format::slack::matrix_to_mrkdwn(&content.body, content.html.as_deref(), &|mxid| {
            slack_ids.get(mxid).cloned()
        });
    if content.mentions.room && !text.contains("<!channel>") && !text.contains("<!here>") {
        return format!("<!channel> {text}");
    }
    text
}

/// The `thread_ts` a message goes to: Slack has no replies outside threads, so a reply starts
/// (or joins) the thread.
pub(crate) fn thread_of(message: &MatrixMessage) -> Option<String> {
    message
        .thread_root
        .as_ref()
        .or(message.reply_to.as_ref())
        .map(|r| r.to_string())
}

fn reaction_name(key: &str) -> ConnectorResult<String> {
    if let Some(custom) = key.strip_prefix(':').and_then(|k| k.strip_suffix(':')) {
        return Ok(custom.to_owned());
    }
    aqueduct_format::emoji::to_shortcode(key).ok_or_else(|| {
        ConnectorError::Unsupported(format!("the reaction {key} (Slack has no such emoji)"))
    })
}

impl Calls<'_> {
    /// Posts a text message (`chat.postMessage`) with `extra` parameters (a relay's
    /// `username`) and metadata naming its Matrix event; returns its `ts`. A message that may
    /// have been posted already is looked for first, and the earlier post's `ts` returned
    /// (see [`crate::earlier_posts`]).
    pub async fn post_text(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
        extra: Vec<(&'static str, String)>,
    ) -> ConnectorResult<String> {
        if message.maybe_sent_before
            && let Some(ts) = self.earlier_post(portal, message).await
        {
            return Ok(ts);
        }
        let mut params = vec![
            ("channel", portal.key.chat.to_string()),
            ("text", text_for(&message.content)),
            (
                "metadata",
                BridgeMetadata::for_event(&message.event_id).to_param(),
            ),
        ];
        if let Some(root) = thread_of(message) {
            params.push(("thread_ts", root));
        }
        params.extend(extra);
        self.web.wait_send_turn(portal.key.chat.as_str()).await;
        self.web.replay_lookups().trying(&message.event_id);
        let sent = self.web.call("chat.postMessage", &params).await?;
        Ok(sent["ts"].as_str().unwrap_or_default().to_owned())
    }

    /// Uploads a message's files (`files.getUploadURLExternal`, the upload, then
    /// `files.completeUploadExternal`), with the text as the comment. The message's id is its
    /// `ts` when Slack reports the share, else `file:<id>` (which deletes with `files.delete`).
    /// A retry finds the share of an earlier attempt in this run by its files, and returns it
    /// (see [`crate::earlier_posts`]).
    pub async fn send_files(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> ConnectorResult<SentMessage> {
        if message.maybe_sent_before
            && let Some(ts) = self.earlier_upload(portal, message).await
        {
            return Ok(SentMessage {
                timestamp_ms: None,
                id: RemoteMessageId::new(ts),
            });
        }
        let mut files = Vec::new();
        let mut file_ids = Vec::new();
        for att in &message.content.attachments {
            if att.data.len() as u64 > self.max_file_bytes {
                return Err(ConnectorError::Refused(format!(
                    "{} is larger than the {} bytes this bridge sends to Slack",
                    att.name, self.max_file_bytes
                )));
            }
            let slot = self
                .web
                .call(
                    "files.getUploadURLExternal",
                    &[
                        ("filename", att.name.clone()),
                        ("length", att.data.len().to_string()),
                    ],
                )
                .await?;
            let (Some(url), Some(id)) = (slot["upload_url"].as_str(), slot["file_id"].as_str())
            else {
                return Err(ConnectorError::Temporary(
                    "files.getUploadURLExternal answered without upload_url or file_id".into(),
                ));
            };
            self.web.upload(url, att.data.clone()).await?;
            file_ids.push(id.to_owned());
            files.push(json!({ "id": id, "title": att.name }));
        }
        let mut comment = if message.content.body.is_empty() {
            String::new()
        } else {
            text_for(&message.content)
        };
        if let Some(r) = &message.relayed_for {
            // Uploads cannot carry a username: name the sender in the comment.
            comment = if comment.is_empty() {
                format!("*{}* sent a file", r.display_name)
            } else {
                format!("*{}*: {comment}", r.display_name)
            };
        }
        let channel = portal.key.chat.to_string();
        let mut params = vec![
            ("files", Value::Array(files).to_string()),
            ("channel_id", channel.clone()),
        ];
        if !comment.is_empty() {
            params.push(("initial_comment", comment));
        }
        if let Some(root) = thread_of(message) {
            params.push(("thread_ts", root));
        }
        // Sharing the files posts a message into the channel: from here on, a retry must
        // look for it first.
        self.web
            .recent_uploads()
            .remember(&message.event_id, file_ids);
        self.web.wait_send_turn(&channel).await;
        let done = self
            .web
            .call("files.completeUploadExternal", &params)
            .await?;
        let file = &done["files"][0];
        let shared_ts = ["public", "private"].iter().find_map(|k| {
            file["shares"][*k][channel.as_str()][0]["ts"]
                .as_str()
                .map(str::to_owned)
        });
        let id = match shared_ts {
            Some(ts) => ts,
            None => format!("file:{}", file["id"].as_str().unwrap_or_default()),
        };
        Ok(SentMessage {
            timestamp_ms: None,
            id: RemoteMessageId::new(id),
        })
    }

    /// Replaces a message's text (`chat.update`); returns the text as Slack stored it.
    pub async fn edit(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        content: &MessageContent,
    ) -> ConnectorResult<String> {
        let text = text_for(content);
        let params = [
            ("channel", portal.key.chat.to_string()),
            ("ts", target.to_string()),
            ("text", text.clone()),
        ];
        let answer = self.web.call("chat.update", &params).await?;
        Ok(answer["text"].as_str().map(str::to_owned).unwrap_or(text))
    }

    /// Deletes a message (`chat.delete`), or a file shared without a message (`files.delete`).
    /// Idempotent: a target already gone (deleted on Slack, or by a first attempt whose answer
    /// was lost) is the state asked for, not a failure.
    pub async fn delete(&self, portal: &Portal, target: &RemoteMessageId) -> ConnectorResult<()> {
        match self.delete_once(portal, target).await {
            Err(ConnectorError::Refused(why))
                if ["message_not_found", "file_not_found", "file_deleted"]
                    .iter()
                    .any(|gone| why.ends_with(gone)) =>
            {
                tracing::info!(target = %target, "the Slack message to delete is already gone");
                Ok(())
            }
            other => other,
        }
    }

    async fn delete_once(&self, portal: &Portal, target: &RemoteMessageId) -> ConnectorResult<()> {
        match target.as_str().strip_prefix("file:") {
            Some(file) => {
                self.web
                    .call("files.delete", &[("file", file.to_owned())])
                    .await?
            }
            None => {
                self.web
                    .call(
                        "chat.delete",
                        &[
                            ("channel", portal.key.chat.to_string()),
                            ("ts", target.to_string()),
                        ],
                    )
                    .await?
            }
        };
        Ok(())
    }

    /// Adds (`add`) or removes a reaction, treating `already_reacted` / `no_reaction` as
    /// success, so a repeated action is harmless.
    pub async fn react(
        &self,
        add: bool,
        portal: &Portal,
        target: &RemoteMessageId,
        key: &str,
    ) -> ConnectorResult<()> {
        let (method, already_done) = if add {
            ("reactions.add", "already_reacted")
        } else {
            ("reactions.remove", "no_reaction")
        };
        let params = [
            ("channel", portal.key.chat.to_string()),
            ("timestamp", target.to_string()),
            ("name", reaction_name(key)?),
        ];
        match self.web.call(method, &params).await {
            Err(ConnectorError::Refused(e)) if e.ends_with(already_done) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Calls a conversation method with the portal's channel and one more parameter
    /// (`conversations.rename` + `name`, `conversations.invite` + `users`, ...).
    pub async fn on_channel(
        &self,
        method: &str,
        portal: &Portal,
        param: (&'static str, String),
    ) -> ConnectorResult<()> {
        self.web
            .call(method, &[("channel", portal.key.chat.to_string()), param])
            .await?;
        Ok(())
    }

    /// A conversation's name, topic and members, leaving out the users in `hidden` (the
    /// bridge's own bot).
    pub async fn chat_info(
        &self,
        chat: &RemoteChatId,
        hidden: &[&str],
    ) -> ConnectorResult<ChatInfo> {
        let info = self
            .web
            .call("conversations.info", &[("channel", chat.to_string())])
            .await?;
        let c = &info["channel"];
        let is_direct = c["is_im"].as_bool().unwrap_or(false);
        let members = if is_direct {
            c["user"]
                .as_str()
                .map(|u| vec![convert::user_id(self.team, u)])
                .unwrap_or_default()
        } else {
            let m = self
                .web
                .call(
                    "conversations.members",
                    &[("channel", chat.to_string()), ("limit", "200".into())],
                )
                .await?;
            m["members"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str())
                        .filter(|u| !hidden.contains(u))
                        .map(|u| convert::user_id(self.team, u))
                        .collect()
                })
                .unwrap_or_default()
        };
        // A group DM's name (`mpdm-ann--bob-1`) is Slack's internal handle, not a title:
        // without a name, Matrix clients title the room by its members, as Slack does.
        let is_group_dm = c["is_mpim"].as_bool().unwrap_or(false);
        Ok(ChatInfo {
            name: (!is_direct && !is_group_dm)
                .then(|| c["name"].as_str().map(str::to_owned))
                .flatten(),
            topic: c["topic"]["value"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            is_direct,
            members,
            avatar: None,
        })
    }

    /// A user's name and avatar (`users.info`).
    pub async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        let info = self
            .web
            .call("users.info", &[("user", slack_user(user).to_owned())])
            .await?;
        let u = &info["user"];
        let p = &u["profile"];
        let name = crate::mention_names::display_name(u);
        let avatar = match p["image_72"].as_str() {
            // Public (Gravatar, Slack's avatar CDN): fetched without the token.
            Some(url) => match self.web.download_public(url, 5 * 1024 * 1024).await {
                Ok((data, mime)) => Some(RemoteAvatar {
                    source: url.to_owned(),
                    mime: mime
                        .filter(|m| m.starts_with("image/"))
                        .unwrap_or_else(|| "image/png".into()),
                    data,
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "no Slack avatar");
                    None
                }
            },
            None => None,
        };
        Ok(UserInfo {
            display_name: name,
            avatar,
        })
    }
}
