//! Logins that wait for the user to act elsewhere (a sign-in link, a device code): started by
//! `login/start`, finished in the background whether or not anyone waits, and reported by
//! `login/step/.../display_and_wait` to the user who started them.

use super::error::ApiError;
use aqueduct_core::login_start::LoggedIn;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// A connector's login finishing (the engine's `LoginStart::Pending` completion).
type Completion =
    std::pin::Pin<Box<dyn Future<Output = aqueduct_core::Result<LoggedIn>> + Send + 'static>>;

/// A login's outcome, once known.
type Outcome = Option<Result<LoggedIn, ApiError>>;

/// Finished processes kept for their user to collect, at most.
const KEEP_FINISHED: usize = 100;

/// The pending logins of this process, by process id.
#[derive(Default)]
pub(crate) struct PendingLogins {
    processes: Mutex<HashMap<String, (String, watch::Receiver<Outcome>)>>,
}

impl PendingLogins {
    /// Runs `completion` to its end in the background for `user`; returns the process id.
    pub(crate) fn add(&self, user: &str, completion: Completion) -> String {
        let id = format!("{:016x}", rand::random::<u64>());
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let outcome = completion.await.map_err(ApiError::from);
            let _ = tx.send(Some(outcome));
        });
        let mut processes = self.processes.lock().expect("pending logins");
        if processes.len() >= KEEP_FINISHED {
            processes.retain(|_, (_, rx)| rx.borrow().is_none());
        }
        processes.insert(id.clone(), (user.to_owned(), rx));
        id
    }

    /// Waits for `user`'s process `id` to finish and forgets it.
    pub(crate) async fn wait(&self, user: &str, id: &str) -> Result<LoggedIn, ApiError> {
        let rx = self
            .processes
            .lock()
            .expect("pending logins")
            .get(id)
            .filter(|(owner, _)| owner == user)
            .map(|(_, rx)| rx.clone());
        let Some(mut rx) = rx else {
            return Err(ApiError::not_found(format!("no login process {id}")));
        };
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .map(|o| o.clone())
            .map_err(|_| ApiError::not_found(format!("login process {id} was dropped")))?;
        self.processes.lock().expect("pending logins").remove(id);
        outcome.unwrap_or_else(|| Err(ApiError::not_found(format!("no login process {id}"))))
    }
}
