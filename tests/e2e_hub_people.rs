//! Hub rooms and people (issue 16): a mention of a person crosses from any side to any other
//! as that person where the bridge knows them on the target platform, else as their name;
//! and a chat without a relay is named to the room once, not once per message it misses.
//! One bridge process, a real Synapse, the Slack and Rocket.Chat fakes.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use aqueduct_testkit::fake_rocketchat::FakeRocketChat;
use aqueduct_testkit::fake_slack::FakeSlack;
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::slack_env::ghost as slack_ghost;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SLACK: &str = "C1";
const RC: &str = "GENERAL";

struct Hub {
    env: BridgeEnv,
    slack: FakeSlack,
    rc: FakeRocketChat,
    admin: MatrixClient,
    dave: MatrixClient,
    room: String,
}

/// A room linked to Slack `C1` and Rocket.Chat `GENERAL`. The admin has the Slack app, their
/// own Slack account `UADMIN` and their own Rocket.Chat account `RCADMIN` (`@admin`); Bob and
/// Erin are Slack users, Carol a Rocket.Chat user, `dave` a Matrix user with no login.
/// `relay`: whether `set-relay` is run.
async fn hub(relay: bool) -> anyhow::Result<(Hub, RunningBridge)> {
    let slack = FakeSlack::start().await?;
    slack.add_user("UBOB", "bob", "Bob Slack");
    slack.add_user("UERIN", "erin", "Erin Slack");
    slack.add_user("UADMIN", "adminslack", "Admin Slack");
    slack.add_channel(
        SLACK,
        "general",
        &["UBOT", "UBOB", "UERIN", "UADMIN"],
        false,
    );
    let rc = FakeRocketChat::start().await?;
    let admin_token = rc.add_user("RCADMIN", "admin", "Admin Rocket");
    rc.add_user("RCCAROL", "carol", "Carol Rocket");
    rc.add_room(RC, "c", "general", &["RCADMIN", "RCCAROL"]);
    rc.allow_impersonation("RCADMIN");
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!(
            "  slack:\n    api_url: {}\n  rocketchat:\n    server_url: {}\n",
            slack.api_base(),
            rc.url()
        )),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let admin = env.user("admin").await?;
    let dave = env.user("dave").await?;
    let mgmt = env.management_room(&admin).await?;
    env.command(&admin, &mgmt, &slack.app_login_command(), "Logged in")
        .await?;
    let own_slack = format!("login slack token {}", slack.user_token("UADMIN"));
    env.command(&admin, &mgmt, &own_slack, "Logged in to slack")
        .await?;
    let own_rc = format!("login rocketchat token RCADMIN {admin_token}");
    env.command(&admin, &mgmt, &own_rc, "Logged in").await?;

    let room = env.hub_room(&admin, &[&dave]).await?;
    env.command(&admin, &room, "!aq link slack C1", "Linked this room")
        .await?;
    env.command(
        &admin,
        &room,
        "!aq link rocketchat GENERAL",
        "Linked this room",
    )
    .await?;
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
    /// Waits until a message containing `text` is on Slack, then gives its text.
    async fn on_slack(&self, text: &str) -> anyhow::Result<String> {
        let msgs = self
            .slack
            .wait_for(SLACK, WAIT, |m| m.iter().any(|x| x.text.contains(text)))
            .await?;
        Ok(msgs
            .into_iter()
            .find(|x| x.text.contains(text))
            .unwrap()
            .text)
    }

    /// Waits until a message containing `text` is on Rocket.Chat, then gives its text.
    async fn on_rc(&self, text: &str) -> anyhow::Result<String> {
        let msgs = self
            .rc
            .wait_for(RC, WAIT, |m| m.iter().any(|x| x.text.contains(text)))
            .await?;
        Ok(msgs
            .into_iter()
            .find(|x| x.text.contains(text))
            .unwrap()
            .text)
    }

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
    let on_rc = h.on_rc("please").await?;
    assert!(
        on_rc.contains("Erin Slack") && !on_rc.contains("UERIN"),
        "{on_rc}"
    );

    // Slack -> Rocket.Chat: the admin's Slack account is the admin, whose Rocket.Chat account
    // the bridge knows: there it is Rocket.Chat's mention of them.
    h.slack.post(SLACK, "UBOB", "ask <@UADMIN> now", None);
    let on_rc = h.on_rc("now").await?;
    assert!(
        on_rc.contains("@admin") && !on_rc.contains("UADMIN"),
        "{on_rc}"
    );

    // Rocket.Chat -> Slack: the same person the other way, and a Rocket.Chat user Slack
    // does not know as their name.
    h.rc.post(RC, "RCCAROL", "ask @admin and @carol too", None);
    let on_slack = h.on_slack("too").await?;
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
    let on_slack = h.on_slack("here").await?;
    assert!(
        on_slack.contains("<@UERIN>") && on_slack.contains("<@UADMIN>"),
        "{on_slack}"
    );
    let on_rc = h.on_rc("here").await?;
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
    h.on_rc("admin marker one").await?;
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
    h.on_slack("admin marker two").await?;
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
    h.on_rc("relayed at last").await?;
    bridge.stop().await?;
    Ok(())
}
