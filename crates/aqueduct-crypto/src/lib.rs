//! End-to-bridge encryption. One bridge-bot device holds a `matrix_sdk_crypto::OlmMachine`
//! whose keys live in a SQLite crypto store beside the bridge database. It decrypts what
//! Matrix users send (the engine calls it as an `EventDecryptor`) and encrypts what the bridge
//! sends into encrypted rooms ([`EncryptingMatrix`] wraps the `MatrixApi`), sharing room keys
//! only with the devices of the room's real Matrix members, never with ghosts or the bot.
//!
//! Its device data (to-device messages, device-list changes, one-time-key counts) comes from a
//! bot `/sync` filtered to exactly that data by default, or from appservice transactions
//! (MSC2409/MSC3202) when configured.

mod attachments;
mod bot_device;
mod decrypt;
mod encrypt;
mod encrypting_api;
mod error;
mod machine;
mod options;
mod requests;
mod room_state;
mod store_lock;
mod sync_loop;
mod transaction_feed;

pub use encrypting_api::EncryptingMatrix;
pub use error::CryptoError;
pub use machine::BridgeCrypto;
pub use options::CryptoOptions;
