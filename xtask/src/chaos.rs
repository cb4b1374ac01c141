//! `cargo xtask chaos`: the chaos suite at full size (10,000 messages per lane unless told
//! otherwise), on release builds of the test bridge and the suite's runner.

use super::{cargo, run, step, target_dir};
use anyhow::Result;
use std::process::Command;

/// Builds (release) and runs `aqueduct-chaos`; `args` are passed on (`--messages N`,
/// `--seed N`, `--rate R`, `--fault-every S`, `--json PATH`).
pub fn chaos(args: &[String]) -> Result<()> {
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
