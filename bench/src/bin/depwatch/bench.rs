//! `depwatch bench`: synthetic workloads on every engine, side by side in one process.

use std::process::ExitCode;
use std::time::Duration;

use depwatch::{Dep, Graph, Kind, ObjectId};
use depwatch_bench::engines::{ENGINES, engine};
use depwatch_bench::workloads::{
    FIRST_BG, Measured, background_objects, background_units, measure, warm_up, workloads_at,
};

use crate::held_after;

/// `depwatch bench --help`.
pub const USAGE: &str = "usage: depwatch bench [--quick]

Runs the synthetic workloads on every engine in this process and prints one table:
median ns per operation, and under each row that engine's time over depwatch's.
Then the heap every engine holds for the same dependencies.

  --quick   1k and 10k units and a 5 ms budget per figure (about 40 s on 2 cores),
            instead of 1k to 1M units and 200 ms (about 7 minutes)
";

/// The longest line `bench` prints, in columns (asserted by the tests).
#[cfg(test)]
const WIDTH: usize = 100;

/// The engine columns' headings, in [`ENGINES`] order.
const HEADINGS: [&str; 4] = ["depwatch", "callbacks", "lazy cb", "bloom"];

/// The legend printed above the table.
const LEGEND: [&str; 5] = [
    "median ns per operation, every engine on the same workload in this process",
    "under each row: that engine's time over depwatch's (above 1.00x, depwatch is faster)",
    "lazy cb: callbacks-lazy; bloom: bloom-scan, which cannot patch (n/a)",
    "extra: the bloom scan's spurious invalidations per run",
    "runs: how many timed runs the row's least-sampled median is of",
];

/// The footnote for the `*` figures, printed under the table.
const FLOOR_NOTE: [&str; 2] = [
    "* lazy callbacks on a fresh engine skip all cleanup: a cost floor, not a competitor",
    "  (in the warm rows their dead callbacks pile up, and every event walks them)",
];

/// The table's heading line.
fn heading() -> String {
    let mut line = format!("{:<41} {:>5}", "workload", "per");
    for h in HEADINGS {
        line += &format!(" {h:>9}");
    }
    line + &format!(" {:>5} {:>4}", "extra", "runs")
}

/// One workload's two lines: each engine's median per operation (`None`: the engine
/// cannot run it), then each engine's time over depwatch's. With `floor`, the lazy
/// callbacks' figures are marked `*` (see [`FLOOR_NOTE`]).
fn row(
    name: &str,
    unit: &str,
    ns: &[Option<f64>],
    bloom_extra: Option<usize>,
    runs: usize,
    floor: bool,
) -> [String; 2] {
    let mark = |i: usize| {
        if floor && ENGINES[i] == "callbacks-lazy" {
            "*"
        } else {
            ""
        }
    };
    let mut times = format!("{name:<41} {unit:>5}");
    let mut ratios = format!("{:<41} {:>5}", "", "");
    for (i, v) in ns.iter().enumerate() {
        let cell = v.map_or("n/a".to_string(), |v| format!("{v:.1}{}", mark(i)));
        times += &format!(" {cell:>9}");
        let ratio = match (i, v, ns[0]) {
            (0, _, _) => String::new(),
            (_, Some(v), Some(dw)) => format!("{:.2}x{}", v / dw, mark(i)),
            _ => "n/a".to_string(),
        };
        ratios += &format!(" {ratio:>9}");
    }
    let extra = bloom_extra.map_or("n/a".to_string(), |x| x.to_string());
    times += &format!(" {extra:>5} {runs:>4}");
    [times, ratios.trim_end().to_string()]
}

pub fn bench_command(args: &[String]) -> Result<ExitCode, String> {
    let quick = match args {
        [] => false,
        [q] if q == "--quick" => true,
        [h] if h == "--help" || h == "-h" => {
            out!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        _ => return Err(USAGE.lines().next().unwrap_or_default().into()),
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
    for line in LEGEND {
        outln!("{line}");
    }
    let mut floors = false;
    for &n in sizes {
        outln!();
        outln!("at {n} units");
        outln!("{}", heading());
        for w in workloads_at(n) {
            let runs: Vec<Option<Measured>> =
                ENGINES.iter().map(|e| measure(e, &w, budget)).collect();
            let ns: Vec<Option<f64>> = runs
                .iter()
                .map(|r| r.map(|m| m.median / w.ops as f64))
                .collect();
            // Invalidations the bloom scan made beyond the exact ones, per run.
            let extra = match (runs[3], runs[0]) {
                (Some(bloom), Some(dw)) => Some(bloom.invalidated - dw.invalidated),
                _ => None,
            };
            let fewest = runs.iter().flatten().map(|m| m.samples).min();
            floors |= w.cold_invalidation;
            let lines = row(
                &w.name,
                w.unit,
                &ns,
                extra,
                fewest.unwrap_or(0),
                w.cold_invalidation,
            );
            for line in lines {
                outln!("{line}");
            }
        }
    }
    if floors {
        outln!();
        for line in FLOOR_NOTE {
            outln!("{line}");
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
    outln!("(depwatch graph: the library alone, without the engine's trace-id maps;");
    outln!(
        " its own estimate, stats().bytes: {:.1} bytes/edge)",
        estimate as f64 / rows[0].edges as f64
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_fits_a_100_column_terminal() {
        let wide = [Some(9_999_999.9), Some(0.1), Some(123_456.7), None];
        let name = "batch of 500 events, 50 overlapping units";
        let lines: Vec<String> = [heading()]
            .into_iter()
            .chain(row(name, "event", &wide, Some(99_999), 200, true))
            .chain(row(name, "unit", &wide, None, 3, false))
            .chain(LEGEND.iter().chain(&FLOOR_NOTE).map(|l| l.to_string()))
            .chain(USAGE.lines().map(str::to_string))
            .collect();
        for line in &lines {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        for w in workloads_at(1_000_000).iter().chain(&workloads_at(1_000)) {
            assert!(w.name.len() <= 41, "{} overflows its column", w.name);
        }
    }

    #[test]
    fn cold_lazy_callbacks_are_marked_as_a_floor() {
        let ns = [Some(100.0), Some(200.0), Some(50.0), None];
        let [times, ratios] = row("invalidate 1 unit x 8 deps", "unit", &ns, None, 9, true);
        assert!(
            times.contains(" 50.0*") && ratios.contains(" 0.50x*"),
            "{times}\n{ratios}"
        );
        assert!(
            ratios.contains(" 2.00x ") && ratios.ends_with("n/a"),
            "{ratios}"
        );
        let [times, ratios] = row(
            "invalidate 1 unit x 8 deps, warm",
            "unit",
            &ns,
            None,
            9,
            false,
        );
        assert!(
            !times.contains('*') && !ratios.contains('*'),
            "{times}\n{ratios}"
        );
        assert!(FLOOR_NOTE[0].contains("cost floor, not a competitor"));
        // Every fresh-engine invalidation row, and only those, is marked.
        let marked: Vec<String> = workloads_at(1_000)
            .into_iter()
            .filter(|w| w.cold_invalidation)
            .map(|w| w.name)
            .collect();
        assert_eq!(
            marked,
            [1, 10, 100, 1000].map(|k| format!(
                "invalidate {k} {} x 8 deps",
                if k == 1 { "unit" } else { "units" }
            ))
        );
    }
}
