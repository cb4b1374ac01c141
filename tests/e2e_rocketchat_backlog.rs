//! A busy Rocket.Chat server pushing faster than the bridge gets messages into Matrix: the
//! login keeps only a bounded backlog in memory (`realtime_backlog`) and fetches what it had
//! to drop again from the room's history, so every message still arrives once, in order.

use aqueduct_testkit::bridge_env::EnvOptions;
use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT, ghost};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_backlog_limit_arrives_whole_and_in_order() -> anyhow::Result<()> {
    const BURST: usize = 150;
    let s = RocketChatEnv::start_with(EnvOptions::default(), "    realtime_backlog: 5\n").await?;
    let (_bridge, room) = s.open_general().await?;
    let bob = ghost("RCBOB");
    let history_calls = || {
        s.rc.requests()
            .iter()
            .filter(|r| r.endpoint == "channels.history")
            .count()
    };
    let history_before = history_calls();

    for i in 0..BURST {
        s.rc.post(GENERAL, "RCBOB", &format!("burst {i}"), None);
    }
    s.alice
        .wait_for_event(&room, WAIT * 2, |e| {
            e["content"]["body"] == format!("burst {}", BURST - 1)
        })
        .await?;
    s.queues_drained().await?;

    let arrived: Vec<usize> = s
        .alice
        .messages(&room)
        .await?
        .iter()
        .filter(|e| e["sender"] == bob.as_str())
        .filter_map(|e| {
            e["content"]["body"]
                .as_str()?
                .strip_prefix("burst ")?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(
        arrived,
        (0..BURST).collect::<Vec<_>>(),
        "every message of the burst once, in order"
    );
    assert!(
        history_calls() > history_before,
        "the messages past the backlog limit were fetched again from the room's history"
    );
    Ok(())
}
