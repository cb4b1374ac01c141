//! The audit record's operator side (`docs/record.md`): the signing key, the sealing task,
//! export and verification. The engine and the store append the entries.

pub mod content_key;
pub mod export;
pub mod sealer;
pub mod signing_key;
pub mod times;
pub mod verify;
