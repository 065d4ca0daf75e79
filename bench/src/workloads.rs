//! The synthetic workloads every engine is compared on, shared by the `engines`
//! criterion bench and the `depwatch bench` command so that both time the same thing.
//!
//! The fixture: `n` background units with 8 keyed dependencies each (fewer after
//! deduplication) over n/10 (at least 100) dicts of 16 keys, numbered from
//! [`FIRST_BG`]. Object [`HOT`] is a watched dict that the fan-out units share one key
//! of; [`IDLE`] is seen but never depended on.
//!
//! ```
//! use depwatch_bench::engines::engine;
//! use depwatch_bench::workloads::{background, fire_hot, hot_units};
//! let mut e = engine("depwatch").unwrap();
//! background(&mut *e, 1_000);
//! hot_units(&mut *e, 1_000, 10, 0, 1);
//! let mut out = Vec::new();
//! fire_hot(&mut *e, &mut out, 10); // panics unless exactly 10 were invalidated
//! assert_eq!(out.len(), 10);
//! ```

use std::time::{Duration, Instant};

use crate::engines::{ENGINES, Engine, engine};
use depwatch::{Aspect, Kind};

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
    crate::engines::engine(name).is_some_and(|mut e| patch_event(&mut *e, &mut Vec::new()))
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

// ----- the rows of `depwatch bench`, and how each is timed ---------------------------

/// Builds the untimed state a workload runs on.
pub type Setup = Box<dyn Fn(&mut dyn Engine)>;
/// The timed part; appends invalidated units to the vector.
pub type Work = Box<dyn Fn(&mut dyn Engine, &mut Vec<u64>)>;

/// One row of `depwatch bench`: what to set up, what to time, and how to count it.
pub struct Workload {
    /// The row's name, as the table prints it.
    pub name: String,
    /// One set-up engine serves every sample: the work leaves it as it found it (quiet
    /// events), or `prepare` puts back what the work used up.
    pub reuse: bool,
    /// Untimed, before each timed run.
    pub prepare: Option<Work>,
    /// The work patches: engines that cannot (the bloom scan) get no figure.
    pub patches: bool,
    /// The timed event invalidates units on a freshly built engine. Lazy callbacks do
    /// no cleanup at all there, so their figure is a cost floor, not a competitor.
    pub cold_invalidation: bool,
    /// Operations per timed run, for the per-op figure.
    pub ops: usize,
    /// What one operation is (`"event"`, `"unit"`, `"edge"`), for the per-op figure.
    pub unit: &'static str,
    /// Builds the untimed state.
    pub setup: Setup,
    /// The timed part.
    pub work: Work,
}

/// The largest fixture for which workloads that build a fresh engine per sample run.
/// Building 1M units takes seconds per engine, and every sample would pay it (at least
/// three samples per engine and workload), so at 1M units only the workloads that
/// reuse one engine (quiet events, warm invalidation, patching) are measured.
pub const LARGEST_FRESH: usize = 100_000;

/// The workloads `depwatch bench` runs at `n` units: all of them up to
/// [`LARGEST_FRESH`], and above it only those that set up one engine and reuse it.
pub fn workloads_at(n: usize) -> Vec<Workload> {
    workloads(n)
        .into_iter()
        .filter(|w| w.reuse || n <= LARGEST_FRESH)
        .collect()
}

/// Every workload of `depwatch bench` at `n` background units, in table order.
pub fn workloads(n: usize) -> Vec<Workload> {
    let units = |k: usize| if k == 1 { "unit" } else { "units" };
    let deps = |d: usize| if d == 1 { "dep" } else { "deps" };
    // 1000 events on keys nobody depends on, of `object`.
    let quiet = |name: &str, object: u64| Workload {
        name: name.into(),
        reuse: true,
        patches: false,
        cold_invalidation: false,
        prepare: None,
        ops: 1000,
        unit: "event",
        setup: Box::new(move |e| background(e, n)),
        work: Box::new(move |e, out| {
            for k in 0..1000 {
                e.mutate(object, Aspect::Key(k), "dict.ADDED", out);
            }
        }),
    };
    let mut w = vec![
        quiet("quiet event, unwatched object", IDLE),
        quiet("quiet event, watched dict, unwatched key", HOT),
    ];
    for k in [1usize, 10, 100, 1000] {
        w.push(Workload {
            name: format!("invalidate {k} {} x 8 deps", units(k)),
            reuse: false,
            patches: false,
            cold_invalidation: true,
            prepare: None,
            ops: k,
            unit: "unit",
            setup: Box::new(move |e| {
                background(e, n);
                hot_units(e, n, k, 0, 1);
            }),
            work: Box::new(move |e, out| fire_hot(e, out, k)),
        });
    }
    // The same event in one long-lived engine: before each timed event, k fresh units
    // are registered (untimed) in place of the ones the last event invalidated.
    for k in [1usize, 10, 100, 1000] {
        let round = std::cell::Cell::new(0u64);
        w.push(Workload {
            name: format!("invalidate {k} {} x 8 deps, warm", units(k)),
            reuse: true,
            patches: false,
            cold_invalidation: false,
            prepare: Some(Box::new(move |e, _| {
                let r = round.get() + 1;
                round.set(r);
                hot_units(e, n, k, r, 10_000_000 + r * k as u64);
            })),
            ops: k,
            unit: "unit",
            setup: Box::new(move |e| background(e, n)),
            work: Box::new(move |e, out| fire_hot(e, out, k)),
        });
    }
    // The warm event answered by patching: the k units keep their other 7
    // dependencies, so each round first drops (untimed) the units the last one patched.
    for k in [1usize, 10, 100, 1000] {
        let round = std::cell::Cell::new(0u64);
        let first = move |r: u64| 10_000_000 + r * k as u64;
        w.push(Workload {
            name: format!("patch {k} {} x 8 deps, warm", units(k)),
            reuse: true,
            patches: true,
            cold_invalidation: false,
            prepare: Some(Box::new(move |e, _| {
                let r = round.get();
                (first(r)..first(r) + k as u64).for_each(|u| e.drop_unit(u));
                round.set(r + 1);
                hot_units(e, n, k, r + 1, first(r + 1));
            })),
            ops: k,
            unit: "unit",
            setup: Box::new(move |e| background(e, n)),
            work: Box::new(move |e, out| patch_hot(e, out, k)),
        });
    }
    for d in [1usize, 8, 64] {
        w.push(Workload {
            name: format!("register, {d} {}", deps(d)),
            reuse: false,
            patches: false,
            cold_invalidation: false,
            prepare: None,
            ops: 1000 * d,
            unit: "edge",
            setup: Box::new(move |e| background(e, n)),
            work: Box::new(move |e, _| {
                let objects = background_objects(n);
                let mut next = stream(7);
                for u in 0..1000u64 {
                    let deps: Vec<(u64, Aspect)> = (0..d as u64)
                        .map(|s| (FIRST_BG + next() % objects, Aspect::Key(200 + s)))
                        .collect();
                    e.register(u + 1, &deps);
                }
            }),
        });
    }
    w.push(Workload {
        name: "churn: register + drop, 8 deps".into(),
        reuse: false,
        patches: false,
        cold_invalidation: false,
        prepare: None,
        ops: 1000,
        unit: "unit",
        setup: Box::new(move |e| background(e, n)),
        work: Box::new(move |e, _| {
            for u in 0..1000u64 {
                e.register(u + 1, &unit_deps(n, u, 300, 8));
                e.drop_unit(u + 1);
            }
        }),
    });
    w.push(Workload {
        name: "batch of 500 events, 50 overlapping units".into(),
        reuse: false,
        patches: false,
        cold_invalidation: false,
        prepare: None,
        ops: 500,
        unit: "event",
        setup: Box::new(move |e| {
            background(e, n);
            batch_units(e);
        }),
        work: Box::new(|e, out| {
            e.mutate_batch(&batch_events(), out);
            assert!(out.len() >= 50, "{} fired {} of 50", e.name(), out.len());
        }),
    });
    w
}

/// What [`measure`] found.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Median nanoseconds per timed run.
    pub median: f64,
    /// Invalidations in one run.
    pub invalidated: usize,
    /// Timed runs.
    pub samples: usize,
}

/// Times runs of `work`, each on a freshly set-up engine (or on the one reused engine);
/// `None` if the engine cannot run the workload.
pub fn measure(name: &str, w: &Workload, budget: Duration) -> Option<Measured> {
    if w.patches && !can_patch(name) {
        return None;
    }
    let mut samples = Vec::new();
    let mut spent = Duration::ZERO;
    let mut out = Vec::new();
    let fresh = || {
        let mut e = engine(name).expect("known engine");
        (w.setup)(&mut *e);
        e
    };
    // A reused engine is set up once, before the clock starts.
    let mut reused: Option<Box<dyn Engine>> = w.reuse.then(fresh);
    // Untimed setup per sample can dwarf the timed work (100k units built for one
    // event), so the wall clock, that setup included, is capped at 10 budgets; there
    // are always 3 samples.
    let wall = Instant::now();
    while (spent < budget && samples.len() < 200 && wall.elapsed() < budget * 10)
        || samples.len() < 3
    {
        let mut e = reused.take().unwrap_or_else(fresh);
        out.clear();
        if let Some(prepare) = &w.prepare {
            prepare(&mut *e, &mut out);
            out.clear();
        }
        let start = Instant::now();
        (w.work)(&mut *e, &mut out);
        let t = start.elapsed();
        spent += t;
        samples.push(t.as_nanos() as f64);
        if w.reuse {
            reused = Some(e);
        }
    }
    samples.sort_by(f64::total_cmp);
    Some(Measured {
        median: samples[samples.len() / 2],
        invalidated: out.len(),
        samples: samples.len(),
    })
}

/// Runs the quiet rows on every engine, untimed, for 300 ms. Without it the first rows
/// of a run that starts on an idle machine came out up to twice as slow as in later
/// runs. The cause was not pinned down (a virtual CPU's clock or the host's caches,
/// probably); the same rows later in the process were not affected.
pub fn warm_up() {
    let start = Instant::now();
    let rows = workloads(1_000);
    while start.elapsed() < Duration::from_millis(300) {
        for w in rows.iter().filter(|w| w.reuse && w.prepare.is_none()) {
            for e in ENGINES {
                measure(e, w, Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn only_workloads_that_reuse_one_engine_run_above_the_fresh_limit() {
        let names =
            |n: usize| -> Vec<String> { workloads_at(n).into_iter().map(|w| w.name).collect() };
        let large = names(LARGEST_FRESH * 10);
        assert_eq!(
            large.len(),
            workloads(LARGEST_FRESH * 10)
                .iter()
                .filter(|w| w.reuse)
                .count()
        );
        for row in [
            "quiet event, unwatched object",
            "invalidate 1000 units x 8 deps, warm",
            "patch 1 unit x 8 deps, warm",
        ] {
            assert!(large.iter().any(|name| name == row), "{row} runs at 1M");
        }
        assert!(
            !large.iter().any(|name| name.starts_with("register")),
            "registration builds fresh engines"
        );
        assert_eq!(
            names(LARGEST_FRESH).len(),
            workloads(LARGEST_FRESH).len(),
            "every row up to the limit"
        );
    }

    /// A workload whose setup sleeps and counts its calls, with trivial work.
    fn sleepy(reuse: bool, setups: &Rc<Cell<u32>>) -> Workload {
        let setups = Rc::clone(setups);
        Workload {
            name: "sleepy".into(),
            reuse,
            prepare: None,
            patches: false,
            cold_invalidation: false,
            ops: 1,
            unit: "op",
            setup: Box::new(move |_| {
                setups.set(setups.get() + 1);
                std::thread::sleep(Duration::from_millis(30));
            }),
            work: Box::new(|_, out| out.push(1)),
        }
    }

    #[test]
    fn a_reused_engine_is_set_up_once_before_the_clock_starts() {
        // A 1 ms budget caps the wall clock at 10 ms: a 30 ms setup inside it would
        // stop the runs at the minimum of three.
        let setups = Rc::new(Cell::new(0));
        let m = measure("depwatch", &sleepy(true, &setups), Duration::from_millis(1)).unwrap();
        assert_eq!(setups.get(), 1, "one setup for every sample");
        assert_eq!(m.invalidated, 1);
        assert!(
            m.samples > 3,
            "the setup ate the wall-clock cap: {} runs",
            m.samples
        );
        // The setup sleeps 30 ms; the timed work only pushes to a vector.
        assert!(
            m.median < 30e6,
            "the setup was timed: median {} ns",
            m.median
        );

        // A workload that does not reuse its engine is set up for every run (at least
        // three), outside the timed part too.
        let fresh = Rc::new(Cell::new(0));
        let m = measure("depwatch", &sleepy(false, &fresh), Duration::from_millis(1)).unwrap();
        assert_eq!(fresh.get() as usize, m.samples);
        assert!(m.samples >= 3);
        assert!(
            m.median < 30e6,
            "the setup was timed: median {} ns",
            m.median
        );
    }
}
