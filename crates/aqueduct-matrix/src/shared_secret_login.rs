//! Double puppeting through the shared-secret login module: log in as a user with
//! `com.devture.shared_secret_auth` (token = HMAC-SHA512(secret, user id), hex) and keep the
//! access token for as long as it works.

use crate::client::HomeserverClient;
use aqueduct_core::matrix::{MatrixError, MatrixResult};
use hmac::{Hmac, Mac};
use sha2::Sha512;

/// The device the bridge's double-puppet logins use, so repeated logins reuse one device.
const DEVICE_ID: &str = "AQUEDUCT_DOUBLE_PUPPET";

/// The login token the module expects for `user_id`.
pub(crate) fn login_token(secret: &str, user_id: &str) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl HomeserverClient {
    /// An access token for `user_id`, logging in with the shared secret when none is cached.
    pub(crate) async fn shared_secret_token(
        &self,
        user_id: &str,
        secret: &str,
    ) -> MatrixResult<String> {
        let mut logins = self.puppet_logins.lock().await;
        if let Some(token) = logins.get(user_id) {
            return Ok(token.clone());
        }
        // The login type is a module's, outside the spec, so ruma has no request type for it.
        let body = serde_json::json!({
            "type": "com.devture.shared_secret_auth",
            "identifier": { "type": "m.id.user", "user": user_id },
            "token": login_token(secret, user_id),
            "device_id": DEVICE_ID,
            "initial_device_display_name": "Aqueduct double puppet",
        });
        let url = format!(
            "{}/_matrix/client/v3/login",
            self.config.homeserver_url.trim_end_matches('/')
        );
        let (status, bytes) = crate::client::answer_of(self.http.post(url).json(&body)).await?;
        if !(200..300).contains(&status) {
            return Err(crate::client::refusal(status, &bytes));
        }
        let token = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["access_token"].as_str().map(str::to_owned))
            .ok_or_else(|| MatrixError::Transport("login answer without access_token".into()))?;
        logins.insert(user_id.to_owned(), token.clone());
        Ok(token)
    }

    /// Drops a cached login token that stopped working.
    pub(crate) async fn forget_login(&self, user_id: &str) {
        self.puppet_logins.lock().await.remove(user_id);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_is_hex_hmac_sha512_of_the_user_id() {
        // Reference value from Python: hmac.new(b"s3cret", b"@alice:hs", hashlib.sha512).hexdigest()
        assert_eq!(
            super::login_token("s3cret", "@alice:hs"),
            "25fe6ee589bbcaca27d821ca6ac5c0750c31c53e40724b4706da58ecdc2134bdc244058de41393cd6125434b1ca7f40e328df971fec324c5ae83abedeb48b892"
        );
    }
}
