//! Installing Synapse (and Synapse modules) from PyPI into a cached virtualenv, safely when
//! several test processes do it at once.

use super::{INSTALLED_MARKER, random_string, write, write_atomic};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// The Synapse virtualenv directory: `$AQUEDUCT_SYNAPSE_VENV`, else
/// `$HOME/.cache/aqueduct/synapse-venv`.
pub fn synapse_venv_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("AQUEDUCT_SYNAPSE_VENV").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/aqueduct/synapse-venv"))
}

/// Makes sure a virtualenv with Synapse exists and returns its directory.
///
/// The install goes into `DIR.tmp-<pid>-<random>` and is renamed into place
/// once pip succeeded (with a marker file inside), so parallel test processes
/// never see a half-installed venv; losers of the rename race discard theirs.
/// Within one process the result is cached.
pub async fn ensure_synapse_installed() -> anyhow::Result<PathBuf> {
    static INSTALLED: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            let dir = synapse_venv_dir()?;
            tokio::task::spawn_blocking(move || install_blocking(&dir).map(|()| dir))
                .await
                .context("Synapse install task panicked")?
        })
        .await
        .cloned()
}

fn install_blocking(dir: &Path) -> anyhow::Result<()> {
    let marker = dir.join(INSTALLED_MARKER);
    if marker.exists() {
        return Ok(());
    }
    // Adopt a venv installed by hand (no marker) if Synapse imports from it.
    let python = dir.join("bin").join("python");
    if python.exists() && imports_synapse(&python) {
        write_atomic(&marker, "adopted\n")?;
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
        random_string(6)
    ));
    let result = install_into(&tmp, dir);
    if result.is_err() || tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn install_into(tmp: &Path, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let base_python = std::env::var("AQUEDUCT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let spec =
        std::env::var("AQUEDUCT_SYNAPSE_PIP_SPEC").unwrap_or_else(|_| "matrix-synapse".to_owned());
    eprintln!(
        "aqueduct-testkit: installing {spec} into {} (one-off, ~30 s)",
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
            &spec,
        ]),
        "pip install matrix-synapse",
    )?;
    if !imports_synapse(&python) {
        bail!(
            "Synapse was installed into {} but does not import",
            tmp.display()
        );
    }
    write(&tmp.join(INSTALLED_MARKER), format!("{spec}\n"))?;

    // A broken venv (no marker) is in the way: move it aside first.
    if dir.exists() && !dir.join(INSTALLED_MARKER).exists() {
        let stale = tmp.with_extension("stale");
        if std::fs::rename(dir, &stale).is_ok() {
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    match std::fs::rename(tmp, dir) {
        Ok(()) => {
            eprintln!(
                "aqueduct-testkit: Synapse installed in {:?}",
                started.elapsed()
            );
            Ok(())
        }
        // Another process won the race.
        Err(_) if dir.join(INSTALLED_MARKER).exists() => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))
        }
    }
}

fn imports_synapse(python: &Path) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import synapse.app.homeserver"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut std::process::Command, what: &str) -> anyhow::Result<()> {
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

/// Installs an extra Python package (a Synapse module) into the Synapse venv unless it already
/// imports. Tests that need a module call this before starting Synapse.
pub async fn ensure_python_package(import: &str, pip_spec: &str) -> anyhow::Result<()> {
    let venv = ensure_synapse_installed().await?;
    let python = venv.join("bin").join("python");
    let (import, pip_spec) = (import.to_owned(), pip_spec.to_owned());
    tokio::task::spawn_blocking(move || {
        let imports = || {
            std::process::Command::new(&python)
                .args(["-c", &format!("import {import}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if imports() {
            return Ok(());
        }
        run(
            std::process::Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &pip_spec,
            ]),
            "pip install (Synapse module)",
        )?;
        if !imports() {
            bail!("{pip_spec} was installed but `import {import}` fails");
        }
        Ok(())
    })
    .await
    .context("module install task panicked")?
}
