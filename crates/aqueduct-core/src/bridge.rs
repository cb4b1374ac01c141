//! The engine: owns the store, the Matrix side, the connectors and their logins, and the
//! portal queues. Everything else in this crate is a part of it.

use crate::connector::{BridgeHandle, NetworkApi, NetworkConnector};
use crate::event::RemoteEvent;
use crate::ghost_ids::GhostNamer;
use crate::ids::{ConnectorId, LoginId, PortalKey, RemoteUserId};
pub use crate::inbox_drain::{DEFAULT_MAX_QUEUED_MATRIX_EVENTS, MAX_ATTEMPTS};
use crate::matrix::MatrixApi;
use crate::metrics::Metrics;
use crate::permissions::Permissions;
use crate::queue::{QueueKey, Queues};
use crate::record_writer::RecordWriter;
use crate::records::{Ghost, Login};
use crate::store::Store;
use crate::{Error, Result};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// Engine settings, from the binary's config.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Starts every ghost localpart (`aqueduct_`).
    pub ghost_prefix: String,
    /// Prefix of commands typed in portal rooms (`!aq`). In management rooms none is needed.
    pub command_prefix: String,
    /// Who may do what.
    pub permissions: Permissions,
    /// Largest file the bridge moves in either direction, in bytes.
    pub max_attachment_bytes: u64,
    /// Identifies this bridge in the content of events it sends as double puppets, so it can
    /// recognise them when they come back.
    pub bridge_id: String,
    /// The version string `version` answers with.
    pub version: String,
    /// How many recent messages to bring in when a portal is created (0: none).
    pub backfill_limit: usize,
    /// Public URLs for Matrix media the bridge serves (relayed senders' avatars), when the
    /// bridge has a public URL configured.
    pub public_media: Option<crate::public_media::PublicMedia>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            ghost_prefix: "aqueduct_".into(),
            command_prefix: "!aq".into(),
            permissions: Permissions::default(),
            max_attachment_bytes: 50 * 1024 * 1024,
            bridge_id: "aqueduct".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            backfill_limit: 50,
            public_media: None,
        }
    }
}

/// Content key marking events the bridge sent as a double puppet.
pub const DOUBLE_PUPPET_MARKER: &str = "io.aqueduct.double_puppet_source";

/// Content key naming the network a double-puppeted event came from, so that in a hub room
/// it reaches the room's other chats and not its own again.
pub const SOURCE_NETWORK_KEY: &str = "io.aqueduct.source_network";

/// A room member's (display name, avatar `mxc://`), each if set.
pub(crate) type MemberProfile = (Option<String>, Option<String>);

/// A loaded login: its record and its live API. Cheap to clone: every remote job looks its
/// login up, and a connector's state (checkpoints, recently seen messages) can be large.
#[derive(Clone)]
pub(crate) struct LoadedLogin {
    pub(crate) login: Arc<Login>,
    pub(crate) api: Arc<dyn NetworkApi>,
}

/// One queued unit of work.
pub(crate) enum Job {
    /// A remote event, with the channel that tells the connector when it is done.
    Remote {
        connector: ConnectorId,
        login: LoginId,
        event: Box<RemoteEvent>,
        done: oneshot::Sender<Result<()>>,
    },
    /// A Matrix event from the inbox, acknowledged once handled (or set aside after
    /// repeated failures, see `inbox_drain.rs`).
    Matrix {
        seq: i64,
        room: Option<String>,
        json: String,
        attempts: i64,
    },
    /// Create (or find) a portal's room, in the portal's own queue so it cannot race with
    /// the portal's events.
    EnsurePortal {
        key: PortalKey,
        login: Box<LoadedLogin>,
        done: oneshot::Sender<Result<crate::records::Portal>>,
    },
    /// Make an existing Matrix room a chat's portal, in the portal's own queue so no event of
    /// the chat overtakes the link (or creates a second room for it meanwhile).
    LinkRoom {
        key: PortalKey,
        room: String,
        login: Box<LoadedLogin>,
        info: Box<crate::connector::ChatInfo>,
        done: oneshot::Sender<Result<String>>,
    },
    /// Bring a portal's bridge info (MSC2346) up to date, in its queue (see `bridge_info.rs`).
    BridgeInfo {
        key: PortalKey,
        done: oneshot::Sender<()>,
    },
}

pub(crate) struct Inner {
    pub(crate) config: BridgeConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) matrix: Arc<dyn MatrixApi>,
    pub(crate) connectors: HashMap<ConnectorId, Arc<dyn NetworkConnector>>,
    pub(crate) logins: RwLock<HashMap<(ConnectorId, LoginId), LoadedLogin>>,
    pub(crate) queues: Queues<Job>,
    pub(crate) namer: GhostNamer,
    pub(crate) metrics: Metrics,
    pub(crate) inbox_wakeup: Notify,
    pub(crate) shutting_down: AtomicBool,
    /// Health metrics: panics, dead letters, restarts, memory bounds.
    pub(crate) engine: crate::engine_metrics::EngineMetrics,
    /// The last inbox event queued; a restarted drainer goes on from here.
    pub(crate) inbox_cursor: AtomicI64,
    /// Inbox events up to this seq were there before this run (see `inbox_drain.rs`).
    pub(crate) replay_until: AtomicI64,
    /// Matrix events queued and not yet handled, and the bound the drainer keeps it under.
    pub(crate) matrix_queued: AtomicI64,
    pub(crate) max_queued_matrix: AtomicUsize,
    /// Woken when a queued Matrix event was handled.
    pub(crate) matrix_freed: Notify,
    // The caches below are bounded by `engine_upkeep.rs` (emptied over their caps).
    /// (room, user) pairs known to be joined (ghosts) or invited (real users).
    pub(crate) members: Mutex<HashSet<(String, String)>>,
    /// Ghosts known to be registered with an up-to-date profile.
    pub(crate) ghosts: Mutex<HashMap<(ConnectorId, RemoteUserId), Ghost>>,
    /// Room id -> portal key, for routing Matrix events.
    pub(crate) room_portals: Mutex<HashMap<String, PortalKey>>,
    /// Rooms bridged to more than one chat; kept in step with the store by `link` and
    /// `unbridge` (not a cache: never trimmed).
    pub(crate) hub_rooms: crate::hub_rooms::HubRooms,
    /// Hub-room chats the room was told have no relay, so it is told once per chat.
    pub(crate) unrelayed: crate::unrelayed_chats::UnrelayedChats,
    /// Room id -> users typing there, to turn typing snapshots into starts and stops.
    pub(crate) typing: Mutex<HashMap<String, HashSet<String>>>,
    /// (room, user) -> (display name, avatar) as their member event says, so messages sent on
    /// someone's behalf do not cost a homeserver request each. Member events keep it fresh.
    pub(crate) profiles: Mutex<HashMap<(String, String), MemberProfile>>,
    /// End-to-bridge decryption, when encryption is on.
    pub(crate) decryptor: std::sync::OnceLock<Arc<dyn crate::crypto::EventDecryptor>>,
    /// Senders whose room keys did not arrive, so their events stop holding the room.
    pub(crate) key_strikes: crate::key_strikes::KeyStrikes,
    /// Records of messages bridged into Matrix, committed behind the portal queues; started
    /// on first use (it needs the runtime).
    record_writer: std::sync::OnceLock<RecordWriter>,
}

/// The bridge engine. Cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    pub(crate) inner: Arc<Inner>,
}

impl Bridge {
    /// Assembles an engine. Nothing runs until [`Bridge::start`].
    pub fn new(
        config: BridgeConfig,
        store: Arc<dyn Store>,
        matrix: Arc<dyn MatrixApi>,
        connectors: Vec<Arc<dyn NetworkConnector>>,
        metrics: Metrics,
    ) -> Self {
        let namer = GhostNamer::new(config.ghost_prefix.clone(), matrix.server_name().to_owned());
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let engine = crate::engine_metrics::EngineMetrics::new(metrics.registry());
            let unrelayed = crate::unrelayed_chats::UnrelayedChats::new(metrics.registry());
            let on_panic = engine.job_panics.clone();
            let weak = weak.clone();
            let queues = Queues::with_panic_hook(
                Arc::new(move |job: Job| {
                    let weak = weak.clone();
                    Box::pin(async move {
                        if let Some(inner) = weak.upgrade() {
                            inner.metrics.queue_depth_add(-1);
                            inner.clone().run_job(job).await;
                            inner.trim_caches();
                        }
                    }) as BoxFuture<'static, ()>
                }),
                Arc::new(move |key, message| {
                    on_panic.inc();
                    tracing::error!(queue = ?key, panic = message, "a queued job panicked; its queue goes on");
                }),
            );
            Inner {
                connectors: connectors.into_iter().map(|c| (c.id(), c)).collect(),
                config,
                store,
                matrix,
                logins: RwLock::new(HashMap::new()),
                queues,
                namer,
                metrics,
                inbox_wakeup: Notify::new(),
                shutting_down: AtomicBool::new(false),
                engine,
                inbox_cursor: AtomicI64::new(0),
                replay_until: AtomicI64::new(crate::inbox_drain::REPLAY_UNKNOWN),
                matrix_queued: AtomicI64::new(0),
                max_queued_matrix: AtomicUsize::new(
                    crate::inbox_drain::DEFAULT_MAX_QUEUED_MATRIX_EVENTS,
                ),
                matrix_freed: Notify::new(),
                members: Mutex::new(HashSet::new()),
                ghosts: Mutex::new(HashMap::new()),
                room_portals: Mutex::new(HashMap::new()),
                hub_rooms: Default::default(),
                unrelayed,
                typing: Mutex::new(HashMap::new()),
                profiles: Mutex::new(HashMap::new()),
                decryptor: std::sync::OnceLock::new(),
                key_strikes: Default::default(),
                record_writer: std::sync::OnceLock::new(),
            }
        });
        Self { inner }
    }

    /// Turns on decryption of encrypted Matrix events. Call before [`Bridge::start`]; a
    /// second call is ignored.
    pub fn set_decryptor(&self, decryptor: Arc<dyn crate::crypto::EventDecryptor>) {
        let _ = self.inner.decryptor.set(decryptor);
    }

    /// The engine's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Bounds how many Matrix events wait in portal queues at once (at least 1); the rest
    /// wait in the durable inbox. Default [`DEFAULT_MAX_QUEUED_MATRIX_EVENTS`].
    pub fn set_max_queued_matrix_events(&self, max: usize) {
        self.inner
            .max_queued_matrix
            .store(max.max(1), Ordering::SeqCst);
        self.inner.matrix_freed.notify_one();
    }

    /// Matrix events now read from the inbox into queues and not yet handled.
    pub fn queued_matrix_events(&self) -> i64 {
        self.inner.matrix_queued.load(Ordering::SeqCst)
    }

    /// The ghost namer, for the registration's namespace.
    pub fn ghost_namer(&self) -> &GhostNamer {
        &self.inner.namer
    }

    /// Loads every stored login, connects them, and starts draining the Matrix inbox
    /// (including events left from before a restart). Logins that fail to connect are
    /// reported and retried by their connector; they do not stop the start.
    pub async fn start(&self) -> Result<()> {
        self.inner.load_hub_rooms().await?;
        for login in self.inner.store.list_logins().await? {
            if let Err(e) = self.inner.activate_login(login.clone()).await {
                tracing::warn!(connector = %login.connector, login = %login.id, error = %e, "login failed to start");
            }
        }
        tokio::spawn(self.inner.clone().supervise_inbox());
        tokio::spawn(Inner::upkeep(Arc::downgrade(&self.inner)));
        tokio::spawn(self.inner.clone().refresh_all_bridge_info());
        Ok(())
    }

    /// Records an appservice transaction durably, then schedules its events. Returns once the
    /// events are safe; a repeated `txn_id` is accepted and ignored. Echoes of the bridge's
    /// own events are dropped first: the engine would ignore them anyway.
    pub async fn receive_transaction(
        &self,
        txn_id: &str,
        events: Vec<(Option<String>, String)>,
    ) -> Result<()> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        let n = events.len();
        // Which rooms are hub rooms decides what is an echo; known once the engine started.
        self.inner.hub_rooms.loaded().await;
        let bot = self.inner.matrix.bot_user_id();
        let events: Vec<_> = events
            .into_iter()
            .filter(|(_, json)| {
                !crate::own_echo::is_own_echo(json, bot, &self.inner.namer, &|room| {
                    self.inner.hub_rooms.contains(room)
                })
            })
            .collect();
        if events.is_empty() {
            // Only echoes: nothing to keep, so nothing to record either. A retry of this
            // transaction carries the same echoes and is dropped the same way.
            self.inner.metrics.transaction(n);
            return Ok(());
        }
        if self
            .inner
            .store
            .enqueue_transaction(txn_id, &events)
            .await?
        {
            self.inner.metrics.transaction(n);
            self.inner.inbox_wakeup.notify_one();
        }
        Ok(())
    }

    /// Whether `user_id` is a user the homeserver should consider ours (a ghost or the bot).
    pub fn owns_user(&self, user_id: &str) -> bool {
        user_id == self.inner.matrix.bot_user_id() || self.inner.namer.is_ghost(user_id)
    }

    /// Stops taking work, lets in-flight work finish (at most `grace`), and disconnects every
    /// login. Work not started is redone after the next start: Matrix events stay in the inbox
    /// and remote events are not acknowledged to their connector.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.inbox_wakeup.notify_one();
        let logins: Vec<LoadedLogin> = self
            .inner
            .logins
            .read()
            .expect("logins lock")
            .values()
            .cloned()
            .collect();
        for l in &logins {
            l.api.disconnect().await;
        }
        let drained = async {
            self.inner.queues.drained().await;
            self.inner.records().caught_up().await;
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                "shutdown grace period ended with work still queued; it will be redone after restart"
            );
        }
        // Once more (disconnecting is idempotent), so connectors save what the work finished
        // during the drain moved on (checkpoints, cursors).
        for l in &logins {
            l.api.disconnect().await;
        }
    }
}

impl Inner {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The writer of message records (see [`RecordWriter`]).
    pub(crate) fn records(&self) -> &RecordWriter {
        self.record_writer
            .get_or_init(|| RecordWriter::start(self.store.clone()))
    }

    /// Loads a login through its connector, registers it and connects it.
    pub(crate) async fn activate_login(self: &Arc<Self>, login: Login) -> Result<()> {
        let connector = self
            .connectors
            .get(&login.connector)
            .ok_or_else(|| Error::Unknown(format!("no connector {} is enabled", login.connector)))?
            .clone();
        let handle: Arc<dyn BridgeHandle> = Arc::new(crate::login_handle::LoginHandle {
            inner: Arc::downgrade(self),
            connector: login.connector.clone(),
        });
        let api = connector.load_login(&login, handle).await?;
        let key = (login.connector.clone(), login.id.clone());
        let login = Arc::new(login);
        let old = self.logins.write().expect("logins lock").insert(
            key,
            LoadedLogin {
                login: login.clone(),
                api: api.clone(),
            },
        );
        if let Some(old) = old {
            old.api.disconnect().await;
        }
        self.metrics
            .connection_state(login.connector.as_str(), login.id.as_str(), 0);
        api.connect().await?;
        self.metrics
            .connection_state(login.connector.as_str(), login.id.as_str(), 1);
        Ok(())
    }

    /// Disconnects and forgets a login (the record too).
    pub(crate) async fn deactivate_login(
        &self,
        connector: &ConnectorId,
        id: &LoginId,
    ) -> Result<()> {
        let removed = self
            .logins
            .write()
            .expect("logins lock")
            .remove(&(connector.clone(), id.clone()));
        if let Some(l) = removed {
            l.api.log_out().await;
            l.api.disconnect().await;
        }
        self.store.delete_login(connector, id).await?;
        Ok(())
    }

    pub(crate) fn loaded_login(
        &self,
        connector: &ConnectorId,
        id: &LoginId,
    ) -> Option<LoadedLogin> {
        self.logins
            .read()
            .expect("logins lock")
            .get(&(connector.clone(), id.clone()))
            .cloned()
    }

    /// The loaded login of `matrix_user` on `connector`, if any.
    pub(crate) fn login_of_user(
        &self,
        connector: &ConnectorId,
        matrix_user: &str,
    ) -> Option<LoadedLogin> {
        let logins = self.logins.read().expect("logins lock");
        let mut theirs = logins
            .values()
            .filter(|l| &l.login.connector == connector && l.login.matrix_user == matrix_user);
        // A user with both a personal account and an app login (an admin who set up the
        // workspace app) speaks as themselves.
        let first = theirs.next()?;
        if first.api.sends_as_owner() {
            return Some(first.clone());
        }
        Some(
            theirs
                .find(|l| l.api.sends_as_owner())
                .unwrap_or(first)
                .clone(),
        )
    }

    /// Creates or finds a portal's room through the portal's queue.
    pub(crate) async fn ensure_portal_queued(
        &self,
        key: PortalKey,
        login: LoadedLogin,
    ) -> Result<crate::records::Portal> {
        let (tx, rx) = oneshot::channel();
        self.queue(
            QueueKey::Portal(key.clone()),
            Job::EnsurePortal {
                key,
                login: Box::new(login),
                done: tx,
            },
        );
        rx.await.unwrap_or(Err(Error::ShuttingDown))
    }

    /// Links `room` to the chat `key` through the portal's queue; answers with the reply for
    /// the admin (a refusal included).
    pub(crate) async fn link_room_queued(
        &self,
        key: PortalKey,
        room: String,
        login: LoadedLogin,
        info: crate::connector::ChatInfo,
    ) -> Result<String> {
        let (tx, rx) = oneshot::channel();
        self.queue(
            QueueKey::Portal(key.clone()),
            Job::LinkRoom {
                key,
                room,
                login: Box::new(login),
                info: Box::new(info),
                done: tx,
            },
        );
        rx.await.unwrap_or(Err(Error::ShuttingDown))
    }

    pub(crate) fn queue(&self, key: QueueKey, job: Job) {
        self.metrics.queue_depth_add(1);
        self.queues.push(key, job);
    }

    pub(crate) async fn queue_key_for_room(&self, room: &str) -> QueueKey {
        if let Some(k) = self.room_portals.lock().expect("room map").get(room) {
            return QueueKey::Portal(k.clone());
        }
        // A failed look-up is waited out, never guessed: the room's events must all go to one
        // queue, and a guess of "no portal" would put this one in another queue than those
        // before it, where it could overtake them (seen in the chaos suite while the SQLite
        // database was held busy).
        let mut wait = std::time::Duration::from_millis(50);
        loop {
            match self.store.portal_by_room(room).await {
                Ok(Some(p)) => {
                    self.room_portals
                        .lock()
                        .expect("room map")
                        .insert(room.to_owned(), p.key.clone());
                    return QueueKey::Portal(p.key);
                }
                Ok(None) => return QueueKey::Room(room.to_owned()),
                Err(e) if !self.is_shutting_down() => {
                    tracing::warn!(error = %e, room, "cannot look up a room's portal; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(5));
                }
                // Shutting down: the event stays in the inbox for the next start anyway.
                Err(_) => return QueueKey::Room(room.to_owned()),
            }
        }
    }

    async fn run_job(self: Arc<Self>, job: Job) {
        // Matrix events, portal creation and links may read the records of messages before
        // them; a remote event waits for them itself, only if it reads any
        // (`bridge_remote_event`).
        if !matches!(&job, Job::Remote { .. }) {
            self.records().caught_up().await;
        }
        match job {
            Job::Remote {
                connector,
                login,
                event,
                done,
            } => {
                let from = self.records().mark();
                // A failure of the bridge's own database (a restart, a cut connection) is not
                // the event's: it is tried again in place, at the head of its portal's queue,
                // so it is neither lost nor overtaken by the chat's later messages. Bridging
                // it again is safe: its Matrix sends carry transaction ids derived from the
                // remote event, which the homeserver answers with the first event.
                let mut wait = std::time::Duration::from_millis(100);
                let result = loop {
                    if self.is_shutting_down() {
                        break Err(Error::ShuttingDown);
                    }
                    match self
                        .caught(self.handle_remote_event(&connector, &login, (*event).clone()))
                        .await
                    {
                        Err(Error::Store(e)) => {
                            tracing::warn!(connector = %connector, error = %e, "the bridge's database failed while it bridged a remote event; trying again");
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(std::time::Duration::from_secs(5));
                        }
                        other => break other,
                    }
                };
                if let Err(e) = &result {
                    tracing::warn!(connector = %connector, login = %login, error = %e, "remote event not bridged");
                }
                let upto = self.records().mark();
                if result.is_err() || upto == from {
                    let _ = done.send(result);
                    return;
                }
                // The queue moves on; the connector hears "done" once the records are in.
                let inner = self.clone();
                tokio::spawn(async move {
                    let committed = inner.records().committed(from, upto).await;
                    let _ = done.send(committed.map_err(Error::Unknown));
                });
            }
            Job::EnsurePortal { key, login, done } => {
                let result = if self.is_shutting_down() {
                    Err(Error::ShuttingDown)
                } else {
                    self.caught(self.ensure_portal_room(&key, &login, None))
                        .await
                };
                let _ = done.send(result);
            }
            Job::LinkRoom {
                key,
                room,
                login,
                info,
                done,
            } => {
                let result = if self.is_shutting_down() {
                    Err(Error::ShuttingDown)
                } else {
                    self.caught(self.link_room(&key, &room, &login, *info))
                        .await
                };
                let _ = done.send(result);
            }
            Job::BridgeInfo { key, done } => {
                if !self.is_shutting_down() {
                    let _ = self
                        .caught(async {
                            self.refresh_bridge_info_job(&key).await;
                            Ok(())
                        })
                        .await;
                }
                let _ = done.send(());
            }
            Job::Matrix {
                seq,
                room,
                json,
                attempts,
            } => {
                let _queued = crate::inbox_drain::QueuedMatrixEvent(self.clone());
                self.handle_inbox_event(seq, room.as_deref(), &json, attempts)
                    .await;
            }
        }
    }

    /// Runs a job's work, turning a panic into an error for whoever waits on the job (a
    /// connector's receipt then fails, so it does not checkpoint past the event), counted in
    /// `aqueduct_job_panics_total`.
    async fn caught<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(result) => result,
            Err(payload) => {
                let message = crate::queue::panic_message(payload.as_ref());
                self.engine.job_panics.inc();
                tracing::error!(panic = message, "handling a job panicked");
                Err(Error::Unknown(format!("handling it panicked: {message}")))
            }
        }
    }

    /// Retries `op` while it fails transiently, with backoff, until it succeeds, fails for
    /// good, or the bridge shuts down.
    pub(crate) async fn retry_matrix<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = crate::matrix::MatrixResult<T>>,
    {
        let mut delay = Duration::from_millis(250);
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && !self.is_shutting_down() => {
                    tracing::warn!(error = %e, what, retry_in_ms = delay.as_millis() as u64, "Matrix call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(e) if e.is_transient() => return Err(Error::ShuttingDown),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
