//! The one cache-key hash of the build caches: SHA-256 over length-prefixed parts.

use sha2::{Digest, Sha256};

/// Builds a key from parts; the length prefix makes part boundaries count (`"ab" + "c"` and
/// `"a" + "bc"` differ). SHA-256 rather than a std hasher because keys live on disk across
/// Rust releases, and `DefaultHasher` is not stable across them.
pub(crate) struct ContentKey(Sha256);

impl ContentKey {
    /// An empty key.
    pub(crate) fn new() -> ContentKey {
        ContentKey(Sha256::new())
    }

    /// Adds one part.
    pub(crate) fn part(&mut self, bytes: &[u8]) -> &mut ContentKey {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// The first 128 bits as 32 hex digits: plenty for a cache of a few hundred entries.
    pub(crate) fn finish(&self) -> String {
        let digest = self.0.clone().finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_boundaries_count_and_keys_are_stable() {
        let key = |parts: &[&[u8]]| {
            let mut k = ContentKey::new();
            for p in parts {
                k.part(p);
            }
            k.finish()
        };
        assert_eq!(key(&[b"ab", b"c"]), key(&[b"ab", b"c"]));
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_eq!(key(&[]).len(), 32);
        // Pinned (SHA-256 of the 8-byte little-endian length and the bytes, checked with Python's
        // hashlib): a key written by one build must be found by the next.
        assert_eq!(key(&[b"vessel"]), "9987fbb3984ce5ccbffa32baeaaace2b");
    }
}
