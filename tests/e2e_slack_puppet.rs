//! Personal Slack logins end to end (a real Synapse, the bridge, the fake Slack): a Matrix user
//! logs in with their own Slack account, by pasting a user token or through OAuth v2, and then
//! acts on Slack as themselves; their own Slack messages come back as their Matrix user. Every
//! Web API request is checked against Slack's published OpenAPI description.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::fake_slack::{
    FakeSlack, TokenKind, check_requests_against_spec, load_slack_spec, validate_event_wrapper,
};
use aqueduct_testkit::matrix_client::{MatrixClient, enc};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// Alice's own Slack account.
const ALICE: &str = "UALICE";
/// Her personal login's id: `<team>-<user>`.
const ALICE_LOGIN: &str = "T0FAKE-UALICE";

struct Setup {
    env: BridgeEnv,
    slack: FakeSlack,
    alice: MatrixClient,
}

/// A workspace with bob and alice in #general, and a bridge configured for it. With `oauth`,
/// the Slack section gets the app's OAuth settings, with the bridge's own listener as its
/// public URL.
async fn setup(double_puppet: bool, oauth: bool) -> anyhow::Result<Setup> {
    let slack = FakeSlack::start().await?;
    slack.add_user("UBOB", "bob", "Bob Slack");
    slack.add_user(ALICE, "alice", "Alice Slack");
    slack.add_channel("C1", "general", &["UBOT", "UBOB", ALICE], false);
    let env = BridgeEnv::new(EnvOptions {
        double_puppet,
        extra_platforms: Some(format!("  slack:\n    api_url: {}\n", slack.api_base())),
        ..Default::default()
    })
    .await?;
    if oauth {
        let (id, secret) = slack.oauth_client();
        // The Slack section is the config's last: these lines extend it.
        let mut config = std::fs::read_to_string(&env.config_path)?;
        config.push_str(&format!(
            "    oauth:\n      client_id: \"{id}\"\n      client_secret: \"{secret}\"\n      public_url: http://127.0.0.1:{}\n",
            env.bridge_port
        ));
        std::fs::write(&env.config_path, config)?;
    }
    let alice = env.user("alice").await?;
    Ok(Setup { env, slack, alice })
}

fn assert_conforms(slack: &FakeSlack) -> anyhow::Result<()> {
    let spec = load_slack_spec()?;
    let problems: Vec<String> = check_requests_against_spec(&slack.requests(), &spec)
        .into_iter()
        .filter(|p| !p.contains("not in spec"))
        .collect();
    assert!(
        problems.is_empty(),
        "requests that disagree with Slack's OpenAPI: {problems:#?}"
    );
    for wrapper in slack.emitted_events() {
        let problems = validate_event_wrapper(&wrapper);
        assert!(problems.is_empty(), "{problems:?} in {wrapper}");
    }
    Ok(())
}

/// Whether Slack got `method` with alice's own token.
fn called_as_alice(slack: &FakeSlack, method: &str) -> bool {
    slack
        .requests()
        .iter()
        .any(|r| r.method == method && r.token_kind == TokenKind::User(ALICE.into()))
}

/// Logs alice in with the workspace app (she set it up) and with her own user token.
async fn log_in_app_and_token(s: &Setup) -> anyhow::Result<String> {
    let mgmt = s.env.management_room(&s.alice).await?;
    let app = format!(
        "login slack app {} {}",
        s.slack.bot_token(),
        s.slack.app_token()
    );
    s.env.command(&s.alice, &mgmt, &app, "Logged in").await?;
    let token = format!("login slack token {}", s.slack.user_token(ALICE));
    s.env
        .command(&s.alice, &mgmt, &token, "Logged in to slack as alice")
        .await?;
    Ok(mgmt)
}

fn count(events: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_token_login_acts_on_slack_as_the_user_and_brings_their_slack_messages_back_as_them()
-> anyhow::Result<()> {
    let s = setup(true, false).await?;
    let bridge = s.env.start_in_process().await?;
    let mgmt = log_in_app_and_token(&s).await?;

    let hello_ts = s.slack.post("C1", "UBOB", "hello", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let hello = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hello")
        .await?;
    let hello_id = hello["event_id"].as_str().unwrap().to_owned();

    // Her Matrix message is hers on Slack: her user, no bot, no name override.
    let mine = s.alice.send_text(&room, "hi from matrix").await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| m.iter().any(|x| x.text == "hi from matrix"))
        .await?;
    let sent = msgs
        .iter()
        .find(|x| x.text == "hi from matrix")
        .unwrap()
        .clone();
    assert_eq!(sent.user, ALICE);
    assert_eq!(sent.bot_id, None);
    assert_eq!(sent.username, None);
    assert!(called_as_alice(&s.slack, "chat.postMessage"));

    // Her edit and her reaction go through her token.
    s.alice
        .send(&room, "m.room.message", json!({"msgtype": "m.text", "body": "* hi, edited", "m.new_content": {"msgtype": "m.text", "body": "hi, edited"}, "m.relates_to": {"rel_type": "m.replace", "event_id": mine}}))
        .await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.ts == sent.ts && x.text == "hi, edited")
        })
        .await?;
    assert!(called_as_alice(&s.slack, "chat.update"));
    s.alice.react(&room, &hello_id, "👍").await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| {
                x.ts == hello_ts
                    && x.reactions
                        .iter()
                        .any(|(_, users)| users.iter().any(|u| u == ALICE))
            })
        })
        .await?;
    assert!(called_as_alice(&s.slack, "reactions.add"));

    // What she writes on Slack herself appears in Matrix as her, not as a ghost.
    s.slack.post("C1", ALICE, "from my phone", None);
    let phone = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "from my phone")
        .await?;
    assert_eq!(phone["sender"], s.alice.user_id());

    // Bob's next message comes after every echo of hers, in the same ordered queue: once it
    // is in Matrix, the echoes have been handled.
    s.slack.post("C1", "UBOB", "barrier", None);
    let barrier = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "barrier")
        .await?;
    let events = s.alice.messages(&room).await?;
    assert_eq!(
        count(&events, |e| e["content"]["body"] == "hi from matrix"),
        1,
        "her message came back from Slack"
    );
    assert_eq!(
        count(&events, |e| e["content"]["m.relates_to"]["rel_type"]
            == "m.replace"),
        1,
        "her edit came back from Slack"
    );
    assert_eq!(
        count(&events, |e| e["type"] == "m.reaction"),
        1,
        "her reaction came back from Slack"
    );
    assert_eq!(
        count(&events, |e| e["content"]["body"] == "from my phone"),
        1
    );

    // Her read receipt marks the channel read on Slack, up to that message.
    let barrier_id = barrier["event_id"].as_str().unwrap();
    s.alice
        .request(
            Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                enc(&room),
                enc(barrier_id)
            ),
            Some(&json!({})),
        )
        .await?;
    let barrier_ts = s
        .slack
        .messages("C1")
        .iter()
        .find(|m| m.text == "barrier")
        .unwrap()
        .ts
        .clone();
    let slack = s.slack.clone();
    s.slack
        .wait_for("C1", WAIT, |_| {
            slack.last_read("C1", ALICE).as_deref() == Some(barrier_ts.as_str())
        })
        .await?;

    // Her delete goes through her token.
    s.alice.redact(&room, &mine, None).await?;
    s.slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.ts == sent.ts && x.deleted)
        })
        .await?;
    assert!(called_as_alice(&s.slack, "chat.delete"));

    // With two Slack logins, logout asks which one, and then drops only that one.
    s.env
        .command(&s.alice, &mgmt, "logout slack", "several slack logins")
        .await?;
    s.env
        .command(
            &s.alice,
            &mgmt,
            &format!("logout slack {ALICE_LOGIN}"),
            "Logged out of slack (alice",
        )
        .await?;
    s.env
        .command(&s.alice, &mgmt, "list", "Fake Team (app)")
        .await?;
    assert_conforms(&s.slack)?;
    bridge.stop().await?;
    Ok(())
}

/// The link in a bot message, if it has one.
fn link_in(e: &Value) -> Option<String> {
    e["content"]["body"]
        .as_str()?
        .split_whitespace()
        .find(|w| w.contains("/oauth/v2/authorize"))
        .map(str::to_owned)
}

/// Sends `login slack oauth` and returns the link in the bot's answer, other than `old`.
async fn oauth_link(s: &Setup, mgmt: &str, old: Option<&str>) -> anyhow::Result<String> {
    s.alice.send_text(mgmt, "login slack oauth").await?;
    let answer = s
        .alice
        .wait_for_event(mgmt, WAIT, |e| {
            e["sender"] == s.env.bot.as_str() && link_in(e).is_some_and(|l| Some(l.as_str()) != old)
        })
        .await?;
    Ok(link_in(&answer).unwrap_or_default())
}

/// A browser that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Follows the authorize link like a browser: Slack's redirect, then the bridge's page.
/// Returns the bridge's URL Slack sent the browser to, its status and its page.
async fn authorize(link: &str) -> anyhow::Result<(String, u16, String)> {
    let b = browser();
    let slack = b.get(link).send().await?;
    assert_eq!(slack.status().as_u16(), 302, "Slack redirects back");
    let back = slack
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let page = b.get(&back).send().await?;
    let status = page.status().as_u16();
    Ok((back, status, page.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_login_finishes_in_the_browser_and_refuses_replays_unknown_states_and_denials()
-> anyhow::Result<()> {
    let s = setup(false, true).await?;
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.env.management_room(&s.alice).await?;
    s.slack.sign_in_browser(ALICE);

    let first = oauth_link(&s, &mgmt, None).await?;
    let (back, status, page) = authorize(&first).await?;
    assert!(
        back.starts_with(&format!(
            "http://127.0.0.1:{}/_aqueduct/slack/oauth?",
            s.env.bridge_port
        )),
        "Slack sends the browser to the bridge: {back}"
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Logged in to Slack as alice"), "{page}");
    s.alice
        .wait_for_event(&mgmt, WAIT, |e| {
            e["sender"] == s.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Logged in to slack as alice"))
        })
        .await?;

    // The redirect replayed, or with a state the bridge never gave out, is refused.
    let replay = browser().get(&back).send().await?;
    assert_eq!(replay.status().as_u16(), 400);
    assert!(replay.text().await?.contains("unknown or was already used"));
    let forged = format!(
        "http://127.0.0.1:{}/_aqueduct/slack/oauth?code=T0FAKE.1&state=forged",
        s.env.bridge_port
    );
    let forged = browser().get(&forged).send().await?;
    assert_eq!(forged.status().as_u16(), 400);
    assert!(forged.text().await?.contains("unknown or was already used"));

    s.env
        .command(
            &s.alice,
            &mgmt,
            "logout slack",
            "Logged out of slack (alice",
        )
        .await?;

    // She clicks Cancel on Slack: the page and the bot both say so.
    s.slack.deny_authorization(true);
    let link = oauth_link(&s, &mgmt, Some(&first)).await?;
    let (_, status, page) = authorize(&link).await?;
    assert_eq!(status, 400);
    assert!(page.contains("did not allow access"), "{page}");
    s.alice
        .wait_for_event(&mgmt, WAIT, |e| {
            e["sender"] == s.env.bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Login failed") && b.contains("access_denied"))
        })
        .await?;
    assert!(
        s.slack
            .requests()
            .iter()
            .any(|r| r.method == "oauth.v2.access"),
        "the code was exchanged through oauth.v2.access"
    );
    assert_conforms(&s.slack)?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_user_token_logs_the_user_out_and_tells_them() -> anyhow::Result<()> {
    let s = setup(false, false).await?;
    let bridge = s.env.start_in_process().await?;
    let mgmt = s.env.management_room(&s.alice).await?;
    let app = format!(
        "login slack app {} {}",
        s.slack.bot_token(),
        s.slack.app_token()
    );
    s.env.command(&s.alice, &mgmt, &app, "Logged in").await?;
    let token = s.slack.user_token(ALICE);
    s.env
        .command(
            &s.alice,
            &mgmt,
            &format!("login slack token {token}"),
            "Logged in to slack as alice",
        )
        .await?;

    // She removes the app from her Slack account.
    s.slack.revoke_token(&token);
    s.alice
        .wait_for_event(&mgmt, WAIT, |e| {
            e["sender"] == s.env.bot.as_str()
                && e["content"]["body"].as_str().is_some_and(|b| {
                    b.contains(&format!("logged out of slack ({ALICE_LOGIN})"))
                        && b.contains("token_revoked")
                })
        })
        .await?;
    // Only the app login is left.
    s.env
        .command(
            &s.alice,
            &mgmt,
            "logout slack",
            "Logged out of slack (Fake Team (app))",
        )
        .await?;
    assert_conforms(&s.slack)?;
    bridge.stop().await?;
    Ok(())
}
