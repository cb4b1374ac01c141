//! Opening a chat's portal on a user's request, the one way both the `bridge` command and
//! the provisioning API do it: through the user's own login of the network, which must see
//! the chat; a direct chat's portal is that login's own.

use crate::bridge::Inner;
use crate::ids::{ConnectorId, PortalKey, RemoteChatId};
use crate::records::Portal;
use crate::{Error, Result};
use std::sync::Arc;

/// A portal opened (or found) on request.
#[derive(Clone, Debug)]
pub struct OpenedPortal {
    /// The portal, with its room.
    pub portal: Portal,
    /// The chat's name, if it has one.
    pub chat_name: Option<String>,
}

impl Inner {
    /// The portal of `chat` on `network`, its room created (and `user` invited) if it had
    /// none, through `user`'s login there.
    pub(crate) async fn open_portal(
        self: &Arc<Self>,
        user: &str,
        network: &str,
        chat: &str,
    ) -> Result<OpenedPortal> {
        let connector = ConnectorId::new(network);
        let login = self
            .login_of_user(&connector, user)
            .ok_or_else(|| Error::Unknown(format!("log in to {network} first")))?;
        let chat = RemoteChatId::new(chat);
        let info = login.api.chat_info(&chat).await?;
        let key = PortalKey {
            connector,
            chat,
            receiver: info.is_direct.then(|| login.login.id.clone()),
        };
        let portal = self.ensure_portal_queued(key, login).await?;
        Ok(OpenedPortal {
            portal,
            chat_name: info.name,
        })
    }
}
