//! The appservice token used directly, without the bridge: the baseline's sender, and the
//! reader of room timelines (as the bot) that turns bodies into `origin_server_ts`.

use aqueduct_testkit::matrix_client::{MatrixClient, enc};
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;

/// Acts as the bot or any ghost with the appservice token.
#[derive(Clone)]
pub struct Appservice {
    client: MatrixClient,
    bot: String,
}

impl Appservice {
    /// An appservice client talking to `base_url` (the proxy, so it pays the same hop).
    pub fn new(base_url: &str, as_token: &str, bot: &str) -> Self {
        Self {
            client: MatrixClient::new(base_url, as_token, bot),
            bot: bot.to_owned(),
        }
    }

    /// Registers `@<localpart>:localhost`; already registered is fine.
    pub async fn register(&self, localpart: &str) -> anyhow::Result<String> {
        let body = json!({ "type": "m.login.application_service", "username": localpart, "inhibit_login": true });
        if let Err(e) = self
            .client
            .request(Method::POST, "/_matrix/client/v3/register", Some(&body))
            .await
        {
            let in_use = e
                .downcast_ref::<aqueduct_testkit::matrix_client::HttpError>()
                .and_then(|h| h.errcode())
                .is_some_and(|c| c == "M_USER_IN_USE");
            if !in_use {
                return Err(e);
            }
        }
        Ok(format!("@{localpart}:localhost"))
    }

    /// Creates a public room as the bot, has `members` (appservice users) join it and invites
    /// `guests` (real users, who join themselves).
    pub async fn room_with(&self, members: &[String], guests: &[&str]) -> anyhow::Result<String> {
        let created = self
            .client
            .request(
                Method::POST,
                &format!("/_matrix/client/v3/createRoom?user_id={}", enc(&self.bot)),
                Some(&json!({ "preset": "public_chat", "invite": guests })),
            )
            .await?;
        let room = created["room_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("createRoom without room_id"))?
            .to_owned();
        for m in members {
            self.client
                .request(
                    Method::POST,
                    &format!(
                        "/_matrix/client/v3/rooms/{}/join?user_id={}",
                        enc(&room),
                        enc(m)
                    ),
                    Some(&json!({})),
                )
                .await?;
        }
        Ok(room)
    }

    /// Sends a text message as `sender`.
    pub async fn send_text(
        &self,
        room: &str,
        sender: &str,
        txn: &str,
        body: &str,
    ) -> anyhow::Result<()> {
        self.client
            .request(
                Method::PUT,
                &format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/{}?user_id={}",
                    enc(room),
                    enc(txn),
                    enc(sender)
                ),
                Some(&json!({ "msgtype": "m.text", "body": body })),
            )
            .await?;
        Ok(())
    }

    /// Sends a state event as the bot (the creator of the bridge's rooms).
    pub async fn send_state(
        &self,
        room: &str,
        event_type: &str,
        content: &serde_json::Value,
    ) -> anyhow::Result<()> {
        self.client
            .request(
                Method::PUT,
                &format!(
                    "/_matrix/client/v3/rooms/{}/state/{}/?user_id={}",
                    enc(room),
                    enc(event_type),
                    enc(&self.bot)
                ),
                Some(content),
            )
            .await?;
        Ok(())
    }

    /// `origin_server_ts` of the newest `n` encrypted events `sender` sent in `room`, oldest
    /// first. Their bodies cannot be read, but a portal keeps its order, so the k-th of them
    /// is the k-th message sent.
    pub async fn encrypted_times(
        &self,
        room: &str,
        sender: &str,
        n: usize,
    ) -> anyhow::Result<Vec<f64>> {
        let mut found = Vec::new();
        self.read_back(room, |e| {
            if e["type"] == "m.room.encrypted"
                && e["sender"] == sender
                && let Some(ts) = e["origin_server_ts"].as_f64()
                && found.len() < n
            {
                found.push(ts);
            }
            found.len() < n
        })
        .await?;
        found.reverse();
        Ok(found)
    }

    /// `origin_server_ts` of the room's text events whose body starts with `prefix`, by body,
    /// reading back from the newest until `expected` are found or the room's start is reached.
    pub async fn origin_times(
        &self,
        room: &str,
        prefix: &str,
        expected: usize,
    ) -> anyhow::Result<HashMap<String, f64>> {
        let mut found = HashMap::new();
        self.read_back(room, |e| {
            if let (Some(body), Some(ts)) = (
                e["content"]["body"].as_str(),
                e["origin_server_ts"].as_f64(),
            ) && body.starts_with(prefix)
            {
                found.insert(body.to_owned(), ts);
            }
            found.len() < expected
        })
        .await?;
        Ok(found)
    }

    /// Reads the room's events newest first, a page at a time, handing each to `wants_more`
    /// until it says it has enough (after finishing the page) or the room's start is reached.
    async fn read_back(
        &self,
        room: &str,
        mut wants_more: impl FnMut(&serde_json::Value) -> bool,
    ) -> anyhow::Result<()> {
        let mut from: Option<String> = None;
        loop {
            let mut path = format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=500&user_id={}",
                enc(room),
                enc(&self.bot)
            );
            if let Some(f) = &from {
                path.push_str(&format!("&from={}", enc(f)));
            }
            let page = self.client.request(Method::GET, &path, None).await?;
            let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
            let mut more = true;
            for e in &chunk {
                more = wants_more(e);
            }
            match page["end"].as_str() {
                Some(end) if !chunk.is_empty() && more => from = Some(end.to_owned()),
                _ => return Ok(()),
            }
        }
    }
}
