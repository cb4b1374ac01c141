//! A busy Slack workspace delivering faster than the bridge gets messages into Matrix: a
//! login keeps only a bounded backlog of live events (`realtime_backlog`); what it does not
//! take is fetched again from the channel's history once the backlog is in Matrix, so every
//! message still arrives once (in order over Socket Mode; the Events API's concurrent
//! deliveries have no order to keep).

use aqueduct_testkit::bridge_env::EnvOptions;
use aqueduct_testkit::fake_slack::{EventsHttpOptions, FakeSlack};
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::slack_env::{EVENTS_SIGNING_SECRET, SlackEnv, WAIT, events_api_env, ghost};
use std::collections::HashSet;
use std::time::Duration;

const BURST: usize = 150;
const SIGNING_SECRET: &str = EVENTS_SIGNING_SECRET;

/// How often the connector read a channel's history: each catch-up does.
fn history_reads(slack: &FakeSlack) -> usize {
    slack
        .requests()
        .iter()
        .filter(|r| r.method == "conversations.history")
        .count()
}

/// Posts the burst as Bob and checks that Alice sees each of its messages once (and in order
/// when `in_order`), and that the connector caught up from the history to get them.
async fn burst_arrives_whole(
    slack: &FakeSlack,
    alice: &MatrixClient,
    room: &str,
    in_order: bool,
) -> anyhow::Result<()> {
    let history_before = history_reads(slack);
    for i in 0..BURST {
        slack.post("C1", "UBOB", &format!("burst {i}"), None);
    }
    let bob = ghost("UBOB");
    let number = |e: &serde_json::Value| -> Option<usize> {
        if e["sender"] != bob.as_str() {
            return None;
        }
        e["content"]["body"]
            .as_str()?
            .strip_prefix("burst ")?
            .parse()
            .ok()
    };
    let burst_numbers = |events: &[serde_json::Value]| -> Vec<usize> {
        events.iter().filter_map(&number).collect()
    };
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    loop {
        let got = burst_numbers(&alice.messages(room).await?);
        if got.len() >= BURST {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} of {BURST} arrived: {got:?}",
            got.len()
        );
        let seen: HashSet<usize> = got.into_iter().collect();
        // Wakes on the next burst message not seen yet, or looks again after a while.
        let _ = alice
            .wait_for_event(room, Duration::from_secs(5), |e| {
                number(e).is_some_and(|n| !seen.contains(&n))
            })
            .await;
    }
    let mut arrived = burst_numbers(&alice.messages(room).await?);
    if !in_order {
        arrived.sort_unstable();
    }
    assert_eq!(
        arrived,
        (0..BURST).collect::<Vec<_>>(),
        "every message of the burst once{}",
        if in_order { ", in order" } else { "" }
    );
    assert!(
        history_reads(slack) > history_before,
        "the events past the backlog limit were fetched again from the channel's history"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_mode_burst_past_the_backlog_limit_arrives_whole_and_in_order()
-> anyhow::Result<()> {
    let s = SlackEnv::start_with(EnvOptions::default(), "    realtime_backlog: 5\n").await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "before the burst", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "before the burst")
        .await?;

    burst_arrives_whole(&s.slack, &s.alice, &room, true).await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_api_burst_past_the_backlog_limit_arrives_whole() -> anyhow::Result<()> {
    let (slack, env, url) = events_api_env("    realtime_backlog: 5\n").await?;
    // Slack delivers without waiting for earlier answers, and gives up on an event after
    // three retries; these come quickly, so most of the burst's refused events are given up
    // on and only the catch-up can bring them.
    let deliveries = slack.deliver_events_over_http(EventsHttpOptions {
        in_flight: 20,
        ..EventsHttpOptions::new(url, SIGNING_SECRET)
    });
    let alice = env.user("alice").await?;
    let bridge = env.start_in_process().await?;
    let management = env.management_room(&alice).await?;
    env.command(
        &alice,
        &management,
        &format!("login slack app {}", slack.bot_token()),
        "Logged in",
    )
    .await?;
    slack.post("C1", "UBOB", "before the burst", None);
    let room = env.accept_portal_invite(&alice).await?;
    alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "before the burst")
        .await?;

    // Slack promises no order between concurrent deliveries, so only that each arrives once.
    burst_arrives_whole(&slack, &alice, &room, false).await?;
    assert!(
        deliveries.attempts().iter().any(|a| a.status == Some(503)),
        "deliveries past the backlog limit were refused for Slack to retry"
    );
    bridge.stop().await?;
    Ok(())
}
