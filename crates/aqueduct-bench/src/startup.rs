//! Start-up with many portals: stop the bridge, add portals to its store, start it again, and
//! time it until the engine reports it is running; then read its idle memory.

use crate::env::BenchEnv;
use aqueduct_core::ids::{ConnectorId, PortalKey, RemoteChatId};
use aqueduct_core::records::Portal;
use aqueduct_core::store::Store;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a start with many portals cost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Startup {
    /// Portals in the store.
    pub portals: usize,
    /// Seconds from spawning the process to the engine's "bridge running".
    pub seconds: f64,
    /// VmRSS right after that, MiB.
    pub idle_rss_mib: f64,
    /// CPU seconds the start took.
    pub cpu_s: f64,
}

const READY_LINE: &str = "bridge running";

/// Stops the bridge `pid` (SIGTERM, waiting for it to exit), stores `portals` more portals,
/// and starts `bin` again. Returns the figures and the new process.
pub async fn measure(
    env: &BenchEnv,
    pid: u32,
    bin: &Path,
    portals: usize,
) -> anyhow::Result<(Startup, tokio::process::Child)> {
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    anyhow::ensure!(status.success(), "could not signal the bridge ({pid})");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Path::new(&format!("/proc/{pid}/stat")).exists() && !is_zombie(pid) {
        anyhow::ensure!(Instant::now() < deadline, "the bridge did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let store = aqueduct_store::SqlStore::connect(&env.bridge_database_uri()).await?;
    for i in 0..portals {
        let key = PortalKey::shared(
            ConnectorId::new("testnet"),
            RemoteChatId::new(format!("idle{i}")),
        );
        let mut portal = Portal::new(key);
        portal.room_id = Some(format!("!idle{i}:localhost"));
        portal.name = Some(format!("Idle {i}"));
        store.upsert_portal(&portal).await?;
    }
    drop(store);

    let ready_before = env.env.bridge_log().matches(READY_LINE).count();
    let started = Instant::now();
    let child = env.spawn_bridge(bin).await?;
    let new_pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the bridge exited at once"))?;
    while env.env.bridge_log().matches(READY_LINE).count() <= ready_before {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the bridge did not report running"
        );
        // Polling the log file: the bridge offers no other signal for "start-up done".
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (idle_rss_mib, _) = crate::process::memory_mib(new_pid)?;
    let cpu_s = crate::process::cpu_seconds(new_pid)?;
    Ok((
        Startup {
            portals,
            seconds,
            idle_rss_mib,
            cpu_s,
        },
        child,
    ))
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
