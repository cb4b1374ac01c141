//! The handlers the app login and personal logins share word for word: each forwards to the
//! login's [`crate::calls::Calls`] (the same Web API calls, with the login's own token). A
//! macro, because the handler traits are the engine's and a blanket impl of them is not
//! allowed here.

/// Implements `DeleteHandler`, `ReactionHandler`, `ChatInfoHandler` and `MembershipHandler`
/// for a login type with a `calls()` method.
macro_rules! delegate_channel_handlers {
    ($login:ty) => {
        #[async_trait::async_trait]
        impl aqueduct_core::connector::DeleteHandler for $login {
            async fn delete_message(
                &self,
                portal: &aqueduct_core::records::Portal,
                target: &aqueduct_core::ids::RemoteMessageId,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                self.calls().delete(portal, target).await
            }
        }

        #[async_trait::async_trait]
        impl aqueduct_core::connector::ReactionHandler for $login {
            async fn add_reaction(
                &self,
                portal: &aqueduct_core::records::Portal,
                target: &aqueduct_core::ids::RemoteMessageId,
                key: &str,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                self.calls().react(true, portal, target, key).await
            }

            async fn remove_reaction(
                &self,
                portal: &aqueduct_core::records::Portal,
                target: &aqueduct_core::ids::RemoteMessageId,
                key: &str,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                self.calls().react(false, portal, target, key).await
            }
        }

        #[async_trait::async_trait]
        impl aqueduct_core::connector::ChatInfoHandler for $login {
            async fn set_name(
                &self,
                portal: &aqueduct_core::records::Portal,
                name: &str,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                self.calls()
                    .on_channel("conversations.rename", portal, ("name", name.to_owned()))
                    .await
            }

            async fn set_topic(
                &self,
                portal: &aqueduct_core::records::Portal,
                topic: &str,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                self.calls()
                    .on_channel(
                        "conversations.setTopic",
                        portal,
                        ("topic", topic.to_owned()),
                    )
                    .await
            }
        }

        #[async_trait::async_trait]
        impl aqueduct_core::connector::MembershipHandler for $login {
            async fn invite(
                &self,
                portal: &aqueduct_core::records::Portal,
                user: &aqueduct_core::ids::RemoteUserId,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                let user = crate::convert::slack_user(user).to_owned();
                self.calls()
                    .on_channel("conversations.invite", portal, ("users", user))
                    .await
            }

            async fn kick(
                &self,
                portal: &aqueduct_core::records::Portal,
                user: &aqueduct_core::ids::RemoteUserId,
            ) -> aqueduct_core::connector::ConnectorResult<()> {
                let user = crate::convert::slack_user(user).to_owned();
                self.calls()
                    .on_channel("conversations.kick", portal, ("user", user))
                    .await
            }
        }
    };
}

pub(crate) use delegate_channel_handlers;
