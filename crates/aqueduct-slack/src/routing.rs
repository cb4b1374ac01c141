//! Which login the workspace app queues a Slack event through. The app receives every event
//! (user tokens cannot open Socket Mode); an event authored by a Slack user who has a personal
//! login here goes through that login, marked as theirs, so the engine shows it as their
//! Matrix user (double puppeting) and not as a ghost.

use crate::api::SlackLogin;
use aqueduct_core::connector::RemoteState;
use aqueduct_core::event::RemoteEvent;
use aqueduct_core::ids::LoginId;
use serde_json::Value;

impl SlackLogin {
    /// The login to queue `event` (converted from `raw`) through, or `None` when it is the
    /// echo of an edit a personal login made from Matrix. Echoed messages, deletes and
    /// reactions need no such care: the engine knows their ids already.
    pub(crate) fn route(
        &self,
        raw: &Value,
        mut event: RemoteEvent,
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
