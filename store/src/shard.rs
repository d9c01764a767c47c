//! Shard keys and the hash-range split of the key space.
//!
//! A stream's shard key hashes its tenant and labels together (two tenants' identical label
//! sets land on independent shards); the 64-bit key space is cut into contiguous ranges, one
//! per shard.

use crate::labels::Labels;

/// The stream's position in the shard key space: stable across processes and versions.
pub fn shard_key(tenant: &str, labels: &Labels) -> u64 {
    // FNV-1a over the tenant and the stream fingerprint, then a splitmix64 finalizer so that
    // the high bits (which pick the range) are well mixed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tenant.bytes().chain([0xfd]).chain(labels.stream_id().0.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// `count` equal ranges of the key space; range `i` is `[start(i), start(i + 1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvenRanges {
    count: u64,
}

impl EvenRanges {
    /// `count` ranges (at least one).
    pub fn new(count: u64) -> EvenRanges {
        EvenRanges { count: count.max(1) }
    }

    /// The range holding `key`.
    pub fn range_of(&self, key: u64) -> u64 {
        ((u128::from(key) * u128::from(self.count)) >> 64) as u64
    }

    /// First key of range `i`.
    pub fn start(&self, i: u64) -> u64 {
        ((u128::from(i.min(self.count)) << 64) / u128::from(self.count)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_and_ranges_partition() {
        let r = EvenRanges::new(4);
        assert_eq!(r.range_of(0), 0);
        assert_eq!(r.range_of(u64::MAX), 3);
        for i in 0..4 {
            assert_eq!(r.range_of(r.start(i)), i, "range {i} starts at its own start");
        }
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let l = Labels::parse(&format!(r#"{{app="a{i}", env="prod"}}"#)).expect("labels");
            counts[r.range_of(shard_key("t", &l)) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "uneven spread {counts:?}");
        let l = Labels::parse(r#"{app="x"}"#).expect("labels");
        assert_ne!(shard_key("t1", &l), shard_key("t2", &l), "the tenant is part of the key");
        assert_eq!(shard_key("t1", &l), shard_key("t1", &l.clone()));
        assert_eq!(EvenRanges::new(1).range_of(u64::MAX), 0);
    }
}
