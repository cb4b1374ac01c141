//! Remote events into Matrix, one portal at a time.

use crate::audit::{AuditAction, Crossing, MappingChange};
use crate::bridge::{Inner, LoadedLogin};
use crate::clock::now_ms;
use crate::crossed::Crossed;
use crate::event::{MembershipChange, MessageContent, RemoteEvent, RemoteEventKind};
use crate::ids::{ConnectorId, LoginId, PortalKey, RemoteMessageId};
use crate::matrix_content::{self as mc, Placement};
use crate::metrics::Direction;
use crate::records::{MessageRecord, Portal, ReactionRecord};
use crate::txn_id;
use crate::{Error, Result};
use ruma::OwnedEventId;
use std::sync::Arc;

/// Who an event is sent as, and the marker its content carries.
struct Author {
    mxid: String,
    marker: Option<String>,
    /// The network, for double-puppeted events (see [`crate::bridge::SOURCE_NETWORK_KEY`]).
    network: Option<String>,
}

impl Author {
    /// The event content for `content`, marked as this author's.
    fn json<T: serde::Serialize>(&self, content: &T) -> serde_json::Value {
        let mut json = mc::to_json(content, self.marker.as_deref());
        if let (Some(network), Some(obj)) = (&self.network, json.as_object_mut()) {
            obj.insert(
                crate::bridge::SOURCE_NETWORK_KEY.to_owned(),
                serde_json::Value::String(network.clone()),
            );
        }
        json
    }
}

fn event_id(s: &str) -> Result<OwnedEventId> {
    OwnedEventId::try_from(s)
        .map_err(|e| Error::Unknown(format!("stored event id {s} is invalid: {e}")))
}

impl Inner {
    /// Bridges one remote event. Returns once it is in Matrix, or with the reason it cannot be.
    pub(crate) async fn handle_remote_event(
        self: &Arc<Self>,
        connector: &ConnectorId,
        login_id: &LoginId,
        event: RemoteEvent,
    ) -> Result<()> {
        let login = self.loaded_login(connector, login_id).ok_or_else(|| {
            Error::Unknown(format!("login {login_id} of {connector} is not active"))
        })?;
        self.bridge_remote_event(&login, event, false).await
    }

    /// Bridges one remote event for `login`. Backfilled messages keep their remote timestamp.
    pub(crate) async fn bridge_remote_event(
        self: &Arc<Self>,
        login: &LoadedLogin,
        event: RemoteEvent,
        backfill: bool,
    ) -> Result<()> {
        let login = login.clone();
        let connector = &login.login.connector;
        let key = PortalKey {
            connector: connector.clone(),
            chat: event.chat.clone(),
            receiver: event.receiver.clone(),
        };
        if event.kind.reads_records() {
            // Backfill bridges a chat's history within one job: a reply may answer a message
            // whose record this very job just handed to the writer.
            self.records().caught_up().await;
        }
        let trigger = match &event.kind {
            RemoteEventKind::Message { id, .. } => Some(id.clone()),
            _ => None,
        };
        let portal = if trigger.is_some() && !backfill {
            self.ensure_portal_room(&key, &login, trigger.as_ref())
                .await?
        } else {
            match self.store.portal_by_key(&key).await? {
                Some(p) if p.room_id.is_some() => p,
                // Nothing in Matrix to change for a chat that was never bridged.
                _ => return Ok(()),
            }
        };
        let room = portal.room_id.clone().expect("portal has a room");
        let author = self.author(&event, &login, &room).await?;
        let platform = connector.as_str();
        let ts = event.timestamp_ms;
        match event.kind {
            RemoteEventKind::Message {
                id,
                content,
                reply_to,
                thread_root,
            } => {
                if self.records().is_in_flight(&key, &id)
                    || !self.store.message_parts(&key, &id).await?.is_empty()
                {
                    return Ok(()); // redelivered (after a crash, a reconnect): already bridged
                }
                let mut content = content;
                self.upload_custom_emoji(&login, &mut content).await;
                self.send_message(
                    &portal,
                    &room,
                    &author,
                    &event.sender.user,
                    &id,
                    content,
                    reply_to,
                    thread_root,
                    ts,
                    backfill,
                )
                .await?;
                self.metrics.bridged(
                    platform,
                    Direction::ToMatrix,
                    Some((now_ms() - ts) as f64 / 1000.0),
                );
            }
            RemoteEventKind::Edit {
                target,
                mut content,
            } => {
                self.upload_custom_emoji(&login, &mut content).await;
                let Some(first) = self
                    .store
                    .message_parts(&key, &target)
                    .await?
                    .into_iter()
                    .next()
                else {
                    return Ok(());
                };
                let body_hash =
                    txn_id::derive(&[&content.body, content.html.as_deref().unwrap_or("")]);
                let new = mc::replacement(mc::text_message(&content), event_id(&first.event_id)?);
                let json = author.json(&new);
                let txn = txn_id::derive(&[
                    "edit",
                    &key.to_string(),
                    target.as_str(),
                    &ts.to_string(),
                    &body_hash,
                ]);
                let edit = self
                    .retry_matrix("send edit", || {
                        self.matrix.send_event(
                            &room,
                            &author.mxid,
                            "m.room.message",
                            &json,
                            &txn,
                            None,
                        )
                    })
                    .await?;
                let crossed = Crossed::into_matrix(
                    &key,
                    &room,
                    &target,
                    &author.mxid,
                    event.sender.user.as_str(),
                );
                self.store
                    .record_crossings(&[Crossing {
                        mapping: MappingChange::None,
                        audit: crossed.draft(AuditAction::Edit, &edit, Some(&json)),
                    }])
                    .await?;
                self.metrics.bridged(platform, Direction::ToMatrix, None);
            }
            RemoteEventKind::Delete { target } => {
                let crossed = Crossed::into_matrix(
                    &key,
                    &room,
                    &target,
                    &author.mxid,
                    event.sender.user.as_str(),
                );
                let mut crossings = Vec::new();
                for part in self.store.message_parts(&key, &target).await? {
                    let txn = txn_id::derive(&["delete", &part.event_id]);
                    // Redact as the bot when the ghost may not (another user's message).
                    let by = if part.sender_mxid == author.mxid {
                        author.mxid.clone()
                    } else {
                        self.matrix.bot_user_id().to_owned()
                    };
                    let redaction = self
                        .retry_matrix("redact", || {
                            self.matrix.redact(&room, &by, &part.event_id, &txn, None)
                        })
                        .await?;
                    crossings.push(Crossing {
                        mapping: MappingChange::None,
                        audit: crossed.draft(AuditAction::Delete, &redaction, None),
                    });
                }
                if let Some(first) = crossings.first_mut() {
                    first.mapping = MappingChange::DeleteMessage {
                        portal: key.clone(),
                        remote_id: target.clone(),
                    };
                }
                self.store.record_crossings(&crossings).await?;
                self.metrics.bridged(platform, Direction::ToMatrix, None);
            }
            RemoteEventKind::ReactionAdd {
                target,
                key: emoji,
                custom,
            } => {
                let sender = event.sender.user.clone();
                if self
                    .store
                    .reaction(&key, &target, &sender, &emoji)
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
                let Some(first) = self
                    .store
                    .message_parts(&key, &target)
                    .await?
                    .into_iter()
                    .next()
                else {
                    return Ok(());
                };
                // A custom emoji shows as its image, named by its shortcode; without the image
                // the key stays the shortcode text.
                let image = match &custom {
                    Some(c) => self.custom_emoji_mxc(&login, c).await.zip(Some(c)),
                    None => None,
                };
                let matrix_key = image.as_ref().map_or(emoji.as_str(), |(mxc, _)| mxc);
                let mut json = author.json(&mc::reaction(event_id(&first.event_id)?, matrix_key));
                if let (Some((_, c)), Some(obj)) = (&image, json.as_object_mut()) {
                    obj.insert(
                        crate::custom_emoji::REACTION_SHORTCODE_KEY.to_owned(),
                        serde_json::Value::String(c.shortcode.clone()),
                    );
                }
                let txn = txn_id::derive(&[
                    "react",
                    &key.to_string(),
                    target.as_str(),
                    sender.as_str(),
                    &emoji,
                    &ts.to_string(),
                ]);
                let id = self
                    .retry_matrix("send reaction", || {
                        self.matrix
                            .send_event(&room, &author.mxid, "m.reaction", &json, &txn, None)
                    })
                    .await?;
                let crossed =
                    Crossed::into_matrix(&key, &room, &target, &author.mxid, sender.as_str());
                let audit = crossed.draft(AuditAction::Reaction, &id, Some(&json));
                self.store
                    .record_crossings(&[Crossing {
                        mapping: MappingChange::InsertReaction(ReactionRecord {
                            portal: key.clone(),
                            target,
                            remote_sender: sender,
                            key: emoji,
                            event_id: id,
                        }),
                        audit,
                    }])
                    .await?;
                self.metrics.bridged(platform, Direction::ToMatrix, None);
            }
            RemoteEventKind::ReactionRemove { target, key: emoji } => {
                if let Some(r) = self
                    .store
                    .reaction(&key, &target, &event.sender.user, &emoji)
                    .await?
                {
                    let txn = txn_id::derive(&["unreact", &r.event_id]);
                    let redaction = self
                        .retry_matrix("redact reaction", || {
                            self.matrix
                                .redact(&room, &author.mxid, &r.event_id, &txn, None)
                        })
                        .await?;
                    let crossed = Crossed::into_matrix(
                        &key,
                        &room,
                        &target,
                        &author.mxid,
                        event.sender.user.as_str(),
                    );
                    // This portal's record only: in a hub room the other chats' records of
                    // the reaction are needed to take it back there too.
                    self.store
                        .record_crossings(&[Crossing {
                            mapping: MappingChange::DeleteReaction {
                                portal: key.clone(),
                                event_id: r.event_id.clone(),
                            },
                            audit: crossed.draft(AuditAction::Unreaction, &redaction, None),
                        }])
                        .await?;
                    self.metrics.bridged(platform, Direction::ToMatrix, None);
                }
            }
            RemoteEventKind::Typing { typing } => {
                self.matrix.set_typing(&room, &author.mxid, typing).await?;
            }
            RemoteEventKind::ReadReceipt { up_to } => {
                if let Some(last) = self.store.message_parts(&key, &up_to).await?.pop() {
                    self.matrix
                        .send_receipt(&room, &author.mxid, &last.event_id)
                        .await?;
                }
            }
            RemoteEventKind::ChatInfoChange { name, topic } => {
                self.apply_chat_info(portal, &room, name, topic).await?;
            }
            RemoteEventKind::Membership { user, change } => match change {
                MembershipChange::Join => {
                    self.ensure_ghost_in_room(connector, &user, None, &login, &room)
                        .await?;
                }
                MembershipChange::Leave => {
                    let mxid = self.namer.user_id(connector, &user);
                    // Already gone (kicked from Matrix, whose echo this may be) is fine.
                    if let Err(e) = self.matrix.leave(&room, &mxid).await {
                        tracing::debug!(error = %e, user = %mxid, "ghost could not leave; assuming it is gone");
                    }
                    self.forget_member(&room, &mxid).await?;
                }
            },
        }
        Ok(())
    }

    /// The Matrix user an event appears from: the login owner's own account when the event
    /// came from their remote account and double puppeting is set up, else the ghost.
    async fn author(&self, event: &RemoteEvent, login: &LoadedLogin, room: &str) -> Result<Author> {
        let owner = &login.login.matrix_user;
        if event.sender.is_from_me && self.matrix.can_double_puppet(owner) {
            self.ensure_joined(room, owner).await?;
            return Ok(Author {
                mxid: owner.clone(),
                marker: Some(self.config.bridge_id.clone()),
                network: Some(login.login.connector.to_string()),
            });
        }
        let mxid = self
            .ensure_ghost_in_room(
                &login.login.connector,
                &event.sender.user,
                event.sender.display_name.as_deref(),
                login,
                room,
            )
            .await?;
        Ok(Author {
            mxid,
            marker: None,
            network: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_message(
        &self,
        portal: &Portal,
        room: &str,
        author: &Author,
        remote_sender: &crate::ids::RemoteUserId,
        id: &RemoteMessageId,
        content: MessageContent,
        reply_to: Option<RemoteMessageId>,
        thread_root: Option<RemoteMessageId>,
        ts: i64,
        backfill: bool,
    ) -> Result<()> {
        let key = &portal.key;
        let root_event = match &thread_root {
            Some(r) => self
                .store
                .message_parts(key, r)
                .await?
                .into_iter()
                .next()
                .map(|m| m.event_id),
            None => None,
        };
        let reply_event = match &reply_to {
            Some(r) => self
                .store
                .message_parts(key, r)
                .await?
                .pop()
                .map(|m| m.event_id),
            None => None,
        };
        let placement = Placement {
            reply_to: reply_event.as_deref().map(event_id).transpose()?,
            thread_root: root_event.as_deref().map(event_id).transpose()?,
        };
        let mut parts = Vec::new();
        if !content.body.is_empty() || content.attachments.is_empty() {
            parts.push(mc::text_message(&content));
        }
        for att in &content.attachments {
            if att.data.len() as u64 > self.config.max_attachment_bytes {
                let note = MessageContent::text(format!(
                    "{} ({} bytes) was not bridged: files over {} bytes are refused by this bridge's configuration",
                    att.name,
                    att.data.len(),
                    self.config.max_attachment_bytes
                ));
                parts.push(mc::text_message(&MessageContent {
                    kind: crate::event::TextKind::Notice,
                    ..note
                }));
                continue;
            }
            let source = self
                .retry_matrix("upload", || {
                    self.matrix.upload_for_room(
                        room,
                        &author.mxid,
                        att.data.clone(),
                        &att.mime,
                        &att.name,
                    )
                })
                .await?;
            parts.push(mc::attachment_message(att, source));
        }
        for (i, part) in parts.into_iter().enumerate() {
            let part_id = if i == 0 { String::new() } else { i.to_string() };
            let json = author.json(&mc::place(part, &placement));
            let txn = txn_id::derive(&["msg", &key.to_string(), id.as_str(), &part_id]);
            let event = self
                .retry_matrix("send message", || {
                    self.matrix.send_event(
                        room,
                        &author.mxid,
                        "m.room.message",
                        &json,
                        &txn,
                        backfill.then_some(ts),
                    )
                })
                .await?;
            let audit = Crossed::into_matrix(key, room, id, &author.mxid, remote_sender.as_str())
                .draft(AuditAction::Message, &event, Some(&json));
            self.records().write(
                MessageRecord {
                    portal: key.clone(),
                    remote_id: id.clone(),
                    part: part_id,
                    event_id: event,
                    room_id: room.to_owned(),
                    sender_mxid: author.mxid.clone(),
                    remote_sender: remote_sender.clone(),
                    thread_root: thread_root.clone(),
                    timestamp_ms: ts,
                },
                audit,
            );
        }
        Ok(())
    }

    /// Sets the room's name and topic to the chat's where they differ from what was last
    /// bridged (`None` changes nothing). Returns whether the name and the topic changed.
    pub(crate) async fn apply_chat_info(
        &self,
        mut portal: Portal,
        room: &str,
        name: Option<String>,
        topic: Option<String>,
    ) -> Result<(bool, bool)> {
        let bot = self.matrix.bot_user_id().to_owned();
        let before = (portal.name.clone(), portal.topic.clone());
        if let Some(name) = name.filter(|n| portal.name.as_deref() != Some(n.as_str())) {
            let content = serde_json::json!({ "name": name });
            self.retry_matrix("set room name", || {
                self.matrix
                    .send_state(room, &bot, "m.room.name", "", &content)
            })
            .await?;
            portal.name = Some(name);
        }
        if let Some(topic) = topic.filter(|t| portal.topic.as_deref() != Some(t.as_str())) {
            let content = serde_json::json!({ "topic": topic });
            self.retry_matrix("set room topic", || {
                self.matrix
                    .send_state(room, &bot, "m.room.topic", "", &content)
            })
            .await?;
            portal.topic = Some(topic);
        }
        let changed = (portal.name != before.0, portal.topic != before.1);
        // Echoes of our own changes arrive as no-ops: no write for them.
        if changed.0 || changed.1 {
            self.store.upsert_portal(&portal).await?;
        }
        if changed.0 {
            self.update_bridge_info(&portal, Default::default()).await;
        }
        Ok(changed)
    }
}
