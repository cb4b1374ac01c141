//! The start-up check: ask the homeserver to ping the bridge, and say plainly what is wrong
//! when it cannot.

use crate::client::HomeserverClient;
use crate::error::{Error, Result};
use aqueduct_core::matrix::MatrixError;
use ruma::api::client::appservice::request_ping;

/// Asks the homeserver to call the bridge's ping endpoint (`POST
/// /_matrix/client/v1/appservice/{id}/ping`). Succeeds when the homeserver reached the bridge
/// with the right token; otherwise the error says which side is misconfigured.
pub async fn ping_homeserver(client: &HomeserverClient) -> Result<std::time::Duration> {
    let mut req = request_ping::v1::Request::new(client.config.appservice_id.clone());
    req.transaction_id = Some(ruma::TransactionId::new());
    // As the appservice, not the bot: the bot may not be registered yet.
    match client.send_as_appservice(req).await {
        Ok(r) => Ok(r.duration),
        Err(MatrixError::Transport(e)) => Err(Error::Unreachable(format!(
            "cannot reach the homeserver at {}: {e}. Check homeserver.url in the config.",
            client.config.homeserver_url
        ))),
        Err(MatrixError::Refused { errcode, message, .. }) => Err(Error::Unreachable(match errcode.as_str() {
            "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => format!(
                "the homeserver does not know the bridge's as_token ({message}). Is registration.yaml added to the homeserver's app_service_config_files, and was the homeserver restarted?"
            ),
            "M_FORBIDDEN" => format!("the homeserver refused the ping ({message}). Does the registration id match appservice.id in the config?"),
            "M_URL_NOT_SET" => "the registration has no url, so the homeserver cannot push events to the bridge. Set url in registration.yaml.".into(),
            "M_BAD_STATUS" => format!("the homeserver reached the bridge but got an error back ({message}). Do hs_token in the config and the registration match?"),
            "M_CONNECTION_FAILED" | "M_CONNECTION_TIMEOUT" => format!(
                "the homeserver cannot reach the bridge ({message}). Check that the registration's url points at the bridge's appservice listener and that the homeserver can connect to it."
            ),
            _ => format!("ping failed: {errcode}: {message}"),
        })),
        Err(e) => Err(Error::Unreachable(e.to_string())),
    }
}
