//! Bridge info (MSC2346): every portal room carries `m.bridge` and `uk.half-shot.bridge`
//! state events (the second is the name clients read before the MSC settled), one pair per
//! bridged chat, keyed `<bridge id>://<network>/<chat id>` as mautrix bridges key theirs, so
//! a hub room has one pair per linked chat. Clients read them to show what a room is bridged
//! to: the bot, the platform, its workspace or server, the chat.
//!
//! The room's state is the memory: what the bridge cannot learn at the moment (who created
//! the portal, the chat's picture when the room was not made from it, the workspace while no
//! login of the network is loaded) is kept from the event already there, and an event whose
//! content would not change is not sent again, so refreshing every portal at start costs
//! reads, not events. Unbridging empties the pair (`{}`), which clients take as "no longer
//! bridged".

use crate::Result;
use crate::bridge::{Inner, Job, LoadedLogin};
use crate::connector::NetworkInfo;
use crate::ids::PortalKey;
use crate::queue::QueueKey;
use crate::records::Portal;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The event types: MSC2346's, then its unstable name.
pub(crate) const BRIDGE_EVENT_TYPES: [&str; 2] = ["m.bridge", "uk.half-shot.bridge"];

/// What a caller knows beyond the portal row; anything left `None` is kept from the room's
/// current event.
#[derive(Debug, Default)]
pub(crate) struct BridgeInfoHints {
    /// The Matrix user the portal was opened for or linked by.
    pub(crate) creator: Option<String>,
    /// The chat's picture as the room shows it (`mxc://`).
    pub(crate) channel_avatar: Option<String>,
    /// The workspace, server or tenant.
    pub(crate) network: Option<NetworkInfo>,
}

/// The platform, as the `protocol` section names it.
#[derive(Debug)]
pub(crate) struct Protocol {
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) external_url: Option<String>,
}

/// The state key of `key`'s pair: unique per chat, so the chats of a hub room do not
/// overwrite each other's.
pub(crate) fn state_key(bridge_id: &str, key: &PortalKey) -> String {
    format!("{bridge_id}://{}/{}", key.connector, key.chat)
}

/// The content `portal`'s event should have, given what is known now and what the room's
/// event says already (`previous`).
pub(crate) fn content(
    bot: &str,
    protocol: &Protocol,
    portal: &Portal,
    hints: &BridgeInfoHints,
    previous: Option<&Value>,
) -> Value {
    let before = |section: &str, field: &str| -> Option<Value> {
        let v = previous?.get(section)?;
        let v = if field.is_empty() { v } else { v.get(field)? };
        (!v.is_null()).then(|| v.clone())
    };
    let mut c = Map::new();
    c.insert("bridgebot".into(), json!(bot));
    if let Some(creator) = hints
        .creator
        .as_ref()
        .map(|c| json!(c))
        .or_else(|| before("creator", ""))
    {
        c.insert("creator".into(), creator);
    }
    let mut p = Map::new();
    p.insert("id".into(), json!(protocol.id));
    p.insert("displayname".into(), json!(protocol.display_name));
    if let Some(url) = &protocol.external_url {
        p.insert("external_url".into(), json!(url));
    }
    c.insert("protocol".into(), Value::Object(p));
    let network = hints
        .network
        .as_ref()
        .map(|n| json!({ "id": n.id, "displayname": n.display_name }))
        .or_else(|| before("network", ""));
    if let Some(network) = network {
        c.insert("network".into(), network);
    }
    let mut ch = Map::new();
    ch.insert("id".into(), json!(portal.key.chat.as_str()));
    if let Some(name) = &portal.name {
        ch.insert("displayname".into(), json!(name));
    }
    if let Some(avatar) = hints
        .channel_avatar
        .as_ref()
        .map(|a| json!(a))
        .or_else(|| before("channel", "avatar_url"))
    {
        ch.insert("avatar_url".into(), avatar);
    }
    c.insert("channel".into(), Value::Object(ch));
    Value::Object(c)
}

impl Inner {
    fn protocol(&self, key: &PortalKey) -> Protocol {
        match self.connectors.get(&key.connector) {
            Some(c) => Protocol {
                id: key.connector.to_string(),
                display_name: c.display_name().to_owned(),
                external_url: c.external_url(),
            },
            None => Protocol {
                id: key.connector.to_string(),
                display_name: key.connector.to_string(),
                external_url: None,
            },
        }
    }

    /// The pair of initial state events for a room the bridge creates for `portal` (no
    /// previous events to keep anything from).
    pub(crate) fn bridge_info_initial_state(
        &self,
        portal: &Portal,
        hints: &BridgeInfoHints,
    ) -> Vec<(String, String, Value)> {
        let content = content(
            self.matrix.bot_user_id(),
            &self.protocol(&portal.key),
            portal,
            hints,
            None,
        );
        let key = state_key(&self.config.bridge_id, &portal.key);
        BRIDGE_EVENT_TYPES
            .iter()
            .map(|t| ((*t).to_owned(), key.clone(), content.clone()))
            .collect()
    }

    /// Brings the room's pair for `portal` up to date, sending only an event whose content
    /// changes. The workspace comes from `hints`, else from a loaded login of the portal's
    /// network, else from the room's current event.
    pub(crate) async fn set_bridge_info(
        &self,
        portal: &Portal,
        mut hints: BridgeInfoHints,
    ) -> Result<()> {
        let Some(room) = portal.room_id.as_deref() else {
            return Ok(());
        };
        if hints.network.is_none()
            && let Some(login) = self.login_for_bridge_info(portal)
        {
            hints.network = login.api.network_info().await;
        }
        let protocol = self.protocol(&portal.key);
        let key = state_key(&self.config.bridge_id, &portal.key);
        let bot = self.matrix.bot_user_id().to_owned();
        for kind in BRIDGE_EVENT_TYPES {
            let current = self
                .retry_matrix("read bridge info", || {
                    self.matrix.get_state(room, kind, &key)
                })
                .await?;
            let wanted = content(&bot, &protocol, portal, &hints, current.as_ref());
            if current.as_ref() == Some(&wanted) {
                continue;
            }
            self.retry_matrix("set bridge info", || {
                self.matrix.send_state(room, &bot, kind, &key, &wanted)
            })
            .await?;
        }
        Ok(())
    }

    /// [`Inner::set_bridge_info`] for a change the bridge made or saw; a failure is logged,
    /// as the change itself stands.
    pub(crate) async fn update_bridge_info(&self, portal: &Portal, hints: BridgeInfoHints) {
        if let Err(e) = self.set_bridge_info(portal, hints).await {
            tracing::warn!(portal = %portal.key, error = %e, "cannot update the room's bridge info");
        }
    }

    /// Empties `key`'s pair in `room` (unbridged or unlinked). Best effort: logged on failure.
    pub(crate) async fn clear_bridge_info(&self, room: &str, key: &PortalKey) {
        let state_key = state_key(&self.config.bridge_id, key);
        let bot = self.matrix.bot_user_id().to_owned();
        let empty = json!({});
        for kind in BRIDGE_EVENT_TYPES {
            if let Err(e) = self
                .retry_matrix("clear bridge info", || {
                    self.matrix.send_state(room, &bot, kind, &state_key, &empty)
                })
                .await
            {
                tracing::warn!(portal = %key, room, error = %e, "cannot empty the room's bridge info");
            }
        }
    }

    /// A login that can say which workspace the portal's chat is in: its receiver's, its
    /// relay's, else any of its network.
    fn login_for_bridge_info(&self, portal: &Portal) -> Option<LoadedLogin> {
        let connector = &portal.key.connector;
        if let Some(id) = portal.key.receiver.as_ref().or(portal.relay_login.as_ref())
            && let Some(l) = self.loaded_login(connector, id)
        {
            return Some(l);
        }
        self.logins
            .read()
            .expect("logins lock")
            .iter()
            .find(|((c, _), _)| c == connector)
            .map(|(_, l)| l.clone())
    }

    /// At start: brings every portal's bridge info up to date (rooms made before the bridge
    /// set it, or a chat renamed meanwhile), one portal at a time, each in its portal's queue
    /// so it cannot overtake the portal's events. Unchanged rooms get no event.
    pub(crate) async fn refresh_all_bridge_info(self: Arc<Self>) {
        let portals = match self.store.list_portals().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list portals to refresh their bridge info");
                return;
            }
        };
        let count = portals.len();
        for portal in portals {
            if self.is_shutting_down() {
                return;
            }
            let (done, finished) = oneshot::channel();
            self.queue(
                QueueKey::Portal(portal.key.clone()),
                Job::BridgeInfo {
                    key: portal.key,
                    done,
                },
            );
            let _ = finished.await;
        }
        tracing::info!(portals = count, "bridge info checked");
    }

    /// The job [`Inner::refresh_all_bridge_info`] queues: the portal as the store has it now.
    pub(crate) async fn refresh_bridge_info_job(&self, key: &PortalKey) {
        match self.store.portal_by_key(key).await {
            Ok(Some(portal)) => {
                self.update_bridge_info(&portal, BridgeInfoHints::default())
                    .await
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(portal = %key, error = %e, "cannot read a portal to refresh its bridge info")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectorId, RemoteChatId};

    fn portal(name: Option<&str>) -> Portal {
        Portal {
            name: name.map(str::to_owned),
            room_id: Some("!r:hs".into()),
            ..Portal::new(PortalKey::shared(
                ConnectorId::new("slack"),
                RemoteChatId::new("C1"),
            ))
        }
    }

    fn slack() -> Protocol {
        Protocol {
            id: "slack".into(),
            display_name: "Slack".into(),
            external_url: Some("https://slack.com".into()),
        }
    }

    #[test]
    fn state_key_names_bridge_network_and_chat() {
        let key = PortalKey::shared(ConnectorId::new("teams"), RemoteChatId::new("T/19:c"));
        assert_eq!(state_key("aqueduct", &key), "aqueduct://teams/T/19:c");
    }

    #[test]
    fn content_has_every_known_section() {
        let hints = BridgeInfoHints {
            creator: Some("@alice:hs".into()),
            channel_avatar: Some("mxc://hs/a".into()),
            network: Some(NetworkInfo {
                id: "T1".into(),
                display_name: "Acme".into(),
            }),
        };
        let c = content("@bot:hs", &slack(), &portal(Some("general")), &hints, None);
        assert_eq!(
            c,
            json!({
                "bridgebot": "@bot:hs", "creator": "@alice:hs",
                "protocol": {"id": "slack", "displayname": "Slack", "external_url": "https://slack.com"},
                "network": {"id": "T1", "displayname": "Acme"},
                "channel": {"id": "C1", "displayname": "general", "avatar_url": "mxc://hs/a"},
            })
        );
    }

    #[test]
    fn what_is_unknown_now_is_kept_from_the_room() {
        let first = content(
            "@bot:hs",
            &slack(),
            &portal(Some("general")),
            &BridgeInfoHints {
                creator: Some("@alice:hs".into()),
                channel_avatar: Some("mxc://hs/a".into()),
                network: Some(NetworkInfo {
                    id: "T1".into(),
                    display_name: "Acme".into(),
                }),
            },
            None,
        );
        let renamed = content(
            "@bot:hs",
            &slack(),
            &portal(Some("random")),
            &BridgeInfoHints::default(),
            Some(&first),
        );
        assert_eq!(renamed["creator"], "@alice:hs");
        assert_eq!(renamed["network"]["displayname"], "Acme");
        assert_eq!(renamed["channel"]["avatar_url"], "mxc://hs/a");
        assert_eq!(renamed["channel"]["displayname"], "random");
        // Nothing new: the same content, so nothing is sent.
        let again = content(
            "@bot:hs",
            &slack(),
            &portal(Some("random")),
            &BridgeInfoHints::default(),
            Some(&renamed),
        );
        assert_eq!(again, renamed);
    }

    #[test]
    fn an_emptied_event_keeps_nothing() {
        let c = content(
            "@bot:hs",
            &slack(),
            &portal(None),
            &BridgeInfoHints::default(),
            Some(&json!({})),
        );
        assert_eq!(
            c,
            json!({
                "bridgebot": "@bot:hs",
                "protocol": {"id": "slack", "displayname": "Slack", "external_url": "https://slack.com"},
                "channel": {"id": "C1"},
            })
        );
    }
}
