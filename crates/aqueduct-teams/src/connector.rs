//! The Teams connector: signing users in with the device code flow and loading their logins.

use crate::api::{TeamsLogin, login_id};
use crate::config::TeamsConfig;
use crate::graph::User;
use crate::graph_client::Graph;
use crate::identity::{DevicePoll, Identity};
use crate::tokens::{TeamsSecret, Tokens, now_secs};
use aqueduct_core::connector::{
    BridgeHandle, Capabilities, ConnectorError, ConnectorResult, LoginFlow, LoginStep, NetworkApi,
    NetworkConnector, NewLogin,
};
use aqueduct_core::ids::{ConnectorId, RemoteUserId};
use aqueduct_core::records::Login;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// The connector, once per process.
pub struct TeamsConnector {
    config: TeamsConfig,
    http: reqwest::Client,
    identity: Identity,
    /// Loaded logins, for the notification endpoint (`web.rs`).
    logins: Arc<crate::web::Logins>,
}

impl TeamsConnector {
    /// A connector with `config`.
    pub fn new(config: TeamsConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("TLS backend available");
        let identity = Identity::new(http.clone(), config.clone());
        Self {
            config,
            http,
            identity,
            logins: Arc::default(),
        }
    }
}

/// Waits for the user to finish a device code sign-in, then reads who they are.
async fn finish_device_login(
    identity: Identity,
    http: reqwest::Client,
    graph_url: String,
    device_code: String,
    mut interval: Duration,
    expires_in: Duration,
) -> ConnectorResult<NewLogin> {
    let deadline = tokio::time::Instant::now() + expires_in;
    let tokens = loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() > deadline {
            return Err(ConnectorError::BadInput(
                "the sign-in code expired before it was used; send `login teams` again".into(),
            ));
        }
        match identity.poll_device_code(&device_code).await {
            Ok(DevicePoll::Done(tokens)) => break tokens,
            Ok(DevicePoll::Pending) => {}
            Ok(DevicePoll::SlowDown) => interval += Duration::from_secs(5),
            Ok(DevicePoll::Failed(why)) => return Err(ConnectorError::BadInput(why)),
            // A passing failure of the token endpoint costs one poll, not the sign-in.
            Err(ConnectorError::Temporary(e)) => {
                tracing::info!(error = %e, "a device code poll failed; polling on")
            }
            Err(e) => return Err(e),
        }
    };
    let secret = TeamsSecret::from_answer(tokens, now_secs(), None);
    let me: User = http
        .get(format!("{}/me", graph_url.trim_end_matches('/')))
        .bearer_auth(&secret.access_token)
        .send()
        .await
        .map_err(|e| ConnectorError::Temporary(format!("Graph /me: {e}")))?
        .error_for_status()
        .map_err(|e| ConnectorError::Refused(format!("Graph /me: {e}")))?
        .json()
        .await
        .map_err(|e| ConnectorError::Temporary(format!("Graph /me: {e}")))?;
    Ok(NewLogin {
        id: login_id(&me),
        remote_user: RemoteUserId::new(me.id.clone()),
        remote_name: me
            .user_principal_name
            .or(me.mail)
            .or(me.display_name)
            .unwrap_or(me.id),
        secret: serde_json::to_value(&secret)
            .map_err(|e| ConnectorError::Temporary(e.to_string()))?,
    })
}

#[async_trait]
impl NetworkConnector for TeamsConnector {
    fn id(&self) -> ConnectorId {
        ConnectorId::new("teams")
    }

    fn display_name(&self) -> &str {
        "Microsoft Teams"
    }

    fn external_url(&self) -> Option<String> {
        Some("https://teams.microsoft.com".into())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relay_identity: false,
            max_attachment_bytes: Some(self.config.max_file_bytes),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![LoginFlow {
            id: "device".into(),
            description: "sign in with your Microsoft work account: I show a code to enter on Microsoft's sign-in page".into(),
        }]
    }

    async fn start_login(
        &self,
        _matrix_user: &str,
        flow: &str,
        _args: &[String],
    ) -> ConnectorResult<LoginStep> {
        if !flow.is_empty() && flow != "device" {
            return Err(ConnectorError::BadInput(format!(
                "Teams has one way to log in: `login teams device` (not `{flow}`)"
            )));
        }
        let started = self.identity.start_device_code().await?;
        let minutes = started.expires_in.div_ceil(60);
        let instructions = format!(
            "To sign in to Microsoft Teams, open {} and enter the code {} . The code works for {minutes} minute(s); I will tell you here when you are signed in.",
            started.verification_uri, started.user_code
        );
        let completion = finish_device_login(
            self.identity.clone(),
            self.http.clone(),
            self.config.graph_url.clone(),
            started.device_code,
            Duration::from_secs(started.interval.clamp(1, 60)),
            Duration::from_secs(started.expires_in.min(3600)),
        );
        Ok(LoginStep::Pending {
            instructions,
            completion: Box::pin(completion),
        })
    }

    async fn load_login(
        &self,
        login: &Login,
        bridge: Arc<dyn BridgeHandle>,
    ) -> ConnectorResult<Arc<dyn NetworkApi>> {
        let secret: TeamsSecret = serde_json::from_value(login.secret.clone()).map_err(|e| {
            ConnectorError::BadCredentials(format!("the stored sign-in is unreadable: {e}"))
        })?;
        let tokens = Arc::new(Tokens::new(
            secret,
            self.identity.clone(),
            login.id.clone(),
            bridge.clone(),
        ));
        let graph = Graph::new(
            self.http.clone(),
            self.config.graph_base(),
            tokens,
            self.config.send_pace.into(),
        );
        let api = TeamsLogin::new(self.config.clone(), graph, login.clone(), bridge);
        self.logins.add(&api);
        Ok(api as Arc<dyn NetworkApi>)
    }

    fn web_handler(&self) -> Option<Arc<dyn aqueduct_core::web::WebHandler>> {
        self.config.notification_settings()?;
        Some(Arc::new(crate::web::Routes {
            logins: self.logins.clone(),
        }))
    }
}
