//! Building the record's entries ([`AuditDraft`]) where the engine bridges something: who and
//! where are known once per event, the Matrix event and content per part.

use crate::audit::{AuditAction, AuditDirection, AuditDraft, canonical_content, digest_of};
use crate::clock::now_ms;
use crate::ids::{PortalKey, RemoteMessageId};
use crate::matrix_content::Envelope;
use serde_json::Value;

/// Where something crossed and between whom.
pub(crate) struct Crossed<'a> {
    pub direction: AuditDirection,
    pub portal: &'a PortalKey,
    pub room_id: &'a str,
    /// The platform's message: new, or the one edited, deleted or reacted to.
    pub remote_message_id: Option<&'a RemoteMessageId>,
    pub matrix_sender: &'a str,
    pub remote_sender: &'a str,
}

impl<'a> Crossed<'a> {
    /// A Matrix event (`env`) crossing out to `portal`'s platform, posted there by
    /// `remote_sender` (the sender's own login, or the relay).
    pub fn out(
        env: &'a Envelope,
        portal: &'a PortalKey,
        remote_message_id: Option<&'a RemoteMessageId>,
        remote_sender: &'a str,
    ) -> Self {
        Self {
            direction: AuditDirection::ToRemote,
            portal,
            room_id: &env.room_id,
            remote_message_id,
            matrix_sender: &env.sender,
            remote_sender,
        }
    }

    /// Something from `portal`'s platform crossing into Matrix room `room_id`, sent there as
    /// `matrix_sender` for `remote_sender`.
    pub fn into_matrix(
        portal: &'a PortalKey,
        room_id: &'a str,
        remote_message_id: &'a RemoteMessageId,
        matrix_sender: &'a str,
        remote_sender: &'a str,
    ) -> Self {
        Self {
            direction: AuditDirection::ToMatrix,
            portal,
            room_id,
            remote_message_id: Some(remote_message_id),
            matrix_sender,
            remote_sender,
        }
    }

    /// The entry for the Matrix event `env` itself, with its content.
    pub fn of_event(&self, action: AuditAction, env: &Envelope) -> AuditDraft {
        let content = (action != AuditAction::Delete && action != AuditAction::Unreaction)
            .then_some(&env.content);
        self.draft(action, &env.event_id, content)
    }

    /// The entry for `action` carried by Matrix event `event_id` with `content` (its Matrix
    /// content; `None` where nothing is said, as in a delete).
    pub fn draft(
        &self,
        action: AuditAction,
        event_id: &str,
        content: Option<&Value>,
    ) -> AuditDraft {
        // Made once: hashed here, and sealed by a store that keeps content.
        let canonical = content.map(canonical_content);
        AuditDraft {
            at_ms: now_ms(),
            direction: self.direction,
            action,
            portal: self.portal.clone(),
            room_id: self.room_id.to_owned(),
            matrix_event_id: event_id.to_owned(),
            remote_message_id: self.remote_message_id.cloned(),
            matrix_sender: self.matrix_sender.to_owned(),
            remote_sender: self.remote_sender.to_owned(),
            content_digest: canonical.as_deref().map(digest_of),
            content: canonical,
        }
    }
}
