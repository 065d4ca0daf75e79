//! The per-object key prefilter: a register-blocked bloom filter over the key hashes that
//! have dependents, in front of the keyed cell map.
//!
//! Each key sets two bits in one 64-bit word chosen by its mixed hash, so a check is one
//! multiply-mix, one load and one compare, with no branch on the filter size. The filter
//! holds one word per key (rounded up to a power of two), which puts the false-positive
//! rate near 0.1%. A false positive costs one hash-map probe, never a wrong answer.
//! Keys are never removed from a filter; it is rebuilt from the map when the map grows
//! past it or shrinks well below it.
//!
//! Why this and not the `bloomfilter` or `fastbloom` crates: see [DECISIONS.md]
//! (`cargo bench --bench structures -- prefilter`).
//!
//! [DECISIONS.md]: https://github.com/depwatch/depwatch/blob/main/design/DECISIONS.md

/// fmix64 from MurmurHash3: spreads a VM-provided hash (which may be as weak as
/// Python's `hash(int) == int`) over all 64 bits.
#[inline]
pub fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// A blocked bloom filter with one 64-bit block per key.
///
/// ```
/// use depwatch::prefilter::KeyFilter;
/// let mut f = KeyFilter::default();
/// f.rebuild([7u64, 9].into_iter());
/// assert!(f.may_contain(7) && f.may_contain(9));
/// ```
#[derive(Clone, Debug)]
pub struct KeyFilter {
    words: Box<[u64]>,
    /// Keys that set new bits since the last rebuild, including ones since removed.
    inserted: usize,
}

impl Default for KeyFilter {
    /// An empty filter, which holds no allocation and rejects every key.
    fn default() -> Self {
        Self {
            words: Box::new([]),
            inserted: 0,
        }
    }
}

#[inline]
fn probe(hash: u64, mask: usize) -> (usize, u64) {
    let h = mix(hash);
    let word = (h as usize) & mask;
    let bits = (1u64 << (h >> 58)) | (1u64 << ((h >> 52) & 63));
    (word, bits)
}

impl KeyFilter {
    /// Whether `hash` may have been inserted. Never false for an inserted key.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        let (word, bits) = probe(hash, self.words.len().wrapping_sub(1));
        // `word` is masked to the power-of-two length, so it is in bounds unless the
        // filter is empty, where `get` gives `None`: nothing was inserted.
        self.words.get(word).is_some_and(|w| w & bits == bits)
    }

    /// Inserts `hash`. Returns true when the filter is now over-full and the owner should
    /// rebuild it with [`KeyFilter::rebuild`].
    pub fn insert(&mut self, hash: u64) -> bool {
        if self.words.is_empty() {
            self.words = Box::new([0]);
        }
        let (word, bits) = probe(hash, self.words.len() - 1);
        if self.words[word] & bits == bits {
            // Already present (or a collision): the filter is no fuller than before.
            return false;
        }
        self.words[word] |= bits;
        self.inserted += 1;
        self.inserted > self.words.len()
    }

    /// Whether a filter built for `live` keys is worth rebuilding smaller.
    pub fn is_sparse(&self, live: usize) -> bool {
        self.words.len() > 8 && live * 4 < self.words.len()
    }

    /// Rebuilds the filter from the live keys.
    pub fn rebuild(&mut self, keys: impl ExactSizeIterator<Item = u64>) {
        let words = match keys.len() {
            0 => 0,
            n => n.next_power_of_two(),
        };
        self.words = vec![0u64; words].into_boxed_slice();
        self.inserted = 0;
        for k in keys {
            self.insert(k);
        }
    }

    /// Heap bytes held by the filter.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = KeyFilter::default();
        let keys: Vec<u64> = (0..1000u64).map(|i| i * 7919).collect();
        f.rebuild(keys.iter().copied());
        for &k in &keys {
            assert!(f.may_contain(k));
        }
        let fp = (1_000_000u64..1_100_000)
            .filter(|&k| f.may_contain(k))
            .count();
        // Expected rate with 1024 words for 1000 keys and k=2 is about 0.1%.
        assert!(fp < 1000, "false-positive rate too high: {fp} / 100000");
    }

    #[test]
    fn empty_filter_rejects_everything_without_allocating() {
        let mut f = KeyFilter::default();
        assert_eq!(f.heap_bytes(), 0);
        assert!(!f.may_contain(0) && !f.may_contain(u64::MAX));
        f.rebuild(std::iter::empty());
        assert_eq!(f.heap_bytes(), 0);
        f.insert(5);
        assert!(f.may_contain(5));
    }

    #[test]
    fn inserting_a_present_key_again_does_not_fill_the_filter() {
        let mut f = KeyFilter::default();
        assert!(!f.insert(1));
        // A one-word filter holds one key; the same key again asks for no rebuild.
        assert!(!f.insert(1));
        assert!(!f.insert(1));
        assert!(f.may_contain(1));
    }

    #[test]
    fn insert_reports_overflow_and_sparse() {
        let mut f = KeyFilter::default();
        assert!(!f.insert(1));
        assert!(
            f.insert(2),
            "two keys in a one-word filter asks for a rebuild"
        );
        f.rebuild([1u64, 2].into_iter());
        assert!(f.may_contain(1) && f.may_contain(2));
        f.rebuild((0..100u64).collect::<Vec<_>>().into_iter());
        assert!(f.is_sparse(3));
        assert!(!f.is_sparse(100));
    }
}
