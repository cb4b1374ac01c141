//! The fake Graph's change notifications, as Microsoft documents them for webhooks:
//!
//! - `POST /v1.0/subscriptions` checks the body against the CSDL's `subscription`, the rules
//!   Graph states (a `clientState` of at most 128 characters, an expiry in the future and at
//!   most an hour away for chat messages, a certificate with its id when resource data is
//!   asked for, a resource it knows and the caller may read), then performs the validation
//!   handshake on `notificationUrl` and `lifecycleNotificationUrl` (a POST with
//!   `?validationToken=`, answered within 10 s with 200, `text/plain` and the decoded token)
//!   before it answers 201. `GET`, `PATCH` (renewal, a new certificate), `DELETE` and
//!   `POST .../reauthorize` work on the caller's own subscriptions; an expired one is gone
//!   (404).
//! - Resources: `/chats/{id}/messages`, the user-wide `/users/{id}/chats/getAllMessages`
//!   (the caller's own id) and `/me/chats/getAllMessages`, and a channel's messages and
//!   replies, `/teams/{id}/channels/{id}/messages` (the caller must be a channel member).
//! - A watcher notices every message created, changed or deleted in the fake's chats and
//!   channels (also
//!   those the bridge itself posts) and POSTs a `changeNotificationCollection` (checked
//!   against the CSDL) to each matching subscription's `notificationUrl`, with the message
//!   encrypted for the subscription's certificate when it asked for resource data (and
//!   `validationTokens`). A delivery not answered 2xx within 3 s is tried twice more.
//! - Tests send lifecycle notifications ([`FakeTeams::send_lifecycle`]), lose notifications
//!   ([`FakeTeams::pause_notifications`]), make Graph forget a subscription or refuse the
//!   user-wide ones, and read every delivery back with its answer and time.
//!
//! Departures from Graph, kept on purpose: `http` notification URLs are taken (they are
//! loopback in tests; Graph takes only `https`), validation tokens are not real JWTs, and
//! notifications come within about 25 ms of a change.

use super::{FakeTeams, Shared, caller, graph_error};
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod watcher;
use watcher::{deliver, start_watching};

/// The tenant id notifications carry.
const TENANT: &str = "6babcaad-604b-40ac-a9d7-9fd97c0b779f";
/// Graph's longest lifetime for chat message subscriptions.
const MAX_LIFETIME_MS: i64 = 3_600_000;
/// Graph's wait for a notification's answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Graph's wait for a validation answer.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);

/// A subscription as the fake keeps it.
#[derive(Clone, Debug)]
pub struct FakeSubscription {
    pub id: String,
    pub resource: String,
    /// The user who created it.
    pub owner: String,
    pub change_types: Vec<String>,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub client_state: Option<String>,
    pub expires_ms: i64,
    /// The certificate (DER) and its id, when it asked for resource data.
    pub certificate: Option<Vec<u8>>,
    pub certificate_id: Option<String>,
    /// Renewals (`PATCH`) and reauthorizations so far.
    pub renewals: u32,
    pub reauthorizations: u32,
    /// Waiting for reauthorization: nothing is delivered.
    pub paused: bool,
}

/// One request the fake made to the bridge.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// `validation`, `notification` or `lifecycle`.
    pub kind: &'static str,
    pub url: String,
    /// The answer's status (`None`: no answer in time, or no connection).
    pub status: Option<u16>,
    /// The answer's content type and body.
    pub content_type: String,
    pub answer: String,
    /// How long the answer took.
    pub elapsed: Duration,
    /// What was sent.
    pub body: String,
}

#[derive(Default)]
pub(crate) struct SubsState {
    subs: BTreeMap<String, FakeSubscription>,
    /// (chat, message id) -> (last modified, deleted), as the watcher last saw it.
    known: HashMap<(String, String), (i64, bool)>,
    watching: bool,
    /// Changes are noticed but not delivered (lost).
    lost: bool,
    refuse_user_wide: bool,
    /// Refuse channel message subscriptions (as a tenant without the admin consent would).
    refuse_channels: bool,
    deliveries: Vec<Delivery>,
    next: u64,
}

/// The subscriptions' state. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Subs(Arc<Mutex<SubsState>>);

impl Subs {
    fn lock(&self) -> std::sync::MutexGuard<'_, SubsState> {
        self.0.lock().expect("fake subscriptions")
    }
}

type Both = (Shared, Subs);

/// The subscription routes.
pub(crate) fn routes(state: Shared, subs: Subs) -> Router {
    Router::new()
        .route(
            "/v1.0/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/v1.0/subscriptions/{id}",
            get(get_subscription)
                .patch(update_subscription)
                .delete(delete_subscription),
        )
        .route("/v1.0/subscriptions/{id}/reauthorize", post(reauthorize))
        .with_state((state, subs))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn guid(n: u64) -> String {
    let r: u64 = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n as u32,
        (r >> 48) as u16,
        (r >> 36) as u16 & 0xfff,
        (r >> 24) as u16 & 0xfff,
        r & 0xffff_ffff_ffff
    )
}

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn not_found() -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The object was not found.",
    )
}

/// The subscription as Graph answers it.
fn subscription_json(s: &FakeSubscription) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        "id": s.id,
        "resource": s.resource,
        "applicationId": "aqueduct-test",
        "changeType": s.change_types.join(","),
        "clientState": s.client_state,
        "notificationUrl": s.notification_url,
        "lifecycleNotificationUrl": s.lifecycle_url,
        "expirationDateTime": super::state::iso(s.expires_ms),
        "creatorId": s.owner,
        "includeResourceData": s.certificate.is_some(),
        "encryptionCertificateId": s.certificate_id,
        "latestSupportedTlsVersion": "v1_2",
    })
}

fn answer(state: &Shared, status: StatusCode, v: Value) -> Response {
    let found = super::csdl::Csdl::graph().check(&v, "subscription");
    state
        .lock()
        .expect("state")
        .violations
        .extend(found.into_iter().map(|f| format!("answer: {f}")));
    (status, Json(v)).into_response()
}

/// What a subscription's resource covers.
enum Covers {
    Chat(String),
    AllChatsOf(String),
    /// A team channel's messages and replies: (team, channel).
    Channel(String, String),
}

fn covers(resource: &str, caller: &str) -> Result<Covers, &'static str> {
    let path = resource.trim_start_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    match parts.as_slice() {
        ["chats", chat, "messages"] => Ok(Covers::Chat(decode(chat))),
        ["teams", team, "channels", channel, "messages"] => {
            Ok(Covers::Channel(decode(team), decode(channel)))
        }
        ["me", "chats", "getAllMessages"] => Ok(Covers::AllChatsOf(caller.to_owned())),
        ["users", user, "chats", "getAllMessages"] => {
            if decode(user) != caller {
                return Err("delegated subscriptions may only name the signed-in user");
            }
            Ok(Covers::AllChatsOf(caller.to_owned()))
        }
        _ => Err("the resource is not one Graph supports for change notifications"),
    }
}

async fn create_subscription(
    AxumState((state, subs)): AxumState<Both>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let owner = {
        let mut s = state.lock().expect("state");
        let owner = match caller(&mut s, &headers, "POST /subscriptions".into()) {
            Ok(u) => u,
            Err(r) => return r,
        };
        let found = super::csdl::Csdl::graph().check(&body, "subscription");
        if !found.is_empty() {
            let message = found.join("; ");
            s.violations.push(format!("request: {message}"));
            return bad_request(&message);
        }
        let resource = body["resource"].as_str().unwrap_or_default().to_owned();
        let covered = match covers(&resource, &owner) {
            Ok(c) => c,
            Err(why) => return bad_request(why),
        };
        match &covered {
            Covers::Chat(chat) => {
                if !s
                    .chats
                    .get(chat)
                    .is_some_and(|c| c.members.contains(&owner))
                {
                    return graph_error(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        "the caller cannot read this chat",
                    );
                }
            }
            Covers::AllChatsOf(_) if subs.lock().refuse_user_wide => {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: user-level chat message subscriptions are not allowed in this tenant]",
                );
            }
            Covers::AllChatsOf(_) => {}
            Covers::Channel(_, _) if subs.lock().refuse_channels => {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: channel message subscriptions are not allowed]",
                );
            }
            Covers::Channel(team, channel) => {
                if !s
                    .channels
                    .get(&(team.clone(), channel.clone()))
                    .is_some_and(|c| c.members.contains(&owner))
                {
                    return graph_error(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        "the caller cannot read this channel",
                    );
                }
            }
        }
        owner
    };
    let text = |k: &str| body[k].as_str().map(str::to_owned);
    let (Some(change_type), Some(notification_url), Some(resource), Some(expiry)) = (
        text("changeType"),
        text("notificationUrl"),
        text("resource"),
        text("expirationDateTime"),
    ) else {
        return bad_request(
            "changeType, notificationUrl, resource and expirationDateTime are required",
        );
    };
    let change_types: Vec<String> = change_type
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect();
    if change_types
        .iter()
        .any(|c| !matches!(c.as_str(), "created" | "updated" | "deleted"))
    {
        return bad_request("changeType takes created, updated and deleted");
    }
    let client_state = text("clientState");
    if client_state.as_ref().is_some_and(|c| c.len() > 128) {
        return bad_request("clientState is longer than 128 characters");
    }
    let expires_ms = match check_expiry(&expiry) {
        Ok(ms) => ms,
        Err(r) => return r,
    };
    let (certificate, certificate_id) = match certificate_of(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let lifecycle_url = text("lifecycleNotificationUrl");
    // The validation handshake, on each URL, before the subscription exists.
    let http = reqwest::Client::new();
    for url in std::iter::once(&notification_url).chain(lifecycle_url.iter()) {
        if let Err(why) = validate(&http, &subs, url).await {
            return bad_request(&format!(
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({why})"
            ));
        }
    }
    let subscription = {
        let mut all = subs.lock();
        all.next += 1;
        let id = guid(all.next);
        let s = FakeSubscription {
            id: id.clone(),
            resource,
            owner,
            change_types,
            notification_url,
            lifecycle_url,
            client_state,
            expires_ms,
            certificate,
            certificate_id,
            renewals: 0,
            reauthorizations: 0,
            paused: false,
        };
        all.subs.insert(id, s.clone());
        s
    };
    start_watching(&state, &subs);
    answer(
        &state,
        StatusCode::CREATED,
        subscription_json(&subscription),
    )
}

#[allow(clippy::result_large_err)] // the error is the answer itself
fn check_expiry(expiry: &str) -> Result<i64, Response> {
    let Some(ms) = aqueduct_teams::iso_time::parse_ms(expiry) else {
        return Err(bad_request("expirationDateTime is not a UTC timestamp"));
    };
    let now = now_ms();
    if ms <= now {
        return Err(bad_request(
            "Subscription expiration can only be in the future.",
        ));
    }
    if ms > now + MAX_LIFETIME_MS {
        return Err(bad_request(
            "Subscription expiration can only be 60 minutes in the future.",
        ));
    }
    Ok(ms)
}

type Certificate = (Option<Vec<u8>>, Option<String>);

#[allow(clippy::result_large_err)] // the error is the answer itself
fn certificate_of(body: &Value) -> Result<Certificate, Response> {
    if body["includeResourceData"].as_bool() != Some(true) {
        return Ok((None, None));
    }
    let (Some(cert), Some(id)) = (
        body["encryptionCertificate"].as_str(),
        body["encryptionCertificateId"].as_str(),
    ) else {
        return Err(bad_request(
            "encryptionCertificate and encryptionCertificateId are required with includeResourceData",
        ));
    };
    if id.is_empty() || id.len() > 128 {
        return Err(bad_request(
            "encryptionCertificateId takes 1 to 128 characters",
        ));
    }
    let der = aqueduct_teams::certificate::from_base64(cert)
        .map_err(|_| bad_request("encryptionCertificate is not base64"))?;
    aqueduct_teams::certificate::public_key_of(&der)
        .map_err(|e| bad_request(&format!("encryptionCertificate: {e}")))?;
    Ok((Some(der), Some(id.to_owned())))
}

/// Graph's validation request to `url`.
async fn validate(http: &reqwest::Client, subs: &Subs, url: &str) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        guid(rand::random::<u32>() as u64)
    );
    let mut target = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let started = Instant::now();
    let sent = http
        .post(target.as_str())
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(VALIDATION_TIMEOUT)
        .send()
        .await;
    let (status, content_type, text) = match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let content_type = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (
                Some(status),
                content_type,
                r.text().await.unwrap_or_default(),
            )
        }
        Err(_) => (None, String::new(), String::new()),
    };
    subs.lock().deliveries.push(Delivery {
        kind: "validation",
        url: target.to_string(),
        status,
        content_type: content_type.clone(),
        answer: text.clone(),
        elapsed: started.elapsed(),
        body: String::new(),
    });
    match status {
        Some(200) if content_type.starts_with("text/plain") && text == token => Ok(()),
        Some(200) if text != token => Err("the answer is not the token".into()),
        Some(200) => Err(format!("the answer is {content_type}, not text/plain")),
        Some(other) => Err(format!("answered {other}")),
        None => Err("no answer".into()),
    }
}

/// The caller's live subscription `id`, or the 404 Graph gives.
#[allow(clippy::result_large_err)] // the error is the answer itself
fn own(
    state: &Shared,
    subs: &Subs,
    headers: &HeaderMap,
    what: String,
    id: &str,
) -> Result<String, Response> {
    let user = caller(&mut state.lock().expect("state"), headers, what)?;
    let mut all = subs.lock();
    expire(&mut all);
    match all.subs.get(id) {
        Some(s) if s.owner == user => Ok(user),
        _ => Err(not_found()),
    }
}

fn expire(all: &mut SubsState) {
    let now = now_ms();
    all.subs.retain(|_, s| s.expires_ms > now);
}

async fn list_subscriptions(
    AxumState((state, subs)): AxumState<Both>,
    headers: HeaderMap,
) -> Response {
    let user = match caller(
        &mut state.lock().expect("state"),
        &headers,
        "GET /subscriptions".into(),
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let items: Vec<Value> = {
        let mut all = subs.lock();
        expire(&mut all);
        all.subs
            .values()
            .filter(|s| s.owner == user)
            .map(subscription_json)
            .collect()
    };
    let mut s = state.lock().expect("state");
    for item in &items {
        let found = super::csdl::Csdl::graph().check(item, "subscription");
        s.violations.extend(found);
    }
    Json(json!({"value": items})).into_response()
}

async fn get_subscription(
    AxumState((state, subs)): AxumState<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = own(
        &state,
        &subs,
        &headers,
        format!("GET /subscriptions/{id}"),
        &id,
    ) {
        return r;
    }
    let v = subscription_json(&subs.lock().subs[&id]);
    answer(&state, StatusCode::OK, v)
}

async fn update_subscription(
    AxumState((state, subs)): AxumState<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = own(
        &state,
        &subs,
        &headers,
        format!("PATCH /subscriptions/{id}"),
        &id,
    ) {
        return r;
    }
    let found = super::csdl::Csdl::graph().check(&body, "subscription");
    if !found.is_empty() {
        let message = found.join("; ");
        state
            .lock()
            .expect("state")
            .violations
            .push(format!("request: {message}"));
        return bad_request(&message);
    }
    let Some(expiry) = body["expirationDateTime"].as_str() else {
        return bad_request("expirationDateTime is required");
    };
    let expires_ms = match check_expiry(expiry) {
        Ok(ms) => ms,
        Err(r) => return r,
    };
    let certificate = if body.get("encryptionCertificate").is_some() {
        let mut with_flag = body.clone();
        with_flag["includeResourceData"] = json!(true);
        match certificate_of(&with_flag) {
            Ok(c) => Some(c),
            Err(r) => return r,
        }
    } else {
        None
    };
    let v = {
        let mut all = subs.lock();
        let Some(s) = all.subs.get_mut(&id) else {
            return not_found();
        };
        s.expires_ms = expires_ms;
        s.renewals += 1;
        s.paused = false; // a renewal reauthorizes too
        if let Some((cert, cert_id)) = certificate {
            s.certificate = cert;
            s.certificate_id = cert_id;
        }
        subscription_json(s)
    };
    answer(&state, StatusCode::OK, v)
}

async fn delete_subscription(
    AxumState((state, subs)): AxumState<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = own(
        &state,
        &subs,
        &headers,
        format!("DELETE /subscriptions/{id}"),
        &id,
    ) {
        return r;
    }
    subs.lock().subs.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

async fn reauthorize(
    AxumState((state, subs)): AxumState<Both>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = own(
        &state,
        &subs,
        &headers,
        format!("POST /subscriptions/{id}/reauthorize"),
        &id,
    ) {
        return r;
    }
    if let Some(s) = subs.lock().subs.get_mut(&id) {
        s.reauthorizations += 1;
        s.paused = false;
    }
    StatusCode::NO_CONTENT.into_response()
}

impl FakeTeams {
    /// Every subscription now live.
    pub fn subscriptions(&self) -> Vec<FakeSubscription> {
        let mut all = self.subs.lock();
        expire(&mut all);
        all.subs.values().cloned().collect()
    }

    /// Every request the fake made to the bridge: validations, notifications, lifecycle
    /// notifications.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.subs.lock().deliveries.clone()
    }

    /// Waits until `pred` holds for the live subscriptions.
    pub async fn wait_for_subscriptions(
        &self,
        timeout: Duration,
        pred: impl Fn(&[FakeSubscription]) -> bool,
    ) -> anyhow::Result<Vec<FakeSubscription>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let subs = self.subscriptions();
            if pred(&subs) {
                return Ok(subs);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on the fake's subscriptions: {subs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// While `lost` is true, changes are noticed but their notifications never sent (as
    /// when Graph drops them); they are not sent later either.
    pub fn pause_notifications(&self, lost: bool) {
        self.subs.lock().lost = lost;
    }

    /// Refuses (403) subscriptions on the user-wide resources from now on.
    pub fn refuse_user_wide_subscriptions(&self, refuse: bool) {
        self.subs.lock().refuse_user_wide = refuse;
    }

    /// Refuses (403) subscriptions on channels' messages from now on.
    pub fn refuse_channel_subscriptions(&self, refuse: bool) {
        self.subs.lock().refuse_channels = refuse;
    }

    /// Makes a copy of subscription `id` under a new id and `clientState`, as if the bridge
    /// had made it and then lost its record of it; answers the new id.
    pub fn duplicate_subscription(&self, id: &str) -> Option<String> {
        let mut all = self.subs.lock();
        all.next += 1;
        let new_id = guid(all.next);
        let mut copy = all.subs.get(id)?.clone();
        copy.id = new_id.clone();
        copy.client_state = Some(format!("lost-{new_id}"));
        all.subs.insert(new_id.clone(), copy);
        Some(new_id)
    }

    /// Forgets a subscription without telling anyone (a renewal then gets 404).
    pub fn forget_subscription(&self, id: &str) {
        self.subs.lock().subs.remove(id);
    }

    /// Sends lifecycle event `event` (`subscriptionRemoved`, `missed`,
    /// `reauthorizationRequired`) for subscription `id` to its lifecycle URL, doing first
    /// what Graph does with it: a removed subscription is gone, one that needs
    /// reauthorization gets no notifications until it is reauthorized or renewed. With
    /// `client_state`, that secret is sent instead of the subscription's. Answers the
    /// bridge's status.
    pub async fn send_lifecycle(
        &self,
        id: &str,
        event: &str,
        client_state: Option<&str>,
    ) -> anyhow::Result<Option<u16>> {
        let (url, body) = {
            let mut all = self.subs.lock();
            let Some(s) = all.subs.get_mut(id) else {
                anyhow::bail!("no subscription {id}");
            };
            let url = s
                .lifecycle_url
                .clone()
                .ok_or_else(|| anyhow::anyhow!("{id} has no lifecycle URL"))?;
            let body = json!({"value": [{
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": super::state::iso(s.expires_ms),
                "tenantId": TENANT,
                "clientState": client_state.map(str::to_owned).or(s.client_state.clone()),
                "lifecycleEvent": event,
            }]});
            match event {
                "subscriptionRemoved" => {
                    all.subs.remove(id);
                }
                "reauthorizationRequired" => s.paused = true,
                _ => {}
            }
            (url, body)
        };
        let found = super::csdl::Csdl::graph().check(&body, "changeNotificationCollection");
        self.lock().violations.extend(found);
        Ok(deliver(&reqwest::Client::new(), &self.subs, "lifecycle", &url, body).await)
    }

    /// POSTs a notification for subscription `id` about `chat`'s message `message` with the
    /// given `client_state` (a forgery when it is not the subscription's). Answers the
    /// bridge's status.
    pub async fn send_notification_as(
        &self,
        id: &str,
        chat: &str,
        message: &str,
        client_state: &str,
    ) -> anyhow::Result<Option<u16>> {
        let url = self
            .subs
            .lock()
            .subs
            .get(id)
            .map(|s| s.notification_url.clone())
            .ok_or_else(|| anyhow::anyhow!("no subscription {id}"))?;
        let resource = format!("chats('{chat}')/messages('{message}')");
        let body = json!({"value": [{
            "subscriptionId": id,
            "changeType": "created",
            "clientState": client_state,
            "resource": resource,
            "tenantId": TENANT,
            "resourceData": {"id": message, "@odata.type": "#Microsoft.Graph.chatMessage", "@odata.id": resource},
        }]});
        Ok(deliver(
            &reqwest::Client::new(),
            &self.subs,
            "notification",
            &url,
            body,
        )
        .await)
    }
}
