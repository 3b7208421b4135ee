//! Seed derivation: every random choice in a run follows from the run seed and
//! stable names, never from wall-clock time or hash-map order.

use sha2::{Digest, Sha256};

/// Derive a 64-bit seed from a base seed and a list of labels
/// (e.g. case id, attack name, repeat index).
pub fn derive(base: u64, labels: &[&str]) -> u64 {
    let mut h = Sha256::new();
    h.update(base.to_le_bytes());
    for l in labels {
        h.update((l.len() as u64).to_le_bytes());
        h.update(l.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn derive_is_stable_and_label_sensitive() {
        assert_eq!(super::derive(1, &["a", "b"]), super::derive(1, &["a", "b"]));
        assert_ne!(super::derive(1, &["a", "b"]), super::derive(1, &["ab"]));
        assert_ne!(super::derive(1, &["a"]), super::derive(2, &["a"]));
    }
}
