//! The checks that keep a room member from acting on the platform with more power than they
//! have in Matrix. The bridge's logins (a relay above all) often may edit, delete and notify
//! everyone on the platform; a Matrix member may send an edit or redaction of anyone's event
//! and an `@room` mention whatever their power, and the homeserver passes them on. So before an
//! edit, a delete or a room ping crosses, the engine asks what the sender may do in the room.

use crate::bridge::{Inner, LoadedLogin};
use crate::event::MessageContent;
use crate::matrix_content::Envelope;
use crate::records::{MessageRecord, ReactionRecord};
use crate::room_power::defuse_room_pings;

impl Inner {
    /// Why `env.sender` may not edit `target` on the platform, or `None` when they may: only
    /// the message's own Matrix sender may edit it (Matrix clients show nobody else's edit).
    pub(crate) fn edit_refusal(&self, env: &Envelope, target: &MessageRecord) -> Option<String> {
        (target.sender_mxid != env.sender).then(|| {
            format!(
                "{}: your edit was not bridged: only the author of a message can edit it.",
                env.sender
            )
        })
    }

    /// Why `env.sender`'s redaction of `target` may not delete it on the platform through
    /// `via`, or `None` when it may.
    ///
    /// One's own message may always be deleted. Someone else's needs the room's `redact`
    /// power. Through a login that is not the sender's own (a relay), only what that login
    /// posted itself may be deleted, never a platform user's message: the relay's power on the
    /// platform is not the sender's.
    pub(crate) async fn redaction_refusal(
        &self,
        env: &Envelope,
        target: &MessageRecord,
        via: &LoadedLogin,
    ) -> crate::Result<Option<String>> {
        if target.sender_mxid == env.sender {
            return Ok(None);
        }
        if !self
            .room_power(&env.room_id)
            .await?
            .may_redact_others(&env.sender)
        {
            return Ok(Some(format!(
                "{}: your deletion was not bridged: you may not remove other people's messages in this room.",
                env.sender
            )));
        }
        let own_login = via.login.matrix_user == env.sender;
        let posted_by_via = target.remote_sender == via.login.remote_user
            && !self.namer.is_ghost(&target.sender_mxid);
        if !own_login && !posted_by_via {
            return Ok(Some(format!(
                "{}: your deletion was not bridged: removing a {} user's message needs your own {} login.",
                env.sender, via.login.connector, via.login.connector
            )));
        }
        Ok(None)
    }

    /// Why `env.sender`'s redaction of the reaction `target` may not remove it on the
    /// platform through `via`, or `None` when it may. Platforms remove only the caller's own
    /// reaction, so only a reaction of the sender's own login crosses; anything else would
    /// remove the login's reaction with the same key instead.
    pub(crate) async fn reaction_redaction_refusal(
        &self,
        env: &Envelope,
        target: &ReactionRecord,
        via: &LoadedLogin,
    ) -> crate::Result<Option<String>> {
        let own_login = via.login.matrix_user == env.sender;
        if own_login && target.remote_sender == via.login.remote_user {
            return Ok(None);
        }
        let power = self.room_power(&env.room_id).await?;
        Ok(Some(if power.may_redact_others(&env.sender) {
            format!(
                "{}: the reaction was removed here only: {} does not let the bridge remove someone else's reaction.",
                env.sender, via.login.connector
            )
        } else {
            format!(
                "{}: your removal was not bridged: you may not remove other people's reactions in this room.",
                env.sender
            )
        }))
    }

    /// Keeps a mention of the whole room from crossing unless `env.sender` may notify the
    /// room (`notifications.room`): clears [`crate::event::Mentions::room`] and defuses
    /// `@room`-like words in the text, which converters and platforms would otherwise read as
    /// a ping of everyone. The text otherwise stays as written.
    pub(crate) async fn gate_room_ping(
        &self,
        env: &Envelope,
        content: &mut MessageContent,
    ) -> crate::Result<()> {
        let body = defuse_room_pings(&content.body);
        let html = content.html.as_deref().map(defuse_room_pings);
        let pings = content.mentions.room
            || body != content.body
            || html.as_deref() != content.html.as_deref();
        if !pings {
            return Ok(());
        }
        if self
            .room_power(&env.room_id)
            .await?
            .may_ping_room(&env.sender)
        {
            return Ok(());
        }
        tracing::info!(sender = %env.sender, room = %env.room_id, "a mention of the whole room from a member without the power to notify it is not bridged as one");
        self.metrics.refused_by_room_power("room_ping");
        content.mentions.room = false;
        content.body = body;
        content.html = html;
        Ok(())
    }
}
