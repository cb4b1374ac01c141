//! A real Synapse homeserver on loopback, for end-to-end tests.
//!
//! Synapse is installed from PyPI into a cached virtualenv (see
//! [`ensure_synapse_installed`]), then each [`Synapse`] runs in its own
//! temporary directory with a fresh SQLite database, a free port on
//! 127.0.0.1, relaxed rate limits and the given appservice registrations.
//!
//! Environment variables:
//! - `AQUEDUCT_SYNAPSE_VENV`: virtualenv directory (default
//!   `$HOME/.cache/aqueduct/synapse-venv`).
//! - `AQUEDUCT_PYTHON`: the Python used to create the virtualenv (default `python3`).
//! - `AQUEDUCT_SYNAPSE_PIP_SPEC`: what to `pip install` (default `matrix-synapse`).
//! - `AQUEDUCT_SYNAPSE_LOG_LEVEL`: Synapse's log level (default `WARNING`).
//! - `AQUEDUCT_KEEP_SYNAPSE_DIR`: if set to a non-empty value other than `0`,
//!   the temporary directory (config, database, logs) is kept after the test.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha1::Sha1;
use tokio::process::{Child, Command};

use crate::matrix_client::MatrixClient;

mod install;
pub use install::{ensure_python_package, ensure_synapse_installed, synapse_venv_dir};

/// Marker written into the virtualenv once `pip install` has succeeded.
const INSTALLED_MARKER: &str = ".aqueduct-synapse-installed";
/// How long to wait for Synapse to answer `/_matrix/client/versions`.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// An appservice registration, written as `<id>.yaml` for Synapse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppserviceRegistration {
    pub id: String,
    /// Where Synapse pushes transactions; `None` writes an explicit `url: null`
    /// (no pushes).
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
    pub user_namespace_regex: String,
    pub user_namespace_exclusive: bool,
    /// An exclusive alias namespace, if any.
    pub alias_namespace_regex: Option<String>,
}

impl AppserviceRegistration {
    /// The registration as YAML, with `rate_limited: false` and
    /// `receive_ephemeral: true`, and no MSC extensions.
    pub fn to_yaml(&self) -> String {
        self.to_yaml_with(false, false)
    }

    /// Like [`to_yaml`](Self::to_yaml), optionally opting in to MSC3202
    /// (`org.matrix.msc3202`: device lists / OTK counts in transactions) and
    /// MSC4190 (`io.element.msc4190`: appservice device management; note that
    /// it changes `/register` and `/login` behaviour for the appservice).
    pub fn to_yaml_with(&self, msc3202: bool, msc4190: bool) -> String {
        serde_norway::to_string(&self.to_value(msc3202, msc4190))
            .expect("serializing a JSON value to YAML cannot fail")
    }

    fn to_value(&self, msc3202: bool, msc4190: bool) -> Value {
        let aliases: Vec<Value> = self
            .alias_namespace_regex
            .iter()
            .map(|regex| json!({ "exclusive": true, "regex": regex }))
            .collect();
        let mut v = json!({
            "id": self.id,
            "url": self.url,
            "as_token": self.as_token,
            "hs_token": self.hs_token,
            "sender_localpart": self.sender_localpart,
            "namespaces": {
                "users": [{
                    "exclusive": self.user_namespace_exclusive,
                    "regex": self.user_namespace_regex,
                }],
                "aliases": aliases,
                "rooms": [],
            },
            "rate_limited": false,
            "receive_ephemeral": true,
        });
        if msc3202 {
            v["org.matrix.msc3202"] = json!(true);
        }
        if msc4190 {
            v["io.element.msc4190"] = json!(true);
        }
        v
    }
}

/// Configures and starts a [`Synapse`].
#[derive(Debug, Clone, Default)]
pub struct SynapseBuilder {
    /// `(id, yaml)` of each registration file.
    appservices: Vec<(String, String)>,
    /// Top-level homeserver.yaml keys that replace the defaults.
    overrides: serde_json::Map<String, Value>,
}

impl SynapseBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an appservice (written with [`AppserviceRegistration::to_yaml`]).
    pub fn appservice(self, reg: AppserviceRegistration) -> Self {
        let yaml = reg.to_yaml();
        self.appservice_yaml(&reg.id, yaml)
    }

    /// Registers an appservice from raw registration YAML, written as `<id>.yaml`.
    pub fn appservice_yaml(mut self, id: &str, yaml: impl Into<String>) -> Self {
        self.appservices.push((id.to_owned(), yaml.into()));
        self
    }

    /// Sets (replaces) a top-level key of homeserver.yaml.
    pub fn config(mut self, key: impl Into<String>, value: Value) -> Self {
        self.overrides.insert(key.into(), value);
        self
    }

    /// Installs Synapse if needed, writes the config and starts the server;
    /// returns once it answers `/_matrix/client/versions`.
    pub async fn start(self) -> anyhow::Result<Synapse> {
        // The port is free when picked but may be taken by another test's server before
        // Synapse binds it; then it exits and a new port is tried.
        let mut attempt = 1;
        loop {
            match self.clone().start_once().await {
                Err(e) if attempt < 3 && e.downcast_ref::<PortTaken>().is_some() => {
                    tracing::warn!(error = %e, "Synapse's port was taken; trying another");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(self) -> anyhow::Result<Synapse> {
        let venv = ensure_synapse_installed().await?;
        let started = Instant::now();
        let mut dir = tempfile::Builder::new()
            .prefix("aqueduct-synapse-")
            .tempdir()
            .context("creating the Synapse temp dir")?;
        if std::env::var("AQUEDUCT_KEEP_SYNAPSE_DIR").is_ok_and(|v| !v.is_empty() && v != "0") {
            dir.disable_cleanup(true);
            eprintln!(
                "aqueduct-testkit: keeping Synapse dir {}",
                dir.path().display()
            );
        }
        let root = dir.path().to_owned();
        let server_name = "localhost".to_owned();
        let port = free_port();
        let shared_secret = random_string(32);

        // Signing key, in Synapse's own format: `ed25519 <version> <unpadded base64 seed>`.
        let seed: [u8; 32] = rand::random();
        let key_path = root.join("signing.key");
        let key_version = format!("a_{}", random_string(8));
        write(
            &key_path,
            format!("ed25519 {key_version} {}\n", base64_unpadded(&seed)),
        )?;

        let log_path = root.join("homeserver.log");
        let log_level = std::env::var("AQUEDUCT_SYNAPSE_LOG_LEVEL")
            .ok()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "WARNING".to_owned());
        let log_config = json!({
            "version": 1,
            "formatters": {
                "precise": { "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s" }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": path_str(&log_path)?,
                    "encoding": "utf8",
                }
            },
            "loggers": { "synapse.storage.SQL": { "level": log_level_for_sql(&log_level) } },
            "root": { "level": log_level, "handlers": ["file"] },
            "disable_existing_loggers": false,
        });
        let log_config_path = root.join("log.yaml");
        write(&log_config_path, to_yaml(&log_config))?;

        let mut as_files = Vec::new();
        for (id, yaml) in &self.appservices {
            let p = root.join(format!("{id}.yaml"));
            write(&p, yaml)?;
            as_files.push(path_str(&p)?.to_owned());
        }

        let relaxed = json!({ "per_second": 1000, "burst_count": 1000 });
        let mut config = json!({
            "server_name": server_name,
            "public_baseurl": format!("http://127.0.0.1:{port}/"),
            "listeners": [{
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": false,
                "x_forwarded": false,
                // `keys` serves this server's signing key, which tells it apart from
                // another test's Synapse on the same port; `openid` lets the bridge check
                // OpenID tokens (`/_matrix/federation/v1/openid/userinfo`).
                "resources": [{ "names": ["client", "keys", "openid"], "compress": false }],
            }],
            "database": {
                "name": "sqlite3",
                "args": { "database": path_str(&root.join("homeserver.db"))? },
            },
            "log_config": path_str(&log_config_path)?,
            "media_store_path": path_str(&root.join("media_store"))?,
            "signing_key_path": path_str(&key_path)?,
            "registration_shared_secret": shared_secret,
            "macaroon_secret_key": random_string(32),
            "form_secret": random_string(32),
            "enable_registration": false,
            "report_stats": false,
            "suppress_key_server_warning": true,
            "trusted_key_servers": [],
            "federation_domain_whitelist": [],
            "app_service_config_files": as_files,
            "enable_authenticated_media": true,
            "max_upload_size": "50M",
            "url_preview_enabled": false,
            "enable_metrics": false,
            "presence": { "enabled": false },
            "experimental_features": {
                "msc2409_to_device_messages_enabled": true,
                "msc3202_transaction_extensions": true,
            },
            "rc_message": relaxed,
            "rc_registration": relaxed,
            "rc_registration_token_validity": relaxed,
            "rc_login": { "address": relaxed, "account": relaxed, "failed_attempts": relaxed },
            "rc_admin_redaction": relaxed,
            "rc_joins": { "local": relaxed, "remote": relaxed },
            "rc_joins_per_room": relaxed,
            "rc_key_requests": relaxed,
            "rc_3pid_validation": relaxed,
            "rc_invites": { "per_room": relaxed, "per_user": relaxed, "per_issuer": relaxed },
            "rc_third_party_invite": relaxed,
            "rc_media_create": relaxed,
            "rc_presence": { "per_user": relaxed },
            "rc_delayed_event_mgmt": relaxed,
            "rc_room_creation": relaxed,
            "rc_reports": relaxed,
            "rc_user_directory": relaxed,
            "rc_profile": relaxed,
        });
        for (k, v) in self.overrides {
            config[k] = v;
        }
        let config_path = root.join("homeserver.yaml");
        write(&config_path, to_yaml(&config))?;

        let child = spawn_homeserver(&venv, &root)?;

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        let mut synapse = Synapse {
            dir,
            child: Some(child),
            port,
            server_name,
            shared_secret,
            http,
        };
        synapse
            .wait_ready(&format!("ed25519:{key_version}"))
            .await?;
        tracing::debug!(port, elapsed = ?started.elapsed(), "Synapse is up");
        Ok(synapse)
    }
}

/// SIGTERM, wait up to 10 s, then SIGKILL.
async fn terminate(child: &mut Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => {
            status.context("waiting for Synapse to exit")?;
        }
        Err(_) => {
            tracing::warn!("Synapse ignored SIGTERM for 10 s; killing it");
            child.kill().await.context("killing Synapse")?;
        }
    }
    Ok(())
}

/// Starts Synapse's process on the config in `root` (`homeserver.yaml`), its output
/// appended to `synapse.stdout` and `synapse.stderr` there.
fn spawn_homeserver(venv: &Path, root: &Path) -> anyhow::Result<Child> {
    let append = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join(name))
    };
    Command::new(venv.join("bin").join("python"))
        .args(["-m", "synapse.app.homeserver", "-c"])
        .arg(root.join("homeserver.yaml"))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(append("synapse.stdout")?)
        .stderr(append("synapse.stderr")?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning Synapse from {}", venv.display()))
}

/// A running Synapse. Dropping it kills the process and deletes its directory.
pub struct Synapse {
    // Field order matters only for documentation: Drop kills the child first,
    // then the TempDir is removed.
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    server_name: String,
    shared_secret: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Synapse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synapse")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .field("pid", &self.child.as_ref().and_then(|c| c.id()))
            .finish()
    }
}

impl Synapse {
    /// Shorthand for `SynapseBuilder::new()`.
    pub fn builder() -> SynapseBuilder {
        SynapseBuilder::new()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Always `localhost`.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The temp dir holding config, database, media and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Synapse's log file (WARNING and above unless `AQUEDUCT_SYNAPSE_LOG_LEVEL` says otherwise).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("homeserver.log")
    }

    /// The last `lines` lines of the log, stdout and stderr, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(self.dir.path(), lines)
    }

    /// Registers a user through the shared-secret admin API, with a random
    /// password, and returns a client logged in as them.
    pub async fn register_user(
        &self,
        localpart: &str,
        admin: bool,
    ) -> anyhow::Result<MatrixClient> {
        self.register_user_with_password(localpart, &random_string(24), admin)
            .await
    }

    /// Like [`register_user`](Self::register_user), with a password the caller knows, for
    /// clients that log in by themselves (another device, the nio test client).
    pub async fn register_user_with_password(
        &self,
        localpart: &str,
        password: &str,
        admin: bool,
    ) -> anyhow::Result<MatrixClient> {
        let url = format!("{}/_synapse/admin/v1/register", self.base_url());
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .context("GET register nonce")?;
        let nonce_body = response_json(resp, "GET /_synapse/admin/v1/register").await?;
        let nonce = nonce_body["nonce"]
            .as_str()
            .with_context(|| format!("no nonce in {nonce_body}"))?
            .to_owned();
        let mac = registration_mac(&self.shared_secret, &nonce, localpart, password, admin);
        let body = json!({
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac,
        });
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .context("POST register")?;
        let reg = response_json(
            resp,
            &format!("POST /_synapse/admin/v1/register ({localpart})"),
        )
        .await?;
        let token = reg["access_token"]
            .as_str()
            .with_context(|| format!("no access_token in {reg}"))?;
        let user_id = reg["user_id"]
            .as_str()
            .with_context(|| format!("no user_id in {reg}"))?;
        Ok(MatrixClient::new(self.base_url(), token, user_id))
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        match self.child.take() {
            Some(mut child) => terminate(&mut child).await,
            None => Ok(()),
        }
    }

    /// Stops Synapse (SIGTERM, or SIGKILL after 10 s) and starts it again on the same port,
    /// config and database, as an operator's restart would; returns once it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child).await?;
        }
        let venv = ensure_synapse_installed().await?;
        let root = self.dir.path().to_owned();
        self.child = Some(spawn_homeserver(&venv, &root)?);
        // `signing.key` holds `ed25519 <version> <seed>`.
        let key = std::fs::read_to_string(root.join("signing.key"))?;
        let version = key
            .split_whitespace()
            .nth(1)
            .context("signing.key has no key version")?
            .to_owned();
        self.wait_ready(&format!("ed25519:{version}")).await
    }

    /// Waits until this Synapse, the one whose signing key is `key_id`, answers.
    async fn wait_ready(&mut self, key_id: &str) -> anyhow::Result<()> {
        let url = format!("{}/_matrix/key/v2/server", self.base_url());
        let mut stranger_seen = false;
        let deadline = Instant::now() + START_DEADLINE;
        let mut last_err = String::from("no attempt yet");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                if stranger_seen || self.log_tail(60).contains("Address already in use") {
                    return Err(PortTaken(self.port).into());
                }
                bail!(
                    "Synapse exited before becoming ready ({status}); {}\n{}",
                    last_err,
                    self.log_tail(60)
                );
            }
            match self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    let body: Value = r.json().await.unwrap_or_default();
                    if body["verify_keys"].get(key_id).is_some() {
                        return Ok(());
                    }
                    stranger_seen = true;
                    last_err = "another server answers on this port".into();
                }
                Ok(r) => last_err = format!("last response: HTTP {}", r.status()),
                Err(e) => last_err = format!("last error: {e}"),
            }
            if Instant::now() >= deadline {
                bail!(
                    "Synapse did not answer {url} within {START_DEADLINE:?}; {last_err}\n{}",
                    self.log_tail(60)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = child.start_kill();
        // Reap it (briefly blocking) so the temp dir is not removed under a live process.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

/// Synapse could not bind its port: another process took it after it was picked.
#[derive(Debug, thiserror::Error)]
#[error("port {0} was taken before Synapse could bind it")]
struct PortTaken(u16);

/// A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// `hex(HMAC-SHA1(secret, nonce \0 user \0 password \0 admin|notadmin))`.
fn registration_mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(nonce.as_bytes());
    mac.update(b"\0");
    mac.update(user.as_bytes());
    mac.update(b"\0");
    mac.update(password.as_bytes());
    mac.update(b"\0");
    mac.update(if admin {
        b"admin" as &[u8]
    } else {
        b"notadmin"
    });
    hex::encode(mac.finalize().into_bytes())
}

async fn response_json(resp: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp
        .text()
        .await
        .with_context(|| format!("{what}: reading body"))?;
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {text}");
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{what}: HTTP {status}: invalid JSON: {text}"))
}

fn log_tail(dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    for name in ["homeserver.log", "synapse.stderr", "synapse.stdout"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(lines)..];
        out.push_str(&format!("--- {name} (last {} lines) ---\n", tail.len()));
        for l in tail {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn log_level_for_sql(level: &str) -> &'static str {
    // SQL at DEBUG logs access tokens and floods the file; cap it at INFO.
    if level.eq_ignore_ascii_case("DEBUG") {
        "INFO"
    } else {
        "WARNING"
    }
}

fn to_yaml(v: &Value) -> String {
    serde_norway::to_string(v).expect("serializing a JSON value to YAML cannot fail")
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("path is not UTF-8: {}", p.display()))
}

pub(crate) fn random_string(len: usize) -> String {
    use rand::Rng as _;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn base64_unpadded(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_without_padding() {
        assert_eq!(base64_unpadded(b""), "");
        assert_eq!(base64_unpadded(b"f"), "Zg");
        assert_eq!(base64_unpadded(b"fo"), "Zm8");
        assert_eq!(base64_unpadded(b"foo"), "Zm9v");
        assert_eq!(base64_unpadded(b"foob"), "Zm9vYg");
        assert_eq!(base64_unpadded(b"fooba"), "Zm9vYmE");
        assert_eq!(base64_unpadded(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn registration_mac_is_hmac_sha1_hex() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"secret",b"n\0u\0p\0admin",hashlib.sha1).hexdigest())'
        assert_eq!(
            registration_mac("secret", "n", "u", "p", true),
            "f393a2fa070427923635b76f35737172331c3aef"
        );
        assert_eq!(
            registration_mac("secret", "n", "u", "p", false),
            "0f2b4751fa14a68d6a6878c313b752580706c394"
        );
    }

    #[test]
    fn registration_yaml_round_trips() {
        let reg = AppserviceRegistration {
            id: "bridge".into(),
            url: None,
            as_token: "as".into(),
            hs_token: "hs".into(),
            sender_localpart: "bot".into(),
            user_namespace_regex: "@net_.*:localhost".into(),
            user_namespace_exclusive: true,
            alias_namespace_regex: Some("#net_.*:localhost".into()),
        };
        let v: Value = serde_norway::from_str(&reg.to_yaml()).unwrap();
        assert_eq!(v["url"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("url"));
        assert_eq!(v["rate_limited"], json!(false));
        assert_eq!(v["receive_ephemeral"], json!(true));
        assert_eq!(
            v["namespaces"]["users"][0]["regex"],
            json!("@net_.*:localhost")
        );
        assert_eq!(v["namespaces"]["aliases"][0]["exclusive"], json!(true));
        assert!(v.get("org.matrix.msc3202").is_none());
        let v: Value = serde_norway::from_str(&reg.to_yaml_with(true, true)).unwrap();
        assert_eq!(v["org.matrix.msc3202"], json!(true));
        assert_eq!(v["io.element.msc4190"], json!(true));
    }
}
