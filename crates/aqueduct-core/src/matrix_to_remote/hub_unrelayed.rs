//! A hub room's chat without a relay, met by a message from another chat whose author has no
//! login on its network. The room is told once per chat, with the fix (`set-relay`), and
//! then the chat's skipped messages are only counted (`unrelayed_chats.rs`): a notice for
//! each would bury the conversation. A Matrix user's own message is still told each time,
//! by `bridge_to_remote`, as in a one-portal room: it is their message, and they are there.

use crate::bridge::{DOUBLE_PUPPET_MARKER, Inner};
use crate::matrix_content::Envelope;
use crate::records::Portal;

impl Inner {
    /// Whether `env` is another chat's event the bridge carries on (by a ghost, or a double
    /// puppet's), rather than a Matrix user's own.
    pub(super) fn carried_from_another_chat(&self, env: &Envelope) -> bool {
        self.namer.is_ghost(&env.sender) || env.content.get(DOUBLE_PUPPET_MARKER).is_some()
    }

    /// Counts a message `portal` does not get for want of a relay, and tells the room the
    /// first time since the chat last had one.
    pub(super) async fn skip_unrelayed(&self, env: &Envelope, portal: &Portal) {
        if env.kind != "m.room.message" || !self.unrelayed.skipped(&portal.key) {
            return;
        }
        let network = portal.key.connector.as_str();
        let name = self
            .connectors
            .get(&portal.key.connector)
            .map_or(network, |c| c.display_name());
        self.notice(
            &env.room_id,
            &format!(
                "Messages from people without a {name} login do not reach this room's {name} chat ({chat}): it has no relay. \
                 An admin logged in to {name} can turn one on with `set-relay` in this room, or people can log in with `login {network}` in a chat with me. \
                 Until then this is not said again for {name}.",
                chat = portal.key.chat,
            ),
        )
        .await;
    }
}
