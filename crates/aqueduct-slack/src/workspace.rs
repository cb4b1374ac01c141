//! The workspace a login belongs to, for the rooms' bridge info (MSC2346 `network`): the
//! team id from the login, its name from `auth.test`, asked once per loaded login.

use crate::web::SlackWeb;
use aqueduct_core::connector::{ConnectorError, NetworkInfo};

/// A login's workspace, its name learnt on first need.
pub(crate) struct Workspace {
    team: String,
    name: tokio::sync::OnceCell<String>,
}

impl Workspace {
    /// The workspace of team `team` (empty when the stored login did not say).
    pub(crate) fn new(team: &str) -> Self {
        Self {
            team: team.to_owned(),
            name: tokio::sync::OnceCell::new(),
        }
    }

    /// The team's id and name, asking Slack through `web` the first time; `None` when the
    /// team is unknown or Slack does not answer now (asked again next time).
    pub(crate) async fn info(&self, web: &SlackWeb) -> Option<NetworkInfo> {
        if self.team.is_empty() {
            return None;
        }
        let name = self
            .name
            .get_or_try_init(|| async {
                let me = web.call("auth.test", &[]).await?;
                Ok::<_, ConnectorError>(me["team"].as_str().unwrap_or(&self.team).to_owned())
            })
            .await;
        match name {
            Ok(name) => Some(NetworkInfo {
                id: self.team.clone(),
                display_name: name.clone(),
            }),
            Err(e) => {
                tracing::debug!(error = %e, "cannot learn the workspace's name now");
                None
            }
        }
    }
}
