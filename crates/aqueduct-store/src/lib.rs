//! Persistence for the bridge engine: [`SqlStore`] implements [`aqueduct_core::store::Store`]
//! on SQLite (the default) or PostgreSQL.
//!
//! Both backends go through `sqlx::Any`, so every query exists once, as one SQL text that both
//! accept (`$1` placeholders, `ON CONFLICT`, 64-bit integers and `TEXT` only). Only the DDL
//! differs; it lives in `migrations/{sqlite,postgres}` at the workspace root and is embedded at
//! build time and applied by [`SqlStore::connect`].
//!
//! Each table has its own module holding its queries; this file opens the database and
//! routes the trait's methods to them.

mod audit;
mod connect;
mod custom_emoji;
mod error;
mod ghost;
mod inbox;
mod login;
mod login_seal;
mod management_room;
mod membership;
mod message;
mod portal;
mod portal_cache;
mod reaction;
mod sealing;
mod secrets_key;
mod secrets_store;

#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub mod conformance;

pub use audit::AuditQuery;
pub use error::{Error, Result};
pub use sealing::SealError;
pub use secrets_key::{SecretsKey, SecretsKeyError};
pub use secrets_store::DEFAULT_SECRETS_KEY_FILE;

use aqueduct_core::audit::{AuditEntry, AuditSeal, Crossing};
use aqueduct_core::ids::{ConnectorId, LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use aqueduct_core::records::{
    CustomEmojiRecord, DeadLetter, Ghost, InboxEvent, Login, MessageRecord, Portal, ReactionRecord,
};
use aqueduct_core::store::{Store, StoreResult};
use async_trait::async_trait;
use sqlx::AnyPool;
use std::fmt;
use std::sync::Arc;

/// Which database engine a [`SqlStore`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A local SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// The engine's store on an SQL database. Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct SqlStore {
    /// Reads go here.
    pool: AnyPool,
    /// Writes go here: on SQLite a single connection (see `connect::Opened::writer`).
    writer: AnyPool,
    backend: Backend,
    /// Serializes `enqueue_transaction`. On PostgreSQL an inbox `seq` is drawn at insert time
    /// but becomes visible at commit, so two concurrent enqueues could commit out of order and
    /// a reader whose cursor already passed the later seq would skip the earlier one. One
    /// enqueue at a time makes seq order the commit order. (SQLite serializes writers anyway.)
    enqueue_lock: Arc<tokio::sync::Mutex<()>>,
    portals: Arc<portal_cache::PortalCache>,
    /// Seals login secrets; `None` stores them as plaintext (see `secrets_store.rs`).
    secrets: Option<Arc<SecretsKey>>,
    /// Whether `record_crossings` appends record entries (see [`SqlStore::keep_record`]).
    keep_record: bool,
    /// Seals the content of recorded messages; `None` keeps only their digest.
    record_content_key: Option<Arc<SecretsKey>>,
    /// The record's head as last appended (see `audit::record`); shared by clones.
    audit_head: Arc<audit::HeadCache>,
}

impl SqlStore {
    /// Opens (creating if needed) the database at `uri` and runs the embedded migrations.
    ///
    /// `uri` is `sqlite://PATH`, `sqlite:PATH` or a bare file path for SQLite (the file is
    /// created if missing, its directory is not), or `postgres://...` / `postgresql://...` for
    /// PostgreSQL (libpq-style query parameters such as `options=-csearch_path%3Dmyschema`
    /// are honoured).
    pub async fn connect(uri: &str) -> Result<SqlStore> {
        let opened = connect::open(uri).await?;
        Ok(SqlStore {
            pool: opened.readers,
            writer: opened.writer,
            backend: opened.backend,
            enqueue_lock: Arc::default(),
            portals: Arc::default(),
            secrets: None,
            keep_record: true,
            record_content_key: None,
            audit_head: Arc::default(),
        })
    }

    /// Whether what crosses the bridge is appended to the record (`docs/record.md`); on by
    /// default. Off, `record_crossings` changes the message map only.
    pub fn keep_record(mut self, keep: bool) -> Self {
        self.keep_record = keep;
        self
    }

    /// Keeps the content of what crosses in the record too, sealed with `key`
    /// (`record.keep_content`); without it only the content's digest is kept.
    pub fn keep_record_content(mut self, key: SecretsKey) -> Self {
        self.record_content_key = Some(Arc::new(key));
        self
    }

    /// The content kept for record entry `seq`, opened with the content key given to
    /// [`SqlStore::keep_record_content`]; `None` if none was kept.
    pub async fn audit_content(&self, seq: i64) -> Result<Option<String>> {
        audit::content(&self.pool, seq, self.record_content_key.as_deref()).await
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Every stored login's connector and id, read fresh from the database (one small query:
    /// health checks use it to ask whether the database answers and who is logged in).
    pub async fn login_keys(&self) -> Result<Vec<(ConnectorId, LoginId)>> {
        login::keys(&self.pool).await
    }

    /// The cached portal, else what `read` finds in the database (kept for next time).
    async fn cached_portal(
        &self,
        cached: std::result::Result<Portal, portal_cache::Generation>,
        read: impl std::future::Future<Output = Result<Option<Portal>>>,
        by_room: bool,
    ) -> StoreResult<Option<Portal>> {
        let read_at = match cached {
            Ok(portal) => return Ok(Some(portal)),
            Err(generation) => generation,
        };
        let found = read.await?;
        if let Some(p) = &found {
            self.portals.remember(p, read_at, by_room);
        }
        Ok(found)
    }

    /// Record entries matching `q`, oldest first.
    pub async fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        audit::entries(&self.pool, q).await
    }

    /// The newest record entry's (seq, hash): (0, [`aqueduct_core::audit::GENESIS_HASH`]) for
    /// an empty record.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        audit::head(&self.pool).await
    }

    /// Every seal of the record, oldest first.
    pub async fn audit_seals(&self) -> Result<Vec<AuditSeal>> {
        audit::seals(&self.pool).await
    }

    /// The newest seal of the record; with `before_ms`, the newest made at or before it.
    pub async fn newest_audit_seal(&self, before_ms: Option<i64>) -> Result<Option<AuditSeal>> {
        audit::newest_seal(&self.pool, before_ms).await
    }

    /// Keeps a seal (a second seal of the same entry is ignored).
    pub async fn insert_audit_seal(&self, seal: &AuditSeal) -> Result<()> {
        audit::insert_seal(&self.writer, seal).await
    }

    /// Drops the record entries and seals before `checkpoint`; the checkpoint entry and its
    /// seal stay, as where what remains starts. The caller makes sure `checkpoint` is sealed.
    /// Returns how many entries were dropped.
    pub async fn prune_audit_through(&self, checkpoint: i64) -> Result<u64> {
        audit::prune_through(&self.writer, checkpoint).await
    }

    /// Closes every connection, waiting for calls in flight. On SQLite this also checkpoints
    /// the write-ahead log into the main file. Calls made afterwards fail.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

// Every method delegates to the module of its table; `?` turns our `Error` into the engine's
// `StoreError`.
#[async_trait]
impl Store for SqlStore {
    async fn enqueue_transaction(
        &self,
        txn_id: &str,
        events: &[(Option<String>, String)],
    ) -> StoreResult<bool> {
        let _one_at_a_time = self.enqueue_lock.lock().await;
        Ok(inbox::enqueue_transaction(&self.writer, txn_id, events).await?)
    }

    async fn pending_inbox(&self, after: i64, limit: i64) -> StoreResult<Vec<InboxEvent>> {
        Ok(inbox::pending(&self.pool, after, limit).await?)
    }

    async fn ack_inbox(&self, seq: i64) -> StoreResult<()> {
        Ok(inbox::ack(&self.writer, seq).await?)
    }

    async fn count_inbox_attempt(&self, seq: i64) -> StoreResult<i64> {
        Ok(inbox::count_attempt(&self.writer, seq).await?)
    }

    async fn inbox_last_seq(&self) -> StoreResult<Option<i64>> {
        Ok(inbox::last_seq(&self.pool).await?)
    }

    async fn inbox_len(&self) -> StoreResult<i64> {
        Ok(inbox::len(&self.pool).await?)
    }

    async fn dead_letter_inbox(&self, seq: i64, reason: &str) -> StoreResult<bool> {
        Ok(inbox::dead_letter(&self.writer, seq, reason).await?)
    }

    async fn dead_letters(&self, limit: i64) -> StoreResult<Vec<DeadLetter>> {
        Ok(inbox::dead_letters(&self.pool, limit).await?)
    }

    async fn prune_appservice_txns(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(inbox::prune_txns(&self.writer, before_ms).await?)
    }

    async fn portal_by_key(&self, key: &PortalKey) -> StoreResult<Option<Portal>> {
        self.cached_portal(
            self.portals.by_key(key),
            portal::by_key(&self.pool, key),
            false,
        )
        .await
    }

    async fn portal_by_room(&self, room_id: &str) -> StoreResult<Option<Portal>> {
        self.cached_portal(
            self.portals.by_room(room_id),
            portal::by_room(&self.pool, room_id),
            true,
        )
        .await
    }

    async fn portals_by_room(&self, room_id: &str) -> StoreResult<Vec<Portal>> {
        Ok(portal::all_by_room(&self.pool, room_id).await?)
    }

    async fn upsert_portal(&self, portal: &Portal) -> StoreResult<()> {
        let written = portal::upsert(&self.writer, portal).await;
        // Even a failed write may have landed (an error after the commit): never keep the
        // old row.
        match &written {
            Ok(()) => self.portals.written(portal),
            Err(_) => self.portals.deleted(&portal.key),
        }
        Ok(written?)
    }

    async fn delete_portal(&self, key: &PortalKey) -> StoreResult<()> {
        let deleted = portal::delete(&self.writer, key).await;
        self.portals.deleted(key);
        Ok(deleted?)
    }

    async fn list_portals(&self) -> StoreResult<Vec<Portal>> {
        Ok(portal::list_with_room(&self.pool).await?)
    }

    async fn ghost(
        &self,
        connector: &ConnectorId,
        user: &RemoteUserId,
    ) -> StoreResult<Option<Ghost>> {
        Ok(ghost::get(&self.pool, connector, user).await?)
    }

    async fn upsert_ghost(&self, ghost: &Ghost) -> StoreResult<()> {
        Ok(ghost::upsert(&self.writer, ghost).await?)
    }

    async fn login(&self, connector: &ConnectorId, id: &LoginId) -> StoreResult<Option<Login>> {
        Ok(login::get(&self.pool, self.secrets.as_deref(), connector, id).await?)
    }

    async fn logins_of_user(&self, matrix_user: &str) -> StoreResult<Vec<Login>> {
        Ok(login::of_user(&self.pool, self.secrets.as_deref(), matrix_user).await?)
    }

    async fn list_logins(&self) -> StoreResult<Vec<Login>> {
        Ok(login::list(&self.pool, self.secrets.as_deref()).await?)
    }

    async fn upsert_login(&self, login: &Login) -> StoreResult<()> {
        Ok(login::upsert(&self.writer, self.secrets.as_deref(), login).await?)
    }

    async fn set_login_state(
        &self,
        connector: &ConnectorId,
        id: &LoginId,
        state: &serde_json::Value,
    ) -> StoreResult<()> {
        Ok(login::set_state(&self.writer, self.secrets.as_deref(), connector, id, state).await?)
    }

    async fn delete_login(&self, connector: &ConnectorId, id: &LoginId) -> StoreResult<()> {
        let deleted = login::delete(&self.writer, connector, id).await;
        // It cleared the relay of the portals that used this login.
        self.portals.forget_all();
        Ok(deleted?)
    }

    async fn insert_message(&self, message: &MessageRecord) -> StoreResult<()> {
        Ok(message::insert(&self.writer, message).await?)
    }

    async fn insert_messages(&self, messages: &[MessageRecord]) -> StoreResult<()> {
        Ok(message::insert_many(&self.writer, messages).await?)
    }

    async fn record_crossings(&self, crossings: &[Crossing]) -> StoreResult<()> {
        let keep = match (self.keep_record, &self.record_content_key) {
            (false, _) => audit::Keep::Nothing,
            (true, None) => audit::Keep::Entries,
            (true, Some(key)) => audit::Keep::EntriesAndContent(key),
        };
        Ok(audit::record(&self.writer, crossings, keep, &self.audit_head).await?)
    }

    async fn message_parts(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> StoreResult<Vec<MessageRecord>> {
        Ok(message::parts(&self.pool, portal, remote_id).await?)
    }

    async fn message_by_event(&self, event_id: &str) -> StoreResult<Option<MessageRecord>> {
        Ok(message::by_event(&self.pool, event_id).await?)
    }

    async fn message_by_event_in(
        &self,
        portal: &PortalKey,
        event_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        Ok(message::by_event_in(&self.pool, portal, event_id).await?)
    }

    async fn delete_message(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> StoreResult<()> {
        Ok(message::delete(&self.writer, portal, remote_id).await?)
    }

    async fn last_message(&self, portal: &PortalKey) -> StoreResult<Option<MessageRecord>> {
        Ok(message::last(&self.pool, portal).await?)
    }

    async fn insert_reaction(&self, reaction: &ReactionRecord) -> StoreResult<()> {
        Ok(reaction::insert(&self.writer, reaction).await?)
    }

    async fn reaction(
        &self,
        portal: &PortalKey,
        target: &RemoteMessageId,
        sender: &RemoteUserId,
        key: &str,
    ) -> StoreResult<Option<ReactionRecord>> {
        Ok(reaction::get(&self.pool, portal, target, sender, key).await?)
    }

    async fn reaction_by_event(&self, event_id: &str) -> StoreResult<Option<ReactionRecord>> {
        Ok(reaction::by_event(&self.pool, event_id).await?)
    }

    async fn delete_reaction(&self, event_id: &str) -> StoreResult<()> {
        Ok(reaction::delete_by_event(&self.writer, event_id).await?)
    }

    async fn reaction_by_event_in(
        &self,
        portal: &PortalKey,
        event_id: &str,
    ) -> StoreResult<Option<ReactionRecord>> {
        Ok(reaction::by_event_in(&self.pool, portal, event_id).await?)
    }

    async fn delete_reaction_in(&self, portal: &PortalKey, event_id: &str) -> StoreResult<()> {
        Ok(reaction::delete_by_event_in(&self.writer, portal, event_id).await?)
    }

    async fn insert_custom_emoji(&self, emoji: &CustomEmojiRecord) -> StoreResult<()> {
        Ok(custom_emoji::insert(&self.writer, emoji).await?)
    }

    async fn custom_emoji_by_source(&self, source: &str) -> StoreResult<Option<CustomEmojiRecord>> {
        Ok(custom_emoji::by_source(&self.pool, source).await?)
    }

    async fn custom_emoji_by_mxc(&self, mxc: &str) -> StoreResult<Option<CustomEmojiRecord>> {
        Ok(custom_emoji::by_mxc(&self.pool, mxc).await?)
    }

    async fn management_room(&self, matrix_user: &str) -> StoreResult<Option<String>> {
        Ok(management_room::get(&self.pool, matrix_user).await?)
    }

    async fn set_management_room(&self, matrix_user: &str, room_id: &str) -> StoreResult<()> {
        Ok(management_room::set(&self.writer, matrix_user, room_id).await?)
    }

    async fn is_member(&self, room_id: &str, user_id: &str) -> StoreResult<bool> {
        Ok(membership::is_member(&self.pool, room_id, user_id).await?)
    }

    async fn set_member(&self, room_id: &str, user_id: &str, member: bool) -> StoreResult<()> {
        Ok(membership::set(&self.writer, room_id, user_id, member).await?)
    }

    async fn forget_room_members(&self, room_id: &str) -> StoreResult<()> {
        Ok(membership::forget_room(&self.writer, room_id).await?)
    }
}
