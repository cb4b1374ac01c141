//! The fake Teams tenant's state: users, tokens, device codes, chats, teams and channels
//! with their messages, OneDrive and SharePoint files, profile photos.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// An inline image of a message (`chatMessageHostedContent`).
#[derive(Clone, Debug)]
pub struct HostedContent {
    /// Its id (what the body's `<img src=".../hostedContents/{id}/$value">` names).
    pub id: String,
    /// Its MIME type.
    pub content_type: String,
    /// The image.
    pub data: Vec<u8>,
}

/// A message as the fake keeps it.
#[derive(Clone, Debug, Default)]
pub struct TeamsMessage {
    /// Its id.
    pub id: String,
    /// The author's user id (empty for a system message).
    pub from: String,
    /// The HTML body as posted (hosted contents as `../hostedContents/{id}/$value`).
    pub html: String,
    /// The `mentions` array as posted.
    pub mentions: Value,
    /// Created, last modified and last edited, in ms.
    pub created_ms: i64,
    pub modified_ms: i64,
    pub edited_ms: Option<i64>,
    /// Deleted (soft), in ms.
    pub deleted_ms: Option<i64>,
    /// (user, reactionType).
    pub reactions: Vec<(String, String)>,
    /// `message` or `systemEventMessage`.
    pub message_type: String,
    /// A system message's `eventDetail`.
    pub event_detail: Option<Value>,
    /// The `attachments` array (files, quotes).
    pub attachments: Vec<Value>,
    /// Inline images.
    pub hosted: Vec<HostedContent>,
    /// For a channel reply, its thread's root.
    pub reply_to_id: Option<String>,
}

impl TeamsMessage {
    /// A plain message by `from`, created at `now`.
    pub fn new(id: String, from: &str, html: &str, now: i64) -> Self {
        Self {
            id,
            from: from.to_owned(),
            html: html.to_owned(),
            mentions: json!([]),
            created_ms: now,
            modified_ms: now,
            message_type: "message".into(),
            ..Self::default()
        }
    }
}

/// A chat.
#[derive(Clone, Debug)]
pub(crate) struct TeamsChat {
    pub(crate) chat_type: String,
    pub(crate) topic: Option<String>,
    pub(crate) members: Vec<String>,
    pub(crate) messages: Vec<TeamsMessage>,
}

/// A team.
#[derive(Clone, Debug)]
pub(crate) struct TeamsTeam {
    pub(crate) name: String,
}

/// A team's channel.
#[derive(Clone, Debug)]
pub(crate) struct TeamsChannel {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) members: Vec<String>,
    /// Roots and replies (a reply has `reply_to_id`).
    pub(crate) messages: Vec<TeamsMessage>,
}

/// A pending device code.
#[derive(Clone, Debug)]
pub(crate) struct DeviceCode {
    pub(crate) user_code: String,
    pub(crate) approved_by: Option<String>,
    pub(crate) declined: bool,
}

/// A file in a drive.
#[derive(Clone, Debug)]
pub struct DriveFile {
    /// The item's id.
    pub id: String,
    /// Its name in its folder.
    pub name: String,
    /// Its folder's item id.
    pub folder: String,
    /// Its MIME type.
    pub mime: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// The eTag's GUID.
    pub guid: String,
    /// The users it was shared with (`invite`).
    pub shared_with: Vec<String>,
    /// Uploaded through an upload session (in pieces).
    pub in_pieces: bool,
}

/// A folder of a drive.
#[derive(Clone, Debug)]
pub(crate) struct DriveFolder {
    pub(crate) name: String,
    pub(crate) drive: String,
    pub(crate) web_url: String,
}

/// An upload session under way.
#[derive(Clone, Debug)]
pub(crate) struct PendingUpload {
    pub(crate) folder: String,
    pub(crate) name: String,
    pub(crate) received: Vec<u8>,
}

/// A profile photo.
#[derive(Clone, Debug)]
pub(crate) struct Photo {
    pub(crate) mime: String,
    pub(crate) data: Vec<u8>,
    pub(crate) etag: String,
}

/// Everything the fake knows.
#[derive(Default)]
pub(crate) struct State {
    /// The fake's own base URL (`http://127.0.0.1:port`).
    pub(crate) base_url: String,
    /// id -> (display name, user principal name).
    pub(crate) users: HashMap<String, (String, String)>,
    /// access token -> (user, expires at ms).
    pub(crate) access: HashMap<String, (String, i64)>,
    /// refresh token -> user.
    pub(crate) refresh: HashMap<String, String>,
    /// device code -> its state.
    pub(crate) devices: HashMap<String, DeviceCode>,
    pub(crate) chats: HashMap<String, TeamsChat>,
    pub(crate) teams: HashMap<String, TeamsTeam>,
    /// (team id, channel id) -> channel.
    pub(crate) channels: HashMap<(String, String), TeamsChannel>,
    /// Files by item id.
    pub(crate) files: HashMap<String, DriveFile>,
    /// Folders by item id.
    pub(crate) folders: HashMap<String, DriveFolder>,
    /// Upload sessions by token.
    pub(crate) uploads: HashMap<String, PendingUpload>,
    /// Profile photos by user id.
    pub(crate) photos: HashMap<String, Photo>,
    /// (chat, user) for each `markChatReadForUser`.
    pub(crate) read_marks: Vec<(String, String)>,
    pub(crate) next_id: u64,
    pub(crate) last_ms: i64,
    /// Seconds an access token lives.
    pub(crate) token_lifetime: i64,
    /// Answers of 429 still to give on Graph calls.
    pub(crate) throttle: u32,
    /// Message posts still to be carried out and then answered 504 (a gateway that lost
    /// the answer).
    pub(crate) lose_post_answers: u32,
    /// Every request, as "METHOD path".
    pub(crate) requests: Vec<String>,
    /// Notified after each request is added to `requests` (see [`State::record`]).
    pub(crate) request_seen: std::sync::Arc<tokio::sync::Notify>,
    /// Where the fake's answers departed from the CSDL.
    pub(crate) violations: Vec<String>,
}

/// Where a message is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place<'a> {
    Chat(&'a str),
    Channel(&'a str, &'a str),
}

impl State {
    /// Records a request ("METHOD path") and wakes whoever waits on the requests.
    pub(crate) fn record(&mut self, what: String) {
        self.requests.push(what);
        self.request_seen.notify_waiters();
    }

    /// A timestamp later than every earlier one, so `$filter` on it is exact.
    pub(crate) fn tick(&mut self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.last_ms = now.max(self.last_ms + 1);
        self.last_ms
    }

    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:06}", self.next_id)
    }

    /// Issues tokens for `user`: (access, refresh).
    pub(crate) fn issue(&mut self, user: &str) -> (String, String) {
        let access = self.new_id("at-");
        let refresh = self.new_id("rt-");
        let expires = self.tick() + self.token_lifetime * 1000;
        self.access
            .insert(access.clone(), (user.to_owned(), expires));
        self.refresh.insert(refresh.clone(), user.to_owned());
        (access, refresh)
    }

    pub(crate) fn user_json(&self, id: &str) -> Option<Value> {
        let (name, upn) = self.users.get(id)?;
        Some(json!({"id": id, "displayName": name, "userPrincipalName": upn, "mail": upn}))
    }

    pub(crate) fn identity(&self, user: &str) -> Value {
        let name = self.users.get(user).map(|u| u.0.clone());
        json!({"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user, "displayName": name, "userIdentityType": "aadUser"})
    }

    /// The Graph path of a message (for its hosted contents' URLs).
    pub(crate) fn message_url(&self, place: Place<'_>, m: &TeamsMessage) -> String {
        let enc = |s: &str| crate::fake_teams::enc(s);
        match (place, &m.reply_to_id) {
            (Place::Chat(chat), _) => {
                format!(
                    "{}/v1.0/chats/{}/messages/{}",
                    self.base_url,
                    enc(chat),
                    m.id
                )
            }
            (Place::Channel(team, channel), None) => format!(
                "{}/v1.0/teams/{}/channels/{}/messages/{}",
                self.base_url,
                enc(team),
                enc(channel),
                m.id
            ),
            (Place::Channel(team, channel), Some(root)) => format!(
                "{}/v1.0/teams/{}/channels/{}/messages/{}/replies/{}",
                self.base_url,
                enc(team),
                enc(channel),
                root,
                m.id
            ),
        }
    }

    /// A message as Graph answers it: a chat message (`chatId`) or a channel message
    /// (`channelIdentity`, `replyToId`); inline images as full hosted-content URLs.
    pub(crate) fn message_json_at(&self, place: Place<'_>, m: &TeamsMessage) -> Value {
        let html = if m.deleted_ms.is_some() {
            String::new()
        } else {
            let url = self.message_url(place, m);
            m.html
                .replace("\"../hostedContents/", &format!("\"{url}/hostedContents/"))
        };
        let (chat_id, channel_identity) = match place {
            Place::Chat(chat) => (json!(chat), Value::Null),
            Place::Channel(team, channel) => {
                (Value::Null, json!({"teamId": team, "channelId": channel}))
            }
        };
        let from = if m.from.is_empty() {
            Value::Null
        } else {
            json!({"user": self.identity(&m.from), "application": null, "device": null})
        };
        json!({
            "@odata.type": "#microsoft.graph.chatMessage",
            "id": m.id,
            "etag": m.modified_ms.to_string(),
            "messageType": m.message_type,
            "chatId": chat_id,
            "channelIdentity": channel_identity,
            "createdDateTime": iso(m.created_ms),
            "lastModifiedDateTime": iso(m.modified_ms),
            "lastEditedDateTime": m.edited_ms.map(iso),
            "deletedDateTime": m.deleted_ms.map(iso),
            "replyToId": m.reply_to_id,
            "importance": "normal",
            "locale": "en-us",
            "eventDetail": m.event_detail,
            "from": from,
            "body": {"contentType": "html", "content": html},
            "attachments": if m.deleted_ms.is_some() { Vec::new() } else { m.attachments.clone() },
            "mentions": m.mentions,
            "reactions": m.reactions.iter().map(|(u, r)| json!({
                "reactionType": r,
                "createdDateTime": iso(m.modified_ms),
                "user": {"user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": u, "displayName": null, "userIdentityType": "aadUser"}}
            })).collect::<Vec<_>>(),
        })
    }

    /// Posts a system message (`systemEventMessage` with `eventDetail`) in a chat or
    /// channel; answers its id.
    pub(crate) fn system_message(&mut self, place: Place<'_>, detail: Value) -> String {
        let s = self;
        let now = s.tick();
        let m = TeamsMessage {
            message_type: "systemEventMessage".into(),
            event_detail: Some(detail),
            ..TeamsMessage::new(now.to_string(), "", "<systemEventMessage/>", now)
        };
        let found = crate::fake_teams::csdl::Csdl::graph()
            .check(&s.message_json_at(place, &m), "chatMessage");
        s.violations.extend(found);
        match place {
            Place::Chat(chat) => s.chats.get_mut(chat).expect("chat exists").messages.push(m),
            Place::Channel(team, channel) => s
                .channels
                .get_mut(&(team.to_owned(), channel.to_owned()))
                .expect("channel exists")
                .messages
                .push(m),
        }
        now.to_string()
    }

    pub(crate) fn message_json(&self, chat: &str, m: &TeamsMessage) -> Value {
        self.message_json_at(Place::Chat(chat), m)
    }
}

/// ISO 8601 UTC with milliseconds.
pub(crate) fn iso(ms: i64) -> String {
    aqueduct_teams::iso_time::format_ms(ms)
}
