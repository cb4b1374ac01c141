//! The Slack connector: logging in a workspace app or a user's own account, and loading
//! their logins.

use crate::api::SlackLogin;
use crate::app_logins::AppLogins;
use crate::config::SlackConfig;
use crate::events_http::EventsEndpoint;
use crate::oauth::OAuth;
use crate::puppet::{self, SlackPuppet};
use crate::puppets::Puppets;
use crate::web::SlackWeb;
use crate::web_routes::SlackRoutes;
use aqueduct_core::connector::{
    BridgeHandle, Capabilities, ConnectorError, ConnectorResult, LoginFlow, LoginStep, NetworkApi,
    NetworkConnector, NewLogin,
};
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteUserId};
use aqueduct_core::records::Login;
use aqueduct_core::web::WebHandler;
use async_trait::async_trait;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The connector, once per process.
pub struct SlackConnector {
    config: SlackConfig,
    http: reqwest::Client,
    /// Personal logins by Slack user, shared by all logins.
    puppets: Puppets,
    /// Loaded app logins by team, for the Events API endpoint (HTTP delivery only).
    app_logins: Arc<AppLogins>,
    /// The HTTP endpoints (OAuth redirect, Events API deliveries).
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
            oauth: Arc::new(OAuth::new(http.clone(), config.clone())),
        });
        Self {
            config,
            http,
            puppets: Puppets::default(),
            app_logins,
            routes,
        }
    }

    fn web(&self, token: &str) -> SlackWeb {
        SlackWeb::new(self.http.clone(), &self.config.api_url, token)
            .with_send_pace(self.config.send_pace)
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

    fn external_url(&self) -> Option<String> {
        Some("https://slack.com".into())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relay_identity: true,
            max_attachment_bytes: Some(self.config.max_file_bytes),
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow { id: "app".into(), description: "a workspace app: its bot token (xoxb-...) and app-level token (xapp-...) for Socket Mode".into() },
            LoginFlow { id: "token".into(), description: "yourself, with your user token (xoxp-...): your messages appear on Slack as you".into() },
            LoginFlow { id: "oauth".into(), description: "yourself, through a Slack sign-in link: your messages appear on Slack as you".into() },
        ]
    }

    async fn start_login(
        &self,
        matrix_user: &str,
        flow: &str,
        args: &[String],
    ) -> ConnectorResult<LoginStep> {
        match flow {
            "token" => {
                let Some(token) = args.iter().find(|a| a.starts_with("xoxp-")) else {
                    return Err(ConnectorError::BadInput(
                        "usage: login slack token <xoxp-user-token>".into(),
                    ));
                };
                return Ok(LoginStep::Complete(
                    puppet::new_login(&self.web(token), token).await?,
                ));
            }
            "oauth" => return self.routes.oauth.start(matrix_user),
            _ => {}
        }
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
        if let Some(token) = s["user_token"].as_str() {
            return Ok(Arc::new(SlackPuppet {
                web: self.web(token),
                team: s["team_id"].as_str().unwrap_or_default().to_owned(),
                user: s["user_id"].as_str().unwrap_or_default().to_owned(),
                login: login.id.clone(),
                bridge,
                config: self.config.clone(),
                puppets: self.puppets.clone(),
                workspace: crate::workspace::Workspace::new(
                    s["team_id"].as_str().unwrap_or_default(),
                ),
            }));
        }
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
            puppets: self.puppets.clone(),
            me: me.clone(),
            http_events,
            emoji: Default::default(),
            socket_deliveries: Arc::new(crate::seen_events::SeenEvents::new(
                crate::seen_events::REMEMBERED_EVENTS,
            )),
            mention_names: Default::default(),
            backlog: crate::backlog::Backlog::new(self.config.realtime_backlog),
            workspace: crate::workspace::Workspace::new(s["team_id"].as_str().unwrap_or_default()),
        });
        Ok(api)
    }

    fn web_handler(&self) -> Option<Arc<dyn WebHandler>> {
        Some(self.routes.clone())
    }
}
