//! How Teams conversations and messages are named in the bridge, and their Graph paths.
//!
//! - A chat (1:1, group, meeting) is its Graph chat id, `19:...@thread.v2` (or
//!   `...@unq.gbl.spaces`).
//! - A team channel is `{team-id}/{channel-id}`: the team's id (its Microsoft 365 group's
//!   GUID) and the channel's id (`19:...@thread.tacv2`), joined by a `/`, which neither id
//!   contains. `bridge teams <team-id>/<channel-id>` bridges one.
//! - A message is its Graph id (a number), except a channel reply, which Graph addresses
//!   only under its thread's root: `{root-id}/{reply-id}`. So every edit, delete or reaction
//!   finds its message without a look-up, after a restart too.

use crate::poll::encode;

/// A chat or a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversation<'a> {
    /// A 1:1, group or meeting chat.
    Chat(&'a str),
    /// A team channel.
    Channel {
        /// The team's id.
        team: &'a str,
        /// The channel's id.
        channel: &'a str,
    },
}

impl<'a> Conversation<'a> {
    /// The conversation a bridge chat id names.
    pub fn of(chat: &'a str) -> Self {
        match chat.split_once('/') {
            Some((team, channel)) if !team.is_empty() && !channel.is_empty() => {
                Conversation::Channel { team, channel }
            }
            _ => Conversation::Chat(chat),
        }
    }

    /// Whether this is a team channel.
    pub fn is_channel(&self) -> bool {
        matches!(self, Conversation::Channel { .. })
    }

    /// `/chats/{id}` or `/teams/{team}/channels/{channel}`.
    pub fn path(&self) -> String {
        match self {
            Conversation::Chat(id) => format!("/chats/{}", encode(id)),
            Conversation::Channel { team, channel } => {
                format!("/teams/{}/channels/{}", encode(team), encode(channel))
            }
        }
    }

    /// The collection new top-level messages are posted to.
    pub fn messages_path(&self) -> String {
        format!("{}/messages", self.path())
    }

    /// The Graph path of message `id` (a bridge message id: `{root}/{reply}` for a channel
    /// reply).
    pub fn message_path(&self, id: &str) -> String {
        match (self, split_reply(id)) {
            (Conversation::Channel { .. }, (Some(root), reply)) => format!(
                "{}/messages/{}/replies/{}",
                self.path(),
                encode(root),
                encode(reply)
            ),
            _ => format!("{}/messages/{}", self.path(), encode(id)),
        }
    }

    /// Where replies to thread `root` are posted (channels).
    pub fn replies_path(&self, root: &str) -> String {
        format!("{}/messages/{}/replies", self.path(), encode(root))
    }
}

/// The bridge chat id of a team channel.
pub fn channel_chat_id(team: &str, channel: &str) -> String {
    format!("{team}/{channel}")
}

/// The bridge message id of a channel reply.
pub fn reply_id(root: &str, reply: &str) -> String {
    format!("{root}/{reply}")
}

/// A bridge message id as (thread root, the message's own Graph id): the root is set for a
/// channel reply.
pub fn split_reply(id: &str) -> (Option<&str>, &str) {
    match id.split_once('/') {
        Some((root, reply)) => (Some(root), reply),
        None => (None, id),
    }
}

/// The thread root a message belongs to, or the message itself when it is a root.
pub fn thread_root_of(id: &str) -> &str {
    split_reply(id).0.unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_and_channels_have_their_graph_paths() {
        let chat = Conversation::of("19:abc@thread.v2");
        assert_eq!(chat, Conversation::Chat("19:abc@thread.v2"));
        assert_eq!(
            chat.message_path("17"),
            "/chats/19%3Aabc%40thread.v2/messages/17"
        );
        let channel = Conversation::of("team-1/19:c@thread.tacv2");
        assert!(channel.is_channel());
        assert_eq!(
            channel.messages_path(),
            "/teams/team-1/channels/19%3Ac%40thread.tacv2/messages"
        );
        assert_eq!(
            channel.message_path(&reply_id("10", "11")),
            "/teams/team-1/channels/19%3Ac%40thread.tacv2/messages/10/replies/11"
        );
        assert_eq!(thread_root_of("10/11"), "10");
        assert_eq!(thread_root_of("10"), "10");
    }
}
