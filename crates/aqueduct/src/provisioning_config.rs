//! The `provisioning:` config section: the HTTP provisioning API (`/_matrix/provision/v3`)
//! that lets an integration manager or web page act for a Matrix user, as mautrix bridges'
//! does.

use serde::Deserialize;

/// The provisioning API's settings.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// The secret a caller sends as `Authorization: Bearer <secret>`, naming the user it acts
    /// for with `?user_id=`. Unset or empty (the default): the API is off and its paths
    /// answer 404. `AQUEDUCT_PROVISIONING_SECRET` overrides it.
    #[serde(default)]
    pub shared_secret: Option<String>,
}

/// Says whether the secret is set, not what it is.
impl std::fmt::Debug for ProvisioningConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningConfig")
            .field(
                "shared_secret",
                &self.shared_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ProvisioningConfig {
    /// The secret, when the API is on.
    pub fn secret(&self) -> Option<&str> {
        self.shared_secret.as_deref().filter(|s| !s.is_empty())
    }

    /// Why the section cannot be used.
    pub(crate) fn problem(&self) -> Option<String> {
        match self.secret() {
            Some(s) if s.len() < 16 => Some(
                "provisioning.shared_secret must be at least 16 characters (or unset to turn the API off)"
                    .into(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_secret_out() {
        let config = ProvisioningConfig {
            shared_secret: Some("provisioning-not-for-logs".into()),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("not-for-logs"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn unset_or_empty_turns_the_api_off() {
        assert_eq!(ProvisioningConfig::default().secret(), None);
        let empty = ProvisioningConfig {
            shared_secret: Some(String::new()),
        };
        assert_eq!(empty.secret(), None);
        assert_eq!(empty.problem(), None);
    }

    #[test]
    fn a_short_secret_is_refused() {
        let short = ProvisioningConfig {
            shared_secret: Some("abc".into()),
        };
        assert!(short.problem().unwrap().contains("16"));
        let fine = ProvisioningConfig {
            shared_secret: Some("0123456789abcdef".into()),
        };
        assert_eq!(fine.problem(), None);
        assert_eq!(fine.secret(), Some("0123456789abcdef"));
    }
}
