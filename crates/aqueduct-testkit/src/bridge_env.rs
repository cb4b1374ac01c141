//! A whole bridge test environment: a real Synapse with the bridge's registration, the test
//! network, a config file, and the bridge itself, in-process or as a separate process.

use crate::matrix_client::MatrixClient;
use crate::older_homeserver::OlderHomeserver;
use crate::synapse::{AppserviceRegistration, Synapse};
use crate::testnet_server::TestNet;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to set up the environment.
#[derive(Clone, Debug, Default)]
pub struct EnvOptions {
    /// Add a second registration whose non-exclusive namespace covers local users, and
    /// configure double puppeting with it.
    pub double_puppet: bool,
    /// Load Synapse's shared-secret login module and configure double puppeting with its
    /// secret (instead of a second registration).
    pub shared_secret_double_puppet: bool,
    /// Database URI; default is a SQLite file in the environment's directory.
    pub database_uri: Option<String>,
    /// Extra entries under `platforms:` (YAML, indented by two spaces), e.g. a `slack:` section.
    pub extra_platforms: Option<String>,
    /// Set `appservice.public_url` to the bridge's own listener, so it hands out public media
    /// URLs (relayed senders' avatars).
    pub public_url: bool,
    /// End-to-bridge encryption: the `encryption:` config section's entries (YAML, indented
    /// by two spaces, without `allow` and `pickle_key`, which are set). The registration then
    /// opts in to MSC3202 and MSC4190 as `generate-registration` writes it.
    pub encryption: Option<String>,
    /// With `encryption`: Synapse also pushes to-device messages and device lists in
    /// appservice transactions (MSC2409/MSC3202). Without it only the bot device's `/sync`
    /// can deliver them, which proves that path.
    pub device_data_in_transactions: bool,
    /// With `encryption`: the bridge reaches Synapse through [`OlderHomeserver`], which lacks
    /// appservice device management (MSC4190), and the registration does not opt in to it.
    pub older_homeserver: bool,
    /// The registration of earlier releases: the bot is the `sender_localpart` (so Synapse
    /// refuses it `/sync`) and outside the user namespace.
    pub bot_is_registration_sender: bool,
}

/// The environment.
pub struct BridgeEnv {
    /// The homeserver.
    pub synapse: Synapse,
    /// The remote network.
    pub net: TestNet,
    /// Where config and database live.
    pub dir: tempfile::TempDir,
    /// The bridge's config file.
    pub config_path: PathBuf,
    /// The bridge's listener port.
    pub bridge_port: u16,
    /// The homeserver token (for pushing transactions by hand).
    pub hs_token: String,
    /// The bot's user id.
    pub bot: String,
    /// The proxy the bridge reaches Synapse through, with [`EnvOptions::older_homeserver`].
    pub older_homeserver: Option<OlderHomeserver>,
    /// The bridge's two ports, held bound from their choice until the bridge starts: a port
    /// only "free a moment ago" could be taken meanwhile (Synapse takes seconds to start) by
    /// another test's Synapse or fake, whose `/health` would then pass for the bridge's.
    /// Empty when the ports are not held (a harness that picks its own).
    pub held_ports: std::sync::Mutex<Vec<std::net::TcpListener>>,
}

/// A port on 127.0.0.1, with the listener that holds it until it is dropped.
fn held_port() -> anyhow::Result<(u16, std::net::TcpListener)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok((listener.local_addr()?.port(), listener))
}

fn token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

impl BridgeEnv {
    /// Starts Synapse and the test network and writes the bridge's config. The bridge itself
    /// is started with [`BridgeEnv::start_in_process`] or [`BridgeEnv::spawn_process`].
    pub async fn new(options: EnvOptions) -> anyhow::Result<Self> {
        let net = TestNet::start().await?;
        let dir = tempfile::tempdir()?;
        let (bridge_port, bridge_hold) = held_port()?;
        let (metrics_port, metrics_hold) = held_port()?;
        let (as_token, hs_token) = (token(), token());
        let registration = AppserviceRegistration {
            id: "aqueduct".into(),
            url: Some(format!("http://127.0.0.1:{bridge_port}")),
            as_token: as_token.clone(),
            hs_token: hs_token.clone(),
            // As `generate-registration` writes it: the bot is a namespace user, not the
            // sender (Synapse lets only non-sender users /sync).
            sender_localpart: match options.bot_is_registration_sender {
                true => "aqueduct".into(),
                false => "aqueduct-appservice".into(),
            },
            user_namespace_regex: match options.bot_is_registration_sender {
                true => "@aqueduct_.*:localhost".into(),
                false => "@aqueduct(_.*)?:localhost".into(),
            },
            user_namespace_exclusive: true,
            alias_namespace_regex: None,
        };
        let mut builder = match &options.encryption {
            Some(_) => Synapse::builder().appservice_yaml(
                "aqueduct",
                registration.to_yaml_with(true, !options.older_homeserver),
            ),
            None => Synapse::builder().appservice(registration),
        };
        if options.encryption.is_some() && !options.device_data_in_transactions {
            builder = builder.config("experimental_features", serde_json::json!({}));
        }
        let dp_token = token();
        if options.double_puppet {
            builder = builder.appservice(AppserviceRegistration {
                id: "doublepuppet".into(),
                url: None,
                as_token: dp_token.clone(),
                hs_token: token(),
                sender_localpart: "doublepuppetbot".into(),
                user_namespace_regex: "@.*:localhost".into(),
                user_namespace_exclusive: false,
                alias_namespace_regex: None,
            });
        }
        let shared_secret = token();
        if options.shared_secret_double_puppet {
            crate::synapse::ensure_python_package(
                "shared_secret_authenticator",
                "shared-secret-authenticator==2.0.1",
            )
            .await?;
            builder = builder.config(
                "modules",
                serde_json::json!([{ "module": "shared_secret_authenticator.SharedSecretAuthProvider", "config": { "shared_secret": shared_secret } }]),
            );
        }
        let synapse = builder.start().await?;
        let older_homeserver = match options.older_homeserver {
            true => Some(OlderHomeserver::start(&synapse.base_url()).await?),
            false => None,
        };
        let db = options
            .database_uri
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("aqueduct.db").display()));
        // Beside the config, also when the database is PostgreSQL (whose default key file
        // would go into the working directory).
        let secrets_key = dir.path().join("aqueduct-secrets.key");
        let double_puppet = if options.shared_secret_double_puppet {
            format!("double_puppet:\n  secrets:\n    localhost: \"{shared_secret}\"\n")
        } else if options.double_puppet {
            format!("double_puppet:\n  secrets:\n    localhost: \"as_token:{dp_token}\"\n")
        } else {
            String::new()
        };
        let public_url = if options.public_url {
            format!("  public_url: http://127.0.0.1:{bridge_port}\n")
        } else {
            String::new()
        };
        let encryption = match &options.encryption {
            Some(extra) => format!(
                "encryption:\n  allow: true\n  pickle_key: {}\n{extra}",
                token()
            ),
            None => String::new(),
        };
        let record_key = dir.path().join("record-signing.key").display().to_string();
        let config = format!(
            "homeserver:\n  url: {hs}\n  server_name: localhost\n\
             appservice:\n  address: http://127.0.0.1:{bridge_port}\n  listen: 127.0.0.1:{bridge_port}\n  as_token: {as_token}\n  hs_token: {hs_token}\n{public_url}\
             metrics:\n  listen: 127.0.0.1:{metrics_port}\n\
             database:\n  uri: \"{db}\"\n  secrets_key_file: \"{secrets_key}\"\n\
             record:\n  signing_key_file: \"{record_key}\"\n\
             bridge:\n  shutdown_grace_secs: 10\n  max_attachment_bytes: 2000000\n  permissions:\n    \"*\": relay\n    localhost: user\n    \"@admin:localhost\": admin\n    \"@banned:localhost\": none\n    \"@relayonly:localhost\": relay\n\
             {double_puppet}{encryption}\
             logging:\n  level: info\n\
             platforms:\n  testnet:\n    url: {net}\n{extra}",
            extra = options.extra_platforms.clone().unwrap_or_default(),
            hs = older_homeserver
                .as_ref()
                .map_or_else(|| synapse.base_url(), |p| p.url().to_owned()),
            net = net.url(),
            secrets_key = secrets_key.display(),
        );
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config)?;
        Ok(Self {
            synapse,
            net,
            dir,
            config_path,
            bridge_port,
            hs_token,
            bot: "@aqueduct:localhost".into(),
            older_homeserver,
            held_ports: std::sync::Mutex::new(vec![bridge_hold, metrics_hold]),
        })
    }

    /// Lets the bridge bind its ports (see [`BridgeEnv::held_ports`]); a no-op once done.
    /// [`BridgeEnv::start_in_process`] and [`BridgeEnv::spawn_process`] call it; a test that
    /// runs the bridge another way (`aqueduct::run::run` itself) calls it first.
    pub fn release_ports(&self) {
        self.held_ports.lock().expect("held ports").clear();
    }

    /// Runs the bridge in this process; stop it with [`RunningBridge::stop`].
    pub async fn start_in_process(&self) -> anyhow::Result<RunningBridge> {
        let config = aqueduct::Config::load(&self.config_path)?;
        // Logs go to the test's captured output, shown when it fails.
        tracing_subscriber_init();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.release_ports();
        let handle = tokio::spawn(async move {
            aqueduct::run::run(config, &all_factories(), async move {
                let _ = rx.await;
            })
            .await
        });
        if let Err(e) = self.wait_until_serving(|| handle.is_finished()).await {
            if handle.is_finished() {
                // Its own error says why (a port taken, a bad config) better than a timeout.
                let ended = handle.await;
                anyhow::bail!("the bridge stopped while starting: {ended:?}");
            }
            return Err(e);
        }
        Ok(RunningBridge {
            stop: Some(tx),
            handle,
        })
    }

    /// Runs the bridge as a separate process (`bin` is the test bridge binary).
    pub async fn spawn_process(&self, bin: &Path) -> anyhow::Result<tokio::process::Child> {
        self.spawn_process_with_env(bin, &[]).await
    }

    /// [`BridgeEnv::spawn_process`] with extra environment variables for the process (what a
    /// service manager passes, such as systemd's `NOTIFY_SOCKET`).
    pub async fn spawn_process_with_env(
        &self,
        bin: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<tokio::process::Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("bridge.log"))?;
        self.release_ports();
        let child = tokio::process::Command::new(bin)
            .arg("-c")
            .arg(&self.config_path)
            .envs(env.iter().copied())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.wait_until_serving(|| false).await?;
        Ok(child)
    }

    /// The bridge process's log so far.
    pub fn bridge_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bridge.log")).unwrap_or_default()
    }

    /// Waits until the bridge answers `/health` as the bridge does (`{"status":"ok"}`, which
    /// no Synapse or fake on a reused port says), or `exited` tells it stopped.
    async fn wait_until_serving(&self, exited: impl Fn() -> bool) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/health", self.bridge_port);
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
                && let Ok(body) = r.json::<serde_json::Value>().await
                && body["status"] == "ok"
            {
                return Ok(());
            }
            if exited() {
                anyhow::bail!("the bridge stopped while starting");
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("the bridge did not come up; log:\n{}", self.bridge_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The URL of the bridge's `/metrics`, on the metrics listener its config names
    /// (`metrics.listen`, which [`BridgeEnv::new`] sets to a free port).
    pub fn metrics_url(&self) -> anyhow::Result<String> {
        let config = aqueduct::Config::load(&self.config_path)?;
        let listen = config
            .metrics
            .listen
            .context("the bridge's config has no metrics.listen")?;
        Ok(format!("http://{listen}/metrics"))
    }

    /// The bridge's Prometheus metrics, read from its metrics listener.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let answer = reqwest::get(self.metrics_url()?)
            .await?
            .error_for_status()?;
        Ok(answer.text().await?)
    }

    /// Registers a Matrix user.
    pub async fn user(&self, localpart: &str) -> anyhow::Result<MatrixClient> {
        self.synapse.register_user(localpart, false).await
    }

    /// Opens a management room (a DM with the bot) for `user` and waits until the bot is in it.
    pub async fn management_room(&self, user: &MatrixClient) -> anyhow::Result<String> {
        let room = user.create_dm(&self.bot).await?;
        user.wait_for_event(&room, Duration::from_secs(30), |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == self.bot.as_str()
                && e["content"]["membership"] == "join"
        })
        .await?;
        Ok(room)
    }

    /// Sends a command in a room and waits for the bot's answer containing `expect`.
    pub async fn command(
        &self,
        user: &MatrixClient,
        room: &str,
        command: &str,
        expect: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let sent = user.send_text(room, command).await?;
        let bot = self.bot.clone();
        let seen_ours = std::sync::atomic::AtomicBool::new(false);
        user.wait_for_event(room, Duration::from_secs(30), |e| {
            if e["event_id"] == sent.as_str() {
                seen_ours.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            seen_ours.load(std::sync::atomic::Ordering::SeqCst)
                && e["sender"] == bot.as_str()
                && e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(expect))
        })
        .await
    }

    /// Logs `user` in to the test network with `token` through their management room.
    pub async fn login(&self, user: &MatrixClient, token: &str) -> anyhow::Result<String> {
        let room = self.management_room(user).await?;
        self.command(user, &room, &format!("login testnet {token}"), "Logged in")
            .await?;
        Ok(room)
    }

    /// Waits for the bridge to invite `user` to a portal, joins it, and returns the room id.
    pub async fn accept_portal_invite(&self, user: &MatrixClient) -> anyhow::Result<String> {
        let room = user
            .wait_for_invite_from(Some(&self.bot), Duration::from_secs(30))
            .await?;
        user.join(&room).await?;
        Ok(room)
    }
}

/// A bridge running in this process.
pub struct RunningBridge {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningBridge {
    /// Asks the bridge to stop as on SIGTERM and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.handle).await?
    }
}

impl Drop for RunningBridge {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn tracing_subscriber_init() {
    aqueduct::run::init_logging(&aqueduct::config::LoggingConfig::default());
}

/// The connectors compiled into the real binary, plus the test network's.
pub fn all_factories() -> Vec<aqueduct::ConnectorFactory> {
    let mut factories = aqueduct::connectors::compiled_in();
    factories.push(crate::testnet_connector::factory());
    factories
}
