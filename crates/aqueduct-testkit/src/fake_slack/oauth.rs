//! Slack's OAuth v2 for user tokens: the authorize page (`GET /oauth/v2/authorize`), which the
//! fake answers as Slack does once the signed-in user clicked Allow (or Cancel), and the code
//! exchange (`oauth.v2.access`). Also token revocation, with the `tokens_revoked` event Slack
//! sends the app.

use super::{APP_ID, FakeSlack, RecordedRequest, Shared, TEAM_ID, TEAM_NAME, TokenKind};
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxState};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// The fake's OAuth state: the app's credentials, codes handed out, and what the person at
/// the browser does.
#[derive(Debug)]
pub(crate) struct OAuthState {
    client_id: String,
    client_secret: String,
    /// Code -> (user, redirect_uri, user scopes); removed when exchanged.
    codes: HashMap<String, (String, String, String)>,
    /// The Slack user signed in at the browser, who answers the authorize page.
    signed_in: Option<String>,
    /// Whether that user clicks Cancel instead of Allow.
    deny: bool,
}

impl Default for OAuthState {
    fn default() -> Self {
        Self {
            client_id: format!("{}.{}", rand::random::<u32>(), rand::random::<u32>()),
            client_secret: format!("{:032x}", rand::random::<u128>()),
            codes: HashMap::new(),
            signed_in: None,
            deny: false,
        }
    }
}

fn html(status: StatusCode, text: &str) -> Response {
    let mut r = (
        status,
        format!("<!DOCTYPE html><html><body>{text}</body></html>"),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `GET /oauth/v2/authorize?client_id=..&user_scope=..&redirect_uri=..&state=..`: as Slack
/// after the signed-in user answered, a 302 back to `redirect_uri` with `code` and `state`,
/// or `error=access_denied` and `state`.
pub(crate) async fn authorize(
    AxState(sh): AxState<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = query_map(query.as_deref());
    let mut st = sh.lock();
    if q.get("client_id") != Some(&st.oauth.client_id) {
        return html(StatusCode::BAD_REQUEST, "Invalid client_id parameter");
    }
    let Some(redirect) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return html(
            StatusCode::BAD_REQUEST,
            "redirect_uri did not match any configured URIs",
        );
    };
    let Some(user) = st.oauth.signed_in.clone() else {
        return html(StatusCode::OK, "Sign in to Fake Team");
    };
    let mut back = redirect.clone();
    {
        let mut pairs = back.query_pairs_mut();
        if st.oauth.deny {
            pairs.append_pair("error", "access_denied");
        } else {
            let code = format!("{}.{:x}", TEAM_ID, rand::random::<u64>());
            let scope = q.get("user_scope").cloned().unwrap_or_default();
            st.oauth
                .codes
                .insert(code.clone(), (user, redirect.to_string(), scope));
            pairs.append_pair("code", &code);
        }
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(back.as_str()).expect("a URL is a header value"),
    );
    r
}

/// `oauth.v2.access` (query or form parameters): trades a
/// code, once, for the user token, answering like Slack for a user-scopes-only install.
pub(crate) async fn access(
    AxState(sh): AxState<Arc<Shared>>,
    verb: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut p = query_map(query.as_deref());
    p.extend(query_map(Some(&String::from_utf8_lossy(&body))));
    let mut st = sh.lock();
    let params: Map<String, Value> = p.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    st.requests.push(RecordedRequest {
        method: "oauth.v2.access".into(),
        http_method: verb.to_string(),
        params: Value::Object(params),
        encoding: if body.is_empty() { "query" } else { "form" }.into(),
        token_kind: TokenKind::Missing,
        received_at: std::time::Instant::now(),
    });
    let answer = exchange(&mut st, &p);
    drop(st);
    sh.changed();
    axum::Json(match answer {
        Ok(v) => v,
        Err(e) => json!({"ok": false, "error": e}),
    })
    .into_response()
}

fn exchange(st: &mut super::State, p: &HashMap<String, String>) -> Result<Value, &'static str> {
    if p.get("client_id") != Some(&st.oauth.client_id) {
        return Err("invalid_client_id");
    }
    if p.get("client_secret") != Some(&st.oauth.client_secret) {
        return Err("bad_client_secret");
    }
    let code = p.get("code").ok_or("invalid_code")?;
    let (user, redirect, scope) = st.oauth.codes.remove(code).ok_or("invalid_code")?;
    if p.get("redirect_uri").is_some_and(|r| *r != redirect) {
        return Err("bad_redirect_uri");
    }
    let token = format!("xoxp-1-{user}-{}", rand::random::<u64>());
    st.tokens
        .insert(token.clone(), TokenKind::User(user.clone()));
    Ok(json!({
        "ok": true,
        "app_id": APP_ID,
        "authed_user": {"id": user, "scope": scope, "access_token": token, "token_type": "user"},
        "team": {"id": TEAM_ID, "name": TEAM_NAME},
        "enterprise": null,
        "is_enterprise_install": false,
    }))
}

impl FakeSlack {
    /// The app's OAuth client id and secret.
    pub fn oauth_client(&self) -> (String, String) {
        let st = self.shared.lock();
        (st.oauth.client_id.clone(), st.oauth.client_secret.clone())
    }

    /// Signs `user` in at "the browser": they answer authorize pages from now on.
    pub fn sign_in_browser(&self, user: &str) {
        self.shared.lock().oauth.signed_in = Some(user.to_owned());
    }

    /// Whether the signed-in user clicks Cancel (`error=access_denied`) instead of Allow.
    pub fn deny_authorization(&self, deny: bool) {
        self.shared.lock().oauth.deny = deny;
    }
}
