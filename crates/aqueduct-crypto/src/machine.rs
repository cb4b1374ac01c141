//! The bridge's crypto state: the bot device's OlmMachine on its store, how to reach the
//! device, the rooms it encrypts for, and the start-up steps.

use crate::bot_device;
use crate::error::CryptoError;
use crate::options::CryptoOptions;
use crate::room_state::Rooms;
use crate::store_lock::{StoreLock, restrict_files};
use aqueduct_core::matrix::MatrixResult;
use aqueduct_matrix::{DeviceAuth, HomeserverClient};
use matrix_sdk_crypto::store::CryptoStore;
use matrix_sdk_crypto::types::requests::AnyIncomingResponse;
use matrix_sdk_crypto::{DecryptionSettings, EncryptionSyncChanges, OlmMachine, TrustRequirement};
use matrix_sdk_sqlite::{SqliteCryptoStore, SqliteStoreConfig};
use ruma::api::client::sync::sync_events::DeviceLists;
use ruma::api::{OutgoingRequest, auth_scheme::AuthScheme, auth_scheme::SendAccessToken};
use ruma::api::{SupportedVersions, path_builder::PathBuilder};
use ruma::events::AnyToDeviceEvent;
use ruma::serde::Raw;
use ruma::{OneTimeKeyAlgorithm, OwnedDeviceId, OwnedUserId, UInt};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, Notify, watch};

/// One-time-key counts by algorithm and the unused fallback key types, as a homeserver reports
/// them for the bot device.
pub(crate) type KeyCounts = (
    BTreeMap<OneTimeKeyAlgorithm, UInt>,
    Option<Vec<OneTimeKeyAlgorithm>>,
);

/// End-to-bridge encryption for one bridge. Cheap to share behind an `Arc`.
pub struct BridgeCrypto {
    pub(crate) machine: OlmMachine,
    pub(crate) client: HomeserverClient,
    pub(crate) bot: OwnedUserId,
    pub(crate) device_id: OwnedDeviceId,
    device: OnceLock<DeviceAuth>,
    pub(crate) options: CryptoOptions,
    pub(crate) rooms: Rooms,
    /// Woken whenever room keys arrive, for events waiting on their key.
    pub(crate) keys_arrived: Notify,
    pub(crate) outgoing_lock: Mutex<()>,
    /// Device data comes from appservice transactions (configured, or because the
    /// homeserver refuses the bot's `/sync`).
    pub(crate) transaction_fed: AtomicBool,
    /// The one-time-key counts and unused fallback key types last taken in without error.
    /// The homeserver repeats them in every transaction; taking in the same figures again
    /// changes nothing, yet costs a copy of the account (re-deriving every one-time key) and a
    /// crypto store commit, per transaction.
    pub(crate) last_key_counts: std::sync::Mutex<Option<KeyCounts>>,
    stop: watch::Sender<bool>,
    _lock: StoreLock,
}

impl BridgeCrypto {
    /// Opens (or creates) the crypto store and the bot device's machine. Touches no network:
    /// call [`BridgeCrypto::connect`] once the homeserver is up. Fails if another process
    /// holds the store, or if the store belongs to another bot.
    pub async fn open(
        client: HomeserverClient,
        options: CryptoOptions,
    ) -> Result<Arc<Self>, CryptoError> {
        use aqueduct_core::matrix::MatrixApi;
        let lock = StoreLock::acquire(&options.store_dir)?;
        // One bot device's keys are a small working set: the SDK's low-memory settings (a
        // connection per core, 500 KB of page cache each, instead of four per core with 2 MB)
        // keep several megabytes of resident memory for the bridge's own work.
        let config = SqliteStoreConfig::with_low_memory_config(&options.store_dir)
            .passphrase(options.pickle_key.as_deref());
        let store = SqliteCryptoStore::open_with_config(&config)
            .await
            .map_err(|e| CryptoError::Store(format!("cannot open the crypto store: {e}")))?;
        restrict_files(&options.store_dir)?;
        let bot = OwnedUserId::try_from(client.bot_user_id())
            .map_err(|e| CryptoError::Olm(format!("the bot's user id is invalid: {e}")))?;
        let existing = store
            .load_account()
            .await
            .map_err(|e| CryptoError::Store(e.to_string()))?;
        let device_id = match existing {
            Some(account) if account.user_id() != bot => {
                return Err(CryptoError::Store(format!(
                    "the crypto store belongs to {}, not {bot}; point encryption.store_path elsewhere",
                    account.user_id()
                )));
            }
            Some(account) => account.device_id().to_owned(),
            None => bot_device::new_device_id(),
        };
        let machine = OlmMachine::with_store(&bot, &device_id, store, None).await?;
        tracing::info!(device_id = %device_id, "bridge bot device ready");
        Ok(Arc::new(Self {
            machine,
            client,
            bot,
            device_id,
            device: OnceLock::new(),
            options: options.clone(),
            rooms: Rooms::default(),
            keys_arrived: Notify::new(),
            outgoing_lock: Mutex::new(()),
            transaction_fed: AtomicBool::new(options.appservice_to_device),
            last_key_counts: std::sync::Mutex::new(None),
            stop: watch::channel(false).0,
            _lock: lock,
        }))
    }

    /// Creates the device on the homeserver if needed, uploads its keys, cross-signs it and,
    /// unless transactions carry the device data, starts the to-device `/sync`.
    pub async fn connect(self: &Arc<Self>) -> Result<(), CryptoError> {
        let auth = bot_device::ensure_device(
            &self.client,
            &self.bot,
            &self.device_id,
            &self.options.device_display_name,
        )
        .await?;
        let _ = self.device.set(auth);
        self.send_outgoing().await?;
        self.cross_sign_device().await;
        if !self.options.appservice_to_device {
            let me = self.clone();
            let stop = self.stop.subscribe();
            tokio::spawn(async move { me.run_sync(stop).await });
        }
        Ok(())
    }

    /// Stops the to-device `/sync`, at a point where nothing is half processed.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The bot device's id.
    pub fn device_id(&self) -> &str {
        self.device_id.as_str()
    }

    /// Sends a client-server request as the bot's device.
    pub(crate) async fn send_as_bot_device<R>(
        &self,
        request: R,
    ) -> MatrixResult<R::IncomingResponse>
    where
        R: OutgoingRequest + Clone,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
        for<'a> R::PathBuilder: PathBuilder<Input<'a> = Cow<'a, SupportedVersions>>,
    {
        let fallback = DeviceAuth::Masquerade(self.device_id.to_string());
        let device = self.device.get().unwrap_or(&fallback);
        self.client
            .send_as_device(request, self.bot.as_str(), device)
            .await
    }

    /// Feeds one batch of device data to the machine, wakes events waiting for keys that came,
    /// and sends what the machine wants sent in answer (new one-time keys, ...). Whether all of
    /// it went without error.
    pub(crate) async fn receive_changes(
        &self,
        to_device: Vec<Raw<AnyToDeviceEvent>>,
        device_lists: &DeviceLists,
        one_time_keys: &BTreeMap<OneTimeKeyAlgorithm, UInt>,
        fallback_keys: Option<&[OneTimeKeyAlgorithm]>,
        next_batch: Option<String>,
    ) -> bool {
        let changes = EncryptionSyncChanges {
            to_device_events: to_device,
            changed_devices: device_lists,
            one_time_keys_counts: one_time_keys,
            unused_fallback_keys: fallback_keys,
            next_batch_token: next_batch,
        };
        let mut ok = true;
        match self
            .machine
            .receive_sync_changes(changes, &decryption_settings())
            .await
        {
            Ok((_, keys)) => {
                if !keys.is_empty() {
                    self.keys_arrived.notify_waiters();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take in device data");
                ok = false;
            }
        }
        if let Err(e) = self.send_outgoing().await {
            tracing::warn!(error = %e, "cannot send the crypto machine's requests");
            ok = false;
        }
        ok
    }

    /// Cross-signs the bot device once, so clients that exclude unverified devices still share
    /// keys with it. A homeserver that refuses is logged, not fatal: encryption works without.
    async fn cross_sign_device(&self) {
        if self.machine.cross_signing_status().await.is_complete() {
            return;
        }
        if let Err(e) = self.bootstrap_cross_signing().await {
            tracing::warn!(error = %e, "cannot cross-sign the bridge bot's device; clients that exclude unverified devices will not send it keys");
        }
    }

    async fn bootstrap_cross_signing(&self) -> Result<(), CryptoError> {
        use ruma::api::client::keys::upload_signing_keys;
        let requests = self.machine.bootstrap_cross_signing(false).await?;
        if let Some(upload) = &requests.upload_keys_req {
            self.send_request(upload.request_id(), upload.request())
                .await?;
        }
        let keys = &requests.upload_signing_keys_req;
        let mut upload = upload_signing_keys::v3::Request::new();
        upload.master_key = keys.master_key.as_ref().map(|k| k.to_raw());
        upload.self_signing_key = keys.self_signing_key.as_ref().map(|k| k.to_raw());
        upload.user_signing_key = keys.user_signing_key.as_ref().map(|k| k.to_raw());
        let response = self.send_as_bot_device(upload).await?;
        self.machine
            .mark_request_as_sent(
                &ruma::TransactionId::new(),
                AnyIncomingResponse::SigningKeysUpload(&response),
            )
            .await?;
        let signatures = requests.upload_signatures_req.clone();
        let response = self.send_as_bot_device(signatures).await?;
        self.machine
            .mark_request_as_sent(&ruma::TransactionId::new(), &response)
            .await?;
        tracing::info!("the bridge bot's device is cross-signed");
        Ok(())
    }
}

/// The bridge decrypts what any device sends: it cannot verify users' devices, and refusing
/// would lose their messages.
pub(crate) fn decryption_settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}
