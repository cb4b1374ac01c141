//! The chaos suite at a small size: numbered messages both ways across Slack and Rocket.Chat
//! while the bridge is SIGKILLed, sockets drop, 429 storms come and the database is held
//! busy (SQLite) or restarted (PostgreSQL); each must arrive exactly once, in order. (Synapse
//! restarts lose and double messages on Synapse's side, see `Fault::bridge_faults`; `cargo
//! xtask chaos --synapse-restarts` measures them.) `cargo xtask chaos` runs the full size.
//! `AQUEDUCT_CHAOS_SEED` repeats a run whose seed a failure printed. The PostgreSQL run needs
//! the server of `AQUEDUCT_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and fails if it cannot reach it.

use aqueduct_bench::chaos::faults::Fault;
use aqueduct_bench::chaos::{ChaosOptions, run};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_once_in_order_through_faults() -> anyhow::Result<()> {
    chaos(None, vec![Fault::KillBridge]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_once_in_order_through_database_restarts() -> anyhow::Result<()> {
    let postgres = std::env::var("AQUEDUCT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    chaos(
        Some(postgres),
        vec![Fault::KillBridge, Fault::DatabaseRestart],
    )
    .await
}

/// A small run with the default faults of the bridge's backend, `required` among the first.
async fn chaos(postgres: Option<String>, required: Vec<Fault>) -> anyhow::Result<()> {
    let seed = std::env::var("AQUEDUCT_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand_seed);
    let report = run(ChaosOptions {
        bridge_bin: env!("CARGO_BIN_EXE_aqueduct-testnet-bridge").into(),
        messages: 60,
        rate: 4.0,
        fault_every: Duration::from_secs(3),
        seed,
        stall: Duration::from_secs(120),
        faults: Fault::bridge_faults(postgres.is_some()),
        required,
        min_faults: 4,
        postgres,
    })
    .await?;
    println!("{}", report.summary());
    assert!(report.passed(), "{}", report.summary());
    Ok(())
}

/// A seed from the clock: each CI run tries other moments, and prints its seed.
fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}
