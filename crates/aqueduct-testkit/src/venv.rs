//! Cached Python virtualenvs installed from PyPI, safely when several test processes install
//! at once. Synapse and the nio test client each have their own.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// What a virtualenv must contain.
pub(crate) struct VenvSpec<'a> {
    /// Shown in progress and error messages ("Synapse", "matrix-nio").
    pub what: &'a str,
    /// Where the virtualenv lives.
    pub dir: &'a Path,
    /// What to `pip install`.
    pub pip_spec: &'a str,
    /// Python code that exits successfully only if the install is usable.
    pub import_check: &'a str,
    /// Marker file written inside once pip succeeded; it holds `pip_spec`.
    pub marker: &'a str,
    /// Whether a venv whose marker names another `pip_spec` is reinstalled (for pinned
    /// versions, so bumping the pin takes effect on machines that have the old one).
    pub marker_must_match: bool,
}

impl VenvSpec<'_> {
    fn is_current(&self, dir: &Path) -> bool {
        match std::fs::read_to_string(dir.join(self.marker)) {
            Ok(content) => !self.marker_must_match || content.trim() == self.pip_spec,
            Err(_) => false,
        }
    }
}

/// `$<env_var>`, else `$HOME/.cache/aqueduct/<name>`.
pub(crate) fn venv_dir(env_var: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(env_var).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/aqueduct").join(name))
}

/// Makes sure the virtualenv exists and is current (blocking).
///
/// The install goes into `DIR.tmp-<pid>-<random>` and is renamed into place once pip
/// succeeded (with the marker inside), so parallel test processes never see a half-installed
/// venv; losers of the rename race discard theirs.
pub(crate) fn ensure_venv_blocking(spec: &VenvSpec<'_>) -> anyhow::Result<()> {
    let dir = spec.dir;
    if spec.is_current(dir) {
        return Ok(());
    }
    // Adopt a venv installed by hand (no marker) if the check passes in it.
    let python = dir.join("bin").join("python");
    if !dir.join(spec.marker).exists() && python.exists() && passes_check(&python, spec) {
        write_atomic(&dir.join(spec.marker), &format!("{}\n", spec.pip_spec))?;
        return Ok(());
    }

    let parent = dir.parent().context("venv dir has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let file_name = dir
        .file_name()
        .context("venv dir has no name")?
        .to_string_lossy();
    let tmp = parent.join(format!(
        "{file_name}.tmp-{}-{}",
        std::process::id(),
        crate::synapse::random_string(6)
    ));
    let result = install_into(spec, &tmp);
    if result.is_err() || tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn install_into(spec: &VenvSpec<'_>, tmp: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = spec.dir;
    let base_python = std::env::var("AQUEDUCT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    eprintln!(
        "aqueduct-testkit: installing {} into {} (one-off, ~30 s)",
        spec.pip_spec,
        dir.display()
    );
    run(
        std::process::Command::new(&base_python)
            .args(["-m", "venv"])
            .arg(tmp),
        "python3 -m venv",
    )?;
    let python = tmp.join("bin").join("python");
    run(
        std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            spec.pip_spec,
        ]),
        &format!("pip install {}", spec.pip_spec),
    )?;
    if !passes_check(&python, spec) {
        bail!(
            "{} was installed into {} but does not import",
            spec.what,
            tmp.display()
        );
    }
    write(&tmp.join(spec.marker), format!("{}\n", spec.pip_spec))?;

    // A broken or outdated venv is in the way: move it aside first.
    if dir.exists() && !spec.is_current(dir) {
        let stale = tmp.with_extension("stale");
        if std::fs::rename(dir, &stale).is_ok() {
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    match std::fs::rename(tmp, dir) {
        Ok(()) => {
            eprintln!(
                "aqueduct-testkit: {} installed in {:?}",
                spec.what,
                started.elapsed()
            );
            Ok(())
        }
        // Another process won the race.
        Err(_) if spec.is_current(dir) => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))
        }
    }
}

fn passes_check(python: &Path, spec: &VenvSpec<'_>) -> bool {
    std::process::Command::new(python)
        .args(["-c", spec.import_check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command to completion, failing with its output unless it succeeds.
pub(crate) fn run(cmd: &mut std::process::Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    write(&tmp, contents)?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", tmp.display()))
}
