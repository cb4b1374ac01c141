//! A Matrix message (`m.room.message`) out to its portal's network: an edit of a bridged
//! message, or a new message with its mentions, relay prefix, reply, thread and attachment,
//! sent with retries and recorded in the message map.

use super::Sender;
use crate::audit::{AuditAction, Crossing, MappingChange};
use crate::bridge::Inner;
use crate::connector::{ConnectorError, NetworkApi};
use crate::crossed::Crossed;
use crate::event::{
    MatrixMessage, MentionedChat, MentionedUser, Mentions, MessageContent, RelayedSender,
    SentMessage,
};
use crate::matrix_content::{self as mc, Envelope};
use crate::records::{MessageRecord, Portal};
use crate::send_retry::SEND_RETRY;
use crate::text::escape_html;
use crate::{Error, Result};
use ruma::events::room::MediaSource;
use ruma::events::room::message::{Relation, RoomMessageEventContent};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

impl Inner {
    /// Returns `Ok(true)` when something crossed. `maybe_sent_before`: the event is a replay
    /// that may already have reached the platform (see [`MatrixMessage::maybe_sent_before`]).
    pub(super) async fn bridge_message(
        &self,
        env: &Envelope,
        portal: &Portal,
        sender: &Sender,
        maybe_sent_before: bool,
    ) -> Result<bool> {
        let content: RoomMessageEventContent = serde_json::from_value(env.content.clone())
            .map_err(|e| Error::Unknown(format!("malformed message content: {e}")))?;
        let api = &sender.login.api;
        let can = api.portal_capabilities(portal);
        if let Some(Relation::Replacement(r)) = &content.relates_to {
            let Some(target) = self
                .store
                .message_by_event_in(&portal.key, r.event_id.as_str())
                .await?
            else {
                return Ok(false);
            };
            if let Some(why) = self.edit_refusal(env, &target) {
                self.refuse(env, "edit", &why).await;
                return Ok(false);
            }
            if let Some(why) = edit_out_of_window(&can, &target, env.origin_server_ts, portal) {
                self.notice(&env.room_id, &why).await;
                return Ok(false);
            }
            let Some((new, _)) = mc::read_message(&r.new_content.msgtype) else {
                return Ok(false);
            };
            let mut new = new;
            self.emoticons_to_shortcodes(&portal.key.connector, &mut new)
                .await?;
            let mut new = self.decorate(
                new,
                &r.new_content.mentions,
                &sender.relayed_for,
                portal,
                sender,
            );
            self.gate_room_ping(env, &mut new).await?;
            self.link_chats(&mut new, portal).await;
            let edits = api
                .as_edits()
                .ok_or_else(|| ConnectorError::Unsupported("edits".into()))?;
            let platform = portal.key.connector.as_str();
            self.with_retries(platform, "edit", SEND_RETRY, || {
                edits.edit_message(portal, &target.remote_id, &new, sender.relayed_for.as_ref())
            })
            .await?;
            let remote_sender = sender.login.login.remote_user.as_str();
            let audit = Crossed::out(env, &portal.key, Some(&target.remote_id), remote_sender)
                .of_event(AuditAction::Edit, env);
            let crossing = [Crossing {
                mapping: MappingChange::None,
                audit,
            }];
            self.with_retries(platform, "record", SEND_RETRY, || {
                self.store.record_crossings(&crossing)
            })
            .await?;
            return Ok(true);
        }
        let Some((text, media)) = mc::read_message(&content.msgtype) else {
            return Err(ConnectorError::Unsupported(format!(
                "messages of type {}",
                content.msgtype.msgtype()
            ))
            .into());
        };
        let mut text = text;
        self.emoticons_to_shortcodes(&portal.key.connector, &mut text)
            .await?;
        let mut text = self.decorate(text, &content.mentions, &sender.relayed_for, portal, sender);
        self.gate_room_ping(env, &mut text).await?;
        self.link_chats(&mut text, portal).await;
        if let Some(media) = media {
            let mxc = match &media.source {
                MediaSource::Plain(mxc) => mxc.clone(),
                MediaSource::Encrypted(file) => file.url.clone(),
            };
            let limit = api_limit(
                api_limit(
                    self.config.max_attachment_bytes,
                    self.connectors
                        .get(&portal.key.connector)
                        .and_then(|c| c.capabilities().max_attachment_bytes),
                ),
                can.max_file_bytes,
            );
            let data = self
                .matrix
                .download(mxc.as_str(), limit)
                .await
                .map_err(|e| match e.errcode() {
                    Some("M_TOO_LARGE") => Error::Connector(ConnectorError::Refused(format!(
                        "{} is larger than the {limit} bytes this bridge carries",
                        media.name
                    ))),
                    _ => e.into(),
                })?;
            let data = match &media.source {
                MediaSource::Plain(_) => data,
                MediaSource::Encrypted(file) => self.decrypt_attachment(&data, file)?,
            };
            text.attachments
                .push(mc::pending_to_attachment(media, data));
        }
        let (mut reply_to, mut thread_root) = (None, None);
        match &content.relates_to {
            Some(Relation::Reply(r)) => reply_to = Some(r.in_reply_to.event_id.clone()),
            Some(Relation::Thread(t)) => {
                thread_root = Some(t.event_id.clone());
                if !t.is_falling_back {
                    reply_to = t.in_reply_to.as_ref().map(|r| r.event_id.clone());
                }
            }
            _ => {}
        }
        let mut message = MatrixMessage {
            event_id: env.event_id.clone(),
            sender: env.sender.clone(),
            relayed_for: sender.relayed_for.clone(),
            content: text,
            reply_to: None,
            thread_root: None,
            maybe_sent_before,
        };
        if let Some(r) = reply_to
            && let Some(m) = self
                .store
                .message_by_event_in(&portal.key, r.as_str())
                .await?
        {
            if can.replies {
                message.reply_to = Some(m.remote_id);
            } else {
                self.notice(
                    &env.room_id,
                    &format!(
                        "{} has no replies; the message was sent without its reply.",
                        portal.key.connector
                    ),
                )
                .await;
            }
        }
        if let Some(root) = thread_root
            && let Some(m) = self
                .store
                .message_by_event_in(&portal.key, root.as_str())
                .await?
        {
            if can.threads {
                message.thread_root = Some(m.thread_root.unwrap_or(m.remote_id));
            } else {
                self.notice(
                    &env.room_id,
                    &format!(
                        "{} has no threads; the message was sent to the main chat.",
                        portal.key.connector
                    ),
                )
                .await;
            }
        }
        let platform = portal.key.connector.as_str();
        let sent = self
            .send_with_retries(platform, api.as_ref(), portal, &message)
            .await?;
        let record = MessageRecord {
            portal: portal.key.clone(),
            remote_id: sent.id,
            part: String::new(),
            event_id: env.event_id.clone(),
            room_id: env.room_id.clone(),
            sender_mxid: env.sender.clone(),
            remote_sender: sender.login.login.remote_user.clone(),
            thread_root: message.thread_root,
            timestamp_ms: sent.timestamp_ms.unwrap_or(env.origin_server_ts),
        };
        let audit = Crossed::out(
            env,
            &portal.key,
            Some(&record.remote_id),
            record.remote_sender.as_str(),
        )
        .of_event(AuditAction::Message, env);
        let crossing = [Crossing {
            mapping: MappingChange::InsertMessage(record),
            audit,
        }];
        // The message is out: a store hiccup must not turn into a "not bridged" notice.
        self.with_retries(platform, "record", SEND_RETRY, || {
            self.store.record_crossings(&crossing)
        })
        .await?;
        Ok(true)
    }

    /// Sends `message`, retrying passing failures. A retry follows a failure whose request
    /// may have reached the platform (a timeout, a dropped answer), so it goes out with
    /// [`MatrixMessage::maybe_sent_before`] set; the copy for it is made only on a retry.
    async fn send_with_retries(
        &self,
        platform: &str,
        api: &dyn NetworkApi,
        portal: &Portal,
        message: &MatrixMessage,
    ) -> Result<SentMessage> {
        let tried = AtomicBool::new(false);
        let retry: OnceLock<MatrixMessage> = OnceLock::new();
        self.with_retries(platform, "send", SEND_RETRY, || {
            let message = if tried.swap(true, Ordering::SeqCst) && !message.maybe_sent_before {
                retry.get_or_init(|| MatrixMessage {
                    maybe_sent_before: true,
                    ..message.clone()
                })
            } else {
                message
            };
            api.send_message(portal, message)
        })
        .await
    }

    /// Finds the bridged chats of the portal's network that the message links to (room
    /// links), so the connector can name them as its own channel mentions.
    async fn link_chats(&self, content: &mut MessageContent, portal: &Portal) {
        let Some(html) = &content.html else { return };
        for room in crate::text::linked_room_ids(html) {
            match self.store.portal_by_room(&room).await {
                Ok(Some(p)) if p.key.connector == portal.key.connector => {
                    content.mentions.chats.push(MentionedChat {
                        matrix_room: room,
                        chat: p.key.chat,
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, room, "cannot look up a linked room"),
            }
        }
    }

    /// Resolves mentions to remote users and adds the relay prefix.
    fn decorate(
        &self,
        mut content: MessageContent,
        mentions: &Option<ruma::events::Mentions>,
        relayed_for: &Option<RelayedSender>,
        portal: &Portal,
        sender: &Sender,
    ) -> MessageContent {
        if let Some(m) = mentions {
            content.mentions = Mentions {
                users: m
                    .user_ids
                    .iter()
                    .map(|u| MentionedUser {
                        matrix_id: u.to_string(),
                        remote_id: self.remote_id_of(u.as_str(), portal),
                    })
                    .collect(),
                room: m.room,
                chats: Vec::new(),
            };
        }
        let relay_identity = self
            .connectors
            .get(&portal.key.connector)
            .is_some_and(|c| c.capabilities().relay_identity);
        if let Some(r) = relayed_for
            && !relay_identity
            && sender.relayed_for.is_some()
        {
            let html = content
                .html
                .take()
                .unwrap_or_else(|| escape_html(&content.body));
            content.html = Some(format!(
                "<strong>{}</strong>: {html}",
                escape_html(&r.display_name)
            ));
            content.body = format!("{}: {}", r.display_name, content.body);
        }
        content
    }
}

/// Why an edit of `target` made at `edited_ms` is past the portal's edit window, if it is.
fn edit_out_of_window(
    can: &crate::connector::PortalCapabilities,
    target: &crate::records::MessageRecord,
    edited_ms: i64,
    portal: &Portal,
) -> Option<String> {
    let window = can.edit_window?;
    let age_ms = edited_ms.saturating_sub(target.timestamp_ms);
    (age_ms > window.as_millis() as i64).then(|| {
        format!(
            "This edit was not sent: {} allows edits only within {} minute(s) of a message.",
            portal.key.connector,
            window.as_secs().div_ceil(60)
        )
    })
}

fn api_limit(bridge: u64, connector: Option<u64>) -> u64 {
    connector.map_or(bridge, |c| c.min(bridge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::PortalCapabilities;
    use crate::ids::{ConnectorId, PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};
    use crate::records::MessageRecord;

    #[test]
    fn an_edit_past_the_portals_window_is_refused_and_others_pass() {
        let key = PortalKey::shared(ConnectorId::new("rocketchat"), RemoteChatId::new("R1"));
        let portal = Portal::new(key.clone());
        let target = MessageRecord {
            portal: key,
            remote_id: RemoteMessageId::new("M1"),
            part: String::new(),
            event_id: "$e".into(),
            room_id: "!r".into(),
            sender_mxid: "@a:x".into(),
            remote_sender: RemoteUserId::new("U1"),
            thread_root: None,
            timestamp_ms: 1_000_000,
        };
        let mut can = PortalCapabilities {
            replies: true,
            threads: true,
            edits: true,
            edit_window: None,
            deletes: true,
            reactions: true,
            max_file_bytes: None,
        };
        assert_eq!(edit_out_of_window(&can, &target, 99_000_000, &portal), None);
        can.edit_window = Some(std::time::Duration::from_secs(600));
        assert_eq!(
            edit_out_of_window(&can, &target, 1_000_000 + 599_000, &portal),
            None
        );
        let why = edit_out_of_window(&can, &target, 1_000_000 + 601_000, &portal).unwrap();
        assert!(why.contains("within 10 minute(s)"), "{why}");
    }
}
