//! The Rocket.Chat connector: logging in an account (personal access token, or username and
//! password exchanged for a resume token) and loading its logins.

use crate::api::RocketLogin;
use crate::checkpoints::Checkpoints;
use crate::config::RocketChatConfig;
use crate::rest::Rest;
use crate::seen::Seen;
use crate::uploads::Uploads;
use aqueduct_core::connector::{
    BridgeHandle, Capabilities, ConnectorError, ConnectorResult, LoginFlow, LoginStep, NetworkApi,
    NetworkConnector, NewLogin,
};
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::records::Login;
use async_trait::async_trait;
use serde_json::json;
use std::sync::Arc;
use std::sync::Mutex;

/// The connector, once per process.
pub struct RocketChatConnector {
    config: RocketChatConfig,
    http: reqwest::Client,
}

impl RocketChatConnector {
    /// A connector with `config`.
    pub fn new(config: RocketChatConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("TLS backend available");
        Self { config, http }
    }

    fn rest(&self, user_id: &str, token: &str) -> Rest {
        Rest::new(self.http.clone(), self.config.base(), user_id, token)
    }

    /// Checks the credentials with `me` and builds the login to store.
    async fn complete(&self, user_id: &str, token: &str) -> ConnectorResult<NewLogin> {
        let me = self.rest(user_id, token).get("me", &[]).await?;
        let username = me["username"].as_str().unwrap_or(user_id).to_owned();
        Ok(NewLogin {
            id: LoginId::new(user_id),
            remote_user: RemoteUserId::new(user_id),
            remote_name: me["name"].as_str().unwrap_or(&username).to_owned(),
            secret: json!({ "user_id": user_id, "token": token, "username": username }),
        })
    }

    /// Exchanges a username and password for a resume token (`login`); the password is not
    /// kept.
    async fn password_login(&self, user: &str, password: &str) -> ConnectorResult<NewLogin> {
        let response = self
            .http
            .post(format!("{}/api/v1/login", self.config.base()))
            .json(&json!({ "user": user, "password": password }))
            .send()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("login: {e}")))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if status.as_u16() == 401 || answer["status"] == "error" {
            return Err(ConnectorError::BadCredentials(
                answer["message"]
                    .as_str()
                    .or(answer["error"].as_str())
                    .unwrap_or("wrong username or password")
                    .to_owned(),
            ));
        }
        let (Some(uid), Some(token)) = (
            answer["data"]["userId"].as_str(),
            answer["data"]["authToken"].as_str(),
        ) else {
            return Err(ConnectorError::Temporary(format!(
                "Rocket.Chat login answered without a token (HTTP {status})"
            )));
        };
        self.complete(uid, token).await
    }
}

#[async_trait]
impl NetworkConnector for RocketChatConnector {
    fn id(&self) -> ConnectorId {
        ConnectorId::new("rocketchat")
    }

    fn display_name(&self) -> &str {
        "Rocket.Chat"
    }

    fn external_url(&self) -> Option<String> {
        Some("https://rocket.chat".into())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relay_identity: true,
            max_attachment_bytes: Some(self.config.max_file_bytes),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow {
                id: "token".into(),
                description:
                    "your user id and a personal access token (Account > Personal Access Tokens)"
                        .into(),
            },
            LoginFlow {
                id: "password".into(),
                description: "your username and password; the bridge keeps only the session token"
                    .into(),
            },
        ]
    }

    async fn start_login(
        &self,
        _matrix_user: &str,
        flow: &str,
        args: &[String],
    ) -> ConnectorResult<LoginStep> {
        match (flow, args) {
            ("token", [user_id, token]) => {
                Ok(LoginStep::Complete(self.complete(user_id, token).await?))
            }
            ("token", _) => Err(ConnectorError::BadInput(
                "usage: login rocketchat token <user id> <personal access token>".into(),
            )),
            // The password is the rest of the line: it may contain spaces.
            ("password", [user, password @ ..]) if !password.is_empty() => Ok(LoginStep::Complete(
                self.password_login(user, &password.join(" ")).await?,
            )),
            ("password", _) => Err(ConnectorError::BadInput(
                "usage: login rocketchat password <username> <password>".into(),
            )),
            _ => Err(ConnectorError::BadInput(format!(
                "no login flow {flow}; use `token` or `password`"
            ))),
        }
    }

    async fn load_login(
        &self,
        login: &Login,
        bridge: Arc<dyn BridgeHandle>,
    ) -> ConnectorResult<Arc<dyn NetworkApi>> {
        let s = &login.secret;
        let field = |k: &str| {
            s[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| ConnectorError::BadCredentials(format!("stored login has no {k}")))
        };
        let (user_id, token) = (field("user_id")?, field("token")?);
        let api = Arc::new_cyclic(|me| RocketLogin {
            rest: self.rest(&user_id, &token),
            username: s["username"].as_str().unwrap_or(&user_id).to_owned(),
            login: login.id.clone(),
            bridge,
            config: self.config.clone(),
            checkpoints: Mutex::new(Checkpoints::from_state(&login.state)),
            seen: Mutex::new(Seen::from_state(&login.state)),
            uploads: Mutex::new(Uploads::from_state(
                &login.state,
                crate::iso_time::now_millis(),
            )),
            rooms: Mutex::default(),
            room_names: Mutex::default(),
            user_ids: Mutex::default(),
            task: Mutex::new(None),
            inbound: Mutex::default(),
            without_media: Default::default(),
            lost_at: Mutex::new(None),
            realtime_ready: tokio::sync::watch::channel(false).0,
            live: Default::default(),
            losses: Default::default(),
            outgoing: Mutex::new(None),
            me: me.clone(),
        });
        Ok(api)
    }
}
