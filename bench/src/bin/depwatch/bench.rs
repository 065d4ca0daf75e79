//! `depwatch bench`: synthetic workloads on every engine, side by side in one process.

use std::process::ExitCode;
use std::time::Duration;

use depwatch::{Dep, Graph, Kind, ObjectId};
use depwatch_bench::engines::{ENGINES, engine};
use depwatch_bench::workloads::{
    FIRST_BG, Measured, background_objects, background_units, measure, warm_up, workloads_at,
};

use crate::held_after;

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
