//! `depwatch bench`: synthetic workloads on every engine, side by side in one process.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use depwatch::replay::engines::{ENGINES, Engine, engine};
use depwatch::replay::workloads::{
    FIRST_BG, HOT, IDLE, background, background_objects, background_units, batch_events,
    batch_units, can_patch, fire_hot, hot_units, patch_hot, stream, unit_deps,
};
use depwatch::{Aspect, Dep, Graph, Kind, ObjectId};

use crate::held_after;

/// Builds the untimed state a workload runs on.
type Setup = Box<dyn Fn(&mut dyn Engine)>;
/// The timed part; appends invalidated units to the vector.
type Work = Box<dyn Fn(&mut dyn Engine, &mut Vec<u64>)>;

struct Workload {
    name: String,
    /// One set-up engine serves every sample: the work leaves it as it found it (quiet
    /// events), or `prepare` puts back what the work used up.
    reuse: bool,
    /// Untimed, before each timed run.
    prepare: Option<Work>,
    /// The work patches: engines that cannot (the bloom scan) get no figure.
    patches: bool,
    /// Operations per timed run, for the per-op figure.
    ops: usize,
    unit: &'static str,
    setup: Setup,
    work: Work,
}

/// The largest fixture for which workloads that build a fresh engine per sample run.
/// Building 1M units takes seconds per engine, and every sample would pay it (at least
/// three samples per engine and workload), so at 1M units only the workloads that
/// reuse one engine (quiet events, warm invalidation, patching) are measured.
const LARGEST_FRESH: usize = 100_000;

/// The workloads `depwatch bench` runs at `n` units: all of them up to
/// [`LARGEST_FRESH`], and above it only those that set up one engine and reuse it.
fn workloads_at(n: usize) -> Vec<Workload> {
    workloads(n)
        .into_iter()
        .filter(|w| w.reuse || n <= LARGEST_FRESH)
        .collect()
}

fn workloads(n: usize) -> Vec<Workload> {
    // 1000 events on keys nobody depends on, of `object`.
    let quiet = |name: &str, object: u64| Workload {
        name: name.into(),
        reuse: true,
        patches: false,
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
            name: format!("invalidate {k} units x 8 deps"),
            reuse: false,
            patches: false,
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
            name: format!("invalidate {k} units x 8 deps, warm"),
            reuse: true,
            patches: false,
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
            name: format!("patch {k} units x 8 deps, warm"),
            reuse: true,
            patches: true,
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
            name: format!("register, {d} deps"),
            reuse: false,
            patches: false,
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
struct Measured {
    /// Median nanoseconds per timed run.
    median: f64,
    /// Invalidations in one run.
    invalidated: usize,
    /// Timed runs.
    samples: usize,
}

/// Times runs of `work`, each on a freshly set-up engine (or on the one reused engine);
/// `None` if the engine cannot run the workload.
fn measure(name: &str, w: &Workload, budget: Duration) -> Option<Measured> {
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
fn warm_up() {
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

pub fn bench_command(args: &[String]) -> Result<ExitCode, String> {
    let quick = match args {
        [] => false,
        [q] if q == "--quick" => true,
        _ => return Err("usage: depwatch bench [--quick]".into()),
    };
    let (sizes, budget): (&[usize], _) = if quick {
        (&[1_000, 10_000], Duration::from_millis(5))
    } else {
        (
            &[1_000, 10_000, 100_000, 1_000_000],
            Duration::from_millis(200),
        )
    };
    warm_up();
    outln!("median ns per operation, every engine on the same workload in this process");
    outln!(
        "(x/dw: that engine's time over depwatch's; bloom extra: spurious invalidations per run;"
    );
    outln!("runs: the fewest timed runs any engine's median is of)");
    out!("{:<44} {:>7} {:>6}", "workload", "units", "per");
    for e in ENGINES {
        out!(" {e:>14}");
    }
    for e in &ENGINES[1..] {
        out!(" {:>10}", format!("{}/dw", short(e)));
    }
    outln!(" {:>12} {:>5}", "bloom extra", "runs");
    for &n in sizes {
        for w in workloads_at(n) {
            let runs: Vec<Option<Measured>> =
                ENGINES.iter().map(|e| measure(e, &w, budget)).collect();
            let ns: Vec<Option<f64>> = runs
                .iter()
                .map(|r| r.map(|m| m.median / w.ops as f64))
                .collect();
            out!("{:<44} {:>7} {:>6}", w.name, n, w.unit);
            for v in &ns {
                match v {
                    Some(v) => out!(" {v:>14.1}"),
                    None => out!(" {:>14}", "n/a"),
                }
            }
            for v in &ns[1..] {
                match (v, ns[0]) {
                    (Some(v), Some(dw)) => out!(" {:>9.1}x", v / dw),
                    _ => out!(" {:>10}", "n/a"),
                }
            }
            // Invalidations the bloom scan made beyond the exact ones, per run.
            match (runs[3], runs[0]) {
                (Some(bloom), Some(dw)) => out!(" {:>12}", bloom.invalidated - dw.invalidated),
                _ => out!(" {:>12}", "n/a"),
            }
            let fewest = runs.iter().flatten().map(|m| m.samples).min();
            outln!(" {:>5}", fewest.unwrap_or(0));
        }
    }
    print_footprints(if quick { 100_000 } else { 1_000_000 });
    Ok(ExitCode::SUCCESS)
}

/// One row of the footprint table.
#[derive(Debug)]
pub(crate) struct Footprint {
    pub(crate) name: &'static str,
    pub(crate) edges: usize,
    /// Heap bytes held once the units are registered.
    pub(crate) held: usize,
    /// Peak heap bytes while registering them.
    pub(crate) peak: usize,
}

/// Heap held by every engine after registering the background of `n` units, as the
/// counting allocator sees it (bytes requested; malloc's own headers not included),
/// and the same for depwatch's graph alone, without the engine's trace-id maps, last.
/// Also returns the graph's own estimate, `stats().bytes`.
pub(crate) fn footprints(n: usize) -> (Vec<Footprint>, usize) {
    let mut rows = Vec::new();
    for name in ENGINES {
        let ((e, edges), held, peak) = held_after(|| {
            let mut e = engine(name).expect("known engine");
            let edges = background_units(n, |u, deps| e.register(u, deps));
            (e, edges)
        });
        rows.push(Footprint {
            name,
            edges,
            held,
            peak,
        });
        drop(e);
    }
    let ((g, edges), held, peak) = held_after(|| {
        let mut g: Graph<u64> = Graph::new();
        let objects = background_objects(n) + FIRST_BG;
        // The VM's side (each object holding its ID) is not the graph's: freed below.
        let ids: Vec<ObjectId> = (0..objects).map(|o| g.track(Kind::Dict, o)).collect();
        let edges = background_units(n, |u, deps| {
            let deps = deps.iter().map(|&(o, a)| Dep::new(ids[o as usize], a));
            g.register(deps, u).expect("fresh objects, no storm");
        });
        drop(ids);
        (g, edges)
    });
    rows.push(Footprint {
        name: "depwatch graph",
        edges,
        held,
        peak,
    });
    (rows, g.stats().bytes)
}

fn print_footprints(n: usize) {
    let (rows, estimate) = footprints(n);
    outln!();
    outln!("heap held after registering {n} units x 8 keyed deps (counting allocator)");
    outln!(
        "{:<16} {:>10} {:>14} {:>11} {:>14}",
        "engine",
        "edges",
        "bytes held",
        "bytes/edge",
        "peak bytes"
    );
    for r in &rows {
        outln!(
            "{:<16} {:>10} {:>14} {:>11.1} {:>14}",
            r.name,
            r.edges,
            r.held,
            r.held as f64 / r.edges as f64,
            r.peak
        );
    }
    outln!(
        "(depwatch graph: the library alone, without the engine's trace-id maps; its own estimate, stats().bytes: {:.1} bytes/edge)",
        estimate as f64 / rows[0].edges as f64
    );
}

fn short(engine: &str) -> &str {
    match engine {
        "callbacks" => "cb",
        "callbacks-lazy" => "lazy",
        "bloom-scan" => "bloom",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn only_workloads_that_reuse_one_engine_run_above_the_fresh_limit() {
        let _alone = crate::tests::alone();
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
            "patch 1 units x 8 deps, warm",
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
        let _alone = crate::tests::alone();
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
