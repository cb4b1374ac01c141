//! `login slack oauth`: Slack's OAuth v2 flow for a personal login. The bot answers with an
//! authorize link carrying a random single-use `state` bound to the Matrix user; Slack sends
//! the browser back to `<public_url>/_aqueduct/slack/oauth` with `code` and `state` (or
//! `error=access_denied`); the bridge exchanges the code with `oauth.v2.access` for the user
//! token (`authed_user.access_token`) and finishes the pending login. The browser gets a short
//! page, the Matrix user a notice with the outcome.

use crate::config::{OAuthConfig, SlackConfig};
use crate::web::SlackWeb;
use aqueduct_core::connector::{ConnectorError, ConnectorResult, LoginStep, NewLogin};
use aqueduct_core::text::escape_html;
use aqueduct_core::web::{WEB_PREFIX, WebRequest, WebResponse};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long an authorize link stays valid.
pub(crate) const LINK_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The path below the connector's prefix where Slack sends the browser back.
pub(crate) const REDIRECT_PATH: &str = "/oauth";

/// User scopes a personal login asks for: post, edit, delete and react as the user, read the
/// conversations it bridges and mark them read, change names, topics and members.
const USER_SCOPES: &str = "chat:write,reactions:write,files:write,users:read,\
channels:read,groups:read,im:read,mpim:read,\
channels:history,groups:history,im:history,mpim:history,\
channels:write,groups:write,im:write,mpim:write";

/// A login link handed out and not used yet.
struct Pending {
    matrix_user: String,
    expires: Instant,
    done: oneshot::Sender<ConnectorResult<NewLogin>>,
}

/// The OAuth flows in progress, and how to finish them.
pub(crate) struct OAuth {
    http: reqwest::Client,
    config: SlackConfig,
    pending: Mutex<HashMap<String, Pending>>,
}

/// The authorize page that goes with a Web API base URL: Slack serves the API under
/// `https://slack.com/api` and the page at `https://slack.com/oauth/v2/authorize`, so a
/// trailing `/api` is replaced (`http://host/api` gives `http://host/oauth/v2/authorize`).
fn authorize_url(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    let base = base.strip_suffix("/api").unwrap_or(base);
    format!("{base}/oauth/v2/authorize")
}

fn page(status: u16, title: &str, text: &str) -> WebResponse {
    WebResponse::html(
        status,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body><h1>{t}</h1><p>{}</p></body></html>",
            escape_html(text),
            t = escape_html(title),
        ),
    )
}

impl OAuth {
    /// Flows for the connector configured by `config`.
    pub(crate) fn new(http: reqwest::Client, config: SlackConfig) -> Self {
        Self {
            http,
            config,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn settings(&self) -> ConnectorResult<&OAuthConfig> {
        self.config.oauth.as_ref().ok_or_else(|| {
            ConnectorError::BadInput(
                "this bridge has no Slack OAuth settings (platforms.slack.oauth); log in with `login slack token <xoxp-...>` instead".into(),
            )
        })
    }

    fn redirect_uri(settings: &OAuthConfig) -> String {
        format!(
            "{}{WEB_PREFIX}/slack{REDIRECT_PATH}",
            settings.public_url.trim_end_matches('/')
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands out an authorize link for `matrix_user`; the login completes when Slack sends
    /// the browser back, and fails when the link expires unused.
    pub(crate) fn start(self: &Arc<Self>, matrix_user: &str) -> ConnectorResult<LoginStep> {
        let settings = self.settings()?;
        let state = format!("{:032x}", rand::random::<u128>());
        let mut link = url::Url::parse(&authorize_url(&self.config.api_url))
            .map_err(|e| ConnectorError::BadInput(format!("platforms.slack.api_url: {e}")))?;
        link.query_pairs_mut()
            .append_pair("client_id", &settings.client_id)
            .append_pair("user_scope", USER_SCOPES)
            .append_pair("redirect_uri", &Self::redirect_uri(settings))
            .append_pair("state", &state);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            state.clone(),
            Pending {
                matrix_user: matrix_user.to_owned(),
                expires: Instant::now() + LINK_LIFETIME,
                done: tx,
            },
        );
        let me = self.clone();
        let completion = Box::pin(async move {
            match tokio::time::timeout(LINK_LIFETIME, rx).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(ConnectorError::Temporary(
                    "the bridge stopped before the login finished".into(),
                )),
                Err(_) => {
                    me.lock().remove(&state);
                    Err(ConnectorError::Refused(
                        "the login link expired unused; send `login slack oauth` again".into(),
                    ))
                }
            }
        });
        Ok(LoginStep::Pending {
            instructions: format!(
                "Open this link, sign in to Slack and allow access (valid for {} minutes, once):\n{link}",
                LINK_LIFETIME.as_secs() / 60
            ),
            completion,
        })
    }

    /// `GET <public_url>/_aqueduct/slack/oauth?code=..&state=..` (or `?error=..&state=..`):
    /// Slack's redirect back after the user answered the authorize page.
    pub(crate) async fn handle_redirect(&self, request: &WebRequest) -> WebResponse {
        if request.method != "GET" {
            return WebResponse::text(405, "method not allowed");
        }
        let state = request.query_param("state").unwrap_or_default();
        // Single use: whatever happens next, this state is spent.
        let Some(pending) = self.lock().remove(&state) else {
            return page(
                400,
                "Login link not valid",
                "This login link is unknown or was already used. Send `login slack oauth` to the bridge bot for a new one.",
            );
        };
        if pending.expires < Instant::now() {
            let _ = pending.done.send(Err(ConnectorError::Refused(
                "the login link expired; send `login slack oauth` again".into(),
            )));
            return page(
                400,
                "Login link expired",
                "This login link has expired. Send `login slack oauth` to the bridge bot for a new one.",
            );
        }
        let outcome = match (request.query_param("error"), request.query_param("code")) {
            (Some(error), _) => Err(ConnectorError::Refused(if error == "access_denied" {
                "you did not allow access on Slack (access_denied)".into()
            } else {
                format!("Slack did not authorize the login ({error})")
            })),
            (None, Some(code)) => self.exchange(&code).await,
            (None, None) => Err(ConnectorError::Refused(
                "Slack sent the browser back without a code".into(),
            )),
        };
        let response = match &outcome {
            Ok(login) => page(
                200,
                "Logged in to Slack",
                &format!(
                    "Logged in to Slack as {} for {}. You can close this page and go back to Matrix.",
                    login.remote_name, pending.matrix_user
                ),
            ),
            Err(e) => page(
                400,
                "Not logged in to Slack",
                &format!("Not logged in: {e}."),
            ),
        };
        let _ = pending.done.send(outcome);
        response
    }

    /// `oauth.v2.access`: the code for the user's token, then the token checked and described
    /// like a pasted one.
    async fn exchange(&self, code: &str) -> ConnectorResult<NewLogin> {
        let settings = self.settings()?;
        let api = self.config.api_url.trim_end_matches('/');
        let params = [
            ("client_id", settings.client_id.as_str()),
            ("client_secret", settings.client_secret.as_str()),
            ("code", code),
            ("redirect_uri", &Self::redirect_uri(settings)),
        ];
        let answer: Value = self
            .http
            .post(format!("{api}/oauth.v2.access"))
            .form(&params)
            .send()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("oauth.v2.access: {e}")))?
            .json()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("oauth.v2.access: {e}")))?;
        if answer["ok"].as_bool() != Some(true) {
            return Err(ConnectorError::Refused(format!(
                "Slack refused the login: {}",
                answer["error"].as_str().unwrap_or("unknown_error")
            )));
        }
        let token = answer["authed_user"]["access_token"]
            .as_str()
            .ok_or_else(|| {
                ConnectorError::Refused("Slack granted no user token (authed_user)".into())
            })?;
        let web = SlackWeb::new(self.http.clone(), api, token);
        crate::puppet::new_login(&web, token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_page_sits_next_to_the_api() {
        assert_eq!(
            authorize_url("https://slack.com/api"),
            "https://slack.com/oauth/v2/authorize"
        );
        assert_eq!(
            authorize_url("http://127.0.0.1:9/api/"),
            "http://127.0.0.1:9/oauth/v2/authorize"
        );
    }
}
