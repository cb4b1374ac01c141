//! The chaos run's traffic: four lanes (Slack and Rocket.Chat, each way), each a numbered
//! stream of messages, and how to read what arrived at each lane's far end.

use super::check::number_after;
use crate::platforms::{ROCKETCHAT_BOB, ROCKETCHAT_ROOM, SLACK_BOB, SLACK_CHANNEL};
use aqueduct_testkit::fake_rocketchat::FakeRocketChat;
use aqueduct_testkit::fake_slack::FakeSlack;
use aqueduct_testkit::matrix_client::{MatrixClient, enc};
use reqwest::Method;
use std::time::Duration;

/// One direction across one platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Bob posts on Slack; his messages must reach the Slack portal.
    SlackToMatrix,
    /// Bob posts on Rocket.Chat; his messages must reach the Rocket.Chat portal.
    RocketChatToMatrix,
    /// Alice writes in the Slack portal; her messages must reach the Slack channel.
    MatrixToSlack,
    /// Alice writes in the Rocket.Chat portal; her messages must reach the Rocket.Chat room.
    MatrixToRocketChat,
}

impl Lane {
    /// Every lane, in the report's order.
    pub const ALL: [Lane; 4] = [
        Lane::SlackToMatrix,
        Lane::MatrixToSlack,
        Lane::RocketChatToMatrix,
        Lane::MatrixToRocketChat,
    ];

    /// The report's name of the lane.
    pub fn name(self) -> &'static str {
        match self {
            Lane::SlackToMatrix => "Slack -> Matrix",
            Lane::RocketChatToMatrix => "Rocket.Chat -> Matrix",
            Lane::MatrixToSlack => "Matrix -> Slack",
            Lane::MatrixToRocketChat => "Matrix -> Rocket.Chat",
        }
    }

    /// What every message of the lane starts with, before its number: letters no platform
    /// reads as markup.
    pub fn tag(self) -> &'static str {
        match self {
            Lane::SlackToMatrix => "chaosfromslack",
            Lane::RocketChatToMatrix => "chaosfromrocket",
            Lane::MatrixToSlack => "chaostoslack",
            Lane::MatrixToRocketChat => "chaostorocket",
        }
    }
}

/// Where the lanes send and read.
#[derive(Clone)]
pub struct Ends {
    /// The Matrix user who writes and reads in both portals.
    pub alice: MatrixClient,
    /// The Slack portal's room.
    pub slack_room: String,
    /// The Rocket.Chat portal's room.
    pub rocketchat_room: String,
    /// The fake Slack.
    pub slack: FakeSlack,
    /// The fake Rocket.Chat.
    pub rocketchat: FakeRocketChat,
}

impl Ends {
    /// Sends message `n` of `lane` from its near end. A Matrix send that fails (Synapse is
    /// restarting) is retried with the same transaction id until `give_up`, so Synapse
    /// makes one event of it however often it is tried.
    /// Returns the Matrix event id of a Matrix send.
    pub async fn send(
        &self,
        lane: Lane,
        n: usize,
        give_up: tokio::time::Instant,
    ) -> anyhow::Result<Option<String>> {
        let body = format!("{}{n}", lane.tag());
        let room = match lane {
            Lane::SlackToMatrix => {
                self.slack.post(SLACK_CHANNEL, SLACK_BOB, &body, None);
                return Ok(None);
            }
            Lane::RocketChatToMatrix => {
                self.rocketchat
                    .post(ROCKETCHAT_ROOM, ROCKETCHAT_BOB, &body, None);
                return Ok(None);
            }
            Lane::MatrixToSlack => &self.slack_room,
            Lane::MatrixToRocketChat => &self.rocketchat_room,
        };
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}{n}",
            enc(room),
            lane.tag()
        );
        let content = serde_json::json!({ "msgtype": "m.text", "body": body });
        loop {
            match self.alice.request(Method::PUT, &path, Some(&content)).await {
                Ok(answer) => return Ok(answer["event_id"].as_str().map(str::to_owned)),
                Err(e) if tokio::time::Instant::now() < give_up => {
                    tracing::debug!(error = %e, "a Matrix send failed; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e.context(format!("sending {body}"))),
            }
        }
    }

    /// The numbers of the lane's messages that reached its far end, in arrival order.
    pub async fn arrivals(&self, lane: Lane) -> anyhow::Result<Vec<usize>> {
        let tag = lane.tag();
        let texts: Vec<String> = match lane {
            Lane::SlackToMatrix | Lane::RocketChatToMatrix => {
                let room = match lane {
                    Lane::SlackToMatrix => &self.slack_room,
                    _ => &self.rocketchat_room,
                };
                self.alice
                    .messages(room)
                    .await?
                    .into_iter()
                    .filter(|e| e["type"] == "m.room.message")
                    .filter(|e| e["sender"] != self.alice.user_id())
                    .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
                    .collect()
            }
            Lane::MatrixToSlack => self
                .slack
                .messages(SLACK_CHANNEL)
                .into_iter()
                .map(|m| m.text)
                .collect(),
            Lane::MatrixToRocketChat => self
                .rocketchat
                .messages(ROCKETCHAT_ROOM)
                .into_iter()
                .map(|m| m.text)
                .collect(),
        };
        Ok(texts.iter().filter_map(|t| number_after(t, tag)).collect())
    }
}
