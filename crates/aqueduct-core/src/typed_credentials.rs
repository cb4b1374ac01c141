//! Credentials typed into a chat: `login rocketchat token <user id> <token>`, `login
//! rocketchat password <user> <password>`, `login slack app <bot token> <app token>`. The
//! homeserver keeps every message, and every client of the room shows it, so the bot deletes
//! (redacts) a login command that carries more than the network and the flow's name, before
//! it acts on it, and says whether it could. A failed login is deleted too: a mistyped
//! password is still someone's password.

use crate::bridge::Inner;
use crate::ids::ConnectorId;
use crate::matrix_content::Envelope;

impl Inner {
    /// Whether the command `name args` (as typed, split on whitespace, `name` lower-cased)
    /// carries credentials: a `login` with words after the network and the flow's name.
    pub(crate) fn carries_credentials(&self, name: &str, args: &[String]) -> bool {
        if name != "login" {
            return false;
        }
        let Some((network, rest)) = args.split_first() else {
            return false;
        };
        let flow_named = match (
            self.connectors.get(&ConnectorId::new(network)),
            rest.first(),
        ) {
            (Some(connector), Some(first)) => {
                connector.login_flows().iter().any(|f| &f.id == first)
            }
            _ => false,
        };
        let secret_words = if flow_named { &rest[1..] } else { rest };
        !secret_words.is_empty()
    }

    /// Deletes the command message `env` as the bot; returns the line that tells the user
    /// what happened to it.
    pub(crate) async fn delete_typed_credentials(&self, env: &Envelope) -> &'static str {
        let bot = self.matrix.bot_user_id().to_owned();
        let txn = crate::txn_id::derive(&["credentials", &env.event_id]);
        match self
            .matrix
            .redact(
                &env.room_id,
                &bot,
                &env.event_id,
                &txn,
                Some("it holds credentials"),
            )
            .await
        {
            Ok(_) => "Your message with the credentials was deleted from this room.",
            Err(e) => {
                tracing::warn!(room = %env.room_id, error = %e, "cannot delete a message that holds credentials");
                "Delete your message yourself: it holds your credentials, and the bridge could \
                 not delete it."
            }
        }
    }
}
