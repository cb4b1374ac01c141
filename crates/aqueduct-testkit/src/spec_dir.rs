//! Where the vendors' API descriptions live: `specs/<vendor>` inside this crate, copies kept
//! in the repository so a plain clone checks its fakes with nothing beside it
//! (`specs/README.md` names their sources and licences).

use std::path::PathBuf;

/// Finds the spec folder of `vendor`: `$<env_var>` if set, else this crate's own
/// `specs/<vendor>`, which must hold `marker`.
pub fn find_spec_dir(vendor: &str, marker: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var(env_var) {
        return Ok(PathBuf::from(dir));
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("specs")
        .join(vendor);
    anyhow::ensure!(
        dir.join(marker).is_file(),
        "{} has no {marker}: the repository's copy of the {vendor} spec is missing (set {env_var})",
        dir.display()
    );
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain clone has nothing beside it: every spec the fakes read must be the repository's.
    #[test]
    fn every_spec_the_fakes_read_is_inside_the_repository() {
        let own = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        for (vendor, marker) in [
            ("slack", "slack_web_openapi_v2.json"),
            ("rocketchat", "messaging.yaml"),
            ("graph", "cleanMetadata-v1.0.xml"),
        ] {
            let dir = find_spec_dir(vendor, marker, "AQUEDUCT_NO_SUCH_OVERRIDE").unwrap();
            assert!(
                dir.starts_with(&own),
                "{vendor} spec read from {}",
                dir.display()
            );
        }
    }
}
