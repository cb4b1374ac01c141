//! What the engine needs from persistence. `aqueduct-store` implements it on SQLite and
//! PostgreSQL; the contract below is what its conformance suite checks.

use crate::audit::Crossing;
use crate::ids::{ConnectorId, LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use crate::records::{
    CustomEmojiRecord, DeadLetter, Ghost, InboxEvent, Login, MessageRecord, Portal, ReactionRecord,
};
use async_trait::async_trait;

/// A failure of the storage backend.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Result of a store call.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Persistence for the engine. Every method is atomic on its own.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records an appservice transaction and its events in one atomic step. Returns `false`
    /// (and stores nothing) if `txn_id` was already recorded, so a retried push is processed
    /// once. After `Ok`, the events survive a crash.
    async fn enqueue_transaction(
        &self,
        txn_id: &str,
        events: &[(Option<String>, String)],
    ) -> StoreResult<bool>;
    /// Inbox events not yet acknowledged with a sequence number above `after`, oldest first,
    /// at most `limit` of them.
    async fn pending_inbox(&self, after: i64, limit: i64) -> StoreResult<Vec<InboxEvent>>;
    /// Removes a handled inbox event. Acknowledging an unknown sequence number is not an error.
    async fn ack_inbox(&self, seq: i64) -> StoreResult<()>;
    /// Durably counts one more attempt at handling inbox event `seq` and returns the count now
    /// recorded (0 for an unknown `seq`). The engine calls it before handling an event left
    /// from before a restart, so a crash while handling it counts too, and after a failure.
    async fn count_inbox_attempt(&self, seq: i64) -> StoreResult<i64>;
    /// The highest sequence number in the inbox now, if it holds any event.
    async fn inbox_last_seq(&self) -> StoreResult<Option<i64>>;
    /// How many events the inbox holds.
    async fn inbox_len(&self) -> StoreResult<i64>;
    /// Moves inbox event `seq` to the dead letters with `reason` (its attempts and a
    /// timestamp go along), atomically: afterwards it is in the dead letters and no longer
    /// pending. `false` (and nothing changes) if the inbox has no such event.
    async fn dead_letter_inbox(&self, seq: i64, reason: &str) -> StoreResult<bool>;
    /// Dead letters, oldest first, at most `limit` of them.
    async fn dead_letters(&self, limit: i64) -> StoreResult<Vec<DeadLetter>>;
    /// Forgets appservice transaction ids received before `before_ms` (milliseconds since the
    /// epoch); returns how many. The homeserver never resends a transaction it saw answered,
    /// so an id only needs remembering while a retry may still be on its way.
    async fn prune_appservice_txns(&self, before_ms: i64) -> StoreResult<u64>;

    /// The portal for a remote chat, if known.
    async fn portal_by_key(&self, key: &PortalKey) -> StoreResult<Option<Portal>>;
    /// The portal bridged to a Matrix room, if any. A hub room has several; this is the
    /// first of them by key (connector, chat, receiver), as [`Store::portals_by_room`] lists
    /// them.
    async fn portal_by_room(&self, room_id: &str) -> StoreResult<Option<Portal>>;
    /// Every portal bridged to a Matrix room (a hub room has several), ordered by key.
    async fn portals_by_room(&self, room_id: &str) -> StoreResult<Vec<Portal>>;
    /// Inserts or replaces the portal with this key.
    async fn upsert_portal(&self, portal: &Portal) -> StoreResult<()>;
    /// Forgets a portal and its message and reaction mappings.
    async fn delete_portal(&self, key: &PortalKey) -> StoreResult<()>;
    /// Every portal with a Matrix room.
    async fn list_portals(&self) -> StoreResult<Vec<Portal>>;

    /// The ghost for a remote user, if known.
    async fn ghost(
        &self,
        connector: &ConnectorId,
        user: &RemoteUserId,
    ) -> StoreResult<Option<Ghost>>;
    /// Inserts or replaces the ghost for (connector, remote user).
    async fn upsert_ghost(&self, ghost: &Ghost) -> StoreResult<()>;

    /// One login by connector and id.
    async fn login(&self, connector: &ConnectorId, id: &LoginId) -> StoreResult<Option<Login>>;
    /// Every login of one Matrix user, across connectors.
    async fn logins_of_user(&self, matrix_user: &str) -> StoreResult<Vec<Login>>;
    /// Every login, for loading at start-up.
    async fn list_logins(&self) -> StoreResult<Vec<Login>>;
    /// Inserts or replaces the login with this connector and id.
    async fn upsert_login(&self, login: &Login) -> StoreResult<()>;
    /// Replaces only the connector-owned state of a login.
    async fn set_login_state(
        &self,
        connector: &ConnectorId,
        id: &LoginId,
        state: &serde_json::Value,
    ) -> StoreResult<()>;
    /// Forgets a login. Portals that used it as relay stop relaying.
    async fn delete_login(&self, connector: &ConnectorId, id: &LoginId) -> StoreResult<()>;

    /// Records a Matrix event for a remote message part. A second record for the same
    /// (portal, remote id, part) is ignored.
    async fn insert_message(&self, message: &MessageRecord) -> StoreResult<()>;
    /// Records several parts at once, each as [`Store::insert_message`] would, atomically: on
    /// `Ok` all are recorded, on `Err` none is. One commit for all of them.
    async fn insert_messages(&self, messages: &[MessageRecord]) -> StoreResult<()>;
    /// What crossed the bridge: applies each crossing's mapping change and appends its record
    /// entry (numbered and chained to the entry before), all in one transaction: on `Ok`
    /// every change and entry is kept, on `Err` none is. Idempotent: an entry whose
    /// (direction, portal, Matrix event) is already in the record is not appended again, so
    /// a replay after a crash records nothing twice; mapping changes behave as the plain
    /// methods do (a second insert of the same message or reaction is ignored).
    async fn record_crossings(&self, crossings: &[Crossing]) -> StoreResult<()>;
    /// All parts of one remote message, first part first.
    async fn message_parts(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> StoreResult<Vec<MessageRecord>>;
    /// The part carried by a Matrix event, if the event is bridged.
    async fn message_by_event(&self, event_id: &str) -> StoreResult<Option<MessageRecord>>;
    /// The part a Matrix event carries in one portal, if it is bridged there. In a hub room
    /// one Matrix event maps to one message per portal.
    async fn message_by_event_in(
        &self,
        portal: &PortalKey,
        event_id: &str,
    ) -> StoreResult<Option<MessageRecord>>;
    /// Forgets every part of one remote message.
    async fn delete_message(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> StoreResult<()>;
    /// The most recent bridged message of a portal, by remote timestamp.
    async fn last_message(&self, portal: &PortalKey) -> StoreResult<Option<MessageRecord>>;

    /// Records a reaction. A second record for the same (portal, target, sender, key) is ignored.
    async fn insert_reaction(&self, reaction: &ReactionRecord) -> StoreResult<()>;
    /// One reaction by its remote coordinates.
    async fn reaction(
        &self,
        portal: &PortalKey,
        target: &RemoteMessageId,
        sender: &RemoteUserId,
        key: &str,
    ) -> StoreResult<Option<ReactionRecord>>;
    /// The reaction carried by a Matrix event, if bridged.
    async fn reaction_by_event(&self, event_id: &str) -> StoreResult<Option<ReactionRecord>>;
    /// Forgets a reaction by its Matrix event, in every portal.
    async fn delete_reaction(&self, event_id: &str) -> StoreResult<()>;
    /// The reaction a Matrix event carries in one portal, if bridged there (a hub room
    /// records one per portal).
    async fn reaction_by_event_in(
        &self,
        portal: &PortalKey,
        event_id: &str,
    ) -> StoreResult<Option<ReactionRecord>>;
    /// Forgets the reaction a Matrix event carries in one portal; the other portals' records
    /// of it stay.
    async fn delete_reaction_in(&self, portal: &PortalKey, event_id: &str) -> StoreResult<()>;

    /// The management room of a Matrix user, if one was set up.
    async fn management_room(&self, matrix_user: &str) -> StoreResult<Option<String>>;
    /// Sets (or replaces) the management room of a Matrix user.
    async fn set_management_room(&self, matrix_user: &str, room_id: &str) -> StoreResult<()>;

    /// Whether the bridge already made `user_id` a member of `room_id`.
    async fn is_member(&self, room_id: &str, user_id: &str) -> StoreResult<bool>;
    /// Records (`true`) or forgets (`false`) that `user_id` is a member of `room_id`.
    async fn set_member(&self, room_id: &str, user_id: &str, member: bool) -> StoreResult<()>;
    /// Forgets every membership recorded in `room_id` (the bridge left the room), leaving other
    /// rooms untouched. Forgetting a room with no records is not an error.
    async fn forget_room_members(&self, room_id: &str) -> StoreResult<()>;

    /// Remembers a custom emoji's upload. A second record for the same source is dropped,
    /// keeping the first (two concurrent uploads of one image agree on one URI).
    async fn insert_custom_emoji(&self, emoji: &CustomEmojiRecord) -> StoreResult<()>;
    /// The upload of a custom emoji image by its source, if any.
    async fn custom_emoji_by_source(&self, source: &str) -> StoreResult<Option<CustomEmojiRecord>>;
    /// The custom emoji uploaded as `mxc`, if any.
    async fn custom_emoji_by_mxc(&self, mxc: &str) -> StoreResult<Option<CustomEmojiRecord>>;
}
