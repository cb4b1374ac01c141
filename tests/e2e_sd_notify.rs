//! The bridge under systemd (`Type=notify`), as the service manager sees it: the process
//! is given `NOTIFY_SOCKET` and must say `READY=1` once it serves (the database open, the
//! homeserver reached, the engine started: readiness is then 200), and `STOPPING=1` when
//! SIGTERM starts its stop, before it exits cleanly.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use std::time::Duration;
use tokio::net::UnixDatagram;

/// How long the bridge may take to start or stop here.
const WAIT: Duration = Duration::from_secs(60);

/// The next notification that sets `key` (`READY`, `STOPPING`), with everything it said.
async fn next_with(socket: &UnixDatagram, key: &str) -> anyhow::Result<String> {
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .map_err(|_| anyhow::anyhow!("no {key}=1 from the bridge within {WAIT:?}"))??;
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.lines().any(|l| l == format!("{key}=1")) {
            return Ok(message);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_manager_hears_ready_once_the_bridge_serves_and_stopping_on_sigterm()
-> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path)?;
    let path = path.to_str().expect("utf-8 path");
    let mut bridge = env
        .spawn_process_with_env(
            std::path::Path::new(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge")),
            &[("NOTIFY_SOCKET", path)],
        )
        .await?;

    let ready = next_with(&socket, "READY").await?;
    assert!(
        ready.contains("STATUS="),
        "a status for systemctl: {ready:?}"
    );
    // What READY=1 promises: the operator's readiness probe agrees at that moment.
    let probe = reqwest::get(format!("http://127.0.0.1:{}/health/ready", env.bridge_port)).await?;
    assert_eq!(probe.status().as_u16(), 200, "{}", probe.text().await?);

    let pid = bridge.id().expect("running").to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await?;
    assert!(sent.success(), "kill -TERM {pid}");
    next_with(&socket, "STOPPING").await?;
    let status = tokio::time::timeout(WAIT, bridge.wait()).await??;
    assert!(
        status.success(),
        "the bridge's exit after SIGTERM: {status}"
    );
    Ok(())
}
