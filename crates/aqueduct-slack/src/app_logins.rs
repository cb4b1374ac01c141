//! The connector-wide registry of loaded app logins by workspace (team id), through which the
//! Events API endpoint finds the login an HTTP delivery is for. `connect()` registers a login,
//! `disconnect()` removes it.

use crate::api::SlackLogin;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;

/// A registered login and whether it has finished its catch-up.
#[derive(Clone)]
pub(crate) struct AppLogin {
    /// The login; gone once the engine dropped it.
    pub login: Weak<SlackLogin>,
    /// `true` once the checkpoint catch-up after connecting is done. Live events wait for it,
    /// so they reach Matrix after the older messages the catch-up bridges, as in Socket Mode.
    pub ready: watch::Receiver<bool>,
}

/// App logins by team id.
#[derive(Default)]
pub(crate) struct AppLogins {
    by_team: Mutex<HashMap<String, AppLogin>>,
}

impl AppLogins {
    /// Registers `login` for its team, replacing an earlier registration. Returns the sender
    /// with which the caller reports the end of the catch-up.
    pub fn register(&self, login: &Arc<SlackLogin>) -> watch::Sender<bool> {
        let (ready_tx, ready) = watch::channel(false);
        let entry = AppLogin {
            login: Arc::downgrade(login),
            ready,
        };
        self.lock().insert(login.team.clone(), entry);
        ready_tx
    }

    /// Removes `login`'s registration, unless another login of the team replaced it.
    pub fn unregister(&self, login: &SlackLogin) {
        let mut by_team = self.lock();
        if by_team
            .get(&login.team)
            .is_some_and(|e| std::ptr::eq(e.login.as_ptr(), login))
        {
            by_team.remove(&login.team);
        }
    }

    /// The registered login of `team`, if it is still alive.
    pub fn get(&self, team: &str) -> Option<(Arc<SlackLogin>, watch::Receiver<bool>)> {
        let entry = self.lock().get(team)?.clone();
        Some((entry.login.upgrade()?, entry.ready))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AppLogin>> {
        self.by_team.lock().unwrap_or_else(|e| e.into_inner())
    }
}
