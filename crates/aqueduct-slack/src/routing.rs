//! Which login the workspace app queues a Slack event through. The app receives every event
//! (user tokens cannot open Socket Mode); an event authored by a Slack user who has a personal
//! login here goes through that login, marked as theirs, so the engine shows it as their
//! Matrix user (double puppeting) and not as a ghost. An event of a DM or group DM the bot is
//! not in reaches the app through a user's authorization (user event subscriptions
//! `message.im` / `message.mpim`), named in the wrapper's `authorizations`: it belongs to that
//! user's personal login, whose own room the conversation is.

use crate::api::SlackLogin;
use aqueduct_core::connector::RemoteState;
use aqueduct_core::event::RemoteEvent;
use aqueduct_core::ids::LoginId;
use serde_json::Value;

impl SlackLogin {
    /// The login to queue `event` (converted from `raw`) through, or `None` when it is the
    /// echo of an edit a personal login made from Matrix. Echoed messages, deletes and
    /// reactions need no such care: the engine knows their ids already.
    /// `for_user` is the Slack user (team, user) the event was delivered for, when Slack
    /// delivered it through a user's authorization rather than the bot's; it is dropped when
    /// that user has no personal login here (any more).
    pub(crate) fn route(
        &self,
        raw: &Value,
        mut event: RemoteEvent,
        for_user: Option<(&str, &str)>,
    ) -> Option<(LoginId, RemoteEvent)> {
        if raw["subtype"] == "message_changed"
            && let (Some(channel), Some(ts), Some(text)) = (
                raw["channel"].as_str(),
                raw["message"]["ts"].as_str(),
                raw["message"]["text"].as_str(),
            )
            && self.puppets.take_edit_echo(channel, ts, text)
        {
            return None;
        }
        if let Some((team, user)) = for_user {
            let login = self.puppets.login_of(team, user)?;
            event.sender.is_from_me = event.sender.user == crate::convert::user_id(team, user);
            event.receiver = Some(login.clone());
            return Some((login, event));
        }
        // Direct messages belong to the login that received them (the app's own DMs).
        if event.receiver.is_none()
            && let Some((team, user)) = event.sender.user.as_str().split_once('-')
            && let Some(login) = self.puppets.login_of(team, user)
        {
            event.sender.is_from_me = true;
            return Some((login, event));
        }
        Some((self.login.clone(), event))
    }

    /// Handles `tokens_revoked`: the personal logins whose user tokens Slack revoked (the user
    /// removed the app, an admin revoked it) are logged out, and their owners told.
    pub(crate) fn revoke_puppets(&self, ev: &Value) {
        let users = ev["tokens"]["oauth"].as_array().into_iter().flatten();
        for user in users.filter_map(Value::as_str) {
            if let Some(login) = self.puppets.login_of(&self.team, user) {
                self.bridge.report_state(
                    &login,
                    RemoteState::BadCredentials("Slack says token_revoked".into()),
                );
            }
        }
    }
}

/// The Slack user (team, user) an event was delivered for, from its wrapper's
/// `authorizations` (Slack lists one installation the event is visible to), or `None` when
/// it came through the bot (or the wrapper names no installation).
pub(crate) fn authorized_user(authorizations: &Value) -> Option<(&str, &str)> {
    let first = authorizations.as_array()?.first()?;
    if first["is_bot"].as_bool() != Some(false) {
        return None;
    }
    Some((first["team_id"].as_str()?, first["user_id"].as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_user_authorization_names_a_user() {
        let user = json!([{"team_id": "T1", "user_id": "U1", "is_bot": false,
                           "enterprise_id": null, "is_enterprise_install": false}]);
        assert_eq!(authorized_user(&user), Some(("T1", "U1")));
        let bot = json!([{"team_id": "T1", "user_id": "UBOT", "is_bot": true}]);
        assert_eq!(authorized_user(&bot), None);
        assert_eq!(authorized_user(&json!(null)), None);
        assert_eq!(authorized_user(&json!([])), None);
    }
}
