//! Cassandra's Murmur3 partitioner: the token of a partition key.
//!
//! Cassandra hashes with its own port of MurmurHash3 x64 128 (seed 0) and keeps the first 64 bits
//! as a signed token. The port differs from the reference algorithm in one place: bytes of the
//! tail (the last `len % 16` bytes) are widened as *signed* bytes, so tails with bytes >= 0x80
//! hash differently. The minimum `i64` is reserved by the partitioner and mapped to the maximum.

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Cassandra's MurmurHash3 x64 128 with seed 0, as its two 64-bit halves.
pub fn hash3_x64_128(data: &[u8]) -> (u64, u64) {
    let mut h1: u64 = 0;
    let mut h2: u64 = 0;
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let (a, b) = block.split_at(8);
        let mut k1 = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]));
        let mut k2 = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    // Sign-extend each tail byte, as Cassandra's Java port does.
    let widen = |i: usize| tail[i] as i8 as i64 as u64;
    let mut k1: u64 = 0;
    let mut k2: u64 = 0;
    for i in (8..tail.len()).rev() {
        k2 ^= widen(i) << ((i - 8) * 8);
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    for i in (0..tail.len().min(8)).rev() {
        k1 ^= widen(i) << (i * 8);
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

/// The Murmur3 token of a serialized partition key.
pub fn token(partition_key: &[u8]) -> i64 {
    let t = hash3_x64_128(partition_key).0 as i64;
    if t == i64::MIN { i64::MAX } else { t }
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn known_tokens_of_text_keys() {
        // Values published with the scylla driver's partitioner, which matches Cassandra's.
        assert_eq!(token(b"test"), -6017608668500074083);
        assert_eq!(token(b"xd"), 4507812186440344727);
        assert_eq!(token(b"primary_key"), -1632642444691073360);
        // Bytes >= 0x80 in the tail exercise Cassandra's sign-extension quirk.
        assert_eq!(token("kremówki".as_bytes()), 4354931215268080151);
    }

    #[test]
    fn long_keys_use_full_blocks() {
        let a = token(&[0u8; 40]);
        let b = token(&[0u8; 41]);
        assert_ne!(a, b);
        assert_ne!(a, i64::MIN);
    }
}
