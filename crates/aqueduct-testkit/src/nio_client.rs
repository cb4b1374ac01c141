//! An independent, encryption-capable Matrix client for end-to-end tests: matrix-nio (with
//! vodozemac) in a Python process, driven over JSON lines.
//!
//! The bridge's end-to-bridge encryption must interoperate with clients it does not share
//! code with; nio is one. Each [`NioClient`] runs `clients/nio_client.py` from a cached
//! virtualenv ([`ensure_nio_installed`]), keeps its keys in a store directory, syncs in the
//! background, shares room keys with every device of a room's members without verification
//! and accepts room keys from any device.
//!
//! Environment variables:
//! - `AQUEDUCT_NIO_VENV`: virtualenv directory (default `$HOME/.cache/aqueduct/nio-venv`).
//! - `AQUEDUCT_PYTHON`: the Python used to create the virtualenv (default `python3`).
//! - `AQUEDUCT_NIO_LOG_LEVEL`: the client's log level on its stderr (default `INFO`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

mod install;
mod types;
pub use install::{ensure_nio_installed, nio_pip_spec, nio_venv_dir};
pub use types::{
    LoggedIn, MessageFilter, NewRoom, ReceivedMessage, SeenEvent, Sent, Undecryptable,
};

/// The client program, written into each client's directory.
const SCRIPT: &str = include_str!("../clients/nio_client.py");
/// How long a command may take unless it waits for something itself.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the client's stderr quoted in errors.
const STDERR_TAIL_LINES: usize = 40;

/// A command the client answered with `ok: false`, or did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "nio client {label}: `{command}` failed: {error}\n--- nio stderr (last lines) ---\n{stderr_tail}"
)]
pub struct NioCommandError {
    pub label: String,
    pub command: String,
    /// The client's own error message (for `wait_message`, it names undecryptable sessions).
    pub error: String,
    pub stderr_tail: String,
}

struct Io {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

/// One nio client process (one Matrix device once logged in). Dropping it kills the process
/// and removes its directory, store included (see [`login_device`](Self::login_device) for a
/// store that outlives it).
pub struct NioClient {
    label: String,
    // Declared before `dir`: the process goes before its directory.
    io: tokio::sync::Mutex<Io>,
    dir: tempfile::TempDir,
    command_timeout: Duration,
}

impl std::fmt::Debug for NioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NioClient")
            .field("label", &self.label)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl NioClient {
    /// Installs nio if needed and starts a client process; `label` names it in errors.
    pub async fn spawn(label: &str) -> anyhow::Result<Self> {
        let venv = ensure_nio_installed().await?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("aqueduct-nio-{label}-"))
            .tempdir()
            .context("creating the nio client's temp dir")?;
        let script = dir.path().join("nio_client.py");
        std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))
            .context("creating the nio client's stderr log")?;
        let mut child = Command::new(venv.join("bin").join("python"))
            .arg("-u")
            .arg(&script)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning the nio client from {}", venv.display()))?;
        let stdin = child.stdin.take().context("nio client stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("nio client stdout")?).lines();
        Ok(Self {
            label: label.to_owned(),
            io: tokio::sync::Mutex::new(Io {
                child,
                stdin,
                stdout,
                next_id: 1,
            }),
            dir,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        })
    }

    /// Sets how long a command may take (beyond the timeout it waits for by itself).
    pub fn set_command_timeout(&mut self, timeout: Duration) {
        self.command_timeout = timeout;
    }

    /// The client's stderr log (nio's and the driver's logs).
    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// The last `lines` lines of the client's stderr.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.stderr_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Logs in with a password as a new device (or `device_id`), keeping the keys in
    /// `store_dir` so a later client with the same device id and store continues the same
    /// device (its sync then resumes where the store left off, so events from before the
    /// restart are not seen again). Uploads the device keys and returns after the first sync.
    pub async fn login_device(
        &self,
        homeserver: &str,
        user_id: &str,
        password: &str,
        device_id: Option<&str>,
        store_dir: &Path,
    ) -> anyhow::Result<LoggedIn> {
        let store_dir = store_dir
            .to_str()
            .with_context(|| format!("store dir is not UTF-8: {}", store_dir.display()))?;
        self.call(
            "login",
            json!({
                "homeserver": homeserver,
                "user_id": user_id,
                "password": password,
                "device_id": device_id,
                "store_dir": store_dir,
            }),
            Duration::ZERO,
        )
        .await
    }

    /// Logs in as a new device, with the store inside this client's directory.
    pub async fn login(
        &self,
        homeserver: &str,
        user_id: &str,
        password: &str,
    ) -> anyhow::Result<LoggedIn> {
        let store = self.dir.path().join("store");
        self.login_device(homeserver, user_id, password, None, &store)
            .await
    }

    /// Joins a room (by id or alias) and returns once the client's sync has it.
    pub async fn join(&self, room: &str) -> anyhow::Result<String> {
        let v: Value = self
            .call("join", json!({ "room_id": room }), Duration::ZERO)
            .await?;
        field_str(&v, "room_id")
    }

    /// Joins every room the client is invited to; returns their ids.
    pub async fn accept_invites(&self) -> anyhow::Result<Vec<String>> {
        let v: Value = self
            .call("accept_invites", json!({}), Duration::ZERO)
            .await?;
        serde_json::from_value(v["joined"].clone()).context("accept_invites: `joined`")
    }

    /// Waits for an invite to a room the client has not joined; returns the room id.
    pub async fn wait_invite(&self, timeout: Duration) -> anyhow::Result<String> {
        let v: Value = self
            .call(
                "wait_invite",
                json!({ "timeout": timeout.as_secs_f64() }),
                timeout,
            )
            .await?;
        field_str(&v, "room_id")
    }

    /// Waits until the client's view of the room lists `user_id` as joined. In an encrypted
    /// room, send only after the members you expect to read show up here: a member the client
    /// does not know yet misses the room key.
    pub async fn wait_member(
        &self,
        room_id: &str,
        user_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let _: Value = self
            .call(
                "wait_member",
                json!({ "room_id": room_id, "user_id": user_id, "timeout": timeout.as_secs_f64() }),
                timeout,
            )
            .await?;
        Ok(())
    }

    /// Creates a room; returns its id once the client's sync has it (and, if asked for,
    /// knows it is encrypted).
    pub async fn create_room(&self, room: &NewRoom) -> anyhow::Result<String> {
        let v: Value = self
            .call("create_room", serde_json::to_value(room)?, Duration::ZERO)
            .await?;
        field_str(&v, "room_id")
    }

    /// Sends an `m.text` message, encrypted if the room is. Members' device lists are queried
    /// and Olm sessions claimed first, so every current device gets the room key.
    pub async fn send_text(&self, room_id: &str, body: &str) -> anyhow::Result<Sent> {
        self.call(
            "send_text",
            json!({ "room_id": room_id, "body": body }),
            Duration::ZERO,
        )
        .await
    }

    /// Sends any room event (an edit, a reply, ...), encrypted if the
    /// room is, after the same preparation as [`send_text`](Self::send_text). nio sends
    /// `m.reaction` unencrypted even in encrypted rooms.
    pub async fn send_event(
        &self,
        room_id: &str,
        event_type: &str,
        content: Value,
    ) -> anyhow::Result<Sent> {
        self.call(
            "send_event",
            json!({ "room_id": room_id, "event_type": event_type, "content": content }),
            Duration::ZERO,
        )
        .await
    }

    /// Uploads a file and sends it as `m.image`: in an encrypted room the upload is encrypted
    /// and the event carries `file` (an EncryptedFile), otherwise `url`.
    pub async fn send_image(&self, room_id: &str, path: &Path, mime: &str) -> anyhow::Result<Sent> {
        let path = path
            .to_str()
            .with_context(|| format!("image path is not UTF-8: {}", path.display()))?;
        self.call(
            "send_image",
            json!({ "room_id": room_id, "path": path, "mime": mime }),
            Duration::ZERO,
        )
        .await
    }

    /// Waits for the first event in the room that matches `filter` and that no
    /// earlier `wait_message` returned (so consecutive waits walk through the room in order;
    /// messages that arrived before the call count). Media are downloaded, decrypted and
    /// hashed. If it times out while matching events stayed undecryptable, the error names
    /// their Megolm sessions.
    pub async fn wait_message(
        &self,
        room_id: &str,
        filter: &MessageFilter,
        timeout: Duration,
    ) -> anyhow::Result<ReceivedMessage> {
        let mut args = serde_json::to_value(filter)?;
        args["room_id"] = json!(room_id);
        args["timeout"] = json!(timeout.as_secs_f64());
        self.call("wait_message", args, timeout).await
    }

    /// Every timeline event the client has seen in the room so far, in arrival order, each
    /// once (state events included; decrypted where possible).
    pub async fn messages_seen(&self, room_id: &str) -> anyhow::Result<Vec<SeenEvent>> {
        let v: Value = self
            .call(
                "messages_seen",
                json!({ "room_id": room_id }),
                Duration::ZERO,
            )
            .await?;
        serde_json::from_value(v["messages"].clone()).context("messages_seen: `messages`")
    }

    /// Discards this client's outbound Megolm session for the room, so its next message
    /// starts (and shares) a new one. Returns the discarded session's id, if there was one.
    pub async fn rotate_room_key(&self, room_id: &str) -> anyhow::Result<Option<String>> {
        let v: Value = self
            .call(
                "rotate_room_key",
                json!({ "room_id": room_id }),
                Duration::ZERO,
            )
            .await?;
        Ok(v["previous_session_id"].as_str().map(str::to_owned))
    }

    /// The device ids the client knows for `user_id` (querying the server if its list is
    /// outdated).
    pub async fn devices(&self, user_id: &str) -> anyhow::Result<Vec<String>> {
        let v: Value = self
            .call("devices", json!({ "user_id": user_id }), Duration::ZERO)
            .await?;
        serde_json::from_value(v["devices"].clone()).context("devices: `devices`")
    }

    /// Waits until the client knows `device_id` of `user_id` (its sync reported the device
    /// list change and the keys were queried); returns all the user's known devices.
    pub async fn wait_device(
        &self,
        user_id: &str,
        device_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let v: Value = self
            .call(
                "wait_device",
                json!({ "user_id": user_id, "device_id": device_id, "timeout": timeout.as_secs_f64() }),
                timeout,
            )
            .await?;
        serde_json::from_value(v["devices"].clone()).context("wait_device: `devices`")
    }

    /// Stops syncing, closes the client and waits for the process to exit.
    pub async fn close(self) -> anyhow::Result<()> {
        let _: Value = self.call("close", json!({}), Duration::ZERO).await?;
        let mut io = self.io.lock().await;
        match tokio::time::timeout(Duration::from_secs(10), io.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for the nio client to exit")?;
                if !status.success() {
                    bail!(
                        "nio client {} exited with {status}\n{}",
                        self.label,
                        self.stderr_tail(STDERR_TAIL_LINES)
                    );
                }
                Ok(())
            }
            Err(_) => bail!(
                "nio client {} did not exit within 10 s of `close`",
                self.label
            ),
        }
    }

    /// Sends one command and reads its reply; `waits` is how long the command itself may wait
    /// (added to the command timeout).
    async fn call<T: DeserializeOwned>(
        &self,
        command: &str,
        mut args: Value,
        waits: Duration,
    ) -> anyhow::Result<T> {
        let fail = |error: String| NioCommandError {
            label: self.label.clone(),
            command: command.to_owned(),
            error,
            stderr_tail: self.stderr_tail(STDERR_TAIL_LINES),
        };
        let mut io = self.io.lock().await;
        let id = io.next_id;
        io.next_id += 1;
        args["cmd"] = json!(command);
        args["id"] = json!(id);
        let mut line = serde_json::to_string(&args)?;
        line.push('\n');
        if let Err(e) = io.stdin.write_all(line.as_bytes()).await {
            return Err(fail(format!("writing the command: {e} (has the client exited?)")).into());
        }
        io.stdin.flush().await.ok();

        let limit = self.command_timeout + waits;
        let reply = tokio::time::timeout(limit, async {
            loop {
                let Some(line) = io.stdout.next_line().await? else {
                    return Ok::<_, std::io::Error>(None);
                };
                let Ok(reply) = serde_json::from_str::<Value>(&line) else {
                    tracing::warn!(label = %self.label, %line, "nio client wrote a non-JSON line");
                    continue;
                };
                // A late reply to a command that timed out earlier: skip it.
                if reply["id"] == json!(id) {
                    return Ok(Some(reply));
                }
            }
        })
        .await;
        let reply = match reply {
            Err(_) => return Err(fail(format!("no reply within {limit:?}")).into()),
            Ok(Err(e)) => return Err(fail(format!("reading the reply: {e}")).into()),
            Ok(Ok(None)) => {
                let status = io.child.try_wait().ok().flatten();
                return Err(
                    fail(format!("the client exited ({status:?}) without replying")).into(),
                );
            }
            Ok(Ok(Some(reply))) => reply,
        };
        if reply["ok"] != json!(true) {
            let error = reply["error"].as_str().unwrap_or("no error message");
            return Err(fail(error.to_owned()).into());
        }
        serde_json::from_value(reply.clone()).with_context(|| {
            format!(
                "nio client {}: unexpected reply to `{command}`: {reply}",
                self.label
            )
        })
    }
}

fn field_str(v: &Value, name: &str) -> anyhow::Result<String> {
    v[name]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no `{name}` in {v}"))
}
