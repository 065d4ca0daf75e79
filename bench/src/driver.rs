//! Replaying a trace on an engine, and the correctness gate.

use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::engines::{Engine, engine};
use crate::trace::{Event, Trace};
use depwatch::{Aspect, Kind};

/// What one replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Lines replayed.
    pub events: usize,
    /// `O` lines.
    pub objects: usize,
    /// `U` lines.
    pub units: usize,
    /// `M` lines.
    pub mutations: usize,
    /// `D` lines.
    pub deaths: usize,
    /// `X` lines.
    pub drops: usize,
    /// Dependencies over all `U` lines (deduplicated per unit).
    pub edges: usize,
    /// `M` lines that invalidated at least one unit.
    pub mutations_that_hit: usize,
    /// Units invalidated by `M` lines.
    pub invalidated_by_mutation: usize,
    /// Units invalidated by `D` lines.
    pub invalidated_by_death: usize,
    /// Units live at the end.
    pub live_at_end: usize,
    /// Every invalidation: (event index, unit), in order. Empty unless recorded.
    pub log: Vec<(usize, u64)>,
}

impl Replay {
    /// All invalidations.
    pub fn invalidations(&self) -> usize {
        self.invalidated_by_mutation + self.invalidated_by_death
    }
}

/// Replays `trace` on `engine`. With `record`, every invalidation is logged for the
/// correctness gate; without it, the replay allocates nothing per event beyond what
/// the engine does, for timing.
pub fn replay(engine: &mut dyn Engine, trace: &Trace, record: bool) -> Replay {
    let mut r = Replay {
        events: trace.events.len(),
        ..Replay::default()
    };
    let mut out: Vec<u64> = Vec::new();
    for (i, event) in trace.events.iter().enumerate() {
        out.clear();
        match event {
            Event::Object { obj, kind } => {
                r.objects += 1;
                engine.object(*obj, *kind);
            }
            Event::Unit { unit, deps } => {
                r.units += 1;
                r.edges += deps.len();
                engine.register(*unit, deps);
            }
            Event::Drop { unit } => {
                r.drops += 1;
                engine.drop_unit(*unit);
            }
            Event::Mutate { obj, aspect, label } => {
                r.mutations += 1;
                engine.mutate(*obj, *aspect, label, &mut out);
                r.invalidated_by_mutation += out.len();
                r.mutations_that_hit += usize::from(!out.is_empty());
            }
            Event::Destroy { obj } => {
                r.deaths += 1;
                engine.destroy(*obj, &mut out);
                r.invalidated_by_death += out.len();
            }
        }
        if record {
            r.log.extend(out.iter().map(|&u| (i, u)));
        }
    }
    r.live_at_end = engine.live_units();
    r
}

/// How an engine's invalidations compare with the exact semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Required invalidations the engine made late or never: must be 0.
    pub missed: usize,
    /// Invalidations the exact semantics do not make (or make later).
    pub spurious: usize,
}

/// Compares an engine's log with the reference's. An invalidation the reference makes
/// at event `t` is met if the engine invalidated that unit at some event `≤ t` (an
/// over-eager engine may have killed it earlier). Any other engine invalidation is
/// spurious.
pub fn compare(reference: &Replay, other: &Replay) -> Agreement {
    let first: HashMap<u64, usize> = other.log.iter().map(|&(t, u)| (u, t)).collect();
    let required: HashMap<u64, usize> = reference.log.iter().map(|&(t, u)| (u, t)).collect();
    let missed = reference
        .log
        .iter()
        .filter(|&&(t, u)| first.get(&u).is_none_or(|&when| when > t))
        .count();
    let spurious = other
        .log
        .iter()
        .filter(|&&(t, u)| required.get(&u) != Some(&t))
        .count();
    Agreement { missed, spurious }
}

/// Replays on the reference and on `name`, and compares.
pub fn check(name: &str, trace: &Trace) -> Option<(Replay, Agreement)> {
    let reference = replay(&mut *engine("reference")?, trace, true);
    let got = replay(&mut *engine(name)?, trace, true);
    let agreement = compare(&reference, &got);
    Some((got, agreement))
}

/// Times replays of `trace` on fresh engines named `name` until at least `budget` has
/// been measured; returns nanoseconds per event. Parsing is not included.
pub fn time(name: &str, trace: &Trace, budget: Duration) -> Option<f64> {
    engine(name)?;
    Some(time_with(
        || engine(name).expect("known engine"),
        trace,
        budget,
    ))
}

/// Times the replay loop alone, on an engine that does nothing: the floor under every
/// engine's figure from [`time`], which it includes. An engine's own cost per event is
/// its figure minus this one.
///
/// ```
/// use depwatch_bench::driver::{time, time_loop};
/// use depwatch_bench::trace::Trace;
/// use std::time::Duration;
/// let trace = Trace::read("# depwatch-trace v1 t\nO 1 dict\nU 1 1:k\nM 1 k dict.MODIFIED\n".as_bytes()).unwrap();
/// let floor = time_loop(&trace, Duration::from_millis(1));
/// assert!(floor > 0.0);
/// assert!(time("depwatch", &trace, Duration::from_millis(1)).is_some());
/// ```
pub fn time_loop(trace: &Trace, budget: Duration) -> f64 {
    time_with(|| Box::new(Idle), trace, budget)
}

fn time_with(make: impl Fn() -> Box<dyn Engine>, trace: &Trace, budget: Duration) -> f64 {
    let mut spent = Duration::ZERO;
    let mut reps = 0u64;
    while spent < budget || reps == 0 {
        let mut e = make();
        let start = Instant::now();
        std::hint::black_box(replay(&mut *e, trace, false));
        spent += start.elapsed();
        drop(e);
        reps += 1;
    }
    spent.as_nanos() as f64 / (reps as f64 * trace.events.len().max(1) as f64)
}

/// An engine that does nothing, for [`time_loop`]. Its calls go through the same
/// `dyn Engine` dispatch as every other engine's.
struct Idle;

impl Engine for Idle {
    fn name(&self) -> &'static str {
        "loop only"
    }
    fn object(&mut self, _obj: u64, _kind: Kind) {}
    fn register(&mut self, _unit: u64, _deps: &[(u64, Aspect)]) {}
    fn drop_unit(&mut self, _unit: u64) {}
    fn mutate(&mut self, _obj: u64, _aspect: Aspect, _label: &'static str, _out: &mut Vec<u64>) {}
    fn destroy(&mut self, _obj: u64, _out: &mut Vec<u64>) {}
    fn live_units(&self) -> usize {
        0
    }
}
