//! Matrix transaction ids derived from what is being bridged, so that a retry after a crash
//! sends the same id and the homeserver returns the event it already made instead of a copy.

use sha2::{Digest, Sha256};

/// A transaction id from the parts that identify one bridged action.
pub fn derive(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"aqueduct-txn-v1");
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    format!("aq{}", &hex::encode(h.finalize())[..40])
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_parts_same_id_and_boundaries_matter() {
        assert_eq!(super::derive(&["a", "b"]), super::derive(&["a", "b"]));
        assert_ne!(super::derive(&["ab", "c"]), super::derive(&["a", "bc"]));
    }
}
