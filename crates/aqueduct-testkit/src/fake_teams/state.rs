//! The fake Teams tenant's state: users, tokens, device codes, chats and their messages.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A message as the fake keeps it.
#[derive(Clone, Debug)]
pub struct TeamsMessage {
    /// Its id.
    pub id: String,
    /// The author's user id.
    pub from: String,
    /// The HTML body.
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
}

/// A chat.
#[derive(Clone, Debug)]
pub(crate) struct TeamsChat {
    pub(crate) chat_type: String,
    pub(crate) topic: Option<String>,
    pub(crate) members: Vec<String>,
    pub(crate) messages: Vec<TeamsMessage>,
}

/// A pending device code.
#[derive(Clone, Debug)]
pub(crate) struct DeviceCode {
    pub(crate) user_code: String,
    pub(crate) approved_by: Option<String>,
    pub(crate) declined: bool,
}

/// Everything the fake knows.
#[derive(Default)]
pub(crate) struct State {
    /// id -> (display name, user principal name).
    pub(crate) users: HashMap<String, (String, String)>,
    /// access token -> (user, expires at ms).
    pub(crate) access: HashMap<String, (String, i64)>,
    /// refresh token -> user.
    pub(crate) refresh: HashMap<String, String>,
    /// device code -> its state.
    pub(crate) devices: HashMap<String, DeviceCode>,
    pub(crate) chats: HashMap<String, TeamsChat>,
    pub(crate) next_id: u64,
    pub(crate) last_ms: i64,
    /// Seconds an access token lives.
    pub(crate) token_lifetime: i64,
    /// Answers of 429 still to give on Graph calls.
    pub(crate) throttle: u32,
    /// Every request, as "METHOD path".
    pub(crate) requests: Vec<String>,
    /// Where the fake's answers departed from the CSDL.
    pub(crate) violations: Vec<String>,
}

impl State {
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

    pub(crate) fn message_json(&self, chat: &str, m: &TeamsMessage) -> Value {
        let name = self.users.get(&m.from).map(|u| u.0.clone());
        json!({
            "@odata.type": "#microsoft.graph.chatMessage",
            "id": m.id,
            "etag": m.modified_ms.to_string(),
            "messageType": "message",
            "chatId": chat,
            "createdDateTime": iso(m.created_ms),
            "lastModifiedDateTime": iso(m.modified_ms),
            "lastEditedDateTime": m.edited_ms.map(iso),
            "deletedDateTime": m.deleted_ms.map(iso),
            "replyToId": null,
            "from": {"user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": m.from, "displayName": name, "userIdentityType": "aadUser"}, "application": null, "device": null},
            "body": {"contentType": "html", "content": if m.deleted_ms.is_some() { String::new() } else { m.html.clone() }},
            "attachments": [],
            "mentions": m.mentions,
            "reactions": m.reactions.iter().map(|(u, r)| json!({
                "reactionType": r,
                "createdDateTime": iso(m.modified_ms),
                "user": {"user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": u, "displayName": null, "userIdentityType": "aadUser"}}
            })).collect::<Vec<_>>(),
        })
    }
}

/// ISO 8601 UTC with milliseconds.
pub(crate) fn iso(ms: i64) -> String {
    aqueduct_teams::iso_time::format_ms(ms)
}
