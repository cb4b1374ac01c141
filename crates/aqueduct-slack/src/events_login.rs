//! An app login receiving over HTTP: instead of opening Socket Mode, it registers with the
//! connector's Events API endpoint, after catching up from its per-channel checkpoints what
//! arrived while the bridge was away (Slack's deliveries to a stopped bridge fail and are
//! dropped after its retries).

use crate::api::SlackLogin;
use crate::app_logins::AppLogins;
use aqueduct_core::connector::RemoteState;
use std::sync::Arc;

/// Registers the login, catches up, then lets live deliveries through. Live deliveries
/// arriving during the catch-up wait for it, so a channel's messages reach Matrix in order.
pub(crate) async fn run(login: Arc<SlackLogin>, logins: Arc<AppLogins>) {
    login
        .bridge
        .report_state(&login.login, RemoteState::Connecting);
    let ready = logins.register(&login);
    login.catch_up().await;
    let _ = ready.send(true);
    login
        .bridge
        .report_state(&login.login, RemoteState::Connected);
    // Keeps the readiness sender alive as long as the login is connected: `disconnect`
    // aborts this task, and deliveries still waiting then answer 503.
    ready.closed().await;
}
