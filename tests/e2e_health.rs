//! Liveness, readiness and the metrics listener as an operator's probes and scraper see them:
//! readiness turns 503 with the failed check named when the database or the homeserver stops
//! answering, and back to 200 when they return; `/metrics` is served only on the metrics
//! listener, never on the appservice listener that faces the internet.

use aqueduct_bench::chaos::db_proxy::{DbProxy, Refusal};
use aqueduct_bench::env::ScratchDatabase;
use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use serde_json::Value;
use std::time::Duration;

/// How long a readiness change may take to show.
const WAIT: Duration = Duration::from_secs(30);

/// `GET http://127.0.0.1:<port><path>`: status and body.
async fn get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let answer = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await?;
    Ok((answer.status().as_u16(), answer.text().await?))
}

/// `/health/ready` on `port`: status and JSON body.
async fn ready(port: u16) -> anyhow::Result<(u16, Value)> {
    let (status, body) = get(port, "/health/ready").await?;
    Ok((status, serde_json::from_str(&body)?))
}

/// Polls `/health/ready` until its status is `status` (a probe's view has no event to wait
/// on), and returns the body.
async fn ready_turns(port: u16, status: u16) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (now, body) = ready(port).await?;
        if now == status {
            return Ok(body);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {now}, not {status}, for {WAIT:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The metrics listener's port, from the URL the test kit configured.
fn metrics_port(env: &BridgeEnv) -> anyhow::Result<u16> {
    let url = reqwest::Url::parse(&env.metrics_url()?)?;
    url.port()
        .ok_or_else(|| anyhow::anyhow!("{url} has no port"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_when_all_answers_and_metrics_only_on_their_own_listener() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    let bridge = env.start_in_process().await?;
    let metrics_port = metrics_port(&env)?;

    let body = ready_turns(env.bridge_port, 200).await?;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["failed"], serde_json::json!([]), "{body}");
    for check in ["bridge", "database", "homeserver"] {
        assert_eq!(body["checks"][check]["ok"], true, "{check}: {body}");
    }
    assert_eq!(body["platforms"]["testnet"]["logins"], 0, "{body}");
    // The older path and liveness answer as before.
    assert_eq!(get(env.bridge_port, "/health").await?.0, 200);
    assert_eq!(get(env.bridge_port, "/health/live").await?.0, 200);

    // A login shows in the platform's counts once connected.
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = ready(env.bridge_port).await?;
        assert_eq!(status, 200, "{body}");
        if body["platforms"]["testnet"]["connected"] == 1 {
            assert_eq!(body["platforms"]["testnet"]["logins"], 1, "{body}");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the login never showed as connected: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Metrics: not on the appservice listener, on the metrics listener.
    let (status, _) = get(env.bridge_port, "/metrics").await?;
    assert_eq!(status, 404, "the appservice listener serves /metrics");
    let (status, metrics) = get(metrics_port, "/metrics").await?;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("aqueduct_remote_connected{login="),
        "{metrics}"
    );
    // The metrics listener also answers probes, so they need not use the public port.
    assert_eq!(ready(metrics_port).await?.0, 200);
    assert_eq!(get(metrics_port, "/health/live").await?.0, 200);
    bridge.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_without_a_metrics_listener_still_runs_and_serves_no_metrics() -> anyhow::Result<()>
{
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    // A config written before `metrics:` existed.
    let text = std::fs::read_to_string(&env.config_path)?;
    let metrics_port = metrics_port(&env)?;
    let old = text.replace(
        &format!("metrics:\n  listen: 127.0.0.1:{metrics_port}\n"),
        "",
    );
    assert_ne!(old, text, "the test kit's config changed shape");
    std::fs::write(&env.config_path, old)?;
    let bridge = env.start_in_process().await?;

    ready_turns(env.bridge_port, 200).await?;
    assert_eq!(get(env.bridge_port, "/health").await?.0, 200);
    assert_eq!(get(env.bridge_port, "/metrics").await?.0, 404);
    assert!(
        reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .is_err(),
        "something serves the metrics port"
    );
    bridge.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_homeserver_is_unreachable() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    // The bridge reaches Synapse through a proxy that can play an outage.
    let synapse: std::net::SocketAddr = env
        .synapse
        .base_url()
        .trim_start_matches("http://")
        .parse()?;
    let proxy = DbProxy::start(synapse).await?;
    let text = std::fs::read_to_string(&env.config_path)?;
    let proxied = text.replace(
        &format!("url: {}\n", env.synapse.base_url()),
        &format!("url: http://{}\n", proxy.addr()),
    );
    assert_ne!(proxied, text, "the test kit's config changed shape");
    std::fs::write(&env.config_path, proxied)?;
    let bridge = env.start_in_process().await?;
    ready_turns(env.bridge_port, 200).await?;

    proxy.go_down(Refusal::PortClosed).await;
    let body = ready_turns(env.bridge_port, 503).await?;
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(body["failed"], serde_json::json!(["homeserver"]), "{body}");
    assert!(
        body["checks"]["homeserver"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    // The process still serves: liveness says so, so nothing restarts it for an outage
    // elsewhere.
    assert_eq!(get(env.bridge_port, "/health/live").await?.0, 200);

    proxy.come_up()?;
    ready_turns(env.bridge_port, 200).await?;
    bridge.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_database_is_unreachable() -> anyhow::Result<()> {
    let admin = std::env::var("AQUEDUCT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let database = ScratchDatabase::create(&admin).await?;
    let server = tokio::net::lookup_host((
        database.options.get_host().to_owned(),
        database.options.get_port(),
    ))
    .await?
    .next()
    .ok_or_else(|| anyhow::anyhow!("the PostgreSQL host has no address"))?;
    let proxy = DbProxy::start(server).await?;
    let mut uri = reqwest::Url::parse(&admin)?;
    uri.set_host(Some("127.0.0.1"))?;
    uri.set_port(Some(proxy.addr().port()))
        .map_err(|()| anyhow::anyhow!("{admin} takes no port"))?;
    uri.set_path(&format!("/{}", database.name));
    let env = BridgeEnv::new(EnvOptions {
        database_uri: Some(uri.to_string()),
        ..Default::default()
    })
    .await?;
    let bridge = env.start_in_process().await?;
    ready_turns(env.bridge_port, 200).await?;

    proxy.go_down(Refusal::PortClosed).await;
    let body = ready_turns(env.bridge_port, 503).await?;
    assert_eq!(body["failed"], serde_json::json!(["database"]), "{body}");
    assert!(
        body["checks"]["database"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert_eq!(body["checks"]["homeserver"]["ok"], true, "{body}");
    assert_eq!(get(env.bridge_port, "/health/live").await?.0, 200);

    proxy.come_up()?;
    ready_turns(env.bridge_port, 200).await?;
    bridge.stop().await?;
    drop(proxy);
    database.drop_now().await
}
