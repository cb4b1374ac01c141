//! `cargo xtask chaos`: the chaos suite at full size (10,000 messages per lane unless told
//! otherwise), on release builds of the test bridge and the suite's runner.

use super::{DEFAULT_POSTGRES, cargo, ensure_postgres, run, step, target_dir};
use anyhow::Result;
use std::process::Command;

/// Builds (release) and runs `aqueduct-chaos`; `args` are passed on (`--messages N`,
/// `--seed N`, `--rate R`, `--fault-every S`, `--postgres [URL]`, `--json PATH`). With
/// `--postgres` the PostgreSQL server is started first if it is local and down.
pub fn chaos(args: &[String]) -> Result<()> {
    if let Some(i) = args.iter().position(|a| a == "--postgres") {
        let url = match args.get(i + 1) {
            Some(url) if !url.starts_with("--") => url.clone(),
            _ => std::env::var("AQUEDUCT_TEST_POSTGRES")
                .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned()),
        };
        step("postgresql", || ensure_postgres(&url))?;
    }
    let venv = step("synapse venv", super::venvs::ensure_synapse_venv)?;
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
            "aqueduct-chaos",
        ]))
    })?;
    let release = target_dir().join("release");
    step("chaos", || {
        run(Command::new(release.join("aqueduct-chaos"))
            .arg("--bridge-bin")
            .arg(release.join("aqueduct-testnet-bridge"))
            .args(args)
            .env("AQUEDUCT_SYNAPSE_VENV", &venv))
    })
}
