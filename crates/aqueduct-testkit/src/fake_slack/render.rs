//! The fake's records as Slack's JSON: messages, files, conversations and users, as the
//! Web API and events carry them.

use super::*;
use serde_json::{Map, Value, json};

impl State {
    pub fn file_json(&self, f: &StoredFile) -> Value {
        let root = self.root();
        let filetype = f
            .name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_else(|| "binary".into());
        json!({
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.name,
            "title": f.title,
            "mimetype": f.mime,
            "filetype": filetype,
            "pretty_type": filetype.to_uppercase(),
            "user": f.user,
            "user_team": TEAM_ID,
            "editable": false,
            "size": f.bytes.as_ref().map(|b| b.len() as u64).unwrap_or(f.length),
            "mode": "hosted",
            "is_external": false,
            "external_type": "",
            "is_public": false,
            "public_url_shared": false,
            "display_as_bot": false,
            "username": "",
            "url_private": self.file_url.clone()
                .unwrap_or_else(|| format!("{root}/files-pri/{}/{}", f.id, f.name)),
            "url_private_download": self.file_url.clone()
                .unwrap_or_else(|| format!("{root}/files-pri/{}/download/{}", f.id, f.name)),
            "permalink": format!("{root}/files/{}/{}/{}", f.user, f.id, f.name),
        })
    }

    /// Renders a message as Slack does in API responses (`api`) or events.
    pub fn msg_json(&self, ch: &Channel, m: &Msg, api: bool) -> Value {
        let mut o = Map::new();
        o.insert("type".into(), json!("message"));
        if let Some(st) = &m.subtype {
            o.insert("subtype".into(), json!(st));
        }
        o.insert("text".into(), json!(m.text));
        // Messages with username/icon overrides are `bot_message`s without a `user`.
        if m.subtype.as_deref() != Some("bot_message") {
            o.insert("user".into(), json!(m.user));
        }
        o.insert("ts".into(), json!(m.ts));
        // Slack Connect: an external author's messages name their own workspace.
        let author_team = self.team_of(&m.user);
        o.insert("team".into(), json!(author_team));
        if m.bot_id.is_none() {
            o.insert("user_team".into(), json!(author_team));
            o.insert("source_team".into(), json!(author_team));
        }
        if let Some(b) = &m.bot_id {
            o.insert("bot_id".into(), json!(b));
            o.insert("app_id".into(), json!(APP_ID));
            o.insert(
                "bot_profile".into(),
                json!({"id": b, "app_id": APP_ID, "name": BOT_NAME, "deleted": false,
                       "team_id": TEAM_ID, "updated": 1_700_000_000u64,
                       "icons": {"image_36": format!("{}/avatars/{BOT_USER_ID}_36.png", self.root()),
                                 "image_48": format!("{}/avatars/{BOT_USER_ID}_48.png", self.root()),
                                 "image_72": format!("{}/avatars/{BOT_USER_ID}_72.png", self.root())}}),
            );
        }
        if let Some(u) = &m.username {
            o.insert("username".into(), json!(u));
        }
        if let Some(i) = &m.icon_url {
            o.insert("icons".into(), json!({"image_48": i}));
        }
        if let Some(c) = &m.client_msg_id {
            o.insert("client_msg_id".into(), json!(c));
        }
        if let Some(b) = &m.blocks {
            o.insert("blocks".into(), b.clone());
        }
        if let Some(t) = &m.thread_ts {
            o.insert("thread_ts".into(), json!(t));
            if t != &m.ts {
                if let Some(parent) = ch.find(t) {
                    o.insert("parent_user_id".into(), json!(parent.user));
                }
            } else if api {
                let replies: Vec<&Msg> = ch
                    .messages
                    .iter()
                    .filter(|r| r.thread_ts.as_deref() == Some(t) && r.ts != *t && !r.deleted)
                    .collect();
                let mut users: Vec<String> = Vec::new();
                for r in &replies {
                    if !users.contains(&r.user) {
                        users.push(r.user.clone());
                    }
                }
                o.insert("reply_count".into(), json!(replies.len()));
                o.insert("reply_users_count".into(), json!(users.len()));
                o.insert("reply_users".into(), json!(users));
                if let Some(l) = replies.last() {
                    o.insert("latest_reply".into(), json!(l.ts));
                }
                o.insert("is_locked".into(), json!(false));
                o.insert("subscribed".into(), json!(false));
            }
        }
        if let Some((u, ts)) = &m.edited {
            o.insert("edited".into(), json!({"user": u, "ts": ts}));
        }
        if !m.files.is_empty() {
            let files: Vec<Value> = m
                .files
                .iter()
                .filter_map(|id| self.files.get(id))
                .map(|f| self.file_json(f))
                .collect();
            o.insert("files".into(), json!(files));
            o.insert("upload".into(), json!(true));
            o.insert("display_as_bot".into(), json!(false));
        }
        if api && !m.reactions.is_empty() {
            let r: Vec<Value> = m
                .reactions
                .iter()
                .map(|(n, us)| json!({"name": n, "users": us, "count": us.len()}))
                .collect();
            o.insert("reactions".into(), json!(r));
        }
        for (k, v) in &m.extra {
            o.insert(k.clone(), v.clone());
        }
        if !api {
            o.insert("channel".into(), json!(ch.id));
            o.insert("event_ts".into(), json!(m.ts));
            o.insert("channel_type".into(), json!(ch.channel_type()));
        }
        Value::Object(o)
    }

    /// A conversation as `caller` sees it (an IM names the other party as `user`).
    pub fn channel_json(&self, ch: &Channel, caller: &str) -> Value {
        if let Some(im_user) = &ch.im_user {
            let u = ch.members.iter().find(|m| *m != caller).unwrap_or(im_user);
            return json!({
                "id": ch.id, "created": ch.created, "is_archived": false, "is_im": true,
                "is_org_shared": false, "context_team_id": TEAM_ID, "updated": ch.created * 1000,
                "user": u, "is_user_deleted": false, "priority": 0,
            });
        }
        // Private channels made before March 2021 have `G` ids and `is_group`; group DMs
        // are `is_group` and `is_mpim` whatever their id.
        let legacy_group = (ch.private && ch.id.starts_with('G')) || ch.mpim;
        json!({
            "id": ch.id, "name": ch.name, "name_normalized": ch.name,
            "is_channel": !legacy_group, "is_group": legacy_group, "is_im": false,
            "is_mpim": ch.mpim, "is_private": ch.private, "created": ch.created,
            "is_archived": false, "is_general": false, "unlinked": 0, "is_shared": false,
            "is_org_shared": false, "is_ext_shared": false, "is_pending_ext_shared": false,
            "pending_shared": [], "context_team_id": TEAM_ID, "updated": ch.created * 1000,
            "parent_conversation": null, "creator": ch.members.first().cloned().unwrap_or_default(),
            "is_member": ch.members.iter().any(|m| m == BOT_USER_ID),
            "topic": {"value": ch.topic.value, "creator": ch.topic.creator, "last_set": ch.topic.last_set},
            "purpose": {"value": ch.purpose.value, "creator": ch.purpose.creator, "last_set": ch.purpose.last_set},
            "previous_names": [],
        })
    }

    /// The workspace of user `id` (the fake's own for unknown users).
    pub fn team_of(&self, id: &str) -> String {
        self.users
            .get(id)
            .and_then(|u| u.team.clone())
            .unwrap_or_else(|| TEAM_ID.to_string())
    }

    pub fn user_json(&self, u: &User) -> Value {
        let team = u.team.as_deref().unwrap_or(TEAM_ID);
        let root = self.root();
        let custom = self.avatar_urls.get(&u.id).cloned();
        let img = |n: u32| {
            custom
                .clone()
                .unwrap_or_else(|| format!("{root}/avatars/{}_{n}.png", u.id))
        };
        let mut profile = json!({
            "real_name": u.real_name, "real_name_normalized": u.real_name,
            "display_name": u.real_name, "display_name_normalized": u.real_name,
            "avatar_hash": "g0fake", "first_name": u.real_name, "last_name": "",
            "image_24": img(24), "image_32": img(32), "image_48": img(48), "image_72": img(72),
            "image_192": img(192), "image_512": img(512), "team": team, "status_text": "",
            "status_emoji": "",
        });
        if u.is_bot {
            profile["bot_id"] = json!(BOT_ID);
            profile["api_app_id"] = json!(APP_ID);
            profile["always_active"] = json!(false);
        }
        json!({
            "id": u.id, "team_id": team, "name": u.name, "deleted": false, "color": "9f69e7",
            "real_name": u.real_name, "tz": "Europe/London", "tz_label": "Greenwich Mean Time",
            "tz_offset": 0, "profile": profile, "is_admin": false, "is_owner": false,
            "is_primary_owner": false, "is_restricted": false, "is_ultra_restricted": false,
            "is_bot": u.is_bot, "is_app_user": false, "updated": 1_700_000_000u64,
            "is_email_confirmed": !u.is_bot, "who_can_share_contact_card": "EVERYONE",
        })
    }

    pub(crate) fn fake_message(&self, m: &Msg) -> FakeMessage {
        FakeMessage {
            ts: m.ts.clone(),
            user: m.user.clone(),
            bot_id: m.bot_id.clone(),
            text: m.text.clone(),
            thread_ts: m.thread_ts.clone(),
            username: m.username.clone(),
            icon_url: m.icon_url.clone(),
            reactions: m.reactions.clone(),
            edited: m.edited.is_some(),
            deleted: m.deleted,
            files: m
                .files
                .iter()
                .filter_map(|id| self.files.get(id))
                .map(|f| {
                    (
                        f.name.clone(),
                        f.mime.clone(),
                        f.bytes.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            subtype: m.subtype.clone(),
            blocks: m.blocks.clone(),
            metadata: m.metadata.clone(),
        }
    }
}
