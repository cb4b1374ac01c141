//! Keeps the benchmark harness alive: every scenario once with tiny counts, through a real
//! Synapse on PostgreSQL and the test bridge process. Figures are not judged (this is no timed
//! test); what must hold is that every scenario ran and every message arrived.

use aqueduct_bench::scenarios::Sizes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_benchmark_scenario_runs() -> anyhow::Result<()> {
    let sizes = Sizes {
        rates: vec![20.0],
        rate_secs: 0.25,
        burst: 5,
        rooms: 2,
        new_users: 2,
        mix_each: 1,
        portals: 10,
        engine_messages: 20,
    };
    let report = aqueduct_bench::run(aqueduct_bench::Options {
        bridge_bin: env!("CARGO_BIN_EXE_aqueduct-testnet-bridge").into(),
        postgres: std::env::var("AQUEDUCT_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        sizes,
        quick: true,
        command: "bench smoke test".into(),
        only: Vec::new(),
    })
    .await?;

    for scenario in [
        "baseline",
        "S1",
        "S2",
        "S3",
        "S4",
        "S5",
        "S6",
        "S1 Slack",
        "S3 Slack",
        "S1 Rocket.Chat",
        "S3 Rocket.Chat",
        "S1 Teams",
        "S3 Teams",
        "Hub",
    ] {
        assert!(
            report.measurements.iter().any(|m| m.scenario == scenario),
            "{scenario} did not run"
        );
    }
    // Every message of every run with latencies arrived and was matched with its send.
    for m in report.measurements.iter().filter(|m| m.scenario != "S5") {
        assert_eq!(
            m.latency.samples, m.messages,
            "{}: {}",
            m.scenario, m.description
        );
    }
    // The bridge needed the homeserver for what it bridged, and the proxy saw it.
    let s1 = report
        .measurements
        .iter()
        .find(|m| m.scenario == "S1")
        .unwrap();
    assert!(s1.homeserver_requests_per_msg.unwrap() >= 1.0);
    // Graph requests were counted by route for Teams: at least one post per Matrix message.
    let s3_teams = report
        .measurements
        .iter()
        .find(|m| m.scenario == "S3 Teams")
        .unwrap();
    let graph = s3_teams.platform_requests.as_ref().unwrap();
    assert!(
        graph.get("POST /chats/{id}/messages").copied().unwrap_or(0) >= s3_teams.messages as u64,
        "{graph:?}"
    );
    // The hub room: a burst from Slack, Rocket.Chat and Matrix, each to both other sides,
    // and each burst's platform requests: at least one post per message on a platform.
    let hub: Vec<_> = report
        .measurements
        .iter()
        .filter(|m| m.scenario == "Hub")
        .collect();
    assert_eq!(hub.len(), 6, "{hub:?}");
    for m in hub
        .iter()
        .filter_map(|m| m.platform_requests.as_ref().map(|p| (m, p)))
    {
        let total: u64 = m.1.values().sum();
        assert!(
            total >= m.0.messages as u64,
            "{}: {:?}",
            m.0.description,
            m.1
        );
    }
    assert_eq!(report.startup.portals, 10);
    assert!(report.engine.iter().all(|e| e.messages == 20));
    let page = aqueduct_bench::report::markdown(&report);
    assert!(page.contains("Against the targets"));
    assert!(page.contains("## Hub room"));
    assert!(page.contains("| S1 Teams |") && page.contains("receives by **polling**"));
    // Shown with --no-capture: what the tiny run saw, for whoever keeps the harness alive.
    println!("{page}");
    Ok(())
}
