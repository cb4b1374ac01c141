//! Installing Synapse (and Synapse modules) from PyPI into a cached virtualenv, safely when
//! several test processes do it at once.

use super::INSTALLED_MARKER;
use crate::venv::{VenvSpec, ensure_venv_blocking, run, venv_dir};
use anyhow::{Context as _, bail};
use std::path::PathBuf;
use std::process::Stdio;

/// The Synapse virtualenv directory: `$AQUEDUCT_SYNAPSE_VENV`, else
/// `$HOME/.cache/aqueduct/synapse-venv`.
pub fn synapse_venv_dir() -> anyhow::Result<PathBuf> {
    venv_dir("AQUEDUCT_SYNAPSE_VENV", "synapse-venv")
}

/// Makes sure a virtualenv with Synapse exists and returns its directory.
///
/// Parallel test processes install safely (see [`crate::venv`]); within one process the
/// result is cached.
pub async fn ensure_synapse_installed() -> anyhow::Result<PathBuf> {
    static INSTALLED: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            let dir = synapse_venv_dir()?;
            tokio::task::spawn_blocking(move || {
                let pip_spec = std::env::var("AQUEDUCT_SYNAPSE_PIP_SPEC")
                    .unwrap_or_else(|_| "matrix-synapse".to_owned());
                ensure_venv_blocking(&VenvSpec {
                    what: "Synapse",
                    dir: &dir,
                    pip_spec: &pip_spec,
                    import_check: "import synapse.app.homeserver",
                    marker: INSTALLED_MARKER,
                    marker_must_match: false,
                })
                .map(|()| dir)
            })
            .await
            .context("Synapse install task panicked")?
        })
        .await
        .cloned()
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
