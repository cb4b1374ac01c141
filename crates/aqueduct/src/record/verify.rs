//! `audit verify`: checks a record (from the database or an export) against the seals, with
//! only the public keys the auditor trusts. Reports the first thing wrong.

use aqueduct_core::audit::{
    AuditEntry, AuditSeal, ChainBreak, ChainCheck, GENESIS_HASH, seal_message,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use std::collections::BTreeMap;

use super::signing_key::public_key_text;

/// What a record being checked is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything kept: from entry 1, or from the checkpoint seal after pruning, to the end.
    Whole,
    /// A time range of it: contiguous, starting wherever the range starts.
    Range,
    /// One room's entries: each entry's own hash, and links between consecutive numbers only.
    Selection,
}

/// The first thing wrong with a record.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken.
    #[error(transparent)]
    Chain(#[from] ChainBreak),
    /// A seal's signature does not verify: the seal was forged or altered.
    #[error("the seal of entry {seq} has a signature that does not verify")]
    BadSignature {
        /// The sealed entry.
        seq: i64,
    },
    /// A seal is signed by a key the auditor did not name.
    #[error(
        "the seal of entry {seq} is signed by {key}, which is not one of the trusted public keys"
    )]
    UntrustedKey {
        /// The sealed entry.
        seq: i64,
        /// The key that signed.
        key: String,
    },
    /// An entry differs from what its seal signed.
    #[error("entry {seq} is not the entry that was sealed: it was replaced")]
    SealMismatch {
        /// The entry.
        seq: i64,
    },
    /// Content in an export does not give its entry's digest: it was altered.
    #[error("the content exported with entry {seq} is not the content that was recorded")]
    ContentMismatch {
        /// The entry.
        seq: i64,
    },
    /// Entries that were sealed are gone from the end.
    #[error(
        "the record ends at entry {last}, but entry {sealed} was sealed: entries were removed from the end"
    )]
    Truncated {
        /// The last entry present (0 for none).
        last: i64,
        /// The newest sealed entry.
        sealed: i64,
    },
}

/// What a successful check found.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// First and last entry numbers, if any.
    pub span: Option<(i64, i64)>,
    /// The newest entry a trusted seal vouches for.
    pub sealed_through: Option<i64>,
    /// Entries after the newest seal: chained, not yet signed.
    pub unsealed: i64,
}

/// Checks entries fed in order against `seals`, trusting `trusted` keys only.
pub struct Verifier {
    seals: BTreeMap<i64, AuditSeal>,
    chain: Option<ChainCheck>,
    scope: Scope,
    first: Option<i64>,
}

impl Verifier {
    /// Checks every seal's signature first; entries follow through [`Verifier::entry`].
    pub fn new(
        seals: Vec<AuditSeal>,
        trusted: &[VerifyingKey],
        scope: Scope,
    ) -> Result<Self, VerifyError> {
        let trusted: Vec<(String, &VerifyingKey)> =
            trusted.iter().map(|k| (public_key_text(k), k)).collect();
        for seal in &seals {
            let Some((_, key)) = trusted.iter().find(|(text, _)| *text == seal.public_key) else {
                return Err(VerifyError::UntrustedKey {
                    seq: seal.seq,
                    key: seal.public_key.clone(),
                });
            };
            let signature = STANDARD_NO_PAD
                .decode(seal.signature.trim_end_matches('='))
                .ok()
                .and_then(|b| <[u8; 64]>::try_from(b).ok())
                .map(|b| Signature::from_bytes(&b));
            let message = seal_message(seal.seq, &seal.entry_hash, seal.sealed_at_ms);
            if signature.is_none_or(|s| key.verify_strict(&message, &s).is_err()) {
                return Err(VerifyError::BadSignature { seq: seal.seq });
            }
        }
        Ok(Self {
            seals: seals.into_iter().map(|s| (s.seq, s)).collect(),
            chain: None,
            scope,
            first: None,
        })
    }

    /// Checks the next entry.
    pub fn entry(&mut self, entry: &AuditEntry) -> Result<(), VerifyError> {
        let chain = match &mut self.chain {
            Some(chain) => chain,
            None => {
                self.first = Some(entry.seq);
                let start = match self.scope {
                    Scope::Selection => None,
                    // Entry 1 chains to the genesis hash; a pruned record to its checkpoint.
                    Scope::Whole if entry.seq == 1 => Some((0, GENESIS_HASH.to_owned())),
                    // A pruned record starts at its checkpoint: a sealed entry, whose seal
                    // vouches for its hash and so for the link it carries.
                    Scope::Whole if self.seals.contains_key(&entry.seq) => {
                        Some((entry.seq - 1, entry.prev_hash.clone()))
                    }
                    Scope::Whole => Some((i64::MIN, String::new())),
                    // A range starts where it starts; seals inside it vouch for the rest.
                    Scope::Range => Some((entry.seq - 1, entry.prev_hash.clone())),
                };
                if start.as_ref().is_some_and(|(seq, _)| *seq == i64::MIN) {
                    return Err(ChainBreak::NoStart { seq: entry.seq }.into());
                }
                self.chain.insert(match start {
                    Some(start) => ChainCheck::contiguous(Some(start)),
                    None => ChainCheck::selection(),
                })
            }
        };
        chain.next(entry)?;
        if let Some(seal) = self.seals.get(&entry.seq)
            && seal.entry_hash != entry.entry_hash
        {
            return Err(VerifyError::SealMismatch { seq: entry.seq });
        }
        Ok(())
    }

    /// Ends the check: a seal past the last entry means entries were cut from the end.
    pub fn finish(self) -> Result<Report, VerifyError> {
        let last = self
            .chain
            .as_ref()
            .and_then(|c| c.last().map(|(seq, _)| *seq));
        let newest_seal = self.seals.keys().next_back().copied();
        if let Some(sealed) = newest_seal
            && self.scope != Scope::Selection
            && sealed > last.unwrap_or(0)
            // A range export may end before later seals; only a whole record must reach them.
            && self.scope == Scope::Whole
        {
            return Err(VerifyError::Truncated {
                last: last.unwrap_or(0),
                sealed,
            });
        }
        let sealed_through = newest_seal.filter(|s| last.is_some_and(|l| *s <= l));
        Ok(Report {
            entries: self.chain.as_ref().map_or(0, ChainCheck::checked),
            span: self.first.zip(last),
            sealed_through,
            unsealed: match (last, sealed_through) {
                (Some(l), Some(s)) => l - s,
                (Some(l), None) => l - self.first.unwrap_or(1) + 1,
                _ => 0,
            },
        })
    }
}
