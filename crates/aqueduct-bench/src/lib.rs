//! Benchmarks of the bridge against the homeserver's own limit, measured in the same run
//! (issue 6). `cargo xtask bench` builds the test bridge and runs [`run`] through this crate's
//! binary; the test suite runs it with tiny counts to keep the harness alive. Nothing here
//! asserts on time: figures are reported, never judged pass/fail.

pub mod appservice;
pub mod chaos;
pub mod engine;
pub mod env;
pub mod hub_report;
pub mod measure;
pub mod platforms;
pub mod process;
pub mod proxy;
pub mod report;
pub mod scenarios;
pub mod startup;
pub mod stats;

use measure::Measurement;
use scenarios::{Bench, Sizes};
use serde::Serialize;
use std::path::PathBuf;

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The test bridge binary (`aqueduct-testnet-bridge`), run as its own process.
    pub bridge_bin: PathBuf,
    /// A PostgreSQL URL whose server may create databases (Synapse gets a fresh one).
    pub postgres: String,
    /// Counts and rates.
    pub sizes: Sizes,
    /// Whether this is a smoke run (said in the report).
    pub quick: bool,
    /// The command line that produced the report, quoted in it.
    pub command: String,
    /// Parts to run (`engine`, `baseline`, `s1`..`s6`, `slack`, `rocketchat`, `teams`,
    /// `hub`, `startup`); empty runs them all. A reduced run is for before/after comparisons while
    /// profiling, not for the published page.
    pub only: Vec<String>,
}

impl Options {
    /// Whether the part `name` runs.
    pub fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o.eq_ignore_ascii_case(name))
    }
}

/// The bridge's memory.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    /// VmRSS once set up (logged in, portals open), before measured traffic, MiB.
    pub idle_rss_mib: f64,
    /// VmRSS after every scenario, MiB.
    pub after_rss_mib: f64,
    /// VmHWM (peak RSS) after every scenario, MiB.
    pub peak_rss_mib: f64,
    /// Of `idle_rss_mib` and `after_rss_mib`: the process's own memory (`RssAnon`) and mapped
    /// file pages (`RssFile`, mostly the executable's code), MiB.
    pub idle_anon_file_mib: (f64, f64),
    /// As `idle_anon_file_mib`, after every scenario.
    pub after_anon_file_mib: (f64, f64),
    /// Messages and events the bridge carried before `after_rss_mib` was read.
    pub messages_before_after: usize,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The command that produced it.
    pub command: String,
    /// Whether this was a smoke run with tiny counts.
    pub quick: bool,
    /// Counts and rates used.
    pub sizes: Sizes,
    /// Logical CPUs and the 1-minute load average when the run started and ended.
    pub machine: Machine,
    /// Every measured run, in the order they ran (each bridge run after the baseline it is
    /// compared with).
    pub measurements: Vec<Measurement>,
    /// The bridge's memory.
    pub memory: Memory,
    /// Start-up with many portals.
    pub startup: startup::Startup,
    /// The engine alone, in one portal and over many.
    pub engine: Vec<engine::EngineFigures>,
}

/// The machine the figures come from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// 1-minute load average at the start.
    pub load_start: f64,
    /// 1-minute load average at the end.
    pub load_end: f64,
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs every scenario and returns the figures.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let machine_start = Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_start: load_average(),
        load_end: 0.0,
    };
    let mut engine = Vec::new();
    if options.wants("engine") {
        eprintln!("bench: the engine alone");
        // The record's cost: with and without it, alternating so that drift in the machine's
        // load falls on both sides.
        for _ in 0..2 {
            for record in [false, true] {
                engine.push(engine::measure(options.sizes.engine_messages, 1, record).await?);
            }
        }
        engine.push(engine::measure(options.sizes.engine_messages, 100, true).await?);
    }
    let bridge_parts = [
        "baseline",
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
        "s6",
        "slack",
        "rocketchat",
        "teams",
        "hub",
        "startup",
    ];
    if !bridge_parts.iter().any(|p| options.wants(p)) {
        return Ok(Report {
            command: options.command.clone(),
            quick: options.quick,
            sizes: options.sizes.clone(),
            machine: Machine {
                load_end: load_average(),
                ..machine_start
            },
            measurements: Vec::new(),
            memory: Memory::default(),
            startup: startup::Startup::default(),
            engine,
        });
    }
    eprintln!("bench: starting Synapse (PostgreSQL) and the bridge");
    let env = env::BenchEnv::new(&options.postgres).await?;
    let mut child = env.spawn_bridge(&options.bridge_bin).await?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the bridge exited at once"))?;
    // For attaching a profiler to the bridge during a run.
    eprintln!("bench: the bridge runs as pid {pid}");
    let result = measure_all(env, pid, &options, machine_start, engine).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let (report, env, mut restarted) = result?;
    if let Some(c) = restarted.as_mut() {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
    let database = env.database;
    drop(env.env);
    if let Err(e) = database.drop_now().await {
        eprintln!("bench: could not drop database {}: {e:#}", database.name);
    }
    Ok(report)
}

type Finished = (Report, env::BenchEnv, Option<tokio::process::Child>);

async fn measure_all(
    env: env::BenchEnv,
    pid: u32,
    options: &Options,
    mut machine: Machine,
    engine: Vec<engine::EngineFigures>,
) -> anyhow::Result<Finished> {
    let sizes = &options.sizes;
    eprintln!("bench: setting up portals and baseline rooms");
    let bench = Bench::set_up(env, pid, sizes.rooms).await?;
    let (idle_rss_mib, _) = process::memory_mib(pid)?;
    let idle_anon_file_mib = process::resident_split_mib(pid)?;
    let mut m: Vec<Measurement> = Vec::new();
    let step = |name: &str| eprintln!("bench: {name}");

    // Each bridge run follows the baseline it is compared with, so that both meet Synapse in
    // the same state: an overloading run (80 msg/s open loop) leaves Synapse with work that
    // slows the next minute of sends, which would otherwise fall on one side only.
    let (base, s1, s2) = (
        options.wants("baseline"),
        options.wants("s1"),
        options.wants("s2"),
    );
    let bob = vec!["bob".to_owned()];
    let one = &bench.portals[..1];
    if base {
        step("baseline: sequential");
        m.push(bench.baseline_sequential(sizes.burst).await?);
    }
    if s1 {
        step("S1: remote -> Matrix, one room, burst");
        m.push(
            bench
                .remote_to_matrix(
                    "S1",
                    "remote -> Matrix, one room, burst".into(),
                    one,
                    &bob,
                    None,
                    sizes.burst,
                )
                .await?,
        );
    }
    if base {
        step("baseline: concurrent");
        m.push(bench.baseline_concurrent(sizes.burst).await?);
    }
    if s2 {
        step("S2: remote -> Matrix, across rooms");
        let rooms = bench.portals.len();
        m.push(
            bench
                .remote_to_matrix(
                    "S2",
                    format!("remote -> Matrix, {rooms} rooms, burst"),
                    &bench.portals,
                    &bob,
                    None,
                    sizes.burst,
                )
                .await?,
        );
    }
    for &r in &sizes.rates {
        if base {
            step(&format!("baseline: open loop at {r} msg/s"));
            m.push(bench.baseline_open_loop(r, count(r, sizes)).await?);
        }
        if s1 {
            step(&format!(
                "S1: remote -> Matrix, one room, open loop at {r} msg/s"
            ));
            m.push(
                bench
                    .remote_to_matrix(
                        "S1",
                        format!("remote -> Matrix, one room, open loop at {r} msg/s"),
                        one,
                        &bob,
                        Some(r),
                        count(r, sizes),
                    )
                    .await?,
            );
        }
    }
    if options.wants("s3") {
        step("S3: Matrix -> remote");
        m.push(
            bench
                .matrix_to_remote("S3", &bench.out, None, sizes.burst)
                .await?,
        );
        m.push(
            bench
                .matrix_to_remote("S3", &bench.out, Some(20.0), count(20.0, sizes))
                .await?,
        );
    }
    if options.wants("s4") {
        step("S4: first messages of new remote users");
        m.push(bench.new_users(sizes.new_users).await?);
    }
    if options.wants("s5") {
        step("S5: edits, reactions, thread replies, files");
        m.extend(bench.mix(sizes.mix_each).await?);
    }
    if options.wants("s6") {
        step("S6: remote -> Matrix, an encrypted room");
        m.push(bench.encrypted_to_matrix(sizes.burst).await?);
    }

    for (part, bob) in [
        ("slack", platforms::SLACK_BOB),
        ("rocketchat", platforms::ROCKETCHAT_BOB),
        ("teams", platforms::TEAMS_BOB),
    ] {
        if !options.wants(part) {
            continue;
        }
        let portal = &match part {
            "slack" => bench.slack.clone(),
            "rocketchat" => bench.rocketchat.clone(),
            _ => {
                step("Teams: signing in (device code) and opening the chat's portal");
                bench.open_teams().await?
            }
        };
        let name = scenarios::side_name(portal.side);
        step(&format!(
            "{name}: both ways through the connector and its fake"
        ));
        // Teams is polled: a burst is at most one page of a chat's changes (see
        // `TEAMS_BURST_MAX`), and its latency holds up to one poll interval.
        let (burst, received) = match portal.side {
            platforms::Side::Teams => (
                sizes.burst.min(platforms::TEAMS_BURST_MAX),
                format!(", polled every {} s", platforms::TEAMS_POLL_INTERVAL_SECS),
            ),
            _ => (sizes.burst, String::new()),
        };
        let requests = || bench.env.fakes.request_counts(portal.side);
        let before = requests();
        let mut to_matrix = bench
            .remote_to_matrix(
                &format!("S1 {name}"),
                format!("{name} -> Matrix, one room, burst{received}"),
                std::slice::from_ref(portal),
                &[bob.to_owned()],
                None,
                burst,
            )
            .await?;
        let between = requests();
        to_matrix.platform_requests = Some(proxy::diff(&before, &between));
        m.push(to_matrix);
        let mut from_matrix = bench
            .matrix_to_remote(&format!("S3 {name}"), portal, None, sizes.burst)
            .await?;
        from_matrix.platform_requests = Some(proxy::diff(&between, &requests()));
        m.push(from_matrix);
        if portal.side == platforms::Side::Teams {
            // The fake checks its answers and the bridge's requests against Graph's CSDL.
            for v in bench.env.fakes.teams.violations() {
                eprintln!("bench: Graph conformance: {v}");
            }
        }
    }

    if options.wants("hub") {
        step("Hub: one room linked to Slack and Rocket.Chat, a burst from each side");
        let hub = bench.open_hub().await?;
        m.extend(bench.hub(&hub, sizes.burst).await?);
    }

    let (after_rss_mib, peak_rss_mib) = process::memory_mib(pid)?;
    let after_anon_file_mib = process::resident_split_mib(pid)?;
    let messages_before_after = m
        .iter()
        .filter(|x| x.scenario != "baseline")
        .map(|x| x.messages)
        .sum();
    let (startup, restarted) = if options.wants("startup") {
        step(&format!("start-up with {} portals", sizes.portals));
        let (s, c) = startup::measure(&bench.env, pid, &options.bridge_bin, sizes.portals).await?;
        (s, Some(c))
    } else {
        (startup::Startup::default(), None)
    };
    machine.load_end = load_average();
    let report = Report {
        command: options.command.clone(),
        quick: options.quick,
        sizes: sizes.clone(),
        machine,
        measurements: m,
        memory: Memory {
            idle_rss_mib,
            after_rss_mib,
            peak_rss_mib,
            idle_anon_file_mib,
            after_anon_file_mib,
            messages_before_after,
        },
        startup,
        engine,
    };
    Ok((report, bench.env, restarted))
}

/// Messages for an open-loop run at `rate`: `rate_secs` seconds' worth, at least 5.
fn count(rate: f64, sizes: &Sizes) -> usize {
    ((rate * sizes.rate_secs).round() as usize).max(5)
}
