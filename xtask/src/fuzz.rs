//! `cargo xtask fuzz`: build the cargo-fuzz targets in `fuzz/` and run each one, printing
//! executions and executions per second, failing on any crash (see docs/fuzzing.md).
//!
//! The toolchain is stable, so cargo-fuzz's `-Z` flags are allowed with `RUSTC_BOOTSTRAP=1`;
//! libfuzzer-sys builds libFuzzer with the system C++ compiler. The build goes to
//! `fuzz/target`, never the shared target dir, whose artifacts the sanitizer-coverage flags
//! would otherwise invalidate. New inputs libFuzzer finds go to `fuzz/target/corpus/<target>`;
//! the committed seeds in `fuzz/corpus/<target>` are only read.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every target, in the order they run. The last two need the `connectors` feature.
const TARGETS: &[&str] = &[
    "html_parse",
    "slack_from_matrix",
    "slack_mrkdwn_to_matrix",
    "slack_rich_text_to_matrix",
    "rocketchat_from_matrix",
    "rocketchat_markdown_to_matrix",
    "shortcodes_emoji",
    "slack_events",
    "rocketchat_messages",
];

/// Usage of `cargo xtask fuzz`.
pub const USAGE: &str = "usage: cargo xtask fuzz [--runs N] [--seconds S] [--target NAME]...
  --runs N      executions per target (default 20000, a smoke run; 10000000 for the full run)
  --seconds S   stop each target after S seconds even if N is not reached (default: none)
  --target NAME only this target (repeatable); targets: html_parse, slack_from_matrix,
                slack_mrkdwn_to_matrix, slack_rich_text_to_matrix, rocketchat_from_matrix,
                rocketchat_markdown_to_matrix, shortcodes_emoji, slack_events,
                rocketchat_messages";

struct Options {
    runs: u64,
    seconds: Option<u64>,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        runs: 20_000,
        seconds: None,
        targets: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--runs" => options.runs = value()?.parse().context("--runs")?,
            "--seconds" => options.seconds = Some(value()?.parse().context("--seconds")?),
            "--target" => {
                let name = value()?;
                if !TARGETS.contains(&name.as_str()) {
                    bail!("unknown target {name}\n{USAGE}");
                }
                options.targets.push(name.clone());
            }
            _ => bail!("{USAGE}"),
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    Ok(options)
}

/// Runs `cargo xtask fuzz ARGS`.
pub fn fuzz(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("repository root")?
        .join("fuzz");
    ensure_cargo_fuzz()?;
    let mut results = Vec::new();
    for target in &options.targets {
        let started = Instant::now();
        let stats = run_target(&fuzz_dir, target, &options)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{target}: {} executions in {:.0} s of fuzzing, {} exec/s (libFuzzer), {secs:.0} s with build",
            stats.runs, stats.fuzz_secs, stats.exec_per_sec
        );
        results.push((target.clone(), stats));
    }
    println!("\n| target | executions | seconds | exec/s |\n|---|---:|---:|---:|");
    for (target, s) in &results {
        println!(
            "| {target} | {} | {} | {} |",
            s.runs, s.fuzz_secs, s.exec_per_sec
        );
    }
    Ok(())
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    println!("==> installing cargo-fuzz");
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed: {status}");
    }
    Ok(())
}

/// What libFuzzer reported at the end of a run.
struct Stats {
    runs: u64,
    exec_per_sec: u64,
    fuzz_secs: u64,
}

/// Targets that need the `connectors` feature (and its much larger build).
const CONNECTOR_TARGETS: &[&str] = &["slack_events", "rocketchat_messages"];

fn fuzz_command(fuzz_dir: &Path, verb: &str, target: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", fuzz_dir.join("target"))
        // No sanitizer: the code is safe Rust, and ASan would cost most of the executions.
        // Debug assertions on, so integer overflow panics as it does in the test suite.
        .args(["fuzz", verb, "--sanitizer", "none", "--debug-assertions"]);
    if CONNECTOR_TARGETS.contains(&target) {
        cmd.args(["--features", "connectors"]);
    }
    cmd
}

fn run_target(fuzz_dir: &Path, target: &str, options: &Options) -> Result<Stats> {
    let work: PathBuf = fuzz_dir.join("target").join("corpus").join(target);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let seeds = fuzz_dir.join("corpus").join(target);
    let mut cmd = fuzz_command(fuzz_dir, "run", target);
    cmd.arg(target).arg(&work);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.args([
        "--".to_owned(),
        format!("-runs={}", options.runs),
        // A single input taking seconds is a super-linear converter: a finding, not a wait.
        "-timeout=10".to_owned(),
        "-max_len=8192".to_owned(),
        "-print_final_stats=1".to_owned(),
    ]);
    if let Some(seconds) = options.seconds {
        cmd.arg(format!("-max_total_time={seconds}"));
    }
    println!("==> fuzz {target}");
    let output = cmd
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running cargo fuzz run {target}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // The panic message, then the tail: the input and where libFuzzer saved it.
        if let Some(at) = stderr.find("panicked at") {
            eprintln!(
                "{}",
                stderr[at..].lines().take(3).collect::<Vec<_>>().join("\n")
            );
        }
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
        bail!("fuzz target {target} failed: {}", output.status);
    }
    let stat = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Stats {
        runs: stat("stat::number_of_executed_units:"),
        exec_per_sec: stat("stat::average_exec_per_sec:"),
        // libFuzzer's last words: "Done N runs in S second(s)".
        fuzz_secs: stderr
            .lines()
            .rev()
            .find_map(|l| {
                let rest = l.strip_prefix("Done ")?.split(" runs in ").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0),
    })
}
