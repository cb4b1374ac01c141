//! The hub row (issue 16): one Matrix room linked to a channel of the fake Slack and a room of
//! the fake Rocket.Chat at once. A burst from each side (Slack's Bob, Rocket.Chat's Bob, the
//! Matrix user) is fanned out to both other sides; each (from, to) pair is a row with its
//! send -> arrival latency. A message between the two platforms crosses Matrix on its way
//! (the hub is Matrix), so its latency holds both legs. The bursts' platform API requests
//! (both fakes together) are reported with each burst's first row.

use super::{ARRIVAL_TIMEOUT, Bench, MATRIX_SENDS_IN_FLIGHT, Portal, proxy, tag_of};
use crate::measure::{Measurement, Sends, Snapshot, measurement};
use crate::platforms::{ROCKETCHAT_ALICE, ROCKETCHAT_BOB, SLACK_BOB, Side};
use crate::proxy::{RouteCounts, diff};
use serde_json::json;
use std::collections::HashMap;

/// The Slack channel of the hub room.
const HUB_SLACK_CHANNEL: &str = "CHUB";
/// The Rocket.Chat room of the hub room.
const HUB_ROCKETCHAT_ROOM: &str = "RCHUB";
/// The scenario id of every hub row.
pub const HUB: &str = "Hub";

/// The hub room and its two chats.
pub struct HubRoom {
    /// The Matrix room.
    room: String,
    /// Its Slack side.
    slack: Portal,
    /// Its Rocket.Chat side.
    rocketchat: Portal,
}

/// Where a burst starts.
#[derive(Clone, Copy)]
enum Origin {
    Matrix,
    Platform(Side),
}

impl Bench {
    /// Makes the hub room: the Matrix user (a bridge admin, logged in to both platforms)
    /// creates a room, links it to a new Slack channel and a new Rocket.Chat room, and turns
    /// the relay on, so each platform's Bob reaches the other platform relayed under his name.
    pub async fn open_hub(&self) -> anyhow::Result<HubRoom> {
        let fakes = &self.env.fakes;
        fakes
            .slack
            .add_channel(HUB_SLACK_CHANNEL, "slackhub", &["UBOT", SLACK_BOB], false);
        fakes.rocketchat.add_room(
            HUB_ROCKETCHAT_ROOM,
            "c",
            "rchub",
            &[ROCKETCHAT_ALICE, ROCKETCHAT_BOB],
        );
        // The relay posts under each author's name (`alias`).
        fakes.rocketchat.allow_impersonation(ROCKETCHAT_ALICE);
        let e = &self.env.env;
        let room = self
            .user
            .create_room(json!({ "name": "Hub", "preset": "private_chat", "invite": [e.bot] }))
            .await?;
        self.user
            .wait_for_event(&room, ARRIVAL_TIMEOUT, |ev| {
                ev["type"] == "m.room.member"
                    && ev["state_key"] == e.bot.as_str()
                    && ev["content"]["membership"] == "join"
            })
            .await?;
        // As in a room made for bridging: the bot may change the room's state.
        let mut power = self
            .user
            .state_event(&room, "m.room.power_levels", "")
            .await?
            .ok_or_else(|| anyhow::anyhow!("the hub room has no power levels"))?;
        power["users"][e.bot.as_str()] = json!(50);
        self.user
            .set_state(&room, "m.room.power_levels", "", power)
            .await?;
        let link = |network: &str, chat: &str| format!("!aq link {network} {chat}");
        e.command(
            &self.user,
            &room,
            &link("slack", HUB_SLACK_CHANNEL),
            "Linked this room",
        )
        .await?;
        e.command(
            &self.user,
            &room,
            &link("rocketchat", HUB_ROCKETCHAT_ROOM),
            "Linked this room",
        )
        .await?;
        e.command(&self.user, &room, "!aq set-relay", "rocketchat: Messages")
            .await?;
        let portal = |chat: &str, side| Portal {
            chat: chat.to_owned(),
            room: room.clone(),
            side,
        };
        Ok(HubRoom {
            slack: portal(HUB_SLACK_CHANNEL, Side::Slack),
            rocketchat: portal(HUB_ROCKETCHAT_ROOM, Side::RocketChat),
            room,
        })
    }

    /// A burst of `n` from each side of `hub`, each measured to both other sides.
    pub async fn hub(&self, hub: &HubRoom, n: usize) -> anyhow::Result<Vec<Measurement>> {
        let mut rows = Vec::new();
        for from in [
            Origin::Platform(Side::Slack),
            Origin::Platform(Side::RocketChat),
            Origin::Matrix,
        ] {
            rows.extend(self.hub_burst(hub, from, n).await?);
        }
        Ok(rows)
    }

    async fn hub_burst(
        &self,
        hub: &HubRoom,
        from: Origin,
        n: usize,
    ) -> anyhow::Result<Vec<Measurement>> {
        let name = match from {
            Origin::Matrix => "Matrix",
            Origin::Platform(side) => super::side_name(side),
        };
        let tag = tag_of(&format!("{HUB} {name}"), None);
        let pid = Some(self.bridge_pid);
        let snap = Snapshot::take(pid, proxy(self))?;
        let requests_before = self.hub_platform_requests();
        let mut sends = Sends::default();
        match from {
            Origin::Platform(side) => {
                let (portal, bob) = match side {
                    Side::Slack => (&hub.slack, SLACK_BOB),
                    _ => (&hub.rocketchat, ROCKETCHAT_BOB),
                };
                for i in 0..n {
                    let body = format!("{tag}{i}");
                    sends.mark(&body);
                    self.post(portal, bob, &body);
                }
            }
            Origin::Matrix => {
                let in_flight =
                    std::sync::Arc::new(tokio::sync::Semaphore::new(MATRIX_SENDS_IN_FLIGHT));
                let mut tasks = Vec::new();
                for i in 0..n {
                    let body = format!("{tag}{i}");
                    sends.mark(&body);
                    let (user, room) = (self.user.clone(), hub.room.clone());
                    let in_flight = in_flight.clone();
                    tasks.push(tokio::spawn(async move {
                        let _permit = in_flight.acquire_owned().await?;
                        user.send_text(&room, &body).await
                    }));
                }
                for t in tasks {
                    t.await??;
                }
            }
        }
        // Every target: the platforms that are not the origin, and Matrix for a platform's
        // burst. The platforms get the message after Matrix has it, so once they have all of
        // them Matrix has too.
        let mut arrived: Vec<(&str, HashMap<String, f64>)> = Vec::new();
        for portal in [&hub.slack, &hub.rocketchat] {
            if matches!(from, Origin::Platform(side) if side == portal.side) {
                continue;
            }
            let at = self.received(portal, &tag, n).await?;
            arrived.push((super::side_name(portal.side), at));
        }
        let (cpu, routes) = snap.since(pid, proxy(self))?;
        let platform_requests = diff(&requests_before, &self.hub_platform_requests());
        if matches!(from, Origin::Platform(_)) {
            let at = self.appservice.origin_times(&hub.room, &tag, n).await?;
            arrived.insert(0, ("Matrix", at));
        }
        let mut rows = Vec::new();
        for (to, at) in arrived {
            let mut row = measurement(
                HUB,
                format!("{name} -> {to}, hub room (Slack + Rocket.Chat + Matrix), burst"),
                None,
                n,
                sends.against(&at),
                Some(cpu),
                routes.clone(),
            );
            if rows.is_empty() {
                row.platform_requests = Some(platform_requests.clone());
            }
            rows.push(row);
        }
        Ok(rows)
    }

    /// Both fakes' requests so far, each route named with its platform.
    fn hub_platform_requests(&self) -> RouteCounts {
        let mut all = RouteCounts::new();
        for side in [Side::Slack, Side::RocketChat] {
            for (route, count) in self.env.fakes.request_counts(side) {
                all.insert(format!("{}: {route}", super::side_name(side)), count);
            }
        }
        all
    }
}
