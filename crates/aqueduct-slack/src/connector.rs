//! The Slack connector: logging in a workspace app and loading its logins.

use crate::api::SlackLogin;
use crate::app_logins::AppLogins;
use crate::config::SlackConfig;
use crate::events_http::EventsEndpoint;
use crate::web::SlackWeb;
use crate::web_routes::SlackRoutes;
use aqueduct_core::connector::{
    BridgeHandle, Capabilities, ConnectorError, ConnectorResult, LoginFlow, LoginStep, NetworkApi,
    NetworkConnector, NewLogin,
};
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::records::Login;
use async_trait::async_trait;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The connector, once per process.
pub struct SlackConnector {
    config: SlackConfig,
    http: reqwest::Client,
    /// Loaded app logins by team, for the Events API endpoint (HTTP delivery only).
    app_logins: Arc<AppLogins>,
    routes: Arc<SlackRoutes>,
}

impl SlackConnector {
    /// A connector with `config`.
    pub fn new(config: SlackConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("TLS backend available");
        let app_logins = Arc::new(AppLogins::default());
        let routes = Arc::new(SlackRoutes {
            events: config
                .events_api
                .as_ref()
                .map(|e| EventsEndpoint::new(e.signing_secret.clone(), app_logins.clone())),
        });
        Self {
            config,
            http,
            app_logins,
            routes,
        }
    }

    fn web(&self, token: &str) -> SlackWeb {
        SlackWeb::new(self.http.clone(), &self.config.api_url, token)
    }
}

#[async_trait]
impl NetworkConnector for SlackConnector {
    fn id(&self) -> ConnectorId {
        ConnectorId::new("slack")
    }

    fn display_name(&self) -> &str {
        "Slack"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relay_identity: true,
            max_attachment_bytes: Some(self.config.max_file_bytes),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![LoginFlow { id: "app".into(), description: "a workspace app: its bot token (xoxb-...) and app-level token (xapp-...) for Socket Mode".into() }]
    }

    async fn start_login(
        &self,
        _matrix_user: &str,
        _flow: &str,
        args: &[String],
    ) -> ConnectorResult<LoginStep> {
        let bot = args.iter().find(|a| a.starts_with("xoxb-"));
        let app = args.iter().find(|a| a.starts_with("xapp-"));
        // Over HTTP, Slack delivers to the bridge: the app-level token (Socket Mode's) is not
        // needed.
        let http_delivery = self.config.events_api.is_some();
        let (Some(bot), true) = (bot, app.is_some() || http_delivery) else {
            return Err(ConnectorError::BadInput(if http_delivery {
                "usage: login slack app <xoxb-bot-token>".into()
            } else {
                "usage: login slack app <xoxb-bot-token> <xapp-app-level-token>".into()
            }));
        };
        let me = self.web(bot).call("auth.test", &[]).await?;
        let team = me["team_id"].as_str().unwrap_or_default().to_owned();
        let bot_user = me["user_id"].as_str().unwrap_or_default().to_owned();
        Ok(LoginStep::Complete(NewLogin {
            id: LoginId::new(team.clone()),
            remote_user: RemoteUserId::new(format!("{team}-{bot_user}")),
            remote_name: format!("{} (app)", me["team"].as_str().unwrap_or(&team)),
            secret: json!({ "bot_token": bot, "app_token": app, "team_id": team, "bot_user": bot_user, "bot_id": me["bot_id"] }),
        }))
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
        let bot_token = field("bot_token")?;
        let http_events = self
            .config
            .events_api
            .as_ref()
            .map(|_| self.app_logins.clone());
        let app_token = match &http_events {
            Some(_) => s["app_token"].as_str().unwrap_or_default().to_owned(),
            None => field("app_token")?,
        };
        let api = Arc::new_cyclic(|me| SlackLogin {
            bot: self.web(&bot_token),
            app: self.web(&app_token),
            team: s["team_id"].as_str().unwrap_or_default().to_owned(),
            bot_user: s["bot_user"].as_str().unwrap_or_default().to_owned(),
            bot_id: s["bot_id"].as_str().map(str::to_owned),
            login: login.id.clone(),
            bridge,
            config: self.config.clone(),
            checkpoints: Mutex::new(crate::checkpoints::Checkpoints::from_state(&login.state)),
            task: Mutex::new(None),
            me: me.clone(),
            http_events,
        });
        Ok(api)
    }

    fn web_handler(&self) -> Option<Arc<dyn aqueduct_core::web::WebHandler>> {
        (!self.routes.is_empty())
            .then(|| self.routes.clone() as Arc<dyn aqueduct_core::web::WebHandler>)
    }
}
