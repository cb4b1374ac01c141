//! The `metrics:` config section: where Prometheus metrics are served.
//!
//! Metrics live on a listener of their own, never on the appservice listener, because the
//! appservice listener carries routes that must face the internet (OAuth callbacks, Slack's
//! Events API, Teams' change notifications) while metrics name logins and rooms' traffic.

use serde::Deserialize;

/// Where `/metrics` is served.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of the metrics listener, which serves `/metrics` and the health endpoints
    /// (`/health/live`, `/health/ready`, `/health`). Unset (the default, also for configs
    /// written before this field existed): no metrics listener, and `/metrics` is served
    /// nowhere; the health endpoints stay on the appservice listener either way.
    #[serde(default)]
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// Why the section cannot be used, given the appservice listener's address.
    pub(crate) fn problem(&self, appservice_listen: &str) -> Option<String> {
        let listen = self.listen.as_deref()?;
        let Ok(addr) = listen.parse::<std::net::SocketAddr>() else {
            return Some(format!("metrics.listen {listen:?} is not host:port"));
        };
        let same_port = appservice_listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| {
                a.port() == addr.port()
                    && (a.ip() == addr.ip()
                        || a.ip().is_unspecified()
                        || addr.ip().is_unspecified())
            });
        if same_port {
            return Some(format!(
                "metrics.listen {listen:?} must be another address than appservice.listen {appservice_listen:?}: metrics get a listener of their own"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(listen: &str) -> MetricsConfig {
        MetricsConfig {
            listen: Some(listen.into()),
        }
    }

    #[test]
    fn unset_is_fine() {
        assert_eq!(MetricsConfig::default().problem("127.0.0.1:29330"), None);
    }

    #[test]
    fn another_port_is_fine() {
        assert_eq!(section("127.0.0.1:9330").problem("0.0.0.0:29330"), None);
    }

    #[test]
    fn the_appservice_address_is_refused() {
        for clash in ["127.0.0.1:29330", "0.0.0.0:29330"] {
            let problem = section(clash).problem("127.0.0.1:29330").unwrap();
            assert!(problem.contains("appservice.listen"), "{problem}");
        }
    }

    #[test]
    fn a_malformed_address_is_refused() {
        let problem = section("localhost").problem("127.0.0.1:29330").unwrap();
        assert!(problem.contains("host:port"), "{problem}");
    }
}
