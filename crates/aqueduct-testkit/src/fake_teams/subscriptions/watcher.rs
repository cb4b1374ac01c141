//! The watcher behind the fake's change notifications: it notices every message created,
//! changed or deleted in the fake's chats and channels and delivers a
//! `changeNotificationCollection` to each subscription that covers it (see the parent
//! module's docs for what Graph does and where the fake departs from it).

use super::*;

/// Starts the watcher once: from now on every message change is noticed.
pub(super) fn start_watching(state: &Shared, subs: &Subs) {
    {
        let mut all = subs.lock();
        if all.watching {
            return;
        }
        all.watching = true;
        let s = state.lock().expect("state");
        for (chat_id, chat) in &s.chats {
            for m in &chat.messages {
                all.known.insert(
                    (chat_id.clone(), m.id.clone()),
                    (m.modified_ms, m.deleted_ms.is_some()),
                );
            }
        }
        for ((team, channel), c) in &s.channels {
            for m in &c.messages {
                all.known.insert(
                    (format!("{team}/{channel}"), m.id.clone()),
                    (m.modified_ms, m.deleted_ms.is_some()),
                );
            }
        }
    }
    let (state, subs) = (state.clone(), subs.clone());
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            for (url, body) in changes(&state, &subs) {
                let subs = subs.clone();
                let http = http.clone();
                tokio::spawn(async move {
                    deliver(&http, &subs, "notification", &url, body).await;
                });
            }
        }
    });
}

/// Where a changed message is.
#[derive(Clone, Debug)]
enum Where {
    Chat(String),
    /// (team, channel).
    Channel(String, String),
}

impl Where {
    /// The watcher's key for the place.
    fn key(&self) -> String {
        match self {
            Where::Chat(chat) => chat.clone(),
            Where::Channel(team, channel) => format!("{team}/{channel}"),
        }
    }

    fn place(&self) -> super::super::state::Place<'_> {
        match self {
            Where::Chat(chat) => super::super::state::Place::Chat(chat),
            Where::Channel(team, channel) => super::super::state::Place::Channel(team, channel),
        }
    }

    /// A message's `resource` as Graph writes it in a notification (a channel reply under
    /// its thread's root).
    fn resource(&self, m: &super::super::state::TeamsMessage) -> String {
        match (self, &m.reply_to_id) {
            (Where::Chat(chat), _) => format!("chats('{chat}')/messages('{}')", m.id),
            (Where::Channel(team, channel), None) => {
                format!("teams('{team}')/channels('{channel}')/messages('{}')", m.id)
            }
            (Where::Channel(team, channel), Some(root)) => format!(
                "teams('{team}')/channels('{channel}')/messages('{root}')/replies('{}')",
                m.id
            ),
        }
    }
}

/// The notifications the changes since the last look make: (URL, collection).
fn changes(state: &Shared, subs: &Subs) -> Vec<(String, Value)> {
    let s = state.lock().expect("state");
    let mut all = subs.lock();
    expire(&mut all);
    let mut changed = Vec::new();
    let places = s
        .chats
        .iter()
        .map(|(id, c)| (Where::Chat(id.clone()), &c.members, &c.messages))
        .chain(s.channels.iter().map(|((team, channel), c)| {
            (
                Where::Channel(team.clone(), channel.clone()),
                &c.members,
                &c.messages,
            )
        }));
    for (place, members, messages) in places {
        for m in messages {
            let key = (place.key(), m.id.clone());
            let now = (m.modified_ms, m.deleted_ms.is_some());
            let change = match all.known.get(&key) {
                None if now.1 => "deleted",
                None => "created",
                Some(before) if *before == now => continue,
                Some(before) if now.1 && !before.1 => "deleted",
                Some(_) => "updated",
            };
            all.known.insert(key, now);
            changed.push((place.clone(), members.clone(), m.clone(), change));
        }
    }
    if all.lost {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (place, members, m, change) in changed {
        let resource = place.resource(&m);
        for sub in all.subs.values() {
            let matches = match (covers(&sub.resource, &sub.owner), &place) {
                (Ok(Covers::Chat(c)), Where::Chat(chat_id)) => c == *chat_id,
                (Ok(Covers::AllChatsOf(user)), Where::Chat(_)) => members.contains(&user),
                (Ok(Covers::Channel(t, c)), Where::Channel(team, channel)) => {
                    t == *team && c == *channel
                }
                _ => false,
            };
            if !matches || sub.paused || !sub.change_types.iter().any(|c| c == change) {
                continue;
            }
            let mut n = json!({
                "id": guid(0),
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": super::super::state::iso(sub.expires_ms),
                "changeType": change,
                "clientState": sub.client_state,
                "resource": resource,
                "tenantId": TENANT,
                "resourceData": {
                    "id": m.id,
                    "@odata.type": "#Microsoft.Graph.chatMessage",
                    "@odata.id": resource,
                },
            });
            let mut collection = json!({});
            if let (Some(der), Some(cert_id)) = (&sub.certificate, &sub.certificate_id) {
                let message = s.message_json_at(place.place(), &m);
                let public = aqueduct_teams::certificate::public_key_of(der).expect("checked");
                let thumbprint = aqueduct_teams::certificate::thumbprint(der);
                let content = aqueduct_teams::resource_crypto::encrypt(
                    &public,
                    cert_id,
                    &thumbprint,
                    message.to_string().as_bytes(),
                )
                .expect("encrypts");
                n["encryptedContent"] = serde_json::to_value(content).expect("json");
                collection["validationTokens"] = json!([
                    "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJhcHBpZCI6IjBiZjMwZjNiLTRhNTItNDhkZi05YTgyLTIzNDkxMGM0YTA4NiJ9."
                ]);
            }
            collection["value"] = json!([n]);
            out.push((sub.notification_url.clone(), collection));
        }
    }
    drop(all);
    drop(s);
    for (_, collection) in &out {
        let found =
            super::super::csdl::Csdl::graph().check(collection, "changeNotificationCollection");
        state.lock().expect("state").violations.extend(found);
    }
    out
}

/// POSTs `body` to `url`, trying twice more when it is not answered 2xx within 3 s.
pub(super) async fn deliver(
    http: &reqwest::Client,
    subs: &Subs,
    kind: &'static str,
    url: &str,
    body: Value,
) -> Option<u16> {
    let text = body.to_string();
    let mut last = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let started = Instant::now();
        let sent = http
            .post(url)
            .header("content-type", "application/json")
            .body(text.clone())
            .timeout(DELIVERY_TIMEOUT)
            .send()
            .await;
        let (status, content_type, answer) = match sent {
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
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        last = status;
        subs.lock().deliveries.push(Delivery {
            kind,
            url: url.to_owned(),
            status,
            content_type,
            answer,
            elapsed: started.elapsed(),
            body: text.clone(),
        });
        if ok {
            break;
        }
    }
    last
}
