//! Which login the workspace app queues a Slack event through. The app receives every event
//! (user tokens cannot open Socket Mode); an event authored by a Slack user who has a personal
//! login here goes through that login, marked as theirs, so the engine shows it as their
//! Matrix user (double puppeting) and not as a ghost. An event of a DM or group DM the bot is
//! not in reaches the app through a user's authorization (user event subscriptions
//! `message.im` / `message.mpim`), named in the wrapper's `authorizations`: it belongs to that
//! user's personal login, whose own room the conversation is (and, when other members have
//! personal logins too, to theirs).

use crate::api::SlackLogin;
use aqueduct_core::connector::RemoteState;
use aqueduct_core::event::RemoteEvent;
use aqueduct_core::ids::LoginId;
use serde_json::Value;

/// Most pages of `apps.event.authorizations.list` read for one event.
const MAX_AUTHORIZATION_PAGES: usize = 5;

impl SlackLogin {
    /// The login to queue `event` (converted from `raw`) through, or `None` when it is the
    /// echo of an edit a personal login made from Matrix. Echoed messages, deletes and
    /// reactions need no such care: the engine knows their ids already.
    /// `for_user` is the Slack user (team, user) the event is delivered for, when Slack
    /// delivered it through users' authorizations rather than the bot's; it is dropped when
    /// that user has no personal login here (any more).
    pub(crate) fn route(
        &self,
        raw: &Value,
        mut event: RemoteEvent,
        for_user: Option<(&str, &str)>,
    ) -> Option<(LoginId, RemoteEvent)> {
        if let Some((team, user)) = for_user {
            let login = self.puppets.login_of(team, user)?;
            let mine = event.sender.user == crate::convert::user_id(team, user);
            // Only the author edits a message: the echo concerns their own room only.
            if mine && self.is_edit_echo(raw) {
                return None;
            }
            event.sender.is_from_me = mine;
            event.receiver = Some(login.clone());
            return Some((login, event));
        }
        if self.is_edit_echo(raw) {
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

    /// Whether `raw` is the echo of an edit a personal login made (consumed once seen).
    fn is_edit_echo(&self, raw: &Value) -> bool {
        raw["subtype"] == "message_changed"
            && match (
                raw["channel"].as_str(),
                raw["message"]["ts"].as_str(),
                raw["message"]["text"].as_str(),
            ) {
                (Some(channel), Some(ts), Some(text)) => {
                    self.puppets.take_edit_echo(channel, ts, text)
                }
                _ => false,
            }
    }

    /// The Slack users (team, user) an event Slack delivered through users' authorizations
    /// is for: none when it came through the bot. The wrapper names one user only; when
    /// other users of the team have personal logins here, the others who can see the event
    /// are asked for (`apps.event.authorizations.list`, with the app-level token), so a DM
    /// between two of them reaches both of their rooms.
    pub(crate) async fn authorized_users(&self, wrapper: &Value) -> Vec<(String, String)> {
        let Some((team, user)) = authorized_user(&wrapper["authorizations"]) else {
            return Vec::new();
        };
        let mut users = vec![(team.to_owned(), user.to_owned())];
        let context = wrapper["event_context"].as_str();
        let (Some(context), true, true) = (
            context,
            self.puppets.others_in_team(team, user),
            self.app.has_token(),
        ) else {
            return users;
        };
        let mut cursor = String::new();
        for _ in 0..MAX_AUTHORIZATION_PAGES {
            let mut params = vec![("event_context", context.to_owned())];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let page = match self
                .app
                .call("apps.event.authorizations.list", &params)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    // The named user still gets the event.
                    tracing::warn!(error = %e, "cannot list who else sees a Slack event");
                    break;
                }
            };
            for a in page["authorizations"].as_array().into_iter().flatten() {
                if a["is_bot"].as_bool() != Some(false) {
                    continue;
                }
                if let (Some(t), Some(u)) = (a["team_id"].as_str(), a["user_id"].as_str())
                    && !users.iter().any(|(ut, uu)| ut == t && uu == u)
                {
                    users.push((t.to_owned(), u.to_owned()));
                }
            }
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if cursor.is_empty() {
                break;
            }
        }
        users
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
