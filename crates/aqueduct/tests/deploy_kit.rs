//! The deploy kit in `deploy/` checked as far as this machine allows: the systemd unit by
//! `systemd-analyze verify`, the compose file by `docker compose config` (when the plugin is
//! installed) and by its wiring, the Kubernetes manifests by their probes and ports, the image
//! by its stages and user, and every config the kit ships by the bridge's own loader (and
//! `generate-registration`, as the compose kit runs it).

use aqueduct::config::Config;
use serde::Deserialize;
use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

/// Every YAML document in `text`.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// `value[key][key]...`, or Null.
fn at<'a>(value: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter()
        .fold(value, |v, k| v.get(*k).unwrap_or(&Value::Null))
}

fn port_of(listen: &str) -> u16 {
    listen
        .parse::<std::net::SocketAddr>()
        .expect("host:port")
        .port()
}

/// Whether `program` runs at all here (`args` being a harmless query such as `--version`).
fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let unit = read("systemd/aqueduct.service");
    for directive in [
        // The binary says READY=1 (src/sd_notify.rs; tests/e2e_sd_notify.rs runs it with a
        // NOTIFY_SOCKET); only the main process may.
        "Type=notify",
        "NotifyAccess=main",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=\n",
        "StateDirectory=aqueduct",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive:?}");
    }
    if !available("systemd-analyze", &["--version"]) {
        println!("skipped `systemd-analyze verify`: systemd-analyze is not installed here");
        return;
    }
    // verify wants the binary to exist: point the unit at the one cargo just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aqueduct.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/aqueduct", env!("CARGO_BIN_EXE_aqueduct")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    // Unknown or misspelt directives are only warnings there: none may appear.
    assert!(stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

#[test]
fn the_image_is_multi_stage_and_runs_unprivileged() {
    let dockerfile = read("Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "not a multi-stage build");
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the final stage sets USER");
    assert!(
        !matches!(user.split(':').next(), Some("root" | "0")),
        "runs as {user}"
    );
    assert!(
        dockerfile.contains("--profile dist"),
        "not the dist profile"
    );
    assert!(dockerfile.contains("EXPOSE 29330 9330"));
}

/// The compose kit's bridge config as its init step writes it (server name filled in).
fn compose_config(server_name: &str) -> String {
    read("compose/aqueduct-config.yaml").replace("SERVER_NAME", server_name)
}

#[test]
fn the_compose_kit_is_wired_together() {
    let compose = documents(&read("compose/compose.yaml")).remove(0);
    let services = at(&compose, &["services"]);
    let mounts = |service: &str| -> Vec<String> {
        at(services, &[service, "volumes"])
            .as_sequence()
            .unwrap_or_else(|| panic!("{service} has no volumes"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    // Every named volume is declared, so state persists across `down`/`up`.
    let declared = at(&compose, &["volumes"]).as_mapping().unwrap();
    for service in ["postgres", "init", "registration", "synapse", "aqueduct"] {
        for mount in mounts(service) {
            let source = mount.split(':').next().unwrap();
            if !source.starts_with('.') {
                assert!(
                    declared.contains_key(source),
                    "{service} mounts undeclared volume {source}"
                );
            }
        }
    }
    // The registration the bridge writes is the file Synapse loads.
    let command: Vec<&str> = at(services, &["registration", "command"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let output = command[command.iter().position(|a| *a == "-o").unwrap() + 1];
    assert!(output.starts_with("/registration/"), "{output}");
    assert!(mounts("registration").contains(&"registration:/registration".to_owned()));
    assert!(mounts("synapse").contains(&"registration:/registration:ro".to_owned()));
    assert!(read("compose/init.sh").contains(&format!("  - {output}\n")));
    // The bridge's config is in its volume, where `run` and `generate-registration` read it.
    assert!(mounts("aqueduct").contains(&"aqueduct:/data".to_owned()));
    assert!(mounts("init").contains(&"aqueduct:/aqueduct".to_owned()));

    // The bridge's config loads, and its listeners are the ports compose publishes.
    let config = Config::parse(
        &compose_config("example.org")
            .replace("as_token: generate", "as_token: 0123456789abcdef0123")
            .replace("hs_token: generate", "hs_token: 3210fedcba9876543210"),
        "deploy/compose/aqueduct-config.yaml",
    )
    .expect("the compose kit's config loads");
    let published: Vec<String> = at(services, &["aqueduct", "ports"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let metrics = config
        .metrics
        .listen
        .as_deref()
        .expect("metrics.listen set");
    for port in [port_of(&config.appservice.listen), port_of(metrics)] {
        assert!(
            published.contains(&format!("127.0.0.1:{port}:{port}")),
            "port {port} is not published on loopback: {published:?}"
        );
    }
    assert_eq!(config.appservice.address, "http://aqueduct:29330");
    assert_eq!(config.homeserver.url, "http://synapse:8008");

    if available("docker", &["compose", "version"]) {
        let out = Command::new("docker")
            .args(["compose", "-f"])
            .arg(deploy("compose/compose.yaml"))
            .args(["config", "-q"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker compose config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!("skipped `docker compose config -q`: the docker compose plugin is not installed");
    }
}

#[test]
fn the_compose_kit_config_makes_a_registration() {
    // As the `registration` service runs it: tokens `generate` become random ones.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, compose_config("example.org")).unwrap();
    let registration = dir.path().join("aqueduct.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_aqueduct"))
        .arg("-c")
        .arg(&config)
        .arg("generate-registration")
        .arg("-o")
        .arg(&registration)
        .env_remove("AQUEDUCT_AS_TOKEN")
        .env_remove("AQUEDUCT_HS_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = documents(&std::fs::read_to_string(&registration).unwrap()).remove(0);
    assert_eq!(
        at(&written, &["url"]).as_str(),
        Some("http://aqueduct:29330")
    );
    let filled = Config::load(&config).expect("the filled config loads");
    assert_eq!(
        at(&written, &["as_token"]).as_str(),
        Some(filled.appservice.as_token.as_str())
    );
}

#[test]
fn the_kubernetes_probes_and_ports_are_the_bridge_s_own() {
    let kustomization = documents(&read("kubernetes/kustomization.yaml")).remove(0);
    let mut manifests = Vec::new();
    for file in at(&kustomization, &["resources"]).as_sequence().unwrap() {
        manifests.extend(documents(&read(&format!(
            "kubernetes/{}",
            file.as_str().unwrap()
        ))));
    }
    let kind = |k: &str| -> Vec<&Value> {
        manifests
            .iter()
            .filter(|m| m.get("kind").and_then(Value::as_str) == Some(k))
            .collect()
    };
    let secret = kind("Secret")[0];
    let config = Config::parse(
        at(secret, &["stringData", "config.yaml"]).as_str().unwrap(),
        "deploy/kubernetes/secret.yaml",
    )
    .expect("the Kubernetes config loads");

    let deployment = kind("Deployment")[0];
    let container = &at(deployment, &["spec", "template", "spec", "containers"])
        .as_sequence()
        .unwrap()[0];
    let container_port = |name: &str| -> u16 {
        at(container, &["ports"])
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
            .unwrap_or_else(|| panic!("no container port {name}")) as u16
    };
    assert_eq!(
        container_port("appservice"),
        port_of(&config.appservice.listen)
    );
    assert_eq!(
        container_port("metrics"),
        port_of(config.metrics.listen.as_deref().unwrap())
    );
    for (probe, path) in [
        ("livenessProbe", aqueduct::health::LIVE_PATH),
        ("readinessProbe", aqueduct::health::READY_PATH),
        ("startupProbe", aqueduct::health::LIVE_PATH),
    ] {
        let get = at(container, &[probe, "httpGet"]);
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        // A named port must be one of the container's; both listeners serve health.
        container_port(get["port"].as_str().expect("a named port"));
        if let Some(timeout) = at(container, &[probe, "timeoutSeconds"]).as_u64() {
            assert!(
                timeout > aqueduct::health::CHECK_TIMEOUT.as_secs(),
                "{probe} times out before the bridge's checks do"
            );
        }
    }
    // The config mounted where the container's arguments say.
    let args: Vec<&str> = at(container, &["args"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["-c", "/config/config.yaml", "run"]);
    // Services point at the container's named ports.
    for service in kind("Service") {
        for port in at(service, &["spec", "ports"]).as_sequence().unwrap() {
            container_port(port["targetPort"].as_str().unwrap());
        }
    }
    assert_eq!(
        at(deployment, &["spec", "strategy", "type"]).as_str(),
        Some("Recreate"),
        "two bridges on one store at once"
    );
}
