//! Sends what the OlmMachine asks for (key uploads and queries, key claims, to-device
//! messages, signatures) as the bot's device, and hands each answer back to it.

use crate::error::CryptoError;
use crate::machine::BridgeCrypto;
use matrix_sdk_crypto::types::requests::{AnyOutgoingRequest, ToDeviceRequest};
use ruma::TransactionId;
use ruma::api::client::keys::get_keys;
use ruma::api::client::message::send_message_event;
use ruma::api::client::to_device::send_event_to_device;
use ruma::events::MessageLikeEventContent;
use ruma::serde::Raw;

impl BridgeCrypto {
    /// Sends every request the machine has queued. One caller at a time, so a key upload is
    /// never sent twice concurrently.
    pub(crate) async fn send_outgoing(&self) -> Result<(), CryptoError> {
        let _one_at_a_time = self.outgoing_lock.lock().await;
        for request in self.machine.outgoing_requests().await? {
            self.send_request(request.request_id(), request.request())
                .await?;
        }
        Ok(())
    }

    /// Sends one request and marks it sent with its answer.
    pub(crate) async fn send_request(
        &self,
        id: &TransactionId,
        request: &AnyOutgoingRequest,
    ) -> Result<(), CryptoError> {
        match request {
            AnyOutgoingRequest::KeysUpload(r) => {
                let response = self.send_as_bot_device(r.clone()).await?;
                self.machine.mark_request_as_sent(id, &response).await?;
            }
            AnyOutgoingRequest::KeysQuery(r) => {
                let mut query = get_keys::v3::Request::new();
                query.device_keys = r.device_keys.clone();
                query.timeout = r.timeout;
                let response = self.send_as_bot_device(query).await?;
                self.machine.mark_request_as_sent(id, &response).await?;
            }
            AnyOutgoingRequest::KeysClaim(r) => {
                let response = self.send_as_bot_device(r.clone()).await?;
                self.machine.mark_request_as_sent(id, &response).await?;
            }
            AnyOutgoingRequest::ToDeviceRequest(r) => {
                self.send_to_device(r).await?;
            }
            AnyOutgoingRequest::SignatureUpload(r) => {
                let response = self.send_as_bot_device(r.clone()).await?;
                self.machine.mark_request_as_sent(id, &response).await?;
            }
            AnyOutgoingRequest::RoomMessage(r) => {
                let request = send_message_event::v3::Request::new_raw(
                    r.room_id.clone(),
                    r.txn_id.clone(),
                    r.content.event_type(),
                    Raw::new(&*r.content)
                        .map_err(|e| {
                            CryptoError::Olm(format!("cannot serialize a room message: {e}"))
                        })?
                        .cast_unchecked(),
                );
                let response = self.send_as_bot_device(request).await?;
                self.machine.mark_request_as_sent(id, &response).await?;
            }
        }
        Ok(())
    }

    /// Sends to-device messages (room keys, key requests) and marks them sent.
    pub(crate) async fn send_to_device(&self, r: &ToDeviceRequest) -> Result<(), CryptoError> {
        let request = send_event_to_device::v3::Request::new_raw(
            r.event_type.clone(),
            r.txn_id.clone(),
            r.messages.clone(),
        );
        let response = self.send_as_bot_device(request).await?;
        self.machine
            .mark_request_as_sent(&r.txn_id, &response)
            .await?;
        Ok(())
    }
}
