//! Encrypted hub rooms (issue 16): a room with `m.room.encryption` linked to a Slack channel
//! and a Rocket.Chat room at once, with a real Synapse, the two fakes and an independent
//! encryption-capable client (matrix-nio) as the admin's phone. Everything said in Matrix is
//! ciphertext there, the phone reads all of it, and each platform gets the plaintext of the
//! others' messages and of the admin's, once.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions, RunningBridge};
use aqueduct_testkit::hub_sides::{RC, RcSide, SLACK, SlackSide};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::nio_client::{MessageFilter, NioClient, ReceivedMessage};
use aqueduct_testkit::rocketchat_env::ghost as rc_ghost;
use aqueduct_testkit::slack_env::ghost as slack_ghost;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ADMIN_PW: &str = "admin-password-1";

struct Hub {
    env: BridgeEnv,
    // Each platform side below waits `WAIT` for a message.
    slack: SlackSide,
    rc: RcSide,
    /// The admin, unencrypted: their management room, and the room as the server holds it.
    admin: MatrixClient,
    /// The admin's phone, which reads and writes the encrypted room.
    phone: NioClient,
    room: String,
}

/// Starts everything with encryption allowed, logs the admin in to both platforms, makes an
/// encrypted room and links it, from the phone, to both chats with the relay on.
async fn encrypted_hub() -> anyhow::Result<(Hub, RunningBridge)> {
    let slack = SlackSide::start(&[], WAIT).await?;
    let rc = RcSide::start(WAIT).await?;
    let env = BridgeEnv::new(EnvOptions {
        encryption: Some("  default: true\n".into()),
        double_puppet: true,
        extra_platforms: Some([slack.config(), rc.config()].concat()),
        ..EnvOptions::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let admin = env
        .synapse
        .register_user_with_password("admin", ADMIN_PW, false)
        .await?;
    let phone = NioClient::spawn("admin-phone").await?;
    phone
        .login(&env.synapse.base_url(), admin.user_id(), ADMIN_PW)
        .await?;
    let mgmt = env.management_room(&admin).await?;
    slack.log_in(&env, &admin, &mgmt).await?;
    rc.log_in(&env, &admin, &mgmt).await?;

    let room = env.encrypted_hub_room(&admin, &[]).await?;
    phone.wait_member(&room, &env.bot, WAIT).await?;
    let h = Hub {
        env,
        slack,
        rc,
        admin,
        phone,
        room,
    };
    h.command("!aq link slack C1", "Linked this room").await?;
    h.command("!aq link rocketchat GENERAL", "Linked this room")
        .await?;
    let relays = h
        .command("!aq set-relay", "rocketchat: Messages from users")
        .await?;
    let relays = relays.body.unwrap_or_default();
    assert!(relays.contains("slack: Messages from users"), "{relays}");
    Ok((h, bridge))
}

impl Hub {
    /// Sends a command from the phone (encrypted) and waits for the bot's answer containing
    /// `expect`, which the phone decrypts.
    async fn command(&self, command: &str, expect: &str) -> anyhow::Result<ReceivedMessage> {
        let sent = self.phone.send_text(&self.room, command).await?;
        assert!(sent.encrypted, "{command} went out encrypted");
        let answer = self
            .phone
            .wait_message(
                &self.room,
                &MessageFilter::any()
                    .sender(self.env.bot.clone())
                    .body_contains(expect),
                WAIT,
            )
            .await?;
        assert!(answer.encrypted, "the bot's answer is encrypted");
        Ok(answer)
    }

    /// Waits until the phone has `sender`'s message containing `text`, decrypted.
    async fn on_phone(&self, sender: &str, text: &str) -> anyhow::Result<ReceivedMessage> {
        let got = self
            .phone
            .wait_message(
                &self.room,
                &MessageFilter::any().sender(sender).body_contains(text),
                WAIT,
            )
            .await?;
        assert!(got.encrypted, "{text} arrived encrypted: {got:?}");
        Ok(got)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_hub_room_carries_every_side_to_the_others_and_stays_ciphertext_in_matrix()
-> anyhow::Result<()> {
    let (h, bridge) = encrypted_hub().await?;
    let (bob, carol) = (slack_ghost("UBOB"), rc_ghost("RCCAROL"));

    // Slack -> the phone, decrypted as Bob's ghost, and Rocket.Chat under Bob's name.
    let bob_ts = h.slack.post(SLACK, "UBOB", "sealed from slack", None);
    h.on_phone(&bob, "sealed from slack").await?;
    let bob_on_rc = h.rc.message("sealed from slack").await?;
    assert_eq!(
        bob_on_rc.alias.as_deref(),
        Some("Bob Slack"),
        "{bob_on_rc:?}"
    );

    // Rocket.Chat -> the phone as Carol's ghost, and Slack under Carol's name.
    let carol_id = h.rc.post(RC, "RCCAROL", "sealed from rocket", None);
    h.on_phone(&carol, "sealed from rocket").await?;
    let carol_on_slack = h.slack.message("sealed from rocket").await?;
    assert_eq!(
        carol_on_slack.username.as_deref(),
        Some("Carol Rocket"),
        "{carol_on_slack:?}"
    );

    // The phone's encrypted message reaches both platforms as plaintext: as the admin's own
    // Rocket.Chat account, and through the Slack app under the admin's name.
    let sent = h.phone.send_text(&h.room, "sealed from matrix").await?;
    assert!(sent.encrypted);
    let on_rc = h.rc.message("sealed from matrix").await?;
    assert_eq!(
        (on_rc.user.as_str(), on_rc.alias.as_deref()),
        ("RCADMIN", None)
    );
    assert_eq!(on_rc.text, "sealed from matrix");
    let on_slack = h.slack.message("sealed from matrix").await?;
    assert_eq!(on_slack.username.as_deref(), Some("admin"));
    assert_eq!(on_slack.text, "sealed from matrix");

    // The admin's own Rocket.Chat account writing there: the admin in Matrix (double
    // puppet, encrypted by the bridge), under the admin's name on Slack.
    h.rc.post(RC, "RCADMIN", "sealed from the admin on rocket", None);
    h.on_phone(h.admin.user_id(), "sealed from the admin on rocket")
        .await?;
    let relayed = h.slack.message("sealed from the admin on rocket").await?;
    assert_eq!(relayed.username.as_deref(), Some("admin"), "{relayed:?}");

    // An edit on Slack and a reaction there reach Rocket.Chat; a delete on Rocket.Chat
    // reaches Slack: each through an encrypted event of a ghost.
    h.slack.edit(SLACK, &bob_ts, "sealed from slack, edited");
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == bob_on_rc.id && x.text == "sealed from slack, edited")
    })
    .await?;
    h.slack
        .react(SLACK, &carol_on_slack.ts, "UBOB", "eyes", true);
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter()
            .any(|x| x.id == carol_id && x.reactions.contains_key(":eyes:"))
    })
    .await?;
    h.rc.delete(&carol_id);
    h.slack
        .wait_for(SLACK, WAIT, |m| {
            m.iter().any(|x| x.ts == carol_on_slack.ts && x.deleted)
        })
        .await?;

    // A Slack file is an encrypted file in Matrix, and reaches Rocket.Chat with its bytes.
    let report = b"quarterly figures".to_vec();
    h.slack.upload_file(
        SLACK,
        "UBOB",
        "figures.txt",
        "text/plain",
        report.clone(),
        "sealed figures",
    );
    h.rc.wait_for(RC, WAIT, |m| {
        m.iter().any(|x| {
            x.files
                .iter()
                .any(|f| f.name == "figures.txt" && f.data == report)
        })
    })
    .await?;

    // A restart: the bridge keeps its keys, and both directions go on.
    bridge.stop().await?;
    let bridge = h.env.start_in_process().await?;

    // One more from each platform, so the checks below see the bridge past all of it.
    h.slack.post(SLACK, "UBOB", "sealed last from slack", None);
    h.rc.post(RC, "RCCAROL", "sealed last from rocket", None);
    h.on_phone(&bob, "sealed last from slack").await?;
    h.on_phone(&carol, "sealed last from rocket").await?;
    h.rc.message("sealed last from slack").await?;
    h.slack.message("sealed last from rocket").await?;

    // Each message once on each platform.
    for text in [
        "sealed from slack, edited",
        "sealed from matrix",
        "sealed from the admin on rocket",
        "sealed last from slack",
        "sealed last from rocket",
    ] {
        assert_eq!(h.slack.copies(text), 1, "{text} on Slack");
        assert_eq!(h.rc.copies(text), 1, "{text} on Rocket.Chat");
    }
    assert_eq!(h.slack.copies("sealed from rocket"), 0, "deleted on Slack");

    // In Matrix: every message event of the ghosts, the bot and the admin (the phone's and
    // the double puppet's) is ciphertext, no plaintext is on the server, and the phone
    // decrypted everything, each message once.
    let events = h.admin.messages(&h.room).await?;
    let bridged: Vec<_> = events
        .iter()
        .filter(|e| {
            [
                bob.as_str(),
                carol.as_str(),
                h.env.bot.as_str(),
                h.admin.user_id(),
            ]
            .contains(&e["sender"].as_str().unwrap_or_default())
                && e.get("state_key").is_none()
                && e["type"] != "m.room.redaction"
        })
        .collect();
    assert!(bridged.len() >= 6, "{bridged:#?}");
    for e in &bridged {
        assert_eq!(e["type"], "m.room.encrypted", "{e}");
    }
    let raw = serde_json::to_string(&events)?;
    assert!(!raw.contains("sealed"), "plaintext on the server");
    let seen = h.phone.messages_seen(&h.room).await?;
    assert!(
        seen.iter().all(|e| e.undecryptable.is_none()),
        "every event decrypts: {seen:?}"
    );
    for (sender, text) in [
        (bob.as_str(), "sealed from slack"),
        (h.admin.user_id(), "sealed from the admin on rocket"),
        (bob.as_str(), "sealed last from slack"),
        (carol.as_str(), "sealed last from rocket"),
    ] {
        let n = seen
            .iter()
            .filter(|e| e.sender == sender && e.body.as_deref() == Some(text))
            .count();
        assert_eq!(n, 1, "{text} on the phone");
    }
    h.phone.close().await?;
    bridge.stop().await?;
    Ok(())
}
