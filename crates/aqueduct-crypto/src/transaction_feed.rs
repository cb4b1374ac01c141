//! What the appservice transactions tell encryption: membership and encryption state of rooms
//! always; to-device messages, device-list changes and key counts for the bot device when
//! configured to read them from there (MSC2409/MSC3202) instead of its own `/sync`.

use crate::machine::BridgeCrypto;
use ruma::api::appservice::event::push_events;
use ruma::api::client::sync::sync_events::DeviceLists;
use ruma::events::AnyToDeviceEvent;
use ruma::serde::Raw;
use serde_json::Value;
use std::sync::atomic::Ordering;

impl BridgeCrypto {
    /// Takes in one transaction. Never fails: problems are logged.
    pub async fn observe_transaction(&self, transaction: &push_events::v1::Request) {
        for raw in &transaction.events {
            // Most events are messages: read only their type before parsing the whole event.
            let kind = raw.get_field::<String>("type").ok().flatten();
            if !matches!(kind.as_deref(), Some("m.room.member" | "m.room.encryption")) {
                continue;
            }
            if let Ok(event) = serde_json::from_str::<Value>(raw.json().get()) {
                self.rooms.observe(&self.client, &event);
            }
        }
        if !self.transaction_fed.load(Ordering::SeqCst) {
            return;
        }
        let mine = |user: &ruma::UserId, device: &ruma::DeviceId| {
            user == self.bot && device == self.device_id
        };
        let to_device: Vec<Raw<AnyToDeviceEvent>> = transaction
            .to_device
            .iter()
            .filter(|raw| {
                let user = raw
                    .get_field::<ruma::OwnedUserId>("to_user_id")
                    .ok()
                    .flatten();
                let device = raw
                    .get_field::<ruma::OwnedDeviceId>("to_device_id")
                    .ok()
                    .flatten();
                matches!((user, device), (Some(u), Some(d)) if mine(&u, &d))
            })
            .map(|raw| raw.clone().cast_unchecked())
            .collect();
        let mut lists = DeviceLists::new();
        lists.changed = transaction.device_lists.changed.clone();
        lists.left = transaction.device_lists.left.clone();
        let counts = transaction
            .device_one_time_keys_count
            .get(&self.bot)
            .and_then(|d| d.get(&self.device_id))
            .cloned()
            .unwrap_or_default();
        let fallback = transaction
            .device_unused_fallback_key_types
            .get(&self.bot)
            .and_then(|d| d.get(&self.device_id))
            .cloned();
        let has_counts = transaction
            .device_one_time_keys_count
            .get(&self.bot)
            .is_some_and(|d| d.contains_key(&self.device_id));
        // Counts the machine already took in are news only when they change (a key claimed,
        // keys uploaded). A failed intake or upload is not remembered, so the next transaction
        // tries again as before.
        let reported =
            (has_counts || fallback.is_some()).then(|| (counts.clone(), fallback.clone()));
        let new_counts =
            reported.is_some() && *self.last_key_counts.lock().expect("key counts") != reported;
        if to_device.is_empty() && lists.is_empty() && !new_counts {
            return;
        }
        let ok = self
            .receive_changes(to_device, &lists, &counts, fallback.as_deref(), None)
            .await;
        let mut last = self.last_key_counts.lock().expect("key counts");
        *last = if ok { reported.or(last.take()) } else { None };
    }
}
