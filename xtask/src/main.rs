//! Project automation: `cargo xtask <command>`.
//!
//! - `test`: make sure PostgreSQL and the Synapse and nio virtualenvs are there, then run
//!   rustfmt, clippy and every test of the workspace. This is what `.ci/run` runs.
//! - `quickstart [--no-run]`: set up a local Synapse and the bridge under `./.aqueduct/` and run
//!   them. Rerunning reuses that state.
//! - `chaos [ARGS]`: the chaos suite at full size (see `chaos.rs`).
//! - `bench [--quick]`: build the test bridge and the benchmark harness (release) and run every
//!   benchmark scenario against a Synapse on PostgreSQL; writes `docs/performance.md` and
//!   `docs/performance.json`.
//!
//! Only `std` and `anyhow`: this crate has to build fast and before anything else.

mod chaos;
mod fuzz;
mod venvs;

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use venvs::{ensure_nio_venv, ensure_synapse_venv};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test                  ensure PostgreSQL and the Synapse and nio venvs, then fmt --check, clippy
                        and all tests
  quickstart [--no-run] run Synapse and the bridge locally under ./.aqueduct/
                        (--no-run: set up, start Synapse, check the bridge config, stop, exit)
  bench [--quick]       benchmarks against a Synapse on PostgreSQL; writes docs/performance.md
                        (--quick: every scenario with tiny counts, a smoke run)
  chaos [ARGS]          messages both ways across Slack and Rocket.Chat through random faults
                        (bridge SIGKILLs, Synapse restarts, socket drops, 429 storms, a busy
                        or restarted database); fails unless each arrives exactly once, in order
                        (ARGS: --messages N (10000 per lane), --seed N, --rate R, --json PATH,
                        --synapse-restarts: restart Synapse too, --postgres [URL]: the bridge
                        on PostgreSQL, whose restarts replace the busy SQLite database)
  fuzz [ARGS]           build the fuzz targets of fuzz/ and run each; fails on any crash
                        (ARGS: --runs N (20000; 10000000 for the full run), --seconds S,
                        --target NAME; see docs/fuzzing.md)";

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() -> ExitCode {
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line, without anyhow's backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") if args.len() == 1 => test(),
        Some("quickstart") => match &args[1..] {
            [] => quickstart(false),
            [flag] if flag == "--no-run" => quickstart(true),
            _ => bail!("{USAGE}"),
        },
        Some("bench") => match &args[1..] {
            [] => bench(false),
            [flag] if flag == "--quick" => bench(true),
            _ => bail!("{USAGE}"),
        },
        Some("chaos") => chaos::chaos(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

/// The workspace root (this crate lives in `<root>/xtask`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(repo_root());
    // `cargo run` gave this process the package variables of xtask itself. Build scripts
    // that watch one of them (ring's watches CARGO_MANIFEST_DIR) would see a change against
    // a build made by a plain `cargo build`, and rebuild half the tree in a shared target.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

/// Runs `f` as a named step, printing its name and how long it took.
fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {name}");
    let started = Instant::now();
    let result = f();
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(_) => println!("<== {name}: ok ({secs:.1} s)"),
        Err(_) => println!("<== {name}: FAILED ({secs:.1} s)"),
    }
    result.with_context(|| format!("step `{name}` failed"))
}

/// Runs a command to completion, failing unless it exits successfully.
fn run(cmd: &mut Command) -> Result<()> {
    let what = describe(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{what}`"))?;
    if !status.success() {
        bail!("`{what}` exited with {status}");
    }
    Ok(())
}

/// Whether a command runs and exits successfully, its output discarded.
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// cargo xtask test
// ---------------------------------------------------------------------------------------------

fn test() -> Result<()> {
    let started = Instant::now();
    let postgres =
        std::env::var("AQUEDUCT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    step("postgresql", || ensure_postgres(&postgres))?;
    let venv = step("synapse venv", ensure_synapse_venv)?;
    let nio_venv = step("nio venv", ensure_nio_venv)?;
    step("rustfmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("tests", || {
        let nextest = succeeds(cargo().args(["nextest", "--version"]));
        let mut cmd = cargo();
        if nextest {
            cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
        } else {
            cmd.args(["test", "--workspace", "--no-fail-fast"]);
        }
        run(cmd
            .env("AQUEDUCT_TEST_POSTGRES", &postgres)
            .env("AQUEDUCT_SYNAPSE_VENV", &venv)
            .env("AQUEDUCT_NIO_VENV", &nio_venv))
    })?;
    println!(
        "all checks passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `(host, port)` of a `postgres://[user[:pw]@]host[:port][/db]` URL.
fn postgres_host_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h.to_owned(), p.to_owned()),
        _ if hostport.is_empty() => ("127.0.0.1".to_owned(), "5432".to_owned()),
        _ => (hostport.to_owned(), "5432".to_owned()),
    }
}

fn ensure_postgres(url: &str) -> Result<()> {
    let (host, port) = postgres_host_port(url);
    let ready = || succeeds(Command::new("pg_isready").args(["-h", &host, "-p", &port]));
    if ready() {
        println!("PostgreSQL is accepting connections on {host}:{port}");
        return Ok(());
    }
    if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1") {
        bail!("PostgreSQL at {host}:{port} (from AQUEDUCT_TEST_POSTGRES) is not ready");
    }
    println!("PostgreSQL is not ready on {host}:{port}; starting the local cluster");
    run(Command::new("sh").args([
        "-c",
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ]))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("PostgreSQL on {host}:{port} did not become ready within 30 s")
}

// ---------------------------------------------------------------------------------------------
// cargo xtask bench
// ---------------------------------------------------------------------------------------------

fn bench(quick: bool) -> Result<()> {
    let postgres =
        std::env::var("AQUEDUCT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
    step("postgresql", || ensure_postgres(&postgres))?;
    let venv = step("synapse venv", ensure_synapse_venv)?;
    step("build (release)", || {
        run(cargo().args([
            "build",
            "--release",
            "-p",
            "aqueduct-tests",
            "--bin",
            "aqueduct-testnet-bridge",
            "-p",
            "aqueduct-bench",
            "--bin",
            "aqueduct-bench",
        ]))
    })?;
    let release = target_dir().join("release");
    let command = if quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    step("bench", || {
        let mut cmd = Command::new(release.join("aqueduct-bench"));
        cmd.current_dir(repo_root())
            .arg("--bridge-bin")
            .arg(release.join("aqueduct-testnet-bridge"))
            .args(["--postgres", &postgres, "--command", command])
            .env("AQUEDUCT_SYNAPSE_VENV", &venv);
        if quick {
            cmd.arg("--quick");
        }
        run(&mut cmd)
    })
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` (relative to the workspace root when
/// relative), else `<root>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

// ---------------------------------------------------------------------------------------------
// cargo xtask quickstart
// ---------------------------------------------------------------------------------------------

fn quickstart(no_run: bool) -> Result<()> {
    let root = repo_root();
    let state = root.join(".aqueduct");
    let syn = state.join("synapse");
    std::fs::create_dir_all(&syn).with_context(|| format!("creating {}", syn.display()))?;

    let venv = step("synapse venv", ensure_synapse_venv)?;
    let python = venv.join("bin/python");
    let (synapse_port, bridge_port) = ports(&state)?;
    let synapse_url = format!("http://127.0.0.1:{synapse_port}");

    // Stop a Synapse a previous, killed quickstart left behind (it holds our port).
    stop_stale_synapse(&syn.join("synapse.pid"));

    step("synapse config", || {
        write_synapse_config(&syn, &state, synapse_port)?;
        if !syn.join("signing.key").exists() {
            run(Command::new(&python)
                .args(["-m", "synapse.app.homeserver", "-c"])
                .arg(syn.join("homeserver.yaml"))
                .arg("--generate-keys")
                .current_dir(&syn))?;
        }
        Ok(())
    })?;

    step("bridge config and registration", || {
        let config = state.join("config.yaml");
        if !config.exists() {
            write(&config, &bridge_config(&synapse_url, bridge_port)?)?;
        }
        run(cargo().args(["build", "--release", "-p", "aqueduct"]))?;
        run(cargo().args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "aqueduct",
            "--",
            "-c",
            ".aqueduct/config.yaml",
            "generate-registration",
            "-o",
            ".aqueduct/registration.yaml",
        ]))
    })?;

    let synapse = step("start synapse", || {
        start_synapse(&python, &syn, synapse_port)
    })?;

    let password = step("admin user", || {
        let path = state.join("admin-password");
        if let Ok(p) = std::fs::read_to_string(&path) {
            println!("@admin:localhost already registered");
            return Ok(p.trim().to_owned());
        }
        let password = random_alnum(24)?;
        run(Command::new(&python)
            .args(["-m", "synapse._scripts.register_new_matrix_user", "-c"])
            .arg(syn.join("homeserver.yaml"))
            .args(["-u", "admin", "-p", &password, "-a", &synapse_url])
            .current_dir(&syn))?;
        write(&path, &format!("{password}\n"))?;
        Ok(password)
    })?;

    println!(
        "\n\
         ------------------------------------------------------------------------------\n\
         Synapse is running at {synapse_url} (log: .aqueduct/synapse/homeserver.log)\n\
         Open any Matrix client at {synapse_url}, log in as @admin:localhost / {password},\n\
         start a chat with @aqueduct:localhost and send `help`.\n\
         (The password is kept in .aqueduct/admin-password.) Stop everything with Ctrl-C.\n\
         ------------------------------------------------------------------------------\n"
    );

    if no_run {
        step("check bridge config", || {
            run(cargo().args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "aqueduct",
                "--",
                "-c",
                ".aqueduct/config.yaml",
                "check-config",
            ]))
        })?;
        drop(synapse);
        println!("--no-run: Synapse stopped; everything is set up under .aqueduct/");
        return Ok(());
    }

    // Ctrl-C goes to the whole foreground process group. Synapse runs in its own group, and
    // this process ignores SIGINT, so the bridge alone sees it, shuts down gracefully, and we
    // then stop Synapse ourselves. The bridge installs its own handler, overriding the
    // inherited "ignore".
    ignore_sigint();
    let bridge = cargo()
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "aqueduct",
            "--",
            "-c",
            ".aqueduct/config.yaml",
            "run",
        ])
        .status()
        .context("starting the bridge");
    drop(synapse);
    match bridge? {
        s if s.success() => Ok(()),
        // Killed by the Ctrl-C it was meant to handle: not an error worth reporting.
        s if s.code().is_none() => Ok(()),
        s => bail!("the bridge exited with {s}"),
    }
}

/// Ports remembered in `.aqueduct/ports`, or chosen now: 8008 and 29330 when free.
fn ports(state: &Path) -> Result<(u16, u16)> {
    let path = state.join("ports");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut synapse = None;
        let mut bridge = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("synapse", p)) => synapse = p.trim().parse().ok(),
                Some(("bridge", p)) => bridge = p.trim().parse().ok(),
                _ => {}
            }
        }
        if let (Some(s), Some(b)) = (synapse, bridge) {
            return Ok((s, b));
        }
    }
    let synapse = preferred_or_free(8008, &[])?;
    let bridge = preferred_or_free(29330, &[synapse])?;
    write(&path, &format!("synapse={synapse}\nbridge={bridge}\n"))?;
    Ok((synapse, bridge))
}

fn preferred_or_free(preferred: u16, taken: &[u16]) -> Result<u16> {
    if !taken.contains(&preferred) && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
}

/// Double-quoted YAML scalar.
fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn path_yaml(p: &Path) -> Result<String> {
    Ok(yaml_str(p.to_str().with_context(|| {
        format!("{} is not UTF-8", p.display())
    })?))
}

/// Writes homeserver.yaml and its log config, once: a rerun keeps the secrets.
fn write_synapse_config(syn: &Path, state: &Path, port: u16) -> Result<()> {
    let log_config = syn.join("log.yaml");
    if !log_config.exists() {
        write(
            &log_config,
            &format!(
                "version: 1\n\
                 formatters:\n\
                 \x20 precise:\n\
                 \x20   format: \"%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s\"\n\
                 handlers:\n\
                 \x20 file:\n\
                 \x20   class: logging.FileHandler\n\
                 \x20   formatter: precise\n\
                 \x20   filename: {}\n\
                 \x20   encoding: utf8\n\
                 root:\n\
                 \x20 level: WARNING\n\
                 \x20 handlers: [file]\n\
                 disable_existing_loggers: false\n",
                path_yaml(&syn.join("homeserver.log"))?
            ),
        )?;
    }
    let config = syn.join("homeserver.yaml");
    if config.exists() {
        return Ok(());
    }
    let relaxed = "{per_second: 1000, burst_count: 1000}";
    write(
        &config,
        &format!(
            "# Written by `cargo xtask quickstart` for local use only.\n\
             server_name: localhost\n\
             public_baseurl: http://127.0.0.1:{port}/\n\
             listeners:\n\
             \x20 - port: {port}\n\
             \x20   bind_addresses: [\"127.0.0.1\"]\n\
             \x20   type: http\n\
             \x20   tls: false\n\
             \x20   x_forwarded: false\n\
             \x20   resources:\n\
             \x20     - names: [client]\n\
             \x20       compress: false\n\
             database:\n\
             \x20 name: sqlite3\n\
             \x20 args:\n\
             \x20   database: {db}\n\
             log_config: {log}\n\
             media_store_path: {media}\n\
             signing_key_path: {key}\n\
             registration_shared_secret: {secret}\n\
             macaroon_secret_key: {macaroon}\n\
             form_secret: {form}\n\
             enable_registration: false\n\
             report_stats: false\n\
             suppress_key_server_warning: true\n\
             trusted_key_servers: []\n\
             presence:\n\
             \x20 enabled: false\n\
             app_service_config_files:\n\
             \x20 - {registration}\n\
             rc_message: {relaxed}\n\
             rc_registration: {relaxed}\n\
             rc_login:\n\
             \x20 address: {relaxed}\n\
             \x20 account: {relaxed}\n\
             \x20 failed_attempts: {relaxed}\n\
             rc_joins:\n\
             \x20 local: {relaxed}\n\
             \x20 remote: {relaxed}\n\
             rc_invites:\n\
             \x20 per_room: {relaxed}\n\
             \x20 per_user: {relaxed}\n\
             \x20 per_issuer: {relaxed}\n",
            db = path_yaml(&syn.join("homeserver.db"))?,
            log = path_yaml(&log_config)?,
            media = path_yaml(&syn.join("media_store"))?,
            key = path_yaml(&syn.join("signing.key"))?,
            secret = random_alnum(32)?,
            macaroon = random_alnum(32)?,
            form = random_alnum(32)?,
            registration = path_yaml(&state.join("registration.yaml"))?,
        ),
    )
}

/// The bridge's config, in the shape of config/config.example.yaml.
fn bridge_config(synapse_url: &str, bridge_port: u16) -> Result<String> {
    Ok(format!(
        "# Written by `cargo xtask quickstart` for local use only; see config/config.example.yaml.\n\
         homeserver:\n\
         \x20 url: {synapse_url}\n\
         \x20 server_name: localhost\n\
         appservice:\n\
         \x20 id: aqueduct\n\
         \x20 address: http://127.0.0.1:{bridge_port}\n\
         \x20 listen: 127.0.0.1:{bridge_port}\n\
         \x20 as_token: {as_token}\n\
         \x20 hs_token: {hs_token}\n\
         \x20 bot_localpart: aqueduct\n\
         \x20 bot_display_name: Aqueduct bridge\n\
         \x20 ghost_prefix: aqueduct_\n\
         database:\n\
         \x20 uri: sqlite://.aqueduct/aqueduct.db\n\
         bridge:\n\
         \x20 command_prefix: \"!aq\"\n\
         \x20 permissions:\n\
         \x20   \"*\": relay\n\
         \x20   localhost: user\n\
         \x20   \"@admin:localhost\": admin\n\
         logging:\n\
         \x20 level: info\n\
         \x20 format: text\n\
         platforms: {{}}\n",
        as_token = random_alnum(48)?,
        hs_token = random_alnum(48)?,
    ))
}

/// A Synapse we started; dropping it stops it (SIGTERM, then SIGKILL after 30 s).
struct RunningSynapse {
    child: Child,
    pid_file: PathBuf,
}

impl Drop for RunningSynapse {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.pid_file);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("Synapse did not stop within 30 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

fn start_synapse(python: &Path, syn: &Path, port: u16) -> Result<RunningSynapse> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(syn.join("out.log"))
        .context("opening .aqueduct/synapse/out.log")?;
    let child = Command::new(python)
        .args(["-m", "synapse.app.homeserver", "-c"])
        .arg(syn.join("homeserver.yaml"))
        .current_dir(syn)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Its own process group, so a Ctrl-C meant for the bridge does not reach it.
        .process_group(0)
        .spawn()
        .context("starting Synapse")?;
    let pid_file = syn.join("synapse.pid");
    let mut synapse = RunningSynapse { child, pid_file };
    write(&synapse.pid_file, &format!("{}\n", synapse.child.id()))?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if versions_ok(port) {
            return Ok(synapse);
        }
        if let Some(status) = synapse.child.try_wait()? {
            bail!(
                "Synapse exited with {status} before answering; see .aqueduct/synapse/out.log and homeserver.log"
            );
        }
        if Instant::now() >= deadline {
            bail!("Synapse did not answer /_matrix/client/versions on port {port} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET /_matrix/client/versions` answers 200.
fn versions_ok(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(
            b"GET /_matrix/client/versions HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )?;
        let mut head = [0u8; 16];
        let n = s.read(&mut head)?;
        let line = String::from_utf8_lossy(&head[..n]);
        Ok(line.starts_with("HTTP/1.") && line.get(9..12) == Some("200"))
    };
    attempt().unwrap_or(false)
}

/// Stops a Synapse recorded in the pid file if it is still running.
fn stop_stale_synapse(pid_file: &Path) {
    let Ok(pid) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let pid = pid.trim();
    let is_synapse = std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("synapse.app.homeserver"));
    if is_synapse {
        println!("stopping a Synapse left running by an earlier quickstart (pid {pid})");
        let _ = Command::new("kill").args(["-TERM", pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

/// Ignore SIGINT in this process (std has no API for it).
fn ignore_sigint() {
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGINT: i32 = 2;
    const SIG_IGN: usize = 1;
    // SAFETY: installing SIG_IGN for SIGINT has no preconditions.
    unsafe {
        signal(SIGINT, SIG_IGN);
    }
}

/// `len` random ASCII letters and digits from /dev/urandom.
fn random_alnum(len: usize) -> Result<String> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut urandom = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        urandom.read_exact(&mut buf)?;
        // 248 = 4 * 62: rejecting larger bytes keeps the choice uniform.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() < len {
                out.push(char::from(CHARS[usize::from(b) % CHARS.len()]));
            }
        }
    }
    Ok(out)
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_parse() {
        let hp = |u| postgres_host_port(u);
        assert_eq!(hp(DEFAULT_POSTGRES), ("127.0.0.1".into(), "5432".into()));
        assert_eq!(
            hp("postgres://u:p@db:6000/x?sslmode=disable"),
            ("db".into(), "6000".into())
        );
        assert_eq!(hp("postgres://db/x"), ("db".into(), "5432".into()));
    }

    #[test]
    fn random_tokens_are_alnum() {
        let t = random_alnum(48).unwrap();
        assert_eq!(t.len(), 48);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, random_alnum(48).unwrap());
    }
}
