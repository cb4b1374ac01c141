//! Who a provisioning request acts for: a caller holding the shared secret
//! (`Authorization: Bearer <secret>`) names the Matrix user with `?user_id=`; a web client
//! acting for its own user sends a Matrix OpenID token instead (`Authorization: Bearer
//! openid:<token>`, as mautrix bridges take it), which the homeserver vouches for. Either
//! way the user must be allowed to use the bridge (permission `user` or more).

use super::error::ApiError;
use aqueduct_core::Bridge;
use aqueduct_core::permissions::Level;
use aqueduct_matrix::HomeserverClient;
use axum::http::{HeaderMap, StatusCode, header};
use std::collections::HashMap;

/// The Matrix user a request acts for, or why it may not.
pub(crate) async fn acting_user(
    bridge: &Bridge,
    homeserver: &HomeserverClient,
    secret: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<String, ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "M_MISSING_TOKEN",
                "missing Authorization: Bearer <provisioning shared secret or openid:<token>>",
            )
        })?
        .trim();
    if let Some(token) = given.strip_prefix("openid:") {
        let user = openid_user(homeserver, token).await?;
        if query.get("user_id").is_some_and(|u| u != &user) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "M_FORBIDDEN",
                "an OpenID token acts only for its own user",
            ));
        }
        return permitted(bridge, user);
    }
    if !tokens_match(given, secret) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "the provisioning secret is wrong",
        ));
    }
    let user = query.get("user_id").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "M_MISSING_PARAM",
            "name the Matrix user to act for with ?user_id=@user:server",
        )
    })?;
    if !is_user_id(user) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            format!("{user:?} is not a Matrix user id"),
        ));
    }
    permitted(bridge, user.clone())
}

/// The user of an OpenID token, as the homeserver says.
async fn openid_user(homeserver: &HomeserverClient, token: &str) -> Result<String, ApiError> {
    match homeserver.openid_user(token).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "M_UNKNOWN_TOKEN",
            "the homeserver does not know this OpenID token",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "M_UNKNOWN",
            format!("cannot check the OpenID token with the homeserver: {e}"),
        )),
    }
}

/// `user`, if they may use the bridge.
fn permitted(bridge: &Bridge, user: String) -> Result<String, ApiError> {
    let level = bridge.permission_level(&user);
    if level < Level::User {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            format!("{user} may not use the bridge (permission level {level})"),
        ));
    }
    Ok(user)
}

/// `@localpart:server`, both parts non-empty.
fn is_user_id(s: &str) -> bool {
    s.strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty())
}

/// Compares in time independent of where the strings differ.
fn tokens_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for (i, e) in b.iter().enumerate() {
        diff |= a.get(i).copied().unwrap_or(0) ^ e;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("0123456789abcdef", "0123456789abcdef"));
        assert!(!tokens_match("0123456789abcdeF", "0123456789abcdef"));
        assert!(!tokens_match("0123456789abcdef0", "0123456789abcdef"));
        assert!(!tokens_match("", "0123456789abcdef"));
    }

    #[test]
    fn user_ids_need_both_parts() {
        assert!(is_user_id("@alice:example.org"));
        for bad in ["alice:example.org", "@alice", "@:example.org", "@alice:"] {
            assert!(!is_user_id(bad), "{bad}");
        }
    }
}
