//! Checking a Matrix OpenID token (from a client's `POST /user/{userId}/openid/request_token`)
//! with the homeserver that issued it, as the provisioning API does for a web client acting
//! for its own user.

use crate::client::HomeserverClient;
use aqueduct_core::matrix::{MatrixError, MatrixResult};

impl HomeserverClient {
    /// The user an OpenID token of this homeserver stands for (the federation API's
    /// `openid/userinfo`, which the homeserver must serve at its configured URL), or `None`
    /// when the homeserver does not know the token (expired, forged).
    pub async fn openid_user(&self, token: &str) -> MatrixResult<Option<String>> {
        let url = format!(
            "{}/_matrix/federation/v1/openid/userinfo",
            self.config.homeserver_url.trim_end_matches('/')
        );
        let (status, bytes) =
            crate::client::answer_of(self.http.get(url).query(&[("access_token", token)])).await?;
        if status == 401 || status == 403 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(crate::client::refusal(status, &bytes));
        }
        let user = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["sub"].as_str().map(str::to_owned))
            .ok_or_else(|| MatrixError::Transport("openid/userinfo answered without sub".into()))?;
        // Only this homeserver's users: a token names its own server's users alone.
        let ours = user
            .strip_prefix('@')
            .and_then(|u| u.split_once(':'))
            .is_some_and(|(_, server)| server == self.config.server_name);
        Ok(ours.then_some(user))
    }
}
