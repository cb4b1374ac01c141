//! Which Slack users have a personal login on this bridge, shared by every login of the
//! connector. User tokens cannot open Socket Mode, so the workspace app receives everything;
//! this registry lets it hand a puppeted user's own events to their login (so they appear in
//! Matrix as that Matrix user) and recognise the echoes of what their login sent.

use crate::api::SlackLogin;
use crate::web::SlackWeb;
use aqueduct_core::ids::LoginId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

/// How many edit echoes are remembered at most; an echo that never came is forgotten.
const MAX_EXPECTED_EDITS: usize = 1000;

/// The connector-wide registry. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Puppets {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    /// (team, Slack user) -> their connected personal login, and the Web API with their token
    /// (to read what only they can see, such as files in their own DMs).
    logins: HashMap<(String, String), (LoginId, SlackWeb)>,
    /// Team -> the bot user of its app login, which personal logins leave out of member lists.
    bots: HashMap<String, String>,
    /// Team -> its app login, which catches up a personal login's own conversations when
    /// that login connects.
    apps: HashMap<String, Weak<SlackLogin>>,
    /// (channel, ts, text) of edits a personal login made, whose `message_changed` echo the
    /// app login must not bridge back.
    expected_edits: HashSet<(String, String, String)>,
}

impl Puppets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a connected personal login of `user` in `team`, with its Web API client.
    pub fn register(&self, team: &str, user: &str, login: &LoginId, web: &SlackWeb) {
        self.lock().logins.insert(
            (team.to_owned(), user.to_owned()),
            (login.clone(), web.clone()),
        );
    }

    /// Forgets the personal login of `user`, if it is still `login` (a newer login of the same
    /// account stays).
    pub fn unregister(&self, team: &str, user: &str, login: &LoginId) {
        let mut reg = self.lock();
        let key = (team.to_owned(), user.to_owned());
        if reg.logins.get(&key).is_some_and(|(l, _)| l == login) {
            reg.logins.remove(&key);
        }
    }

    /// The connected personal login of `user` in `team`, if any.
    pub fn login_of(&self, team: &str, user: &str) -> Option<LoginId> {
        self.lock()
            .logins
            .get(&(team.to_owned(), user.to_owned()))
            .map(|(l, _)| l.clone())
    }

    /// The Web API with the token of `user`'s connected personal login, if any.
    pub fn web_of(&self, team: &str, user: &str) -> Option<SlackWeb> {
        self.lock()
            .logins
            .get(&(team.to_owned(), user.to_owned()))
            .map(|(_, w)| w.clone())
    }

    /// Whether users of `team` other than `user` have a connected personal login.
    pub fn others_in_team(&self, team: &str, user: &str) -> bool {
        self.lock()
            .logins
            .keys()
            .any(|(t, u)| t == team && u != user)
    }

    /// Records the bot user of `team`'s app login.
    pub fn set_bot(&self, team: &str, bot_user: &str) {
        self.lock()
            .bots
            .insert(team.to_owned(), bot_user.to_owned());
    }

    /// Records `team`'s connected app login.
    pub fn set_app(&self, team: &str, app: Weak<SlackLogin>) {
        self.lock().apps.insert(team.to_owned(), app);
    }

    /// `team`'s connected app login, if it is still alive.
    pub fn app_of(&self, team: &str) -> Option<Arc<SlackLogin>> {
        self.lock().apps.get(team)?.upgrade()
    }

    /// The bot user of `team`'s app login, if one is connected.
    pub fn bot_of(&self, team: &str) -> Option<String> {
        self.lock().bots.get(team).cloned()
    }

    /// Remembers that a personal login changed message `ts` in `channel` to `text`.
    pub fn expect_edit_echo(&self, channel: &str, ts: &str, text: &str) {
        let mut reg = self.lock();
        if reg.expected_edits.len() >= MAX_EXPECTED_EDITS {
            reg.expected_edits.clear();
        }
        reg.expected_edits
            .insert((channel.to_owned(), ts.to_owned(), text.to_owned()));
    }

    /// Whether this edit is the echo of one a personal login made (consumed once seen).
    pub fn take_edit_echo(&self, channel: &str, ts: &str, text: &str) -> bool {
        self.lock()
            .expected_edits
            .remove(&(channel.to_owned(), ts.to_owned(), text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_login_survives_the_older_one_unregistering() {
        let p = Puppets::default();
        let (old, new) = (LoginId::new("old"), LoginId::new("new"));
        let web = SlackWeb::new(reqwest::Client::new(), "http://127.0.0.1:9", "xoxp-1");
        p.register("T1", "U1", &old, &web);
        p.register("T1", "U1", &new, &web);
        p.unregister("T1", "U1", &old);
        assert_eq!(p.login_of("T1", "U1"), Some(new.clone()));
        p.unregister("T1", "U1", &new);
        assert_eq!(p.login_of("T1", "U1"), None);
    }

    #[test]
    fn an_edit_echo_is_recognised_once() {
        let p = Puppets::default();
        p.expect_edit_echo("C1", "1.0", "new");
        assert!(!p.take_edit_echo("C1", "1.0", "other text"));
        assert!(p.take_edit_echo("C1", "1.0", "new"));
        assert!(!p.take_edit_echo("C1", "1.0", "new"));
    }
}
