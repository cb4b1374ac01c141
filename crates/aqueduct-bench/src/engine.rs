//! The engine alone: the real [`Bridge`] with its real SQLite store, but a homeserver and a
//! platform that live in this process and answer at once. What remains is the bridge's own
//! cost per message: queues, store writes, event building.

use aqueduct_core::connector::{
    BridgeHandle, Capabilities, ChatInfo, ConnectorError, ConnectorResult, LoginFlow, LoginStep,
    NetworkApi, NetworkConnector, UserInfo,
};
use aqueduct_core::event::{
    MatrixMessage, MessageContent, RemoteEvent, RemoteEventKind, RemoteSender, SentMessage,
};
use aqueduct_core::ids::{ConnectorId, LoginId, RemoteChatId, RemoteMessageId, RemoteUserId};
use aqueduct_core::matrix::{MatrixApi, MatrixResult, NewRoom};
use aqueduct_core::metrics::Metrics;
use aqueduct_core::records::{Login, Portal};
use aqueduct_core::store::Store;
use aqueduct_core::{Bridge, BridgeConfig};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the engine alone achieved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EngineFigures {
    /// Messages bridged (remote -> Matrix, warm portals and ghosts).
    pub messages: usize,
    /// Portals they were spread over.
    pub portals: usize,
    /// Whether the audit record was kept (`record.enabled`).
    pub record: bool,
    /// Messages per second, queue to receipt.
    pub msg_s: f64,
    /// This process's CPU microseconds per message (the engine, its store, and the in-process
    /// fakes, which do next to nothing).
    pub cpu_us_per_msg: f64,
    /// Homeserver calls the engine made per message.
    pub homeserver_calls_per_msg: f64,
}

/// A homeserver that accepts everything at once and counts the calls.
#[derive(Default)]
struct InstantHomeserver {
    calls: AtomicU64,
}

impl InstantHomeserver {
    fn call(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed)
    }
}

#[async_trait]
impl MatrixApi for InstantHomeserver {
    fn bot_user_id(&self) -> &str {
        "@aqueduct:bench"
    }
    fn server_name(&self) -> &str {
        "bench"
    }
    fn can_double_puppet(&self, _: &str) -> bool {
        false
    }
    async fn ensure_registered(&self, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn set_display_name(&self, _: &str, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn set_avatar_url(&self, _: &str, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn create_room(&self, _: &NewRoom) -> MatrixResult<String> {
        Ok(format!("!r{}:bench", self.call()))
    }
    async fn invite(&self, _: &str, _: &str, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn join(&self, _: &str, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn leave(&self, _: &str, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn send_event(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &Value,
        _: &str,
        _: Option<i64>,
    ) -> MatrixResult<String> {
        Ok(format!("$e{}", self.call()))
    }
    async fn send_state(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &str,
        _: &Value,
    ) -> MatrixResult<String> {
        Ok(format!("$s{}", self.call()))
    }
    async fn get_state(&self, _: &str, _: &str, _: &str) -> MatrixResult<Option<Value>> {
        self.call();
        Ok(None)
    }
    async fn redact(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> MatrixResult<String> {
        Ok(format!("$x{}", self.call()))
    }
    async fn upload(&self, _: &str, _: Vec<u8>, _: &str, _: &str) -> MatrixResult<String> {
        Ok(format!("mxc://bench/{}", self.call()))
    }
    async fn download(&self, _: &str, _: u64) -> MatrixResult<Vec<u8>> {
        self.call();
        Ok(Vec::new())
    }
    async fn set_typing(&self, _: &str, _: &str, _: bool) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn send_receipt(&self, _: &str, _: &str, _: &str) -> MatrixResult<()> {
        self.call();
        Ok(())
    }
    async fn member_profile(
        &self,
        _: &str,
        _: &str,
    ) -> MatrixResult<(Option<String>, Option<String>)> {
        self.call();
        Ok((None, None))
    }
    async fn joined_members(&self, _: &str) -> MatrixResult<Vec<String>> {
        self.call();
        Ok(Vec::new())
    }
}

/// A platform with one login whose API hands the bench the engine's handle.
struct InstantPlatform {
    handle: Arc<Mutex<Option<Arc<dyn BridgeHandle>>>>,
}

struct InstantApi;

#[async_trait]
impl NetworkConnector for InstantPlatform {
    fn id(&self) -> ConnectorId {
        ConnectorId::new("bench")
    }
    fn display_name(&self) -> &str {
        "Bench"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn login_flows(&self) -> Vec<LoginFlow> {
        Vec::new()
    }
    async fn start_login(&self, _: &str, _: &str, _: &[String]) -> ConnectorResult<LoginStep> {
        Err(ConnectorError::Unsupported(
            "logins (the bench stores its own)".into(),
        ))
    }
    async fn load_login(
        &self,
        _: &Login,
        bridge: Arc<dyn BridgeHandle>,
    ) -> ConnectorResult<Arc<dyn NetworkApi>> {
        *self.handle.lock().expect("handle") = Some(bridge);
        Ok(Arc::new(InstantApi))
    }
}

#[async_trait]
impl NetworkApi for InstantApi {
    async fn connect(&self) -> ConnectorResult<()> {
        Ok(())
    }
    async fn disconnect(&self) {}
    async fn chat_info(&self, chat: &RemoteChatId) -> ConnectorResult<ChatInfo> {
        Ok(ChatInfo {
            name: Some(chat.as_str().to_owned()),
            ..ChatInfo::default()
        })
    }
    async fn user_info(&self, user: &RemoteUserId) -> ConnectorResult<UserInfo> {
        Ok(UserInfo {
            display_name: Some(user.as_str().to_owned()),
            avatar: None,
        })
    }
    async fn send_message(&self, _: &Portal, _: &MatrixMessage) -> ConnectorResult<SentMessage> {
        Ok(SentMessage {
            id: RemoteMessageId::new("sent"),
            timestamp_ms: None,
        })
    }
}

fn message(chat: &str, id: String) -> RemoteEvent {
    RemoteEvent {
        chat: RemoteChatId::new(chat),
        receiver: None,
        sender: RemoteSender {
            user: RemoteUserId::new("bob"),
            is_from_me: false,
            display_name: None,
        },
        timestamp_ms: 0,
        kind: RemoteEventKind::Message {
            id: RemoteMessageId::new(id),
            content: MessageContent::text("hello from the bench"),
            reply_to: None,
            thread_root: None,
        },
    }
}

/// Bridges `n` warm text messages over `portals` portals (all queued at once) and measures;
/// `record`: with the audit record kept, as the bridge does by default.
pub async fn measure(n: usize, portals: usize, record: bool) -> anyhow::Result<EngineFigures> {
    let dir = tempfile::tempdir()?;
    let uri = format!("sqlite://{}", dir.path().join("engine.db").display());
    let store = Arc::new(
        aqueduct_store::SqlStore::connect(&uri)
            .await?
            .keep_record(record),
    );
    let login_id = LoginId::new("bench-login");
    store
        .upsert_login(&Login {
            connector: ConnectorId::new("bench"),
            id: login_id.clone(),
            matrix_user: "@owner:bench".into(),
            remote_user: RemoteUserId::new("owner"),
            remote_name: "Owner".into(),
            secret: Value::Null,
            state: Value::Null,
        })
        .await?;
    let homeserver = Arc::new(InstantHomeserver::default());
    let handle = Arc::new(Mutex::new(None));
    let bridge = Bridge::new(
        BridgeConfig {
            backfill_limit: 0,
            ..BridgeConfig::default()
        },
        store,
        homeserver.clone(),
        vec![Arc::new(InstantPlatform {
            handle: handle.clone(),
        })],
        Metrics::new(),
    );
    bridge.start().await?;
    let handle = handle
        .lock()
        .expect("handle")
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the engine did not load the bench login"))?;
    let chats: Vec<String> = (0..portals).map(|i| format!("chat{i}")).collect();
    // Warm-up: portals created, ghost registered and joined, as in the Synapse scenarios.
    for c in &chats {
        handle
            .queue_remote_event(&login_id, message(c, format!("warm-{c}")))
            .await?;
    }
    let calls_before = homeserver.calls.load(Ordering::Relaxed);
    let cpu_before = crate::process::cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let receipts: Vec<_> = (0..n)
        .map(|i| {
            let chat = &chats[i % chats.len()];
            handle.queue_remote_event(&login_id, message(chat, format!("m{i}")))
        })
        .collect();
    for r in receipts {
        r.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = crate::process::cpu_seconds(std::process::id())? - cpu_before;
    let calls = homeserver.calls.load(Ordering::Relaxed) - calls_before;
    bridge.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(EngineFigures {
        messages: n,
        portals,
        record,
        msg_s: n as f64 / secs.max(1e-6),
        cpu_us_per_msg: cpu * 1e6 / n.max(1) as f64,
        homeserver_calls_per_msg: calls as f64 / n.max(1) as f64,
    })
}
