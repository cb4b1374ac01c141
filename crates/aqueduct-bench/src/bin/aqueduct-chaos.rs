//! `aqueduct-chaos`: the chaos suite at any size (`cargo xtask chaos` runs the full one).
//! Prints each lane's counts and the faults inflicted; exits non-zero unless every message
//! arrived exactly once, in order.

use aqueduct_bench::chaos::faults::Fault;
use aqueduct_bench::chaos::{ChaosOptions, run};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: aqueduct-chaos --bridge-bin PATH [--messages N] [--rate MSG_PER_S] \
[--fault-every SECONDS] [--seed N] [--stall SECONDS] [--synapse-restarts] [--postgres [URL]] \
[--faults KIND,KIND...] [--json PATH]

--faults picks the kinds of fault to inflict (default: every kind that fits the backend but
Synapse restarts): kill-bridge, restart-synapse, slack-socket-drop, slack-disconnect,
rocketchat-realtime-down, slack-429, rocketchat-429, database-busy (SQLite),
database-restart (PostgreSQL). A run that repeats a loss around one kind of fault is faster
with only that kind (and kill-bridge).";

/// The admin URL `--postgres` uses without one: `AQUEDUCT_TEST_POSTGRES`, else the local
/// server the tests use.
fn default_postgres() -> String {
    std::env::var("AQUEDUCT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn main() -> anyhow::Result<()> {
    let mut options = ChaosOptions {
        bridge_bin: PathBuf::new(),
        messages: 10_000,
        rate: 8.0,
        fault_every: Duration::from_secs(20),
        seed: rand::random(),
        stall: Duration::from_secs(180),
        faults: Vec::new(),
        required: vec![Fault::KillBridge],
        min_faults: 3,
        postgres: None,
    };
    let mut synapse_restarts = false;
    let mut json = None;
    let mut picked: Option<Vec<Fault>> = None;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        if a == "--postgres" {
            // The URL is optional: the next argument is it unless it is another option.
            let url = args.next_if(|next| !next.starts_with("--"));
            options.postgres = Some(url.unwrap_or_else(default_postgres));
            continue;
        }
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--bridge-bin" => options.bridge_bin = PathBuf::from(value()?),
            "--messages" => options.messages = value()?.parse()?,
            "--rate" => options.rate = value()?.parse()?,
            "--fault-every" => options.fault_every = Duration::from_secs_f64(value()?.parse()?),
            "--seed" => options.seed = value()?.parse()?,
            "--stall" => options.stall = Duration::from_secs_f64(value()?.parse()?),
            "--json" => json = Some(PathBuf::from(value()?)),
            "--synapse-restarts" => synapse_restarts = true,
            "--faults" => picked = Some(parse_faults(&value()?)?),
            _ => anyhow::bail!("unknown argument {a}\n{USAGE}"),
        }
    }
    anyhow::ensure!(!options.bridge_bin.as_os_str().is_empty(), "{USAGE}");
    let postgres = options.postgres.is_some();
    options.faults = picked
        .clone()
        .unwrap_or_else(|| Fault::bridge_faults(postgres));
    anyhow::ensure!(
        !options.faults.is_empty(),
        "--faults names no fault\n{USAGE}"
    );
    if let Some(misfit) = options.faults.iter().find(|f| !f.fits(postgres)) {
        anyhow::bail!(
            "{} cannot be inflicted on a bridge on {}",
            misfit.flag(),
            if postgres { "PostgreSQL" } else { "SQLite" }
        );
    }
    if synapse_restarts && !options.faults.contains(&Fault::RestartSynapse) {
        options.faults.push(Fault::RestartSynapse);
    }
    // The faults a run is for happen at least once: a SIGKILL, and on PostgreSQL a restart
    // of the database, unless the kinds were picked without them.
    options.required.retain(|f| options.faults.contains(f));
    if postgres && options.faults.contains(&Fault::DatabaseRestart) {
        options.required.push(Fault::DatabaseRestart);
    }
    let report = tokio::runtime::Runtime::new()?.block_on(run(options))?;
    print!("{}", report.summary());
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    anyhow::ensure!(report.passed(), "messages were lost, doubled or reordered");
    Ok(())
}

/// The kinds of `--faults`: comma-separated flags.
fn parse_faults(list: &str) -> anyhow::Result<Vec<Fault>> {
    list.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| {
            Fault::from_flag(f.trim())
                .ok_or_else(|| anyhow::anyhow!("unknown fault {f:?}\n{USAGE}"))
        })
        .collect()
}
