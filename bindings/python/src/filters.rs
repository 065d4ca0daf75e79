//! The lock-free filters that let watcher callbacks return at once for events nobody
//! depends on.
//!
//! # The key prefilter
//!
//! A write to a watched dict's key that nothing depends on is the common case, and
//! CPython already charges about 1.5x an unwatched write just to call a watcher. So the
//! dict callback first asks a lock-free blocked bloom filter over (dict, key) pairs that
//! have ever had a dependent (and (dict, WHOLE) for whole-dict dependencies) and returns
//! at once on a miss. Bits are set at registration, before the unit exists, and never
//! cleared: false positives only send an event down the normal path. Skipping is sound
//! because nothing else needs to see quiet events, except compile tickets (an unrelated
//! write to a dependency's dict must reject a ticket), so the fast path is off while any
//! ticket object is alive. The GIL orders the registration's stores before any later
//! callback.
//!
//! # The object filter
//!
//! Function and code watchers see every function and code object in the interpreter,
//! so they have a filter of their own, over the tracked ones: a death or change of any
//! other returns at once, without the lock. A bit is set before its object is tracked.
//! Unlike the key filter it is rebuilt from the live tracked handles whenever a tracked
//! one dies: the allocator hands a dead function's address to the next function at
//! once, and a stale bit would send every later function at that address down the full
//! path. The rebuild runs under the GIL and the state lock and runs no Python code, so
//! no callback reads the filter half-built.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

const FILTER_WORDS: usize = 1 << 14; // 1 Mi bits, 128 KiB
pub static KEY_FILTER: [AtomicU64; FILTER_WORDS] = [const { AtomicU64::new(0) }; FILTER_WORDS];
/// Live `Ticket` objects: while any is alive, the key prefilter is off.
pub static LIVE_TICKETS: AtomicUsize = AtomicUsize::new(0);
/// Set (for good) once any unit depends on a whole dict; until then the dict prefilter
/// skips its second probe. Set before the dependency's filter bit, under the GIL.
pub static ANY_WHOLE_DICT: AtomicBool = AtomicBool::new(false);
static PREFILTER_SKIPS: AtomicU64 = AtomicU64::new(0);
/// The key used for whole-dict dependencies in the filter.
pub const WHOLE_KEY: u64 = 0x9e37_79b9_7f4a_7c15;

const OBJECT_FILTER_WORDS: usize = 1 << 12; // 256 Ki bits, 32 KiB
pub static OBJECT_FILTER: [AtomicU64; OBJECT_FILTER_WORDS] =
    [const { AtomicU64::new(0) }; OBJECT_FILTER_WORDS];
/// Function and code deaths (of tracked ones) already reflected in `OBJECT_FILTER`.
static OBJECT_FILTER_RETIRED: AtomicU64 = AtomicU64::new(0);
/// The keys under which functions and code objects are in `OBJECT_FILTER`.
pub const FUNC_KEY: u64 = 0x6a09_e667_f3bc_c908;
pub const CODE_KEY: u64 = 0xbb67_ae85_84ca_a73b;
/// Tracked functions and code objects: their watchers return at once while it is 0.
pub static TRACKED_FUNCS: AtomicUsize = AtomicUsize::new(0);
pub static TRACKED_CODES: AtomicUsize = AtomicUsize::new(0);

/// One multiply: a str key's hash is already SipHash output, and the dict's address
/// is spread by a Fibonacci multiply whose high half (where every address bit has
/// reached) is rotated down to the word index.
/// `table`'s length is a power of two.
#[inline(always)]
fn filter_slot(table: &[AtomicU64], object: u64, key: u64) -> (usize, u64) {
    let h = key ^ object.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(32);
    let word = (h as usize) & (table.len() - 1);
    (word, (1u64 << (h >> 58)) | (1u64 << ((h >> 52) & 63)))
}

/// Sets the bits of (`object`, `key`).
pub fn filter_insert(table: &[AtomicU64], object: u64, key: u64) {
    let (word, bits) = filter_slot(table, object, key);
    table[word].fetch_or(bits, Ordering::Relaxed);
}

/// Whether (`object`, `key`) may have been inserted (false: it never was).
#[inline(always)]
pub fn filter_may_contain(table: &[AtomicU64], object: u64, key: u64) -> bool {
    let (word, bits) = filter_slot(table, object, key);
    table[word].load(Ordering::Relaxed) & bits == bits
}

/// Counts an event the prefilter let a callback skip. Callbacks run under the GIL, one
/// at a time: a plain load and store (no locked read-modify-write) is enough for a
/// statistic.
#[inline(always)]
pub fn count_prefilter_skip() {
    PREFILTER_SKIPS.store(
        PREFILTER_SKIPS.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
}

/// Events skipped by the prefilters so far.
pub fn prefilter_skips() -> u64 {
    PREFILTER_SKIPS.load(Ordering::Relaxed)
}

/// Rebuilds `OBJECT_FILTER` from the live tracked functions and code objects, if a
/// tracked one died since the last rebuild (`retired` counts those deaths).
pub fn refresh_object_filter(
    retired: u64,
    funcs: impl Iterator<Item = u64>,
    codes: impl Iterator<Item = u64>,
) {
    if OBJECT_FILTER_RETIRED.load(Ordering::Relaxed) == retired {
        return;
    }
    for word in &OBJECT_FILTER {
        word.store(0, Ordering::Relaxed);
    }
    for h in funcs {
        filter_insert(&OBJECT_FILTER, h, FUNC_KEY);
    }
    for h in codes {
        filter_insert(&OBJECT_FILTER, h, CODE_KEY);
    }
    OBJECT_FILTER_RETIRED.store(retired, Ordering::Relaxed);
}

/// Whether a function or code watcher can return at once. Those watchers see every
/// function and code object in the interpreter, so they leave unless this object may be
/// tracked: not on a creation, not while nothing of the kind is tracked, and not when
/// `OBJECT_FILTER` says no.
#[inline(always)]
pub fn unconcerned(created: bool, tracked: &AtomicUsize, handle: u64, key: u64) -> bool {
    if created || tracked.load(Ordering::Relaxed) == 0 {
        return true;
    }
    if !filter_may_contain(&OBJECT_FILTER, handle, key) {
        count_prefilter_skip();
        return true;
    }
    false
}
