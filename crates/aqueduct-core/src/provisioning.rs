//! What the provisioning API (served by the binary) asks of the engine, on behalf of one
//! Matrix user: the networks and their login flows, the user's logins, starting a login,
//! logging out and bridging a chat. Each goes through the same code as the management room's commands.

use crate::Bridge;
use crate::Result;
use crate::connector::LoginFlow;
use crate::ids::{ConnectorId, LoginId};
use crate::login_start::LoginStart;
use crate::permissions::Level;
use crate::records::Login;

/// An enabled network, as the provisioning API lists it.
#[derive(Clone, Debug)]
pub struct NetworkSummary {
    /// Its id (`slack`), the config key and the word typed in commands.
    pub id: ConnectorId,
    /// Its human name.
    pub display_name: String,
    /// The ways to log in.
    pub flows: Vec<LoginFlow>,
}

impl Bridge {
    /// The bridge bot's Matrix id.
    pub fn bot_user_id(&self) -> &str {
        self.inner.matrix.bot_user_id()
    }

    /// What `user` may do, from the config's permissions.
    pub fn permission_level(&self, user: &str) -> Level {
        self.inner.config.permissions.level(user)
    }

    /// The enabled networks, by id.
    pub fn networks(&self) -> Vec<NetworkSummary> {
        let mut out: Vec<NetworkSummary> = self
            .inner
            .connectors
            .values()
            .map(|c| NetworkSummary {
                id: c.id(),
                display_name: c.display_name().to_owned(),
                flows: c.login_flows(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// `user`'s logins, as stored (their secrets included: never show those).
    pub async fn logins_of(&self, user: &str) -> Result<Vec<Login>> {
        Ok(self.inner.store.logins_of_user(user).await?)
    }

    /// Whether `user`'s login is loaded (its connection started) in this process.
    pub fn is_login_loaded(&self, network: &ConnectorId, id: &LoginId) -> bool {
        self.inner.loaded_login(network, id).is_some()
    }

    /// `user`'s management room, if they have one.
    pub async fn management_room(&self, user: &str) -> Result<Option<String>> {
        Ok(self.inner.store.management_room(user).await?)
    }

    /// Starts a login of `user` to `network` through `flow` with `args`, as `login <network>
    /// <flow> <args...>` does in the management room.
    pub async fn start_login(
        &self,
        user: &str,
        network: &str,
        flow: &str,
        args: &[String],
    ) -> Result<LoginStart> {
        self.inner
            .start_login(user, network, Some(flow), args)
            .await
    }

    /// Bridges `chat` of `network` into a room (creating it and inviting `user` if the chat
    /// had none), through `user`'s login there, as `bridge <network> <chat>` does.
    pub async fn bridge_chat(
        &self,
        user: &str,
        network: &str,
        chat: &str,
    ) -> Result<crate::portal_open::OpenedPortal> {
        self.inner.open_portal(user, network, chat).await
    }

    /// Logs `user`'s login `id` out, as `logout <network> <id>` does. `false` when `user` has
    /// no login of that id.
    pub async fn log_out(&self, user: &str, id: &LoginId) -> Result<bool> {
        let login = self
            .inner
            .store
            .logins_of_user(user)
            .await?
            .into_iter()
            .find(|l| &l.id == id);
        let Some(login) = login else {
            return Ok(false);
        };
        self.inner
            .deactivate_login(&login.connector, &login.id)
            .await?;
        Ok(true)
    }
}
