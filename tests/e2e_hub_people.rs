//! Hub rooms and people (issue 16): a mention of a person crosses from any side to any other
//! as that person where the bridge knows them on the target platform, else as their name;
//! and a chat without a relay is named to the room once, not once per message it misses.
//! One bridge process, a real Synapse, the Slack and Rocket.Chat fakes.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use aqueduct_testkit::hub_sides::{RC, RcSide, SLACK, SlackSide};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::slack_env::ghost as slack_ghost;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

struct Hub {
    env: BridgeEnv,
    // Each platform side below waits `WAIT` for a message.
    slack: SlackSide,
    rc: RcSide,
    admin: MatrixClient,
    dave: MatrixClient,
    room: String,
}

/// A room linked to Slack `C1` and Rocket.Chat `GENERAL`. The admin has the Slack app, their
/// own Slack account `UADMIN` and their own Rocket.Chat account `RCADMIN` (`@admin`); Bob and
/// Erin are Slack users, Carol a Rocket.Chat user, `dave` a Matrix user with no login.
/// `relay`: whether `set-relay` is run.
async fn hub(relay: bool) -> anyhow::Result<(Hub, RunningBridge)> {
    let slack = SlackSide::start(
        &[
            ("UERIN", "erin", "Erin Slack"),
            ("UADMIN", "adminslack", "Admin Slack"),
        ],
        WAIT,
    )
    .await?;
    let rc = RcSide::start(WAIT).await?;
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some([slack.config(), rc.config()].concat()),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let admin = env.user("admin").await?;
    let dave = env.user("dave").await?;
    let mgmt = env.management_room(&admin).await?;
    slack.log_in(&env, &admin, &mgmt).await?;
    let own_slack = format!("login slack token {}", slack.user_token("UADMIN"));
    env.command(&admin, &mgmt, &own_slack, "Logged in to slack")
        .await?;
    rc.log_in(&env, &admin, &mgmt).await?;

    let room = env.hub_room(&admin, &[&dave]).await?;
    env.link(&admin, &room, "slack C1").await?;
    env.link(&admin, &room, "rocketchat GENERAL").await?;
    if relay {
        env.command(
            &admin,
            &room,
            "!aq set-relay",
            "rocketchat: Messages from users",
        )
        .await?;
    }
    let h = Hub {
        env,
        slack,
        rc,
        admin,
        dave,
        room,
    };
    Ok((h, bridge))
}

impl Hub {
    /// Waits until a Matrix message whose body contains `text` is in the room, then gives it.
    async fn in_matrix(&self, text: &str) -> anyhow::Result<Value> {
        self.admin
            .wait_for_event(&self.room, WAIT, |e| {
                e["type"] == "m.room.message"
                    && e["content"]["body"]
                        .as_str()
                        .is_some_and(|b| b.contains(text))
            })
            .await
    }

    /// The bot's notices in the room that mention `words` (all of them).
    async fn notices(&self, words: &[&str]) -> anyhow::Result<Vec<String>> {
        Ok(self
            .admin
            .messages(&self.room)
            .await?
            .iter()
            .filter(|e| {
                e["sender"] == self.env.bot.as_str() && e["content"]["msgtype"] == "m.notice"
            })
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .filter(|b| words.iter().all(|w| b.contains(w)))
            .collect())
    }
}

/// A Matrix mention pill of `mxid` shown as `label`.
fn pill(mxid: &str, label: &str) -> String {
    format!("<a href=\"https://matrix.to/#/{mxid}\">{label}</a>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_is_the_person_on_each_platform_that_knows_them_else_their_name()
-> anyhow::Result<()> {
    let (h, bridge) = hub(true).await?;

    // Slack -> Matrix and Rocket.Chat: a Slack user Rocket.Chat does not know is their name,
    // in Matrix and on Rocket.Chat, never Slack's user id.
    h.slack.post(SLACK, "UBOB", "ping <@UERIN> please", None);
    let in_matrix = h.in_matrix("please").await?;
    let body = in_matrix["content"]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("Erin Slack") && !body.contains("UERIN"),
        "{in_matrix}"
    );
    let on_rc = h.rc.message("please").await?.text;
    assert!(
        on_rc.contains("Erin Slack") && !on_rc.contains("UERIN"),
        "{on_rc}"
    );

    // Slack -> Rocket.Chat: the admin's Slack account is the admin, whose Rocket.Chat account
    // the bridge knows: there it is Rocket.Chat's mention of them.
    h.slack.post(SLACK, "UBOB", "ask <@UADMIN> now", None);
    let on_rc = h.rc.message("now").await?.text;
    assert!(
        on_rc.contains("@admin") && !on_rc.contains("UADMIN"),
        "{on_rc}"
    );

    // Rocket.Chat -> Slack: the same person the other way, and a Rocket.Chat user Slack
    // does not know as their name.
    h.rc.post(RC, "RCCAROL", "ask @admin and @carol too", None);
    let on_slack = h.slack.message("too").await?.text;
    assert!(on_slack.contains("<@UADMIN>"), "{on_slack}");
    assert!(on_slack.contains("Carol Rocket"), "{on_slack}");

    // Matrix -> both: a pill of Erin's ghost and one of the admin's Slack ghost.
    let erin = slack_ghost("UERIN");
    let admin_on_slack = slack_ghost("UADMIN");
    let html = format!(
        "hello {} and {} here",
        pill(&erin, "Erin Slack"),
        pill(&admin_on_slack, "Admin Slack")
    );
    h.dave
        .send(&h.room, "m.room.message", json!({"msgtype": "m.text", "body": "hello Erin Slack and Admin Slack here", "format": "org.matrix.custom.html", "formatted_body": html, "m.mentions": {"user_ids": [erin, admin_on_slack]}}))
        .await?;
    let on_slack = h.slack.message("here").await?.text;
    assert!(
        on_slack.contains("<@UERIN>") && on_slack.contains("<@UADMIN>"),
        "{on_slack}"
    );
    let on_rc = h.rc.message("here").await?.text;
    assert!(
        on_rc.contains("Erin Slack") && on_rc.contains("@admin"),
        "{on_rc}"
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_without_a_relay_is_named_once_and_set_relay_opens_it() -> anyhow::Result<()> {
    let (h, bridge) = hub(false).await?;

    // Three Slack messages from Bob, who has no Rocket.Chat login, while Rocket.Chat has no
    // relay: each reaches Matrix, none Rocket.Chat, and the room hears of it once.
    for n in 1..=3 {
        h.slack.post(SLACK, "UBOB", &format!("unrelayed {n}"), None);
    }
    h.in_matrix("unrelayed 3").await?;
    // The room's events are handled in order: once the admin's own message (they are
    // logged in to Rocket.Chat) is there, the three before it were handled.
    h.admin.send_text(&h.room, "admin marker one").await?;
    h.rc.message("admin marker one").await?;
    let told = h.notices(&["Rocket.Chat", "set-relay"]).await?;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        h.rc.messages(RC)
            .iter()
            .all(|m| !m.text.contains("unrelayed"))
    );

    // The same from Rocket.Chat to Slack, told once for Slack.
    for n in 1..=2 {
        h.rc.post(RC, "RCCAROL", &format!("rc unrelayed {n}"), None);
    }
    h.in_matrix("rc unrelayed 2").await?;
    h.admin.send_text(&h.room, "admin marker two").await?;
    h.slack.message("admin marker two").await?;
    let told = h.notices(&["Slack", "set-relay"]).await?;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(h.notices(&["Rocket.Chat", "set-relay"]).await?.len(), 1);

    // A Matrix user's own message that cannot cross is still told to them, each time.
    h.dave.send_text(&h.room, "dave speaks").await?;
    h.admin
        .wait_for_event(&h.room, WAIT, |e| {
            e["sender"] == h.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with(h.dave.user_id()) && b.contains("not bridged"))
        })
        .await?;

    // With a relay, Bob's messages reach Rocket.Chat.
    h.env
        .command(
            &h.admin,
            &h.room,
            "!aq set-relay",
            "rocketchat: Messages from users",
        )
        .await?;
    h.slack.post(SLACK, "UBOB", "relayed at last", None);
    h.rc.message("relayed at last").await?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_and_read_receipts_reach_every_linked_chat_as_the_user_s_own_account()
-> anyhow::Result<()> {
    let (h, bridge) = hub(true).await?;
    let enc = aqueduct_testkit::matrix_client::enc;
    // Typing reaches Rocket.Chat, whose API takes it for a user (Slack's takes none).
    let typing_path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        enc(&h.room),
        enc(h.admin.user_id())
    );
    let typing = |on: bool| json!({ "typing": on, "timeout": 30000 });
    h.admin
        .request(reqwest::Method::PUT, &typing_path, Some(&typing(true)))
        .await?;
    h.rc.wait_until(WAIT, || h.rc.is_typing(RC, "admin").then_some(()))
        .await?;
    h.admin
        .request(reqwest::Method::PUT, &typing_path, Some(&typing(false)))
        .await?;
    h.rc.wait_until(WAIT, || (!h.rc.is_typing(RC, "admin")).then_some(()))
        .await?;

    // Bob's Slack message, read in Matrix, is read on both platforms by the admin's own
    // accounts, each up to its own copy: Slack's original, Rocket.Chat's relayed one.
    let bob_ts = h.slack.post(SLACK, "UBOB", "read me", None);
    let seen = h.in_matrix("read me").await?;
    let on_rc = h.rc.message("read me").await?;
    h.admin
        .request(
            reqwest::Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                enc(&h.room),
                enc(seen["event_id"].as_str().expect("event id"))
            ),
            Some(&json!({})),
        )
        .await?;
    h.slack
        .wait_until(WAIT, || {
            (h.slack.last_read(SLACK, "UADMIN").as_deref() == Some(bob_ts.as_str())).then_some(())
        })
        .await?;
    h.rc.wait_until(WAIT, || {
        (h.rc.last_read(RC, "RCADMIN").as_deref() == Some(on_rc.id.as_str())).then_some(())
    })
    .await?;
    bridge.stop().await?;
    Ok(())
}
