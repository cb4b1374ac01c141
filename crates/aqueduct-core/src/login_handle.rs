//! The handle a connector's login holds to talk back to the engine: queueing remote events
//! (each into its portal's queue, with a receipt that resolves once handled), saving the
//! login's state, reporting its connection state. Apart from the engine so that file keeps to
//! the engine's own wiring.

use crate::bridge::{Inner, Job};
use crate::connector::{BridgeHandle, EventReceipt, RemoteState};
use crate::event::RemoteEvent;
use crate::ids::{ConnectorId, LoginId, PortalKey, RemoteChatId, RemoteUserId};
use crate::queue::QueueKey;
use crate::{Error, Result};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Weak};
use tokio::sync::oneshot;

/// What a connector's login holds to talk back to the engine.
pub(crate) struct LoginHandle {
    pub(crate) inner: Weak<Inner>,
    pub(crate) connector: ConnectorId,
}

impl BridgeHandle for LoginHandle {
    fn queue_remote_event(&self, login: &LoginId, event: RemoteEvent) -> EventReceipt {
        let Some(inner) = self.inner.upgrade() else {
            return Box::pin(async { Err(Error::ShuttingDown) });
        };
        if inner.is_shutting_down() {
            return Box::pin(async { Err(Error::ShuttingDown) });
        }
        let (tx, rx) = oneshot::channel();
        let key = PortalKey {
            connector: self.connector.clone(),
            chat: event.chat.clone(),
            receiver: event.receiver.clone(),
        };
        inner.queue(
            QueueKey::Portal(key),
            Job::Remote {
                connector: self.connector.clone(),
                login: login.clone(),
                event: Box::new(event),
                done: tx,
            },
        );
        Box::pin(async move { rx.await.unwrap_or(Err(Error::ShuttingDown)) })
    }

    fn matrix_room_for(&self, chat: &RemoteChatId) -> BoxFuture<'static, Option<String>> {
        let inner = self.inner.upgrade();
        let key = PortalKey {
            connector: self.connector.clone(),
            chat: chat.clone(),
            receiver: None,
        };
        Box::pin(async move {
            let portal = inner?.store.portal_by_key(&key).await.ok()??;
            portal.room_id
        })
    }

    fn save_login_secret(
        &self,
        login: &LoginId,
        secret: serde_json::Value,
    ) -> BoxFuture<'static, Result<()>> {
        let inner = self.inner.upgrade();
        let connector = self.connector.clone();
        let login = login.clone();
        Box::pin(async move {
            let inner = inner.ok_or(Error::ShuttingDown)?;
            let Some(mut stored) = inner.store.login(&connector, &login).await? else {
                return Ok(()); // logged out meanwhile: nothing to keep
            };
            stored.secret = secret.clone();
            inner.store.upsert_login(&stored).await?;
            if let Some(l) = inner
                .logins
                .write()
                .expect("logins lock")
                .get_mut(&(connector, login))
            {
                Arc::make_mut(&mut l.login).secret = secret;
            }
            Ok(())
        })
    }

    fn save_login_state(
        &self,
        login: &LoginId,
        state: serde_json::Value,
    ) -> BoxFuture<'static, Result<()>> {
        let inner = self.inner.upgrade();
        let connector = self.connector.clone();
        let login = login.clone();
        Box::pin(async move {
            let inner = inner.ok_or(Error::ShuttingDown)?;
            inner
                .store
                .set_login_state(&connector, &login, &state)
                .await?;
            if let Some(l) = inner
                .logins
                .write()
                .expect("logins lock")
                .get_mut(&(connector, login))
            {
                // Clones the record once per save (connectors save at most about once a
                // second), not once per job.
                Arc::make_mut(&mut l.login).state = state;
            }
            Ok(())
        })
    }

    fn report_state(&self, login: &LoginId, state: RemoteState) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let value = match &state {
            RemoteState::Connected => 1,
            RemoteState::Connecting | RemoteState::TransientDisconnect(_) => 0,
            RemoteState::BadCredentials(_) => -1,
        };
        inner
            .metrics
            .connection_state(self.connector.as_str(), login.as_str(), value);
        if let RemoteState::BadCredentials(reason) = state {
            let connector = self.connector.clone();
            let login = login.clone();
            tokio::spawn(async move {
                inner
                    .log_out_for_bad_credentials(&connector, &login, &reason)
                    .await
            });
        }
    }

    fn matrix_id_for(&self, user: &RemoteUserId) -> String {
        match self.inner.upgrade() {
            Some(inner) => inner.namer.user_id(&self.connector, user),
            None => String::new(),
        }
    }
}
