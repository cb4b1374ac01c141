//! [`MatrixApi`] over the client-server API: the bot, ghosts and double puppets acting.

use crate::client::{HomeserverClient, refusal};
use aqueduct_core::matrix::{MatrixApi, MatrixError, MatrixResult, NewRoom};
use async_trait::async_trait;
use ruma::api::client::{
    account, membership, message, profile, receipt, redact, room, state, typing,
};
use ruma::events::{
    AnyMessageLikeEventContent, AnyStateEventContent, MessageLikeEventType, StateEventType,
};
use ruma::serde::Raw;
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, UInt,
};
use serde_json::Value;
use std::time::Duration;

fn user_id(s: &str) -> MatrixResult<OwnedUserId> {
    OwnedUserId::try_from(s)
        .map_err(|e| MatrixError::Transport(format!("invalid user id {s}: {e}")))
}

fn room_id(s: &str) -> MatrixResult<OwnedRoomId> {
    OwnedRoomId::try_from(s)
        .map_err(|e| MatrixError::Transport(format!("invalid room id {s}: {e}")))
}

fn event_id(s: &str) -> MatrixResult<OwnedEventId> {
    OwnedEventId::try_from(s)
        .map_err(|e| MatrixError::Transport(format!("invalid event id {s}: {e}")))
}

fn raw<T>(v: &Value) -> MatrixResult<Raw<T>> {
    Raw::from_json_string(v.to_string())
        .map_err(|e| MatrixError::Transport(format!("invalid content: {e}")))
}

fn is_already(e: &MatrixError, code: &str) -> bool {
    e.errcode() == Some(code)
}

#[async_trait]
impl MatrixApi for HomeserverClient {
    fn bot_user_id(&self) -> &str {
        &self.bot
    }

    fn server_name(&self) -> &str {
        &self.config.server_name
    }

    fn can_double_puppet(&self, user_id: &str) -> bool {
        matches!(self.secret_for(user_id), Ok(Some(_)))
    }

    async fn ensure_registered(&self, localpart: &str) -> MatrixResult<()> {
        let mut req = account::register::v3::Request::new();
        req.username = Some(localpart.to_owned());
        req.login_type = Some(account::register::LoginType::ApplicationService);
        // Ghosts never log in; with MSC4190 the homeserver requires this.
        req.inhibit_login = true;
        match self.send(req, &self.bot).await {
            Ok(_) => Ok(()),
            Err(e) if is_already(&e, "M_USER_IN_USE") => Ok(()),
            Err(e) => Err(e),
        }
    }

    // The per-field endpoints are deprecated in favour of the generic profile-field one, which
    // ruma would route to an unstable path for the Matrix versions we declare; these work
    // on every homeserver.
    #[allow(deprecated)]
    async fn set_display_name(&self, user: &str, name: &str) -> MatrixResult<()> {
        let req =
            profile::set_display_name::v3::Request::new(user_id(user)?, Some(name.to_owned()));
        self.send(req, user).await.map(|_| ())
    }

    #[allow(deprecated)]
    async fn set_avatar_url(&self, user: &str, mxc: &str) -> MatrixResult<()> {
        let req = profile::set_avatar_url::v3::Request::new(user_id(user)?, Some(mxc.into()));
        self.send(req, user).await.map(|_| ())
    }

    async fn create_room(&self, new: &NewRoom) -> MatrixResult<String> {
        let mut req = room::create_room::v3::Request::new();
        req.name = new.name.clone();
        req.topic = new.topic.clone();
        req.invite = new
            .invite
            .iter()
            .map(|u| user_id(u))
            .collect::<MatrixResult<_>>()?;
        req.is_direct = new.is_direct;
        req.preset = Some(room::create_room::v3::RoomPreset::PrivateChat);
        // The bot creates the room, so it holds full power already; room version 12 even
        // refuses the creator in `users`.
        if !new.moderators.is_empty() {
            let users: serde_json::Map<String, Value> = new
                .moderators
                .iter()
                .map(|a| (a.clone(), Value::from(50)))
                .collect();
            req.power_level_content_override = Some(raw(&serde_json::json!({ "users": users }))?);
        }
        req.initial_state = new
            .initial_state
            .iter()
            .map(|(t, k, c)| raw(&serde_json::json!({ "type": t, "state_key": k, "content": c })))
            .collect::<MatrixResult<_>>()?;
        Ok(self.send(req, &self.bot).await?.room_id.to_string())
    }

    async fn invite(&self, room: &str, inviter: &str, invitee: &str) -> MatrixResult<()> {
        let recipient = membership::invite_user::v3::InvitationRecipient::UserId(
            membership::invite_user::v3::InviteUserId::new(user_id(invitee)?),
        );
        let req = membership::invite_user::v3::Request::new(room_id(room)?, recipient);
        self.send(req, inviter).await.map(|_| ())
    }

    async fn join(&self, room: &str, user: &str) -> MatrixResult<()> {
        let req = membership::join_room_by_id::v3::Request::new(room_id(room)?);
        self.send(req, user).await.map(|_| ())
    }

    async fn leave(&self, room: &str, user: &str) -> MatrixResult<()> {
        let req = membership::leave_room::v3::Request::new(room_id(room)?);
        self.send(req, user).await.map(|_| ())
    }

    async fn send_event(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        content: &Value,
        txn_id: &str,
        timestamp_ms: Option<i64>,
    ) -> MatrixResult<String> {
        let mut req = message::send_message_event::v3::Request::new_raw(
            room_id(room)?,
            OwnedTransactionId::from(txn_id),
            MessageLikeEventType::from(event_type),
            raw::<AnyMessageLikeEventContent>(content)?,
        );
        req.timestamp = timestamp_ms
            .and_then(|t| UInt::try_from(t as u64).ok())
            .map(MilliSecondsSinceUnixEpoch);
        Ok(self.send(req, sender).await?.event_id.to_string())
    }

    async fn send_state(
        &self,
        room: &str,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> MatrixResult<String> {
        let req = state::send_state_event::v3::Request::new_raw(
            room_id(room)?,
            StateEventType::from(event_type),
            state_key.to_owned(),
            raw::<AnyStateEventContent>(content)?,
        );
        Ok(self.send(req, sender).await?.event_id.to_string())
    }

    async fn get_state(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
    ) -> MatrixResult<Option<Value>> {
        let req = state::get_state_event_for_key::v3::Request::new(
            room_id(room)?,
            StateEventType::from(event_type),
            state_key.to_owned(),
        );
        match self.send(req, &self.bot).await {
            Ok(r) => Ok(serde_json::from_str(r.event_or_content.get()).ok()),
            Err(e) if is_already(&e, "M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn redact(
        &self,
        room: &str,
        sender: &str,
        event: &str,
        txn_id: &str,
        reason: Option<&str>,
    ) -> MatrixResult<String> {
        let mut req = redact::redact_event::v3::Request::new(
            room_id(room)?,
            event_id(event)?,
            OwnedTransactionId::from(txn_id),
        );
        req.reason = reason.map(str::to_owned);
        Ok(self.send(req, sender).await?.event_id.to_string())
    }

    async fn upload(
        &self,
        sender: &str,
        data: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> MatrixResult<String> {
        let mut req = ruma::api::client::media::create_content::v3::Request::new(data);
        req.content_type = Some(mime.to_owned());
        req.filename = Some(filename.to_owned());
        Ok(self.send(req, sender).await?.content_uri.to_string())
    }

    async fn download(&self, mxc: &str, max_bytes: u64) -> MatrixResult<Vec<u8>> {
        let rest = mxc
            .strip_prefix("mxc://")
            .ok_or_else(|| MatrixError::Transport(format!("not an mxc URI: {mxc}")))?;
        let (server, media) = rest
            .split_once('/')
            .ok_or_else(|| MatrixError::Transport(format!("not an mxc URI: {mxc}")))?;
        let url = format!(
            "{}/_matrix/client/v1/media/download/{}/{}",
            self.config.homeserver_url.trim_end_matches('/'),
            urlencode(server),
            urlencode(media)
        );
        let mut response = self
            .http
            .get(&url)
            .bearer_auth(&self.config.as_token)
            .query(&[("user_id", self.bot.as_str())])
            .send()
            .await
            .map_err(|e| MatrixError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response.bytes().await.unwrap_or_default();
            return Err(refusal(status, &body));
        }
        let too_large = || MatrixError::Refused {
            status: 413,
            errcode: "M_TOO_LARGE".into(),
            message: format!("media is larger than {max_bytes} bytes"),
        };
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large());
        }
        // Read in chunks so an unannounced huge file is cut off at the limit, not buffered.
        let mut out = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MatrixError::Transport(e.to_string()))?
        {
            if (out.len() + chunk.len()) as u64 > max_bytes {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn set_typing(&self, room: &str, user: &str, typing_now: bool) -> MatrixResult<()> {
        let state = if typing_now {
            typing::create_typing_event::v3::Typing::Yes(
                typing::create_typing_event::v3::TypingInfo::new(Duration::from_secs(15)),
            )
        } else {
            typing::create_typing_event::v3::Typing::No
        };
        let req =
            typing::create_typing_event::v3::Request::new(user_id(user)?, room_id(room)?, state);
        self.send(req, user).await.map(|_| ())
    }

    async fn send_receipt(&self, room: &str, user: &str, event: &str) -> MatrixResult<()> {
        let req = receipt::create_receipt::v3::Request::new(
            room_id(room)?,
            receipt::create_receipt::v3::ReceiptType::Read,
            event_id(event)?,
        );
        self.send(req, user).await.map(|_| ())
    }

    async fn member_profile(
        &self,
        room: &str,
        user: &str,
    ) -> MatrixResult<(Option<String>, Option<String>)> {
        let content = self
            .get_state(room, "m.room.member", user)
            .await?
            .unwrap_or_default();
        let field = |k: &str| {
            content
                .get(k)
                .and_then(|d| d.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok((field("displayname"), field("avatar_url")))
    }

    async fn joined_members(&self, room: &str) -> MatrixResult<Vec<String>> {
        let req = membership::joined_members::v3::Request::new(room_id(room)?);
        Ok(self
            .send(req, &self.bot)
            .await?
            .joined
            .keys()
            .map(|u| u.to_string())
            .collect())
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
