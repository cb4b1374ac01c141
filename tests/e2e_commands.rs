//! Bot commands, permissions, relay, and double puppeting.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_permissions_and_relay() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("team", Some("Team"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    let mgmt = env.management_room(&alice).await?;
    env.command(&alice, &mgmt, "version", "Aqueduct").await?;
    env.command(&alice, &mgmt, "list", "no logins").await?;
    env.command(&alice, &mgmt, "login testnet wrong-token", "failed")
        .await?;
    env.command(
        &alice,
        &mgmt,
        &format!("login testnet {token}"),
        "Logged in",
    )
    .await?;
    env.command(&alice, &mgmt, "testnet whoami", "Alice Remote")
        .await?;
    env.command(&alice, &mgmt, "ping", "connected").await?;

    // Bridge a chat on request, then turn on relay inside it.
    env.command(&alice, &mgmt, "bridge testnet team", "Bridged Team")
        .await?;
    let room = env.accept_portal_invite(&alice).await?;
    env.command(
        &alice,
        &room,
        "!aq set-relay",
        "relayed through Alice Remote",
    )
    .await?;

    // Carol (relay level: her server is not listed... she is on localhost, so user level, but
    // has no login) is relayed with her name in front.
    let carol = env.user("carol").await?;
    alice.invite(&room, carol.user_id()).await?;
    carol.join(&room).await?;
    carol.send_text(&room, "hello via relay").await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| x.text.ends_with("hello via relay"))
        })
        .await?;
    let relayed = msgs
        .iter()
        .find(|x| x.text.ends_with("hello via relay"))
        .unwrap();
    assert_eq!(relayed.sender, "alice_r");
    assert_eq!(relayed.text, "carol: hello via relay");

    // A user below relay level is ignored entirely.
    let banned = env.user("banned").await?;
    alice.invite(&room, banned.user_id()).await?;
    banned.join(&room).await?;
    banned.send_text(&room, "should not cross").await?;
    carol.send_text(&room, "after the ignored one").await?;
    let msgs = env
        .net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| x.text.ends_with("after the ignored one"))
        })
        .await?;
    assert!(!msgs.iter().any(|x| x.text.contains("should not cross")));

    // A relay-level user is relayed, but the bot refuses them commands above their level.
    let relayonly = env.user("relayonly").await?;
    alice.invite(&room, relayonly.user_id()).await?;
    relayonly.join(&room).await?;
    env.command(
        &relayonly,
        &room,
        "!aq list",
        "needs the user permission level; you have relay",
    )
    .await?;
    relayonly.send_text(&room, "relay-level hello").await?;
    env.net
        .wait_for("team", WAIT, |m| {
            m.iter().any(|x| x.text == "relayonly: relay-level hello")
        })
        .await?;

    // Without relay, a user with no login gets a notice instead of silence.
    env.command(&alice, &room, "!aq unset-relay", "Relay turned off")
        .await?;
    carol.send_text(&room, "no relay now").await?;
    carol
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("not logged in"))
        })
        .await?;
    env.command(&alice, &mgmt, "logout testnet", "Logged out")
        .await?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_remote_messages_appear_as_the_matrix_user_with_double_puppeting() -> anyhow::Result<()>
{
    double_puppet_round_trip(EnvOptions {
        double_puppet: true,
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_puppeting_through_the_shared_secret_login_module() -> anyhow::Result<()> {
    double_puppet_round_trip(EnvOptions {
        shared_secret_double_puppet: true,
        ..Default::default()
    })
    .await
}

async fn double_puppet_round_trip(options: EnvOptions) -> anyhow::Result<()> {
    let env = BridgeEnv::new(options).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net.add_chat("dm", None, &["alice_r", "bob"], true);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    env.net.post("dm", "bob", "hi alice");
    // With double puppeting the bridge joins for Alice; wait for the portal via her joined rooms.
    let room = alice
        .wait_for_invite_from(Some(&env.bot), WAIT)
        .await
        .or_else(|_| anyhow::Ok(String::new()))?;
    let room = if room.is_empty() {
        find_joined_portal(&alice).await?
    } else {
        alice.join(&room).await.map(|_| room)?
    };
    alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hi alice")
        .await?;
    env.net.post("dm", "alice_r", "sent from my phone");
    let event = alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "sent from my phone"
        })
        .await?;
    assert_eq!(
        event["sender"],
        alice.user_id(),
        "shown as Alice herself, not a ghost"
    );
    // And it does not echo back to the network as a new message.
    alice.send_text(&room, "typed in Matrix").await?;
    let msgs = env
        .net
        .wait_for("dm", WAIT, |m| {
            m.iter().any(|x| x.text == "typed in Matrix")
        })
        .await?;
    assert_eq!(
        msgs.iter()
            .filter(|x| x.text == "sent from my phone")
            .count(),
        1
    );
    bridge.stop().await?;
    Ok(())
}

async fn find_joined_portal(
    user: &aqueduct_testkit::matrix_client::MatrixClient,
) -> anyhow::Result<String> {
    let joined = user
        .request(
            reqwest::Method::GET,
            "/_matrix/client/v3/joined_rooms",
            None,
        )
        .await?;
    joined["joined_rooms"]
        .as_array()
        .and_then(|r| r.last())
        .and_then(|r| r.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no portal joined"))
}
