//! Which partition a keyed event goes to: Kafka's default partitioner (the Java client's
//! `Utils.murmur2` of the key bytes, made positive, modulo the partition count), so events
//! of one key land on the partition a Java, librdkafka (`murmur2_random`) or Storm
//! producer would pick. rskafka produces to a partition the caller names and has no
//! partitioner; the function is 20 lines, hand-written against Kafka's test vectors.

/// Kafka's `Utils.murmur2` (seed `0x9747b28c`), as a signed 32-bit value like Java's.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition (index into `0..partitions`) of `key`; `partitions` must be > 0.
pub fn for_key(key: &[u8], partitions: usize) -> usize {
    // Java: toPositive(murmur2(key)) % numPartitions, toPositive = x & 0x7fffffff.
    ((murmur2(key) & 0x7fff_ffff) as usize) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafkas_murmur2_test_vectors() {
        // org.apache.kafka.common.utils.UtilsTest#testMurmur2
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (input, want) in cases {
            assert_eq!(murmur2(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn partition_is_stable_and_in_range() {
        for key in ["1", "42", "product-7", ""] {
            let p = for_key(key.as_bytes(), 6);
            assert!(p < 6);
            assert_eq!(p, for_key(key.as_bytes(), 6));
        }
        assert_eq!(for_key(b"anything", 1), 0);
    }
}
