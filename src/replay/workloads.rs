//! The synthetic workloads every engine is compared on, shared by the `engines`
//! criterion bench and the `depwatch bench` command so that both time the same thing.
//!
//! The fixture: `n` background units with 8 keyed dependencies each (fewer after
//! deduplication) over n/10 (at least 100) dicts of 16 keys, numbered from
//! [`FIRST_BG`]. Object [`HOT`] is a watched dict that the fan-out units share one key
//! of; [`IDLE`] is seen but never depended on.
//!
//! ```
//! use depwatch::replay::engines::engine;
//! use depwatch::replay::workloads::{background, fire_hot, hot_units};
//! let mut e = engine("depwatch").unwrap();
//! background(&mut *e, 1_000);
//! hot_units(&mut *e, 1_000, 10, 0, 1);
//! let mut out = Vec::new();
//! fire_hot(&mut *e, &mut out, 10); // panics unless exactly 10 were invalidated
//! assert_eq!(out.len(), 10);
//! ```

use super::engines::Engine;
use crate::{Aspect, Kind};

/// A deterministic xorshift stream, so every run and every engine sees the same inputs.
pub fn stream(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// The watched dict the fan-out units depend on (key 7) and the batch hits.
pub const HOT: u64 = 1;
/// A dict that is seen but has no dependents: quiet events go here.
pub const IDLE: u64 = 2;
/// The first background dict.
pub const FIRST_BG: u64 = 10;

/// How many background dicts a fixture of `n` units has.
pub fn background_objects(n: usize) -> u64 {
    (n / 10).max(100) as u64
}

/// The background's dependency sets, deduplicated: calls `register(unit, deps)` for
/// each of the `n` units (ids from 1,000,000); returns the edge count.
pub fn background_units(n: usize, mut register: impl FnMut(u64, &[(u64, Aspect)])) -> usize {
    let objects = background_objects(n);
    let mut next = stream(n as u64);
    let mut deps = Vec::with_capacity(8);
    let mut edges = 0;
    for u in 0..n as u64 {
        deps.clear();
        for _ in 0..8 {
            deps.push((FIRST_BG + next() % objects, Aspect::Key(next() % 16)));
        }
        deps.sort_unstable();
        deps.dedup();
        edges += deps.len();
        register(1_000_000 + u, &deps);
    }
    edges
}

/// Sets up the background on `e`, and makes [`HOT`] a watched dict with one unit
/// (999,999) on a key no event touches.
pub fn background(e: &mut dyn Engine, n: usize) {
    for o in 1..=background_objects(n) + FIRST_BG {
        e.object(o, Kind::Dict);
    }
    background_units(n, |u, deps| e.register(u, deps));
    e.register(999_999, &[(HOT, Aspect::Key(u64::MAX))]);
}

/// Registers `k` fan-out units, ids from `first`, on [`HOT`]'s key 7, each with 7 more
/// keyed dependencies (keys 101–107) on background dicts, spread by `round` so that a
/// long-lived engine gets fresh cells each round.
pub fn hot_units(e: &mut dyn Engine, n: usize, k: usize, round: u64, first: u64) {
    let objects = background_objects(n);
    for u in 0..k as u64 {
        let mut deps = vec![(HOT, Aspect::Key(7))];
        deps.extend((1..8).map(|s| {
            (
                FIRST_BG + (u * 7 + s + round) % objects,
                Aspect::Key(100 + s),
            )
        }));
        e.register(first + u, &deps);
    }
}

/// Checks a fan-out event's invalidations: exact engines make exactly `k`, the bloom
/// scan at least `k` (it over-invalidates, never under).
///
/// # Panics
/// If the engine invalidated the wrong number of units: a benchmark must not time a
/// wrong answer.
pub fn check_fired(e: &dyn Engine, invalidated: usize, k: usize) {
    let name = e.name();
    assert!(
        invalidated == k || (name == "bloom-scan" && invalidated > k),
        "{name} invalidated {invalidated} of {k}"
    );
}

/// The fan-out event: a write to [`HOT`]'s key 7, which every [`hot_units`] unit
/// depends on. Unchecked, for timing it alone.
pub fn hot_event(e: &mut dyn Engine, out: &mut Vec<u64>) {
    e.mutate(HOT, Aspect::Key(7), "dict.MODIFIED", out);
}

/// [`hot_event`], checked with [`check_fired`].
pub fn fire_hot(e: &mut dyn Engine, out: &mut Vec<u64>, k: usize) {
    hot_event(e, out);
    check_fired(e, out.len(), k);
}

/// Unit `u`'s `d` keyed dependencies for the registration and churn workloads: key
/// `first_key + s` of the `s`-th of `d` consecutive background dicts (wrapping), so
/// all `d` are distinct.
pub fn unit_deps(n: usize, u: u64, first_key: u64, d: usize) -> Vec<(u64, Aspect)> {
    let objects = background_objects(n);
    (0..d as u64)
        .map(|s| (FIRST_BG + (u + s) % objects, Aspect::Key(first_key + s)))
        .collect()
}

/// Whether engine `name` can answer an event by patching (every engine but the bloom
/// scan).
pub fn can_patch(name: &str) -> bool {
    super::engines::engine(name).is_some_and(|mut e| patch_event(&mut *e, &mut Vec::new()))
}

/// The patch workload's event: a write to [`HOT`]'s key 7 that every [`hot_units`]
/// unit answers by patching. Unchecked, for timing it alone; returns whether the
/// engine can patch.
pub fn patch_event(e: &mut dyn Engine, out: &mut Vec<u64>) -> bool {
    e.patch(HOT, Aspect::Key(7), out)
}

/// Checks a patch event: every engine that patches must patch exactly `k` units.
///
/// # Panics
/// If the engine patched another number of units.
pub fn check_patched(e: &dyn Engine, patched: usize, k: usize) {
    assert_eq!(patched, k, "{} patched {patched} of {k}", e.name());
}

/// [`patch_event`], checked with [`check_patched`].
///
/// # Panics
/// If the engine cannot patch, or patched other than exactly `k` units.
pub fn patch_hot(e: &mut dyn Engine, out: &mut Vec<u64>, k: usize) {
    assert!(patch_event(e, out), "{} cannot patch", e.name());
    check_patched(e, out.len(), k);
}

/// The batch workload's units: 50 units (ids 1–50) with 20 keys each of [`HOT`], out
/// of 500 keys, overlapping.
pub fn batch_units(e: &mut dyn Engine) {
    for u in 0..50u64 {
        let deps: Vec<(u64, Aspect)> = (0..20)
            .map(|i| (HOT, Aspect::Key(1000 + (u * 10 + i) % 500)))
            .collect();
        e.register(u + 1, &deps);
    }
}

/// The batch workload's events: a write to each of the 500 keys.
pub fn batch_events() -> Vec<(u64, Aspect)> {
    (0..500).map(|k| (HOT, Aspect::Key(1000 + k))).collect()
}
