//! The `depwatch` command:
//!
//! ```text
//! depwatch replay FILE... [--engine depwatch|callbacks|callbacks-lazy|bloom-scan|all] [--json] [--budget-ms N]
//! depwatch bench [--quick]
//! depwatch [replay|bench] --help
//! ```
//!
//! `replay` parses each trace once, checks every engine's invalidations against the
//! exact semantics of `FORMAT.md`, then times in-memory replays until at least the
//! budget (default 1 s) has been measured. It exits with status 1 if an engine missed
//! a required invalidation, and 2 on a usage error or a missing or malformed file.
//!
//! `bench` runs the synthetic workloads on every engine in one process and prints one
//! side-by-side table, at most 100 columns wide. `--help` prints the usage to stdout
//! and exits with status 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use depwatch_bench::driver::{self, Replay};
use depwatch_bench::engines::{ENGINES, engine};
use depwatch_bench::trace::{Trace, TraceError};

/// `print!` for the command's output, through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::emit(format_args!($($arg)*))
    };
}

/// `println!` for the command's output, through [`emit`].
macro_rules! outln {
    () => {
        $crate::emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout. `print!` panics when stdout is closed, as when the output is
/// piped into `head`; this ends the process the way a C tool killed by `SIGPIPE` does
/// (status 141, no message), and on any other write error with a message and status 2.
fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let Err(e) = std::io::stdout().write_fmt(args) else {
        return;
    };
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("depwatch: writing to stdout: {e}");
    std::process::exit(2);
}

mod bench;

// ----- peak heap bytes: a counting global allocator -----------------------------------

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the arguments it was given, so the
// `GlobalAlloc` contract (valid layouts, pointers from this allocator) is the caller's
// and is passed on unchanged; the counters are plain atomics and never touch memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout` comes from the caller, who guarantees a non-zero size.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` describe a live block from `System`; `new_size` is
        // non-zero, as the caller guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap bytes held while running `f`, above what was held before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let (out, _, peak) = held_after(f);
    (out, peak)
}

/// Runs `f`; returns its result, the heap bytes still held when it returns, and the
/// peak while it ran, both above what was held before.
fn held_after<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let held = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    (out, held, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

// ----- replay -------------------------------------------------------------------------

fn load(path: &str) -> Result<Trace, String> {
    Trace::open(path).map_err(|e| {
        // The README's replay commands on the real traces need them beside the
        // repository; a plain clone has only bench/tests/data/.
        let hint = match &e {
            TraceError::Open { source } if source.kind() == std::io::ErrorKind::NotFound => {
                "\n(the real CPython traces live beside the repository, in ../shared/traces/,\n\
                 and are not part of a clone; bench/tests/data/ holds one of them)"
            }
            _ => "",
        };
        format!("{path}: {e}{hint}")
    })
}

struct Row {
    engine: &'static str,
    replay: Replay,
    /// Required invalidations the engine made at the same event or earlier.
    met: usize,
    missed: usize,
    spurious: usize,
    ns_per_event: f64,
    peak_bytes: usize,
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `depwatch replay --help`.
const REPLAY_USAGE: &str =
    "usage: depwatch replay FILE... [--engine NAME|all] [--json] [--budget-ms N]

Replays each depwatch-trace v1 FILE (gzip-compressed if its name ends in .gz) on the
chosen engines, checks every invalidation against the exact semantics of the format,
then times in-memory replays. bench/tests/data/ in the repository holds a real trace;
the other real traces are kept beside the repository, in ../shared/traces/.

  --engine NAME   depwatch (the default), callbacks, callbacks-lazy, bloom-scan, or all
  --json          one JSON object per engine instead of the table
  --budget-ms N   time each engine for at least N ms (default 1000)

Exit status: 0 if no engine missed a required invalidation, 1 if one did, and 2 for a
usage error or a missing or malformed file.
";

/// `depwatch --help`.
const USAGE: &str = "usage: depwatch replay FILE... [--engine NAME|all] [--json] [--budget-ms N]
       depwatch bench [--quick]
       depwatch [replay|bench] --help

depwatch measures the depwatch library against the systems it replaces:

  replay   replays real CPython traces on each engine, checks every invalidation
           against the exact semantics, and times the replays
  bench    synthetic workloads on every engine, side by side in one process
";

fn replay_command(args: &[String]) -> Result<ExitCode, String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        out!("{REPLAY_USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut files = Vec::new();
    let mut engines: Vec<&'static str> = vec!["depwatch"];
    let mut json = false;
    let mut budget = Duration::from_secs(1);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--engine" => {
                let name = it.next().ok_or("--engine needs a name")?;
                engines = if name == "all" {
                    ENGINES.to_vec()
                } else {
                    vec![ENGINES.iter().copied().find(|e| e == name).ok_or_else(|| {
                        format!(
                            "unknown engine {name:?}; choose one of {} or all",
                            ENGINES.join(", ")
                        )
                    })?]
                };
            }
            "--budget-ms" => {
                let ms: u64 = it
                    .next()
                    .and_then(|m| m.parse().ok())
                    .ok_or("--budget-ms needs a number")?;
                budget = Duration::from_millis(ms);
            }
            f if f.starts_with("--") => return Err(format!("unknown option {f}")),
            f => files.push(f.to_string()),
        }
    }
    if files.is_empty() {
        return Err("replay needs at least one trace file".into());
    }
    let mut failed = false;
    for path in &files {
        let trace = load(path)?;
        let reference = driver::replay(
            &mut *engine("reference").ok_or("no reference")?,
            &trace,
            true,
        );
        // The replay loop alone, the floor under every engine's figure.
        let floor = driver::time_loop(&trace, budget);
        let mut rows = Vec::new();
        for &name in &engines {
            let (replay, peak_bytes) = peak_during(|| {
                let mut e = engine(name).expect("known engine");
                let r = driver::replay(&mut *e, &trace, true);
                drop(e);
                r
            });
            let agreement = driver::compare(&reference, &replay);
            let ns_per_event = driver::time(name, &trace, budget).expect("known engine");
            failed |= agreement.missed > 0;
            rows.push(Row {
                engine: name,
                replay,
                met: reference.invalidations() - agreement.missed,
                missed: agreement.missed,
                spurious: agreement.spurious,
                ns_per_event,
                peak_bytes,
            });
        }
        if json {
            print_json(&trace, &rows, floor);
        } else {
            print_table(&trace, &reference, &rows, floor);
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one trace's rows as JSON objects, one per engine. `loop_ns_per_event` is the
/// replay loop's own time per event (`floor`), which `ns_per_event` includes.
fn print_json(trace: &Trace, rows: &[Row], floor: f64) {
    for r in rows {
        outln!(
            "{{\"engine\":{},\"trace\":{},\"events\":{},\"units\":{},\"edges\":{},\"invalidations\":{},\"met\":{},\"spurious\":{},\"missed\":{},\"ns_per_event\":{:.2},\"loop_ns_per_event\":{:.2},\"peak_bytes\":{}}}",
            json_string(r.engine),
            json_string(&trace.name),
            r.replay.events,
            r.replay.units,
            r.replay.edges,
            r.replay.invalidations(),
            r.met,
            r.spurious,
            r.missed,
            r.ns_per_event,
            floor,
            r.peak_bytes
        );
    }
}

/// What the table's columns mean, printed under it.
const LEGEND: [&str; 6] = [
    "met: invalidations the exact semantics require that the engine made at that event or",
    "  earlier (an early kill counts as met: the unit was dead when it had to be)",
    "spurious: invalidations the exact semantics do not make at that event: extra ones, and",
    "  early kills, which count as met and as spurious",
    "missed: required invalidations the engine made late or never; any makes the exit status 1",
    "peak bytes: the most heap the engine held while replaying the trace",
];

/// `other`'s time per event over depwatch's, both net of the replay loop's `floor`;
/// `None` when a net time is at or below zero, where the ratio means nothing.
fn net_ratio(other: f64, depwatch: f64, floor: f64) -> Option<f64> {
    let (other, depwatch) = (other - floor, depwatch - floor);
    (other > 0.0 && depwatch > 0.0).then(|| other / depwatch)
}

/// The net ratio as the table prints it.
fn net_ratio_text(other: f64, depwatch: f64, floor: f64) -> String {
    match net_ratio(other, depwatch, floor) {
        Some(x) => format!("{x:.2}x net of the replay loop"),
        None => "net of the replay loop: not measurable (a net time at or below zero)".into(),
    }
}

/// Prints one trace's table, given the replay loop's own time per event (`floor`),
/// its legend and the ratios.
fn print_table(trace: &Trace, reference: &Replay, rows: &[Row], floor: f64) {
    outln!(
        "trace {}: {} events, {} units, {} edges",
        trace.name,
        reference.events,
        reference.units,
        reference.edges
    );
    outln!(
        "exact semantics: {} invalidations ({} by M, {} by D), {} units live at the end",
        reference.invalidations(),
        reference.invalidated_by_mutation,
        reference.invalidated_by_death,
        reference.live_at_end
    );
    outln!(
        "{:<15} {:>10} {:>11} {:>13} {:>5} {:>8} {:>6} {:>11}",
        "engine",
        "ns/event",
        "events/s",
        "invalidations",
        "met",
        "spurious",
        "missed",
        "peak bytes"
    );
    for r in rows {
        outln!(
            "{:<15} {:>10.1} {:>11.0} {:>13} {:>5} {:>8} {:>6} {:>11}",
            r.engine,
            r.ns_per_event,
            1e9 / r.ns_per_event,
            r.replay.invalidations(),
            r.met,
            r.spurious,
            r.missed,
            r.peak_bytes
        );
    }
    outln!(
        "{:<15} {:>10.1}   (the replay loop with an engine that does nothing: in every figure)",
        "loop only",
        floor
    );
    for line in LEGEND {
        outln!("{line}");
    }
    if let Some(dw) = rows.iter().find(|r| r.engine == "depwatch") {
        for r in rows.iter().filter(|r| r.engine != "depwatch") {
            outln!(
                "  {} / depwatch: {:.2}x time per event, {}",
                r.engine,
                r.ns_per_event / dw.ns_per_event,
                net_ratio_text(r.ns_per_event, dw.ns_per_event, floor)
            );
        }
    }
    outln!();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("replay") => replay_command(&args[1..]),
        Some("bench") => bench::bench_command(&args[1..]),
        Some("--help" | "-h" | "help") => {
            out!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(USAGE.lines().take(3).collect::<Vec<_>>().join("\n")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("depwatch: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The counting allocator is global: tests that read it run one at a time, and so
    /// does every other test in this binary. The test harness's own threads still
    /// allocate and free a few hundred bytes meanwhile (a finished test's output, say),
    /// so the assertions allow that much.
    static ALONE: Mutex<()> = Mutex::new(());

    /// What the harness may allocate or free while a test measures.
    const NOISE: usize = 4096;

    pub(crate) fn alone() -> std::sync::MutexGuard<'static, ()> {
        ALONE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Exercises the allocator's `unsafe` paths: alloc, realloc and dealloc go through
    /// `Counting` and are counted.
    #[test]
    fn counting_allocator_tracks_peak() {
        let _alone = alone();
        let (len, peak) = peak_during(|| {
            let mut v: Vec<u8> = Vec::with_capacity(1 << 20);
            v.extend(std::iter::repeat_n(7u8, 1 << 20));
            v.reserve(4 << 20); // realloc
            let len = v.len();
            drop(v);
            len
        });
        assert_eq!(len, 1 << 20);
        assert!(peak >= (5 << 20) - NOISE, "peak {peak}");
    }

    #[test]
    fn held_bytes_are_what_outlives_the_call() {
        let _alone = alone();
        let (v, held, peak) = held_after(|| {
            let keep: Vec<u64> = Vec::with_capacity(1000);
            let gone: Vec<u64> = Vec::with_capacity(4000);
            drop(gone);
            keep
        });
        assert_eq!(v.capacity(), 1000);
        assert!(held.abs_diff(8000) <= NOISE, "held {held}");
        assert!(peak >= 40_000 - NOISE, "peak {peak}");
    }

    #[test]
    fn impossible_net_ratios_are_not_measurable() {
        let _alone = alone();
        assert_eq!(net_ratio(30.0, 20.0, 10.0), Some(2.0));
        assert_eq!(
            net_ratio(30.0, 10.0, 10.0),
            None,
            "depwatch's net time is zero"
        );
        assert_eq!(net_ratio(9.0, 20.0, 10.0), None, "the other's is negative");
        assert_eq!(net_ratio(30.0, 8.0, 10.0), None, "depwatch's is negative");
        assert!(net_ratio_text(30.0, 20.0, 10.0).starts_with("2.00x net"));
        let text = net_ratio_text(30.0, 9.0, 10.0);
        assert!(text.contains("not measurable"), "{text}");
        assert!(!text.contains("x net") && !text.contains('-'), "{text}");
    }

    #[test]
    fn help_and_legend_fit_a_terminal() {
        let _alone = alone();
        for line in USAGE.lines().chain(REPLAY_USAGE.lines()).chain(LEGEND) {
            assert!(line.chars().count() <= 100, "{line}");
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let _alone = alone();
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn footprint_table_measures_every_engine_on_the_same_edges() {
        let _alone = alone();
        let (rows, estimate) = bench::footprints(2_000);
        let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
        assert_eq!(names[..ENGINES.len()], ENGINES);
        assert_eq!(names[ENGINES.len()..], ["depwatch graph"]);
        let edges = rows[0].edges;
        assert!(
            edges > 15_000,
            "2000 units x 8 deps, a few deduplicated: {edges}"
        );
        for r in &rows {
            assert_eq!(r.edges, edges, "{r:?}");
            // Every engine stores at least a 4-byte unit number per edge.
            assert!(r.held >= 4 * edges && r.peak >= r.held, "{r:?}");
        }
        let (engine, graph) = (&rows[0], &rows[ENGINES.len()]);
        assert!(
            graph.held < engine.held,
            "the engine adds its trace-id maps"
        );
        // The graph's own estimate is within a quarter of what the allocator counted.
        let ratio = estimate as f64 / graph.held as f64;
        assert!(
            (0.75..1.25).contains(&ratio),
            "{estimate} vs {}",
            graph.held
        );
    }
}
