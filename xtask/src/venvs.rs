//! The Python virtualenvs the tests need: Synapse, and the matrix-nio test client. Each is
//! installed once under `~/.cache/aqueduct/` (or where its environment variable says), in the
//! same place and with the same marker file the testkit uses, so the testkit skips its own check.

use crate::{repo_root, run, succeeds, write};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// One virtualenv: where it lives, what it holds, and how to tell it works.
struct Venv {
    /// Environment variable that overrides the directory.
    dir_var: &'static str,
    /// Directory name under `$HOME/.cache/aqueduct/`.
    default_name: &'static str,
    /// Marker file written after an install; it holds the pip spec installed.
    marker: &'static str,
    /// Python code that succeeds only if the install works.
    import_check: &'static str,
    /// Whether a venv installed from another spec must be replaced (a pinned version).
    pinned: bool,
}

const SYNAPSE: Venv = Venv {
    dir_var: "AQUEDUCT_SYNAPSE_VENV",
    default_name: "synapse-venv",
    marker: ".aqueduct-synapse-installed",
    import_check: "import synapse.app.homeserver",
    pinned: false,
};

const NIO: Venv = Venv {
    dir_var: "AQUEDUCT_NIO_VENV",
    default_name: "nio-venv",
    marker: ".aqueduct-nio-installed",
    // nio must import with working end-to-end encryption (vodozemac, no libolm).
    import_check: "import nio, vodozemac\nfrom nio.crypto import ENCRYPTION_ENABLED\nassert ENCRYPTION_ENABLED",
    pinned: true,
};

/// The pinned `matrix-nio[e2e]` the testkit's nio client runs on (one line).
const NIO_PIP_SPEC_FILE: &str = "crates/aqueduct-testkit/clients/nio-pip-spec.txt";

/// Makes sure a virtualenv with an importable Synapse exists and returns its directory.
pub(crate) fn ensure_synapse_venv() -> Result<PathBuf> {
    let spec =
        std::env::var("AQUEDUCT_SYNAPSE_PIP_SPEC").unwrap_or_else(|_| "matrix-synapse".to_owned());
    ensure(&SYNAPSE, &spec)
}

/// Makes sure a virtualenv with the pinned matrix-nio (e2e extra) exists and returns its
/// directory; a venv installed from another pin is replaced.
pub(crate) fn ensure_nio_venv() -> Result<PathBuf> {
    let spec_file = repo_root().join(NIO_PIP_SPEC_FILE);
    let spec = std::fs::read_to_string(&spec_file)
        .with_context(|| format!("reading {}", spec_file.display()))?
        .trim()
        .to_owned();
    ensure(&NIO, &spec)
}

/// `$<dir_var>`, else `$HOME/.cache/aqueduct/<default_name>` (the testkit's choice).
fn venv_dir(venv: &Venv) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(venv.dir_var).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set")?;
    Ok(PathBuf::from(home)
        .join(".cache/aqueduct")
        .join(venv.default_name))
}

/// Installs `spec` into the venv unless a working install is there already.
fn ensure(venv: &Venv, spec: &str) -> Result<PathBuf> {
    let dir = venv_dir(venv)?;
    let python = dir.join("bin/python");
    let marker = dir.join(venv.marker);
    let current = !venv.pinned || std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == spec);
    let works = || succeeds(Command::new(&python).args(["-c", venv.import_check]));
    if current && works() {
        println!("{spec} is installed in {}", dir.display());
        return Ok(dir);
    }
    if dir.exists() {
        println!("{} is not a working {spec}; reinstalling", dir.display());
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let base_python = std::env::var("AQUEDUCT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    println!("installing {spec} into {} (one-off)", dir.display());
    run(Command::new(&base_python).args(["-m", "venv"]).arg(&dir))?;
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        spec,
    ]))?;
    if !works() {
        bail!(
            "{spec} was installed into {} but does not import",
            dir.display()
        );
    }
    write(&marker, &format!("{spec}\n"))?;
    Ok(dir)
}
