//! Skip filters: per row group, a Bloom filter of the line text's 5-grams, so a scan can
//! skip row groups that cannot contain a `|= "literal"` (or the literal parts of a regex).
//!
//! Text is cut into runs of ASCII letters, digits, `_` and non-ASCII bytes, lower-cased
//! (ASCII), and every 5-byte window inside a run that is not all digits is a gram. A line
//! containing a literal contains every gram of the literal's runs (a run of the literal lies
//! inside a run of the line), so "some gram of the literal is missing" proves the row group
//! holds no matching line. All-digit grams are left out: numbers fill that space in any
//! row group, so they would cost bits and prune nothing. A literal with several grams is
//! rejected by a row group only if all of them are present, so each gram may have a high
//! false-positive rate ([`TARGET_FPR`]) and the filters stay small.
//!
//! A compacted file `x.parquet` has its filters in `x.parquet.bloom`: `SKBF`, version,
//! gram length, hash count, row-group count (u32), then per row group its bit count (u64)
//! and bits (u64 words), all little-endian, then a CRC-32 of everything before it.

use std::collections::HashSet;

use crate::StoreError;

/// Gram length in bytes.
pub const GRAM: usize = 5;
/// False-positive rate each filter is sized for, per gram.
pub const TARGET_FPR: f64 = 0.1;
/// Hash functions per gram.
const HASHES: u32 = 3;
const MAGIC: &[u8; 4] = b"SKBF";
const VERSION: u8 = 1;

/// The object holding the filters of the chunk file at `path`.
pub fn filter_path(path: &str) -> String {
    format!("{path}.bloom")
}

/// Whether the chunk file at `path` has skip filters: compacted files
/// (`{shard}-c{ms}-{n}.parquet`) do, flushed ones (`{shard}-{first}-{last}.parquet`) do not.
pub fn has_filter(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|name| name.contains("-c") && name.ends_with(".parquet"))
}

fn is_run_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Calls `f` with the hash of every gram of `text`.
pub fn for_each_gram(text: &[u8], mut f: impl FnMut(u64)) {
    let mut window = [0u8; GRAM];
    let mut run = 0usize;
    let mut digits = 0usize;
    for &b in text {
        if !is_run_byte(b) {
            run = 0;
            digits = 0;
            continue;
        }
        let b = b.to_ascii_lowercase();
        window.copy_within(1.., 0);
        window[GRAM - 1] = b;
        run += 1;
        digits = if b.is_ascii_digit() { digits + 1 } else { 0 };
        if run >= GRAM && digits < GRAM {
            let mut packed = [0u8; 8];
            packed[..GRAM].copy_from_slice(&window);
            f(mix(u64::from_le_bytes(packed)));
        }
    }
}

/// The distinct gram hashes of `text`.
pub fn grams_of(text: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    for_each_gram(text, |h| out.push(h));
    out.sort_unstable();
    out.dedup();
    out
}

/// The `i`-th bit position of `gram` in a filter of `bits` bits (double hashing).
fn position(bits: u64, gram: u64, i: u64) -> u64 {
    (gram & 0xffff_ffff).wrapping_add(i.wrapping_mul(gram >> 32)) % bits
}

/// One row group's Bloom filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    bits: u64,
    words: Vec<u64>,
}

impl Bloom {
    /// A filter holding `grams`, sized for [`TARGET_FPR`].
    pub fn build(grams: &HashSet<u64>) -> Bloom {
        let n = grams.len().max(1) as f64;
        let bits = ((-n * TARGET_FPR.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2)).ceil() as u64).max(64).div_ceil(64) * 64;
        let mut bloom = Bloom { bits, words: vec![0; (bits / 64) as usize] };
        for &g in grams {
            let positions: [u64; HASHES as usize] = std::array::from_fn(|i| position(bits, g, i as u64));
            for i in positions {
                bloom.words[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        bloom
    }

    /// False when `gram` is certainly not in the filter.
    pub fn may_contain(&self, gram: u64) -> bool {
        (0..u64::from(HASHES)).map(|i| position(self.bits, gram, i)).all(|i| self.words[(i / 64) as usize] & (1 << (i % 64)) != 0)
    }

    /// False when some gram of `grams` is certainly missing.
    pub fn may_contain_all(&self, grams: &[u64]) -> bool {
        grams.iter().all(|g| self.may_contain(*g))
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.words.len() * 8
    }
}

/// The filters of one file, one per row group in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFilter {
    /// One filter per row group.
    pub row_groups: Vec<Bloom>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("skip filter: {what}")))
}

impl FileFilter {
    /// The encoded object.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.row_groups.iter().map(|b| 8 + b.size()).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, GRAM as u8, HASHES as u8]);
        out.extend_from_slice(&(self.row_groups.len() as u32).to_le_bytes());
        for b in &self.row_groups {
            out.extend_from_slice(&b.bits.to_le_bytes());
            for w in &b.words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes an object written by [`FileFilter::encode`].
    pub fn decode(bytes: &[u8]) -> Result<FileFilter, StoreError> {
        let (body, crc) = bytes.split_last_chunk::<4>().ok_or_else(|| corrupt("too short"))?;
        if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
            return Err(corrupt("checksum mismatch"));
        }
        let head = body.get(..11).ok_or_else(|| corrupt("too short"))?;
        if &head[..4] != MAGIC || head[4] != VERSION || head[5] as usize != GRAM || u32::from(head[6]) != HASHES {
            return Err(corrupt("unknown format"));
        }
        let count = u32::from_le_bytes([head[7], head[8], head[9], head[10]]) as usize;
        let mut rest = &body[11..];
        let mut take = |n: usize| -> Result<&[u8], StoreError> {
            let (a, b) = rest.split_at_checked(n).ok_or_else(|| corrupt("truncated"))?;
            rest = b;
            Ok(a)
        };
        let mut row_groups = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let bits = u64::from_le_bytes(take(8)?.try_into().map_err(|_| corrupt("truncated"))?);
            if bits == 0 || bits % 64 != 0 || bits > (1 << 40) {
                return Err(corrupt("bad filter size"));
            }
            let words = take((bits / 8) as usize)?.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default())).collect();
            row_groups.push(Bloom { bits, words });
        }
        Ok(FileFilter { row_groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_fold_case_and_skip_numbers_and_punctuation() {
        assert_eq!(grams_of(b"Hello"), grams_of(b"hello"));
        assert_eq!(grams_of(b"abcd"), Vec::<u64>::new(), "a run shorter than a gram has none");
        assert_eq!(grams_of(b"1234567890"), Vec::<u64>::new(), "numbers are left out");
        assert_eq!(grams_of(b"abcde-fghij").len(), 2, "punctuation ends a run");
        assert_eq!(grams_of(b"user12345").len(), 4, "user1 user12 ser123 er1234 r12345 minus the all-digit one");
    }

    #[test]
    fn a_contained_literal_is_never_rejected() {
        let lines = ["level=error msg=\"connection refused\" trace=7f3c9e1d2b4a4c8e", "GET /api/v1/items/123 HTTP/1.1 200"];
        let mut set = HashSet::new();
        for l in lines {
            for_each_gram(l.as_bytes(), |h| {
                set.insert(h);
            });
        }
        let bloom = Bloom::build(&set);
        for lit in ["Connection Refused", "9e1d2b4a", "/api/v1/items", "on refu", "trace=7f3c"] {
            assert!(bloom.may_contain_all(&grams_of(lit.as_bytes())), "{lit}");
        }
        let absent = ["deadbeefcafe", "connection resetting", "zzzzzzzzzz"];
        assert!(absent.iter().all(|l| !bloom.may_contain_all(&grams_of(l.as_bytes()))), "absent literals are rejected");
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let set: HashSet<u64> = (0..1000u64).map(mix).collect();
        let f = FileFilter { row_groups: vec![Bloom::build(&set), Bloom::build(&HashSet::new())] };
        let bytes = f.encode();
        assert_eq!(FileFilter::decode(&bytes).expect("decode"), f);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(FileFilter::decode(&bad).is_err());
        assert!(FileFilter::decode(&bytes[..10]).is_err());
    }
}
