//! # `/_aqueduct/teams/notifications` and `/_aqueduct/teams/lifecycle`
//!
//! Where Graph delivers change notifications and lifecycle notifications (the subscriptions'
//! `notificationUrl` and `lifecycleNotificationUrl`, see `subscriptions.rs`). As Microsoft
//! documents it:
//!
//! - **Validation.** Before it accepts a subscription (and for each URL), Graph POSTs
//!   `?validationToken=<url-encoded token>`: answered at once with 200, `text/plain`, the
//!   decoded token.
//! - **Notifications.** A `changeNotificationCollection`: each item names its subscription and
//!   carries the `clientState` given when subscribing, compared here in constant time with
//!   the one the bridge keeps. An item that fails (an unknown subscription, a wrong
//!   `clientState`) is logged and has no effect. The answer is 202 in every case, as Graph
//!   asks (a sender learns nothing from it, and Graph does not retry what was accepted).
//! - **Answered within 3 s, stored durably.** A notification is not bridged from its content:
//!   it only tells the login's loop to look at a chat now (`notifications.rs`), which reads
//!   the chat's changes since its mark as a polling round does. The answer waits for no I/O.
//!   The marks are the durable store: a notification lost to a crash leaves the chat's mark
//!   where it was, and the round at the next start, or the next notification, finds the
//!   change.

use crate::api::TeamsLogin;
use crate::resource_crypto::EncryptedContent;
use aqueduct_core::web::{WebHandler, WebRequest, WebResponse};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::{Arc, Mutex, Weak};
use subtle::ConstantTimeEq;

/// The path of change notifications.
pub(crate) const NOTIFICATIONS_PATH: &str = "/notifications";
/// The path of lifecycle notifications.
pub(crate) const LIFECYCLE_PATH: &str = "/lifecycle";
/// The longest validation token echoed (Graph's are a few hundred characters).
const MAX_TOKEN: usize = 4096;

/// The loaded logins, for finding a notification's subscription.
#[derive(Default)]
pub(crate) struct Logins(Mutex<Vec<Weak<TeamsLogin>>>);

impl Logins {
    /// Adds a loaded login (dropped logins fall out by themselves).
    pub(crate) fn add(&self, login: &Arc<TeamsLogin>) {
        let mut list = self.0.lock().expect("logins lock");
        list.retain(|l| l.strong_count() > 0);
        list.push(Arc::downgrade(login));
    }

    fn live(&self) -> Vec<Arc<TeamsLogin>> {
        self.0
            .lock()
            .expect("logins lock")
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// `microsoft.graph.changeNotificationCollection`.
#[derive(Debug, Deserialize)]
struct Collection {
    #[serde(default)]
    value: Vec<ChangeNotification>,
}

/// `microsoft.graph.changeNotification`, the parts the bridge reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeNotification {
    #[serde(default)]
    subscription_id: String,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    encrypted_content: Option<EncryptedContent>,
}

/// The Teams connector's [`WebHandler`].
pub(crate) struct Routes {
    pub(crate) logins: Arc<Logins>,
}

#[async_trait]
impl WebHandler for Routes {
    async fn handle(&self, request: WebRequest) -> WebResponse {
        let lifecycle = match request.path.as_str() {
            NOTIFICATIONS_PATH => false,
            LIFECYCLE_PATH => true,
            _ => return WebResponse::text(404, "no such Teams endpoint"),
        };
        if let Some(token) = request.query_param("validationToken") {
            if token.len() > MAX_TOKEN {
                return WebResponse::text(400, "validation token too long");
            }
            // Exactly `text/plain`, the decoded token as it came.
            return WebResponse {
                status: 200,
                content_type: "text/plain".into(),
                body: token.into_bytes(),
            };
        }
        if request.method != "POST" {
            return WebResponse::text(405, "notifications are POSTed");
        }
        let Ok(collection) = serde_json::from_slice::<Collection>(&request.body) else {
            tracing::warn!(
                "a request to the Teams notification endpoint is not a notification collection"
            );
            return WebResponse::text(400, "not a changeNotificationCollection");
        };
        let logins = self.logins.live();
        for item in collection.value {
            accept(&logins, item, lifecycle);
        }
        WebResponse::text(202, "")
    }
}

/// Acts on one notification if it is genuine.
fn accept(logins: &[Arc<TeamsLogin>], item: ChangeNotification, lifecycle_path: bool) {
    let found = logins.iter().find_map(|l| {
        l.notifications
            .client_state_of(&item.subscription_id)
            .map(|state| (l, state))
    });
    let Some((login, expected)) = found else {
        tracing::info!(subscription = %item.subscription_id, "a Teams notification for a subscription the bridge does not have; ignored");
        return;
    };
    if !same_secret(item.client_state.as_deref().unwrap_or_default(), &expected) {
        tracing::warn!(
            login = %login.id(),
            subscription = %item.subscription_id,
            "refused a Teams notification whose clientState is wrong (not from Graph); ignored"
        );
        return;
    }
    match item.lifecycle_event {
        Some(event) => login.notifications.lifecycle(&item.subscription_id, &event),
        None if lifecycle_path => {
            tracing::info!(subscription = %item.subscription_id, "a lifecycle notification without an event; catching up");
            login.notifications.note_missed();
        }
        None => {
            let chat = item.resource.as_deref().and_then(chat_of);
            login
                .notifications
                .note_change(chat, item.encrypted_content);
        }
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(given: &str, kept: &str) -> bool {
    given.as_bytes().ct_eq(kept.as_bytes()).into()
}

/// The bridge chat a notification's `resource` names: a chat, `chats('19:...')/messages('...')`
/// as Graph writes it or a path (`chats/19:.../messages/...`, `/users/u/chats/...`), or a
/// team channel, `teams('{team}')/channels('{channel}')/messages('...')` (replies under
/// `.../replies('...')`) or its path, as `{team}/{channel}`.
pub(crate) fn chat_of(resource: &str) -> Option<String> {
    if let (Some(team), Some(channel)) =
        (id_after(resource, "teams"), id_after(resource, "channels"))
    {
        return Some(format!("{team}/{channel}"));
    }
    id_after(resource, "chats").filter(|id| !id.eq_ignore_ascii_case("getAllMessages"))
}

/// The id that follows `name` in a resource: `name('id')` or `name/id` (percent-decoded).
fn id_after(resource: &str, name: &str) -> Option<String> {
    let lower = resource.to_ascii_lowercase();
    let opening = format!("{name}('");
    if let Some(start) = lower.find(&opening) {
        let rest = &resource[start + opening.len()..];
        let end = rest.find("')")?;
        let id = &rest[..end];
        return (!id.is_empty()).then(|| id.replace("''", "'"));
    }
    let mut segments = resource.split('/').filter(|s| !s.is_empty());
    while let Some(segment) = segments.next() {
        if segment.eq_ignore_ascii_case(name) {
            let id = segments.next()?;
            let id = url::form_urlencoded::parse(format!("x={id}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())?;
            return (!id.is_empty()).then_some(id);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_are_found_in_every_way_graph_names_them() {
        assert_eq!(
            chat_of("chats('19:8ea0e38b_97f6@unq.gbl.spaces')/messages('1612289765949')")
                .as_deref(),
            Some("19:8ea0e38b_97f6@unq.gbl.spaces")
        );
        assert_eq!(
            chat_of("Users('u1')/Chats('19:a@thread.v2')/Messages('1')").as_deref(),
            Some("19:a@thread.v2")
        );
        assert_eq!(
            chat_of("/chats/19%3Aa%40thread.v2/messages/17").as_deref(),
            Some("19:a@thread.v2")
        );
        assert_eq!(chat_of("/me/chats/getAllMessages"), None);
        assert_eq!(
            chat_of("teams('t')/channels('19:c@thread.tacv2')/messages('1')").as_deref(),
            Some("t/19:c@thread.tacv2")
        );
        assert_eq!(
            chat_of("teams('t')/channels('c')/messages('1')/replies('2')").as_deref(),
            Some("t/c")
        );
        assert_eq!(
            chat_of("/teams/t/channels/19%3Ac%40thread.tacv2/messages").as_deref(),
            Some("t/19:c@thread.tacv2")
        );
        assert_eq!(chat_of("teams('t')/messages('1')"), None);
        assert_eq!(chat_of("chats('')/messages('1')"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    #[tokio::test]
    async fn the_validation_handshake_echoes_the_decoded_token_as_plain_text() {
        let routes = Routes {
            logins: Arc::default(),
        };
        let answer = routes
            .handle(WebRequest {
                method: "POST".into(),
                path: NOTIFICATIONS_PATH.into(),
                query: "validationToken=Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+3b3f9821"
                    .into(),
                ..WebRequest::default()
            })
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "text/plain");
        assert_eq!(
            String::from_utf8(answer.body).unwrap(),
            "Validation: Testing client application reachability for subscription Request-Id: 3b3f9821"
        );
        let unknown = routes
            .handle(WebRequest {
                method: "POST".into(),
                path: LIFECYCLE_PATH.into(),
                body: br#"{"value":[{"subscriptionId":"x","clientState":"y","lifecycleEvent":"missed"}]}"#.to_vec(),
                ..WebRequest::default()
            })
            .await;
        assert_eq!(unknown.status, 202, "accepted and ignored");
        let junk = routes
            .handle(WebRequest {
                method: "POST".into(),
                path: NOTIFICATIONS_PATH.into(),
                body: b"{".to_vec(),
                ..WebRequest::default()
            })
            .await;
        assert_eq!(junk.status, 400);
        let elsewhere = routes
            .handle(WebRequest {
                method: "GET".into(),
                path: "/oauth".into(),
                ..WebRequest::default()
            })
            .await;
        assert_eq!(elsewhere.status, 404);
    }
}
