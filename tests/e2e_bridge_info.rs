//! Bridge info (MSC2346) as a Matrix client reads it from a real Synapse: each portal room's
//! `m.bridge` and `uk.half-shot.bridge` state names the bot, the platform, its workspace or
//! server and the chat; it follows the chat's renames, is emptied when the room is unbridged
//! or a chat unlinked from a hub room, and is filled in at start for rooms that lack it
//! without sending anything for rooms that have it.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::fake_rocketchat::FakeRocketChat;
use aqueduct_testkit::fake_slack::{FakeSlack, TEAM_ID, TEAM_NAME};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::slack_env::{SlackEnv, WAIT};
use serde_json::{Value, json};

const TYPES: [&str; 2] = ["m.bridge", "uk.half-shot.bridge"];

/// The state key of a chat's bridge info: `<bridge id>://<network>/<chat id>`.
fn state_key(env: &BridgeEnv, network: &str, chat: &str) -> anyhow::Result<String> {
    let id = aqueduct::Config::load(&env.config_path)?.appservice.id;
    Ok(format!("{id}://{network}/{chat}"))
}

/// Both events of a pair, which must be equal; returns their content.
async fn pair(user: &MatrixClient, room: &str, key: &str) -> anyhow::Result<Value> {
    let bridge = user.state_event(room, TYPES[0], key).await?;
    let half_shot = user.state_event(room, TYPES[1], key).await?;
    anyhow::ensure!(
        bridge == half_shot,
        "m.bridge {bridge:?} differs from uk.half-shot.bridge {half_shot:?}"
    );
    bridge.ok_or_else(|| anyhow::anyhow!("no bridge info under {key} in {room}"))
}

/// Waits until both events of the pair under `key` appear in the timeline with content
/// matching `pred`, sent by the bot.
async fn wait_pair(
    env: &BridgeEnv,
    user: &MatrixClient,
    room: &str,
    key: &str,
    pred: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    for kind in TYPES {
        user.wait_for_event(room, WAIT, |e| {
            e["type"] == kind
                && e["state_key"] == key
                && e["sender"] == env.bot.as_str()
                && pred(&e["content"])
        })
        .await?;
    }
    Ok(())
}

/// How many events of `kind` under `key` the room's timeline holds.
async fn count(user: &MatrixClient, room: &str, kind: &str, key: &str) -> anyhow::Result<usize> {
    Ok(user
        .messages(room)
        .await?
        .iter()
        .filter(|e| e["type"] == kind && e["state_key"] == key)
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_portal_says_what_it_bridges_follows_renames_and_is_emptied_on_unbridge()
-> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "hello", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let key = state_key(&s.env, "slack", "C1")?;

    let info = pair(&s.alice, &room, &key).await?;
    assert_eq!(
        info,
        json!({
            "bridgebot": s.env.bot,
            "creator": s.alice.user_id(),
            "protocol": {"id": "slack", "displayname": "Slack", "external_url": "https://slack.com"},
            "network": {"id": TEAM_ID, "displayname": TEAM_NAME},
            "channel": {"id": "C1", "displayname": "general"},
        })
    );

    s.slack.rename_channel("C1", "lobby");
    wait_pair(&s.env, &s.alice, &room, &key, |c| {
        c["channel"]["displayname"] == "lobby"
    })
    .await?;
    let renamed = pair(&s.alice, &room, &key).await?;
    assert_eq!(
        renamed["creator"],
        s.alice.user_id(),
        "kept across the rename"
    );
    assert_eq!(renamed["network"]["displayname"], TEAM_NAME);

    // A rename from Matrix is the chat's new name too.
    s.alice
        .set_state(&room, "m.room.name", "", json!({ "name": "town-square" }))
        .await?;
    wait_pair(&s.env, &s.alice, &room, &key, |c| {
        c["channel"]["displayname"] == "town-square"
    })
    .await?;

    // Unbridging is a bridge admin's.
    let admin = s.env.user("admin").await?;
    s.alice.invite(&room, admin.user_id()).await?;
    admin.join(&room).await?;
    s.env
        .command(&admin, &room, "!aq unbridge", "no longer bridged")
        .await?;
    wait_pair(&s.env, &s.alice, &room, &key, |c| c == &json!({})).await?;
    assert_eq!(pair(&s.alice, &room, &key).await?, json!({}));
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_room_has_one_pair_per_linked_chat_and_unlink_empties_only_its_own()
-> anyhow::Result<()> {
    let slack = FakeSlack::start().await?;
    slack.add_user("UBOB", "bob", "Bob Slack");
    slack.add_channel("C1", "general", &["UBOT", "UBOB"], false);
    let rc = FakeRocketChat::start().await?;
    let token = rc.add_user("RCADMIN", "admin", "Admin Rocket");
    rc.add_room("GENERAL", "c", "general", &["RCADMIN"]);
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!(
            "  slack:\n    api_url: {}\n  rocketchat:\n    server_url: {}\n",
            slack.api_base(),
            rc.url()
        )),
        ..Default::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    let admin = env.user("admin").await?;
    let mgmt = env.management_room(&admin).await?;
    env.command(&admin, &mgmt, &slack.app_login_command(), "Logged in")
        .await?;
    env.command(
        &admin,
        &mgmt,
        &format!("login rocketchat token RCADMIN {token}"),
        "Logged in",
    )
    .await?;
    let room = env.hub_room(&admin, &[]).await?;
    env.command(&admin, &room, "!aq link slack C1", "Linked this room")
        .await?;
    // The reply names the chat: the Slack link's reply also says "Linked this room".
    env.command(
        &admin,
        &room,
        "!aq link rocketchat GENERAL",
        "(rocketchat GENERAL)",
    )
    .await?;

    let slack_key = state_key(&env, "slack", "C1")?;
    let rc_key = state_key(&env, "rocketchat", "GENERAL")?;
    let on_slack = pair(&admin, &room, &slack_key).await?;
    assert_eq!(on_slack["creator"], admin.user_id());
    assert_eq!(on_slack["protocol"]["id"], "slack");
    assert_eq!(
        on_slack["channel"],
        json!({"id": "C1", "displayname": "general"})
    );
    let on_rc = pair(&admin, &room, &rc_key).await?;
    let host = reqwest::Url::parse(&rc.url())?
        .host_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        on_rc,
        json!({
            "bridgebot": env.bot,
            "creator": admin.user_id(),
            "protocol": {"id": "rocketchat", "displayname": "Rocket.Chat", "external_url": "https://rocket.chat"},
            "network": {"id": rc.url().trim_end_matches('/'), "displayname": host},
            "channel": {"id": "GENERAL", "displayname": "general"},
        })
    );

    env.command(
        &admin,
        &room,
        "!aq unlink rocketchat",
        "no longer bridged to general",
    )
    .await?;
    assert_eq!(pair(&admin, &room, &rc_key).await?, json!({}));
    assert_eq!(pair(&admin, &room, &slack_key).await?, on_slack);
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_start_rooms_without_bridge_info_get_it_and_the_others_get_nothing() -> anyhow::Result<()>
{
    let s = SlackEnv::start().await?;
    s.slack
        .add_channel("C2", "random", &["UBOT", "UBOB"], false);
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "in general", None);
    let general = s.env.accept_portal_invite(&s.alice).await?;
    s.slack.post("C2", "UBOB", "in random", None);
    let random = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&general], WAIT)
        .await?;
    s.alice.join(&random).await?;
    let general_key = state_key(&s.env, "slack", "C1")?;
    let random_key = state_key(&s.env, "slack", "C2")?;
    pair(&s.alice, &general, &general_key).await?;
    bridge.stop().await?;

    // As a room made before the bridge set bridge info: empty.
    for kind in TYPES {
        s.alice
            .set_state(&random, kind, &random_key, json!({}))
            .await?;
    }
    let emptied_at = s
        .alice
        .messages(&random)
        .await?
        .iter()
        .filter(|e| e["type"] == TYPES[1] && e["sender"] == s.alice.user_id())
        .filter_map(|e| e["origin_server_ts"].as_i64())
        .max()
        .unwrap_or_default();
    let bridge = s.env.start_in_process().await?;
    for kind in TYPES {
        s.alice
            .wait_for_event(&random, WAIT, |e| {
                e["type"] == kind
                    && e["state_key"] == random_key.as_str()
                    && e["sender"] == s.env.bot.as_str()
                    && e["origin_server_ts"].as_i64() > Some(emptied_at)
                    && e["content"]["channel"]["id"] == "C2"
            })
            .await?;
    }
    let random_info = pair(&s.alice, &random, &random_key).await?;
    assert_eq!(random_info["channel"]["displayname"], "random");
    assert_eq!(random_info["network"]["id"], TEAM_ID);
    // Portals are checked one at a time in the order of their keys, so C1's room was
    // checked before C2's was filled in: it still has only the pair of its creation.
    for kind in TYPES {
        assert_eq!(count(&s.alice, &general, kind, &general_key).await?, 1);
    }
    bridge.stop().await?;
    Ok(())
}
