//! Files both ways. Rocket.Chat -> Matrix: a message's uploads are its `attachments` with a
//! `title_link` (`/file-upload/<id>/<name>`, with `image_*`/`video_*`/`audio_*` details and the
//! `files` list for types and sizes), downloaded from the server with the account's
//! `X-User-Id`/`X-Auth-Token` headers. Matrix -> Rocket.Chat: `rooms.media/<rid>` uploads the
//! bytes and `rooms.mediaConfirm/<rid>/<fileId>` posts the message that shows them; servers
//! before 6.8, which answer 404 to `rooms.media`, get `rooms.upload/<rid>` instead. Files over
//! `max_file_bytes` are refused in both directions with a note naming the file and the limit.

use crate::api::RocketLogin;
use crate::convert::seen_state;
use crate::iso_time;
use crate::sending::message_id_for;
use crate::uploads::{CLOCK_SLACK_MS, PendingUpload, upload_key};
use aqueduct_core::connector::{ConnectorError, ConnectorResult};
use aqueduct_core::event::{
    Attachment, AttachmentKind, MatrixMessage, MessageContent, SentMessage,
};
use aqueduct_core::ids::RemoteMessageId;
use aqueduct_core::records::Portal;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// One file a Rocket.Chat message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteFile {
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Where the original is served: a server path (`/file-upload/...`) or a full URL.
    pub link: String,
    /// Size in bytes, when the message says.
    pub size: Option<u64>,
    /// How to show it.
    pub kind: AttachmentKind,
    /// Pixel size of images, when the message says.
    pub dimensions: Option<(u32, u32)>,
}

/// The uploads of message `m`: attachments with a `title_link` (quotes, which carry a
/// `message_link`, are not files). An older message with only `file` gets its usual path.
pub(crate) fn files(m: &Value) -> Vec<RemoteFile> {
    let listed = |id: &str| {
        m["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["_id"] == id)
            .cloned()
    };
    let mut out = Vec::new();
    for a in m["attachments"].as_array().into_iter().flatten() {
        let Some(link) = a["title_link"].as_str() else {
            continue;
        };
        if a.get("message_link").is_some() {
            continue;
        }
        let id = link
            .split('/')
            .skip_while(|s| *s != "file-upload")
            .nth(1)
            .unwrap_or_default();
        let entry = listed(id).unwrap_or(Value::Null);
        let typed = ["image", "video", "audio"]
            .into_iter()
            .find(|k| a[format!("{k}_url")].is_string());
        let mime = typed
            .and_then(|k| a[format!("{k}_type")].as_str())
            .or(entry["type"].as_str())
            .or(a["format"].as_str().filter(|f| f.contains('/')))
            .unwrap_or("application/octet-stream")
            .to_owned();
        let size = typed
            .and_then(|k| a[format!("{k}_size")].as_u64())
            .or(a["size"].as_u64())
            .or(entry["size"].as_u64());
        let kind = match typed {
            Some("image") => AttachmentKind::Image,
            Some("video") => AttachmentKind::Video,
            Some("audio") => AttachmentKind::Audio,
            _ => kind_of(&mime),
        };
        let dims = &a["image_dimensions"];
        out.push(RemoteFile {
            name: a["title"]
                .as_str()
                .or(entry["name"].as_str())
                .unwrap_or("file")
                .to_owned(),
            mime,
            link: link.to_owned(),
            size,
            kind,
            dimensions: dims["width"]
                .as_u64()
                .zip(dims["height"].as_u64())
                .map(|(w, h)| (w as u32, h as u32)),
        });
    }
    if out.is_empty()
        && let (Some(id), Some(name)) = (m["file"]["_id"].as_str(), m["file"]["name"].as_str())
    {
        let mime = m["file"]["type"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .to_owned();
        out.push(RemoteFile {
            name: name.to_owned(),
            kind: kind_of(&mime),
            mime,
            link: format!("/file-upload/{id}/{name}"),
            size: m["file"]["size"].as_u64(),
            dimensions: None,
        });
    }
    out
}

/// The caption Rocket.Chat versions before 6 kept in the file attachment's `description`
/// (newer ones put it in `msg`).
pub(crate) fn description(m: &Value) -> Option<&str> {
    m["attachments"]
        .as_array()?
        .iter()
        .filter(|a| a["title_link"].is_string())
        .find_map(|a| a["description"].as_str().filter(|d| !d.is_empty()))
}

fn kind_of(mime: &str) -> AttachmentKind {
    match mime.split('/').next() {
        Some("image") => AttachmentKind::Image,
        Some("video") => AttachmentKind::Video,
        Some("audio") => AttachmentKind::Audio,
        _ => AttachmentKind::File,
    }
}

impl RocketLogin {
    /// Downloads the files of message `m` into `content`. A file that is too large or cannot
    /// be fetched is named in the text with the reason, never dropped silently.
    pub(crate) async fn attach_files(&self, m: &Value, content: &mut MessageContent) {
        let max = self.config.max_file_bytes;
        for (i, f) in files(m).into_iter().enumerate() {
            let fetched = match f.size {
                _ if i >= aqueduct_connector::MAX_FILES_PER_MESSAGE => {
                    Err(ConnectorError::Refused(format!(
                        "the message has more than {} files",
                        aqueduct_connector::MAX_FILES_PER_MESSAGE
                    )))
                }
                Some(size) if size > max => Err(too_large(&f.name, max)),
                _ => self.rest.download(&f.link, max).await,
            };
            match fetched {
                Ok(data) => content.attachments.push(Attachment {
                    kind: f.kind,
                    name: f.name,
                    mime: f.mime,
                    data,
                    width: f.dimensions.map(|d| d.0),
                    height: f.dimensions.map(|d| d.1),
                }),
                Err(e) => {
                    let note = format!("[{} was not bridged: {e}]", f.name);
                    if let Some(html) = &mut content.html {
                        html.push_str(&format!("<br>{}", escape(&note)));
                    }
                    if content.body.is_empty() {
                        content.body = note;
                    } else {
                        content.body.push_str(&format!("\n{note}"));
                    }
                }
            }
        }
    }

    /// Sends a Matrix message's files: each is uploaded (`rooms.media`) and then posted
    /// (`rooms.mediaConfirm`) with the text as its caption, under the relayed sender's name
    /// when relaying. Returns the first file's message. A retry of the same Matrix event
    /// (after a crash, say) posts nothing twice: see [`crate::uploads`].
    pub(crate) async fn post_files(
        &self,
        portal: &Portal,
        message: &MatrixMessage,
        text: &str,
    ) -> ConnectorResult<SentMessage> {
        let rid = portal.key.chat.as_str();
        let max = self.config.max_file_bytes;
        if let Some(big) = message
            .content
            .attachments
            .iter()
            .find(|a| a.data.len() as u64 > max)
        {
            return Err(too_large(&big.name, max));
        }
        let message_id = message_id_for(&message.event_id);
        let mut first: Option<SentMessage> = None;
        for (i, att) in message.content.attachments.iter().enumerate() {
            let mut body = json!({});
            // The caption goes with the first file only.
            if i == 0 && !text.is_empty() {
                body["msg"] = json!(text);
            }
            if let Some(root) = &message.thread_root {
                body["tmid"] = json!(root.as_str());
            }
            if let Some(r) = &message.relayed_for {
                body["alias"] = json!(r.display_name);
                if let Some(avatar) = &r.avatar_url {
                    body["avatar"] = json!(avatar);
                }
            }
            let key = upload_key(&message_id, i);
            let m = self.post_file(rid, &key, att, &body).await?;
            let Some(id) = m["_id"].as_str() else {
                return Err(ConnectorError::Temporary(
                    "rooms.mediaConfirm answered without a message".into(),
                ));
            };
            // Its realtime echo then compares equal and is not bridged back as an edit.
            self.seen.lock().expect("seen").put(id, seen_state(&m));
            self.uploads.lock().expect("uploads").remove(&key);
            let ts = iso_time::millis(&m["ts"]);
            if let Some(ts) = ts {
                self.start_checkpoint(rid, ts).await;
            }
            first.get_or_insert(SentMessage {
                id: RemoteMessageId::new(id),
                timestamp_ms: ts,
            });
        }
        self.note_change().await;
        first.ok_or_else(|| ConnectorError::Temporary("no file to send".into()))
    }

    /// Posts one file and returns its message. When an earlier attempt uploaded it (`key`
    /// is on record), the message that attempt may have posted is looked up first, and the
    /// recorded upload confirmed if there is none; only an upload that expired is sent again.
    async fn post_file(
        &self,
        rid: &str,
        key: &str,
        att: &Attachment,
        body: &Value,
    ) -> ConnectorResult<Value> {
        let earlier = self.uploads.lock().expect("uploads").get(key);
        if let Some(earlier) = earlier {
            if let Some(m) = self.message_with_file(&earlier).await? {
                tracing::info!(
                    rid,
                    file = att.name,
                    "file was posted before; not posting it again"
                );
                return Ok(m);
            }
            if !earlier.file_id.is_empty() {
                match self.confirm(rid, &earlier.file_id, body).await {
                    Err(ConnectorError::Refused(e)) => {
                        tracing::info!(rid, error = e, "recorded upload is gone; uploading again");
                    }
                    answer => return answer,
                }
            }
        }
        if self.without_media.load(Ordering::Relaxed) {
            return self.upload_old_style(rid, key, att, body).await;
        }
        let uploaded = self
            .rest
            .upload_if_served(
                &format!("rooms.media/{rid}"),
                &att.name,
                &att.mime,
                &att.data,
                &[],
            )
            .await?;
        let Some(uploaded) = uploaded else {
            tracing::info!(
                "this Rocket.Chat server has no rooms.media (it is older than 6.8); sending files with rooms.upload"
            );
            self.without_media.store(true, Ordering::Relaxed);
            return self.upload_old_style(rid, key, att, body).await;
        };
        let Some(file_id) = uploaded["file"]["_id"].as_str() else {
            return Err(ConnectorError::Temporary(
                "rooms.media answered without a file id".into(),
            ));
        };
        self.record_upload(rid, key, file_id, att).await?;
        self.confirm(rid, file_id, body).await
    }

    /// Puts an upload on record, saved, before its message can exist.
    async fn record_upload(
        &self,
        rid: &str,
        key: &str,
        file_id: &str,
        att: &Attachment,
    ) -> ConnectorResult<()> {
        self.uploads.lock().expect("uploads").put(
            key,
            PendingUpload {
                rid: rid.to_owned(),
                file_id: file_id.to_owned(),
                at: iso_time::now_millis(),
                author: self.user_id().to_owned(),
                name: att.name.clone(),
                size: att.data.len() as u64,
            },
        );
        self.save_now().await
    }

    /// `rooms.upload/<rid>`, for servers before 6.8: uploads and posts the file in one call
    /// (multipart: `file`, `msg`, `tmid`); returns the message. The endpoint takes no name
    /// to show for a relayed sender, so their name leads the caption instead.
    async fn upload_old_style(
        &self,
        rid: &str,
        key: &str,
        att: &Attachment,
        body: &Value,
    ) -> ConnectorResult<Value> {
        self.record_upload(rid, key, "", att).await?;
        let caption = body["msg"].as_str().unwrap_or_default();
        let caption = match body["alias"].as_str() {
            Some(name) if caption.is_empty() => format!("*{name}*"),
            Some(name) => format!("*{name}*: {caption}"),
            None => caption.to_owned(),
        };
        let mut fields = Vec::new();
        if !caption.is_empty() {
            fields.push(("msg", caption));
        }
        if let Some(tmid) = body["tmid"].as_str() {
            fields.push(("tmid", tmid.to_owned()));
        }
        let answer = self
            .rest
            .upload_if_served(
                &format!("rooms.upload/{rid}"),
                &att.name,
                &att.mime,
                &att.data,
                &fields,
            )
            .await?
            .ok_or_else(|| {
                ConnectorError::Refused(
                    "this Rocket.Chat server takes files neither with rooms.media nor with rooms.upload"
                        .into(),
                )
            })?;
        Ok(answer["message"].clone())
    }

    /// `rooms.mediaConfirm`: posts uploaded file `file_id`; returns the message.
    async fn confirm(&self, rid: &str, file_id: &str, body: &Value) -> ConnectorResult<Value> {
        let answer = self
            .rest
            .post(&format!("rooms.mediaConfirm/{rid}/{file_id}"), body.clone())
            .await?;
        Ok(answer["message"].clone())
    }

    /// The message of room `earlier.rid` that carries the recorded upload, if it was posted:
    /// looked up in the room's history from a minute before the upload (clocks differ).
    async fn message_with_file(&self, earlier: &PendingUpload) -> ConnectorResult<Option<Value>> {
        let t = self.room_type(&earlier.rid).await;
        let answer = self
            .rest
            .get(
                crate::catch_up::history_endpoint(&t),
                &[
                    ("roomId", earlier.rid.clone()),
                    ("oldest", iso_time::format_iso(earlier.at - CLOCK_SLACK_MS)),
                    ("inclusive", "true".into()),
                    ("count", "100".into()),
                ],
            )
            .await?;
        Ok(answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| earlier.posted(m))
            .cloned())
    }
}

fn too_large(name: &str, max: u64) -> ConnectorError {
    ConnectorError::Refused(format!(
        "{name} is larger than the {max} bytes this bridge carries to or from Rocket.Chat"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_read_from_attachments_and_quotes_are_not_files() {
        let m = json!({
            "_id": "M", "msg": "",
            "file": {"_id": "F1", "name": "cat.jpg", "type": "image/jpeg", "size": 10},
            "files": [{"_id": "F1", "name": "cat.jpg", "type": "image/jpeg", "size": 10},
                      {"_id": "T1", "name": "thumb-cat.jpg", "type": "image/jpeg", "size": 3}],
            "attachments": [
                {"title": "cat.jpg", "title_link": "/file-upload/F1/cat.jpg", "type": "file",
                 "image_url": "/file-upload/T1/cat.jpg", "image_type": "image/jpeg",
                 "image_size": 10, "image_dimensions": {"width": 4, "height": 3},
                 "description": "a cat"},
                {"text": "quoted", "message_link": "http://x/channel/general?msg=Q",
                 "title_link": "http://x/channel/general?msg=Q"},
                {"title": "notes.pdf", "title_link": "/file-upload/F2/notes.pdf", "type": "file"}
            ]
        });
        let f = files(&m);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            f[0].link, "/file-upload/F1/cat.jpg",
            "the original, not the thumbnail"
        );
        assert_eq!(
            (f[0].kind, f[0].size, f[0].dimensions),
            (AttachmentKind::Image, Some(10), Some((4, 3)))
        );
        assert_eq!(
            (f[1].kind, f[1].mime.as_str()),
            (AttachmentKind::File, "application/octet-stream")
        );
        assert_eq!(description(&m), Some("a cat"));
        let old = json!({"file": {"_id": "F9", "name": "a.txt", "type": "text/plain"}});
        assert_eq!(files(&old)[0].link, "/file-upload/F9/a.txt");
    }
}
