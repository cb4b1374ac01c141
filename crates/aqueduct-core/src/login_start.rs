//! Starting a login, the one way both the `login` command and the provisioning API do it:
//! the network and flow chosen, a second personal login of a network refused, the
//! connector's flow started, and a finished login stored and connected.

use crate::bridge::Inner;
use crate::connector::{LoginStep, NewLogin};
use crate::ids::{ConnectorId, LoginId};
use crate::records::Login;
use crate::{Error, Result};
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// A login that finished: stored and connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedIn {
    /// The network.
    pub network: ConnectorId,
    /// The login's id, unique within the network.
    pub id: LoginId,
    /// The account's human name.
    pub remote_name: String,
}

/// What starting a login came to.
pub enum LoginStart {
    /// Not started, for a reason the user should read (already logged in; which flow?).
    Refused(String),
    /// Logged in at once.
    Complete(LoggedIn),
    /// The user must act elsewhere first (open a link, enter a code).
    Pending {
        /// What to tell the user.
        instructions: String,
        /// Resolves once the login finished (stored and connected) or failed.
        completion: BoxFuture<'static, Result<LoggedIn>>,
    },
}

impl Inner {
    /// Starts a login of `user` to `network` through `flow` (the only one when `None` and the
    /// network has one; else the first of `args` when it names a flow) with `args`.
    pub(crate) async fn start_login(
        self: &Arc<Self>,
        user: &str,
        network: &str,
        flow: Option<&str>,
        args: &[String],
    ) -> Result<LoginStart> {
        let connector = self
            .connectors
            .get(&ConnectorId::new(network))
            .cloned()
            .ok_or_else(|| Error::Unknown(format!("no network called {network} is enabled")))?;
        // A login that posts as an app (a workspace bot) leaves room for the user's own.
        if self
            .login_of_user(&connector.id(), user)
            .is_some_and(|l| l.api.sends_as_owner())
        {
            return Ok(LoginStart::Refused(format!(
                "You are already logged in to {network}. Use `logout {network}` first."
            )));
        }
        let flows = connector.login_flows();
        let chosen = match flow {
            Some(f) if flows.iter().any(|fl| fl.id == f) => Some((f.to_owned(), args.to_vec())),
            Some(_) => None,
            None => match args.split_first() {
                Some((f, rest)) if flows.iter().any(|fl| &fl.id == f) => {
                    Some((f.clone(), rest.to_vec()))
                }
                _ if flows.len() == 1 => Some((flows[0].id.clone(), args.to_vec())),
                _ => None,
            },
        };
        let Some((flow, flow_args)) = chosen else {
            let list: Vec<String> = flows
                .iter()
                .map(|f| format!("{} ({})", f.id, f.description))
                .collect();
            return Ok(LoginStart::Refused(format!(
                "Choose a way to log in: login {network} <flow> ... where flow is one of: {}",
                list.join("; ")
            )));
        };
        let network = connector.id();
        Ok(
            match connector.start_login(user, &flow, &flow_args).await? {
                LoginStep::Complete(new) => {
                    LoginStart::Complete(self.finish_login(&network, user, new).await?)
                }
                LoginStep::Pending {
                    instructions,
                    completion,
                } => {
                    let inner = self.clone();
                    let user = user.to_owned();
                    LoginStart::Pending {
                        instructions,
                        completion: Box::pin(async move {
                            let new = completion.await?;
                            inner.finish_login(&network, &user, new).await
                        }),
                    }
                }
            },
        )
    }

    /// Stores a login that succeeded and connects it.
    async fn finish_login(
        self: &Arc<Self>,
        connector: &ConnectorId,
        user: &str,
        new: NewLogin,
    ) -> Result<LoggedIn> {
        let login = Login {
            connector: connector.clone(),
            id: new.id,
            matrix_user: user.to_owned(),
            remote_user: new.remote_user,
            remote_name: new.remote_name,
            secret: new.secret,
            state: serde_json::Value::Null,
        };
        if let Some(existing) = self.store.login(connector, &login.id).await?
            && existing.matrix_user != user
        {
            return Err(Error::Unknown(
                "that remote account is already logged in by another Matrix user".into(),
            ));
        }
        self.store.upsert_login(&login).await?;
        let done = LoggedIn {
            network: connector.clone(),
            id: login.id.clone(),
            remote_name: login.remote_name.clone(),
        };
        self.activate_login(login).await?;
        Ok(done)
    }
}
