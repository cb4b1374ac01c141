//! Change-notification subscriptions of one login (notifications mode), kept alive as
//! Microsoft documents ("Receive change notifications through webhooks", "Reduce missing
//! subscriptions and change notifications"):
//!
//! - **What.** One subscription on all of the signed-in user's chats,
//!   `/users/{id}/chats/getAllMessages`, which Graph allows with the delegated `Chat.Read` or
//!   `Chat.ReadWrite` (then `/me/chats/getAllMessages`, the same resource by its other name).
//!   Where Graph refuses both, one subscription per chat, `/chats/{id}/messages`, for the
//!   most recently active chats (listed again every few minutes for new ones). And one
//!   subscription per bridged team channel, `/teams/{id}/channels/{id}/messages` (messages
//!   and replies, delegated `ChannelMessage.Read.All`); a channel Graph refuses is polled
//!   with the delta query every `poll_interval_secs` and asked for again later.
//! - **Secrets.** Each subscription gets its own random `clientState`, kept in the login's
//!   state (never shown anywhere but to Graph) and compared in constant time (`web.rs`).
//! - **Lifetime.** Chat message subscriptions live at most an hour. Each is renewed
//!   (`PATCH` of `expirationDateTime`) a quarter of its lifetime before it ends (at most 15
//!   minutes before); a renewal Graph refuses (404: it no longer has it, or any other
//!   refusal) makes a new subscription instead.
//! - **Lifecycle.** `reauthorizationRequired` -> `POST /subscriptions/{id}/reauthorize` (a
//!   renewal if that is refused, a new subscription if that is too); `subscriptionRemoved`
//!   -> a new subscription; `missed` -> a catch-up round. Every new or reauthorized
//!   subscription is followed by a catch-up round: Graph says changes made while a
//!   subscription was missing or paused are not sent later.
//! - **Resource data.** With `resource_data` (the default) subscriptions ask for the changed
//!   message itself, encrypted for the login's own key pair (`certificate.rs`), made on
//!   first need and replaced two weeks before its certificate ends; renewals then hand Graph
//!   the new certificate, and the previous key is kept for what Graph still encrypts with it.
//!
//! The subscriptions and keys are saved in the login's state (`"notifications"`), next to
//! the polling memory, so after a restart the bridge renews its subscriptions rather than
//! piling up new ones, and still recognises notifications sent while it was down.

use crate::api::TeamsLogin;
use crate::certificate::{BridgeKey, SavedKey};
use crate::graph::{
    Chat, Collection, NewSubscription, SubscriptionEncryption, SubscriptionRenewal,
};
use crate::iso_time::{format_ms, parse_ms};
use aqueduct_core::connector::ConnectorError;
use base64::Engine;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

mod lifetime;
mod per_resource;
#[cfg(test)]
mod tests;

use lifetime::{reauthorize, renew, replace};
use per_resource::{channel_subscriptions, per_chat_subscriptions};

/// The changes a subscription asks for.
const CHANGE_TYPES: &str = "created,updated,deleted";
/// The longest lifetime asked for: Graph's limit for chat messages is an hour.
pub(crate) const MAX_LIFETIME_SECS: u64 = 3540;
/// A renewal comes this share of a subscription's lifetime before its end ...
const RENEW_SHARE: i64 = 4;
/// ... but at most this long before it ...
const RENEW_AT_MOST_MS: i64 = 15 * 60_000;
/// ... and at least this long before it.
const RENEW_AT_LEAST_MS: i64 = 2_000;
/// How long to wait before trying again after Graph refused every way to subscribe, or failed.
const RETRY_MS: i64 = 60_000;
/// Per-chat subscriptions: how often the chat list is read again for new chats.
const RELIST_MS: i64 = 5 * 60_000;
/// Per-chat subscriptions that Graph all refused: how long until they are tried again.
const REFUSED_RETRY_MS: i64 = 30 * 60_000;
/// Keys kept: the current one and the one before it.
const KEYS_KEPT: usize = 2;

/// Where Graph reaches the bridge, and what to ask it for. `None` in polling mode.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// `<public url>/_aqueduct/teams/notifications`.
    pub(crate) notification_url: String,
    /// `<public url>/_aqueduct/teams/lifecycle`.
    pub(crate) lifecycle_url: String,
    /// The lifetime asked for.
    pub(crate) lifetime_ms: i64,
    /// Whether to ask for encrypted resource data.
    pub(crate) resource_data: bool,
    /// Chats subscribed to one by one, when Graph refuses the user-wide subscription.
    pub(crate) max_chats: usize,
}

/// What a subscription covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Scope {
    /// Every chat of the signed-in user.
    AllChats,
    /// One chat.
    Chat(String),
    /// One bridged team channel (`{team}/{channel}`), with its replies.
    Channel(String),
}

/// What the lifecycle asked of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Todo {
    Reauthorize,
    Recreate,
}

/// One subscription as the bridge keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Subscription {
    /// Graph's id for it.
    pub(crate) id: String,
    /// The resource subscribed to.
    pub(crate) resource: String,
    pub(crate) scope: Scope,
    /// The secret Graph sends back with each notification.
    pub(crate) client_state: String,
    /// When it ends, and when it was last created or renewed (ms since the epoch).
    pub(crate) expires_ms: i64,
    pub(crate) renewed_ms: i64,
    /// The certificate its resource data is encrypted for.
    #[serde(default)]
    pub(crate) certificate_id: Option<String>,
    /// A lifecycle request not yet acted on.
    #[serde(skip)]
    pub(crate) todo: Option<Todo>,
}

impl Subscription {
    /// When to renew it.
    pub(crate) fn renew_at_ms(&self) -> i64 {
        let lifetime = (self.expires_ms - self.renewed_ms).max(0);
        let margin = (lifetime / RENEW_SHARE).clamp(RENEW_AT_LEAST_MS, RENEW_AT_MOST_MS);
        self.expires_ms - margin
    }
}

/// The saved form (`"notifications"` in the login's state).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    subscriptions: Vec<Subscription>,
    #[serde(default)]
    keys: Vec<SavedKey>,
}

#[derive(Default)]
struct Inner {
    subscriptions: Vec<Subscription>,
    /// Newest last.
    keys: Vec<BridgeKey>,
    /// Graph refused the user-wide subscriptions (since the start): chats are subscribed to
    /// one by one.
    per_chat: bool,
    /// When the chat list was last read for per-chat subscriptions, and when to read it next.
    listed_ms: i64,
    relist_ms: i64,
    /// Channels whose subscription Graph refused, and when to ask again (they are polled
    /// meanwhile).
    channels_refused: BTreeMap<String, i64>,
    /// The saved form, kept ready for `merged`.
    saved: Value,
}

impl Inner {
    fn refresh_saved(&mut self) {
        let saved = Saved {
            subscriptions: self.subscriptions.clone(),
            keys: self.keys.iter().map(BridgeKey::to_saved).collect(),
        };
        self.saved = serde_json::to_value(saved).unwrap_or(Value::Null);
    }
}

/// Changes heard of and not yet looked at, for the login's loop (`notifications.rs`).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Look at everything (a `missed` lifecycle event, a notification naming no chat, a new
    /// subscription).
    pub(crate) full: bool,
    /// Chats to look at, with the resource data each notification carried (`None` when it
    /// carried none).
    pub(crate) chats: BTreeMap<String, Vec<Option<crate::resource_crypto::EncryptedContent>>>,
}

/// A login's notifications: its subscriptions, keys and what notifications asked for.
pub(crate) struct Notifications {
    settings: Option<Settings>,
    inner: Mutex<Inner>,
    pending: Mutex<Pending>,
    /// Wakes the login's loop.
    pub(crate) wake: Notify,
    /// Wakes the subscription keeper.
    pub(crate) maintain: Notify,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds of a Graph timestamp, with `Z` or an offset (`-08:00`).
pub(crate) fn parse_any_ms(s: &str) -> Option<i64> {
    if let Some(ms) = parse_ms(s) {
        return Some(ms);
    }
    let (base, offset) = s.split_at(s.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i64 = offset.get(1..3)?.parse().ok()?;
    let minutes: i64 = offset.get(4..6)?.parse().ok()?;
    Some(parse_ms(&format!("{base}Z"))? - sign * (hours * 60 + minutes) * 60_000)
}

impl Notifications {
    /// The notifications of a login whose saved state is `state`; `settings` is `None` in
    /// polling mode.
    pub(crate) fn new(settings: Option<Settings>, state: &Value) -> Self {
        let saved: Saved = state
            .get("notifications")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let keys = saved
            .keys
            .iter()
            .filter_map(|k| match BridgeKey::from_saved(k) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(error = %e, "a saved Teams notification key is unreadable; dropped");
                    None
                }
            })
            .collect();
        let mut inner = Inner {
            subscriptions: saved.subscriptions,
            keys,
            ..Inner::default()
        };
        inner.refresh_saved();
        Self {
            settings,
            inner: Mutex::new(inner),
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            maintain: Notify::new(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("notifications lock")
    }

    /// Whether the login receives by notifications.
    pub(crate) fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    /// `state` (the polling memory) with the subscriptions and keys added, for saving.
    pub(crate) fn merged(&self, mut state: Value) -> Value {
        let saved = self.inner().saved.clone();
        if let Some(object) = state.as_object_mut()
            && !saved.is_null()
        {
            object.insert("notifications".into(), saved);
        }
        state
    }

    /// The `clientState` of subscription `id`, when it is one of this login's.
    pub(crate) fn client_state_of(&self, id: &str) -> Option<String> {
        self.inner()
            .subscriptions
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.client_state.clone())
    }

    /// Whether a chat subscription is live, so a notification will tell of chats' changes.
    pub(crate) fn live(&self) -> bool {
        let now = now_ms();
        self.inner().subscriptions.iter().any(|s| {
            !matches!(s.scope, Scope::Channel(_))
                && s.expires_ms > now
                && s.todo != Some(Todo::Recreate)
        })
    }

    /// Channel `key` is no longer watched: its refusal is forgotten and the keeper woken,
    /// which deletes its subscription (`channel_subscriptions`).
    pub(crate) fn forget_channel(&self, key: &str) {
        self.inner().channels_refused.remove(key);
        self.maintain.notify_one();
    }

    /// Whether channel `key` (`{team}/{channel}`) has a live subscription of its own.
    pub(crate) fn channel_covered(&self, key: &str) -> bool {
        let now = now_ms();
        self.inner().subscriptions.iter().any(|s| {
            matches!(&s.scope, Scope::Channel(k) if k == key)
                && s.expires_ms > now
                && s.todo != Some(Todo::Recreate)
        })
    }

    /// A notification said `chat` (or something, when `None`) changed.
    pub(crate) fn note_change(
        &self,
        chat: Option<String>,
        content: Option<crate::resource_crypto::EncryptedContent>,
    ) {
        {
            let mut pending = self.pending.lock().expect("pending lock");
            match chat {
                Some(chat) => pending.chats.entry(chat).or_default().push(content),
                None => pending.full = true,
            }
        }
        self.wake.notify_one();
    }

    /// Asks the loop for a catch-up round over every chat.
    pub(crate) fn note_missed(&self) {
        self.pending.lock().expect("pending lock").full = true;
        self.wake.notify_one();
    }

    /// What notifications asked for since the last call.
    pub(crate) fn take_pending(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().expect("pending lock"))
    }

    /// A lifecycle notification for subscription `id` (already authenticated).
    pub(crate) fn lifecycle(&self, id: &str, event: &str) {
        let todo = match event {
            "reauthorizationRequired" => Todo::Reauthorize,
            "subscriptionRemoved" => Todo::Recreate,
            "missed" => {
                tracing::info!(subscription = %id, "Graph may have missed Teams notifications; catching up");
                self.note_missed();
                return;
            }
            other => {
                tracing::info!(subscription = %id, event = %other, "an unknown Teams lifecycle event; catching up");
                self.note_missed();
                return;
            }
        };
        tracing::info!(subscription = %id, event = %event, "a Teams lifecycle notification");
        if let Some(s) = self.inner().subscriptions.iter_mut().find(|s| s.id == id) {
            // A removal outranks a reauthorization.
            if s.todo != Some(Todo::Recreate) {
                s.todo = Some(todo);
            }
        }
        self.maintain.notify_one();
    }

    /// The private key of certificate `id`, when the login still has it.
    pub(crate) fn key(&self, id: &str) -> Option<BridgeKey> {
        self.inner().keys.iter().find(|k| k.id == id).cloned()
    }

    /// The saved form changed: keep it for the next save.
    fn changed(&self) {
        self.inner().refresh_saved();
    }
}

/// Keeps the login's subscriptions alive until the task is aborted (with the login's loop).
pub(crate) async fn maintain(login: std::sync::Arc<TeamsLogin>) {
    let Some(settings) = login.notifications.settings.clone() else {
        return;
    };
    drop_orphans(&login, &settings).await;
    loop {
        let next = match pass(&login, &settings).await {
            Ok(next) => next,
            Err(ConnectorError::BadCredentials(_)) => return, // the loop reports it
            Err(e) => {
                tracing::warn!(login = %login.id(), error = %e, "keeping the Teams subscriptions failed; trying again in a minute");
                now_ms() + RETRY_MS
            }
        };
        let wait = Duration::from_millis((next - now_ms()).clamp(0, 3_600_000) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = login.notifications.maintain.notified() => {}
        }
    }
}

/// One look over the subscriptions; answers when the next one is due.
async fn pass(login: &TeamsLogin, settings: &Settings) -> Result<i64, ConnectorError> {
    let notifications = &login.notifications;
    let mut dirty = false;
    let now = now_ms();
    if settings.resource_data {
        match ensure_key(login).await {
            Ok(made) => dirty |= made,
            // Subscriptions go on without resource data meanwhile.
            Err(e) => {
                tracing::warn!(login = %login.id(), error = %e, "cannot make a key for Teams' encrypted notifications")
            }
        }
    }
    // Gone ones are gone on Graph's side too.
    {
        let mut inner = notifications.inner();
        let before = inner.subscriptions.len();
        inner.subscriptions.retain(|s| s.expires_ms > now);
        dirty |= inner.subscriptions.len() != before;
    }
    let mut caught_up = false;
    let todo: Vec<Subscription> = notifications.inner().subscriptions.clone();
    for s in todo {
        let outcome = match s.todo {
            Some(Todo::Recreate) => {
                replace(login, settings, &s).await?;
                caught_up = true;
                true
            }
            Some(Todo::Reauthorize) => {
                reauthorize(login, settings, &s).await?;
                caught_up = true;
                true
            }
            None if now >= s.renew_at_ms() => {
                if !renew(login, settings, &s).await? {
                    replace(login, settings, &s).await?;
                    caught_up = true;
                }
                true
            }
            None => false,
        };
        dirty |= outcome;
    }
    // Every chat covered?
    let per_chat = notifications.inner().per_chat;
    if !per_chat {
        let covered = notifications
            .inner()
            .subscriptions
            .iter()
            .any(|s| s.scope == Scope::AllChats);
        if !covered {
            let me = login.login.remote_user.as_str().to_owned();
            let mut made = false;
            for resource in [
                format!("/users/{me}/chats/getAllMessages"),
                "/me/chats/getAllMessages".to_owned(),
            ] {
                match create(login, settings, Scope::AllChats, &resource).await {
                    Ok(s) => {
                        notifications.inner().subscriptions.push(s);
                        made = true;
                        break;
                    }
                    Err(ConnectorError::Refused(why)) => {
                        tracing::info!(login = %login.id(), resource = %resource, why = %why, "Graph refused a user-wide Teams subscription");
                    }
                    Err(e) => return Err(e),
                }
            }
            dirty = true;
            caught_up |= made;
            if !made {
                tracing::warn!(login = %login.id(), "Graph refused every user-wide Teams subscription; subscribing chat by chat");
                notifications.inner().per_chat = true;
            }
        }
        // Chat subscriptions left from a run that had to make them are not needed now.
        let leftovers: Vec<Subscription> = {
            let inner = notifications.inner();
            let covered = inner
                .subscriptions
                .iter()
                .any(|s| s.scope == Scope::AllChats);
            inner
                .subscriptions
                .iter()
                .filter(|s| covered && matches!(s.scope, Scope::Chat(_)))
                .cloned()
                .collect()
        };
        for s in leftovers {
            let path = format!("/subscriptions/{}", crate::poll::encode(&s.id));
            let _ = login.graph.send::<()>(Method::DELETE, &path, None).await;
            notifications.inner().subscriptions.retain(|k| k.id != s.id);
            dirty = true;
        }
    }
    let relist = {
        let inner = notifications.inner();
        inner.per_chat && now >= inner.relist_ms
    };
    if relist {
        let (made, dropped) = per_chat_subscriptions(login, settings).await?;
        let mut inner = notifications.inner();
        inner.listed_ms = now;
        // Every chat refused too (an http URL, say): polling goes on, asking seldom.
        let none = inner.subscriptions.is_empty();
        inner.relist_ms = now + if none { REFUSED_RETRY_MS } else { RELIST_MS };
        dirty |= made || dropped;
        caught_up |= made;
    }
    let (made, dropped) = channel_subscriptions(login, settings).await?;
    dirty |= made || dropped;
    caught_up |= made;
    if dirty {
        notifications.changed();
        let state = login.state.lock().await.to_state();
        login.save_state(state).await;
    }
    if caught_up {
        notifications.note_missed();
    }
    let inner = notifications.inner();
    let mut next = inner
        .subscriptions
        .iter()
        .map(Subscription::renew_at_ms)
        .min()
        .unwrap_or(now + RETRY_MS);
    if inner.per_chat {
        next = next.min(inner.relist_ms);
    }
    if let Some(retry) = inner.channels_refused.values().min() {
        next = next.min(*retry);
    }
    if let Some(key) = inner.keys.last() {
        next = next.min(key.not_after_ms - crate::certificate::ROTATE_BEFORE_DAYS * 86_400_000);
    }
    if inner.subscriptions.is_empty() {
        next = next.min(now + RETRY_MS);
    }
    Ok(next.max(now + 500))
}

/// A subscription as `GET /subscriptions` lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    id: String,
    #[serde(default)]
    notification_url: Option<String>,
}

/// Deletes subscriptions to this bridge's URL that the login does not know (their record
/// was lost: a state saved before they were made, a restored backup); they would only
/// deliver notifications nobody can check until they expire. A failure costs nothing but
/// those notifications.
async fn drop_orphans(login: &TeamsLogin, settings: &Settings) {
    let listed: Collection<Listed> = match login.graph.get("/subscriptions", &[]).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(login = %login.id(), error = %e, "cannot list the Teams subscriptions");
            return;
        }
    };
    for s in listed.value {
        let ours = s.notification_url.as_deref() == Some(settings.notification_url.as_str());
        if ours && login.notifications.client_state_of(&s.id).is_none() {
            let path = format!("/subscriptions/{}", crate::poll::encode(&s.id));
            match login.graph.send::<()>(Method::DELETE, &path, None).await {
                Ok(()) => {
                    tracing::info!(login = %login.id(), subscription = %s.id, "deleted a Teams subscription the bridge had lost track of")
                }
                Err(e) => {
                    tracing::debug!(subscription = %s.id, error = %e, "cannot delete a lost Teams subscription")
                }
            }
        }
    }
}

/// Deletes every subscription of the login (it is logging out): those it keeps, and any
/// other Graph lists for this user to this bridge's notification URL (one made by a
/// keeper stopped mid-request). Afterwards Graph notifies no one of this user's chats and
/// the login keeps no subscription. Failures are logged: an undeleted subscription ends by
/// itself within the hour, and its notifications are refused meanwhile (no login knows
/// its `clientState`).
pub(crate) async fn remove_all(login: &TeamsLogin) {
    let known: Vec<Subscription> = std::mem::take(&mut login.notifications.inner().subscriptions);
    login.notifications.changed();
    let mut ids: Vec<String> = known.into_iter().map(|s| s.id).collect();
    if let Some(settings) = &login.notifications.settings {
        match login
            .graph
            .get::<Collection<Listed>>("/subscriptions", &[])
            .await
        {
            Ok(listed) => {
                for s in listed.value {
                    let ours =
                        s.notification_url.as_deref() == Some(settings.notification_url.as_str());
                    if ours && !ids.contains(&s.id) {
                        ids.push(s.id);
                    }
                }
            }
            Err(e) => {
                tracing::info!(login = %login.id(), error = %e, "cannot list the Teams subscriptions to delete")
            }
        }
    }
    for id in ids {
        let path = format!("/subscriptions/{}", crate::poll::encode(&id));
        let (status, text) = match login
            .graph
            .try_call::<()>(Method::DELETE, &path, None)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(login = %login.id(), subscription = %id, error = %e, "cannot delete a Teams subscription at logout; it ends within the hour");
                continue;
            }
        };
        match status {
            200..=299 | 404 => {
                tracing::info!(login = %login.id(), subscription = %id, "deleted a Teams subscription at logout")
            }
            _ => {
                tracing::warn!(login = %login.id(), subscription = %id, status, answer = %text, "Graph refused to delete a Teams subscription at logout; it ends within the hour")
            }
        }
    }
}

/// Makes the login's key when it has none or the newest is due for rotation; true when it
/// made one. Old keys beyond [`KEYS_KEPT`] and expired ones are dropped.
async fn ensure_key(login: &TeamsLogin) -> Result<bool, ConnectorError> {
    let now = now_ms();
    let needed = login
        .notifications
        .inner()
        .keys
        .last()
        .is_none_or(|k| k.due_for_rotation(now));
    if !needed {
        return Ok(false);
    }
    let key = tokio::task::spawn_blocking(move || BridgeKey::generate(now))
        .await
        .map_err(|e| ConnectorError::Temporary(format!("making a key: {e}")))?
        .map_err(|e| ConnectorError::Temporary(format!("making a key: {e}")))?;
    tracing::info!(login = %login.id(), certificate = %key.id, "made a new key pair for Teams' encrypted notifications");
    {
        let mut inner = login.notifications.inner();
        inner.keys.retain(|k| k.not_after_ms > now);
        inner.keys.push(key);
        let extra = inner.keys.len().saturating_sub(KEYS_KEPT);
        inner.keys.drain(..extra);
        inner.refresh_saved();
    }
    // Saved before any subscription names it.
    let state = login.state.lock().await.to_state();
    login.save_state(state).await;
    Ok(true)
}

/// A random `clientState`: 32 bytes, base64url (43 characters; Graph takes up to 128).
fn new_client_state() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `microsoft.graph.subscription` as Graph answers it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionAnswer {
    id: String,
    #[serde(default)]
    expiration_date_time: Option<String>,
}

/// The resource data settings for the newest key, when resource data is asked for.
fn encryption(login: &TeamsLogin, settings: &Settings) -> Option<SubscriptionEncryption> {
    if !settings.resource_data {
        return None;
    }
    let inner = login.notifications.inner();
    let key = inner.keys.last()?;
    Some(SubscriptionEncryption {
        include_resource_data: true,
        encryption_certificate: key.certificate_base64(),
        encryption_certificate_id: key.id.clone(),
    })
}

/// Creates a subscription on `resource` (Graph first checks the notification URLs with its
/// validation handshake, which `web.rs` answers).
async fn create(
    login: &TeamsLogin,
    settings: &Settings,
    scope: Scope,
    resource: &str,
) -> Result<Subscription, ConnectorError> {
    let now = now_ms();
    let client_state = new_client_state();
    let mut body = NewSubscription {
        change_type: CHANGE_TYPES.into(),
        notification_url: settings.notification_url.clone(),
        lifecycle_notification_url: settings.lifecycle_url.clone(),
        resource: resource.to_owned(),
        expiration_date_time: format_ms(now + settings.lifetime_ms),
        client_state: client_state.clone(),
        encryption: encryption(login, settings),
    };
    let mut certificate_id = body
        .encryption
        .as_ref()
        .map(|e| e.encryption_certificate_id.clone());
    let answer: SubscriptionAnswer = match login.graph.post("/subscriptions", &body).await {
        Ok(answer) => answer,
        // Notifications without the message are worth more than none.
        Err(ConnectorError::Refused(why)) if certificate_id.is_some() => {
            tracing::warn!(login = %login.id(), resource = %resource, why = %why, "Graph refused a Teams subscription with encrypted resource data; asking without it");
            body.encryption = None;
            certificate_id = None;
            login.graph.post("/subscriptions", &body).await?
        }
        Err(e) => return Err(e),
    };
    let expires_ms = answer
        .expiration_date_time
        .as_deref()
        .and_then(parse_any_ms)
        .unwrap_or(now + settings.lifetime_ms);
    tracing::info!(login = %login.id(), subscription = %answer.id, resource = %resource, "subscribed to Teams change notifications");
    Ok(Subscription {
        id: answer.id,
        resource: resource.to_owned(),
        scope,
        client_state,
        expires_ms,
        renewed_ms: now,
        certificate_id,
        todo: None,
    })
}
