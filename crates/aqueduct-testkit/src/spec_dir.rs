//! Where the vendors' API descriptions live: `shared/specs/<vendor>` beside (or above) the
//! checkout, as the project's layout puts them.

use std::path::PathBuf;

/// Finds `shared/specs/<vendor>`: `$<env_var>` if set, else walking up from this crate's
/// directory until a `shared/specs/<vendor>` holding `marker` exists there or in the parent
/// directory.
pub fn find_spec_dir(vendor: &str, marker: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var(env_var) {
        return Ok(PathBuf::from(dir));
    }
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        for cand in [
            d.join("shared/specs").join(vendor),
            d.join("../shared/specs").join(vendor),
        ] {
            if cand.join(marker).is_file() {
                return Ok(cand);
            }
        }
        dir = d.parent();
    }
    anyhow::bail!(
        "shared/specs/{vendor} not found walking up from {} (set {env_var})",
        start.display()
    )
}
