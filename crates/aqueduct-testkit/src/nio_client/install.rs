//! The nio test client's own virtualenv: matrix-nio with its e2e extra (which brings the
//! vodozemac wheel; no libolm needed), pinned in `clients/nio-pip-spec.txt`.

use crate::venv::{VenvSpec, ensure_venv_blocking, venv_dir};
use anyhow::Context as _;
use std::path::PathBuf;

/// Marker written into the virtualenv once `pip install` has succeeded; it holds the spec.
const INSTALLED_MARKER: &str = ".aqueduct-nio-installed";

/// Python that succeeds only if nio imports with working end-to-end encryption.
const IMPORT_CHECK: &str =
    "import nio, vodozemac\nfrom nio.crypto import ENCRYPTION_ENABLED\nassert ENCRYPTION_ENABLED";

/// What `pip install` gets: the pinned `matrix-nio[e2e]` version (`cargo xtask test` reads
/// the same file).
pub fn nio_pip_spec() -> &'static str {
    include_str!("../../clients/nio-pip-spec.txt").trim()
}

/// The nio virtualenv directory: `$AQUEDUCT_NIO_VENV`, else `$HOME/.cache/aqueduct/nio-venv`.
pub fn nio_venv_dir() -> anyhow::Result<PathBuf> {
    venv_dir("AQUEDUCT_NIO_VENV", "nio-venv")
}

/// Makes sure the nio virtualenv exists with the pinned version and returns its directory.
/// Within one process the result is cached.
pub async fn ensure_nio_installed() -> anyhow::Result<PathBuf> {
    static INSTALLED: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            let dir = nio_venv_dir()?;
            tokio::task::spawn_blocking(move || {
                ensure_venv_blocking(&VenvSpec {
                    what: "matrix-nio",
                    dir: &dir,
                    pip_spec: nio_pip_spec(),
                    import_check: IMPORT_CHECK,
                    marker: INSTALLED_MARKER,
                    marker_must_match: true,
                })
                .map(|()| dir)
            })
            .await
            .context("nio install task panicked")?
        })
        .await
        .cloned()
}
