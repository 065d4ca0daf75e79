//! The `depwatch` command:
//!
//! ```text
//! depwatch replay FILE... [--engine depwatch|callbacks|callbacks-lazy|bloom-scan|all] [--json] [--budget-ms N]
//! depwatch bench [--quick]
//! ```
//!
//! `replay` parses each trace once, checks every engine's invalidations against the
//! exact semantics of `FORMAT.md`, then times in-memory replays until at least the
//! budget (default 1 s) has been measured. It exits with status 1 if an engine missed
//! a required invalidation, and 2 on a usage error or a missing or malformed file.
//!
//! `bench` runs the synthetic workloads on every engine in one process and prints one
//! side-by-side table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use depwatch_bench::driver::{self, Replay};
use depwatch_bench::engines::{ENGINES, engine};
use depwatch_bench::trace::Trace;

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
    Trace::open(path).map_err(|e| format!("{path}: {e}"))
}

struct Row {
    engine: &'static str,
    replay: Replay,
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

fn replay_command(args: &[String]) -> Result<ExitCode, String> {
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
        // The replay loop alone, the floor under every engine's figure: text output only.
        let floor = (!json).then(|| driver::time_loop(&trace, budget));
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
                missed: agreement.missed,
                spurious: agreement.spurious,
                ns_per_event,
                peak_bytes,
            });
        }
        print_rows(&trace, &reference, &rows, floor);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one trace's rows: JSON objects, or (given the replay loop's own time per
/// event, `floor`) the text table and its ratios.
fn print_rows(trace: &Trace, reference: &Replay, rows: &[Row], floor: Option<f64>) {
    let Some(floor) = floor else {
        for r in rows {
            outln!(
                "{{\"engine\":{},\"trace\":{},\"events\":{},\"units\":{},\"edges\":{},\"invalidations\":{},\"spurious\":{},\"missed\":{},\"ns_per_event\":{:.2},\"peak_bytes\":{}}}",
                json_string(r.engine),
                json_string(&trace.name),
                r.replay.events,
                r.replay.units,
                r.replay.edges,
                r.replay.invalidations(),
                r.spurious,
                r.missed,
                r.ns_per_event,
                r.peak_bytes
            );
        }
        return;
    };
    outln!(
        "trace {}: {} events, {} units, {} edges; exact semantics: {} invalidations ({} by M, {} by D), {} units live at the end",
        trace.name,
        reference.events,
        reference.units,
        reference.edges,
        reference.invalidations(),
        reference.invalidated_by_mutation,
        reference.invalidated_by_death,
        reference.live_at_end
    );
    outln!(
        "{:<15} {:>10} {:>13} {:>13} {:>9} {:>7} {:>12}",
        "engine",
        "ns/event",
        "events/s",
        "invalidations",
        "spurious",
        "missed",
        "peak bytes"
    );
    for r in rows {
        outln!(
            "{:<15} {:>10.1} {:>13.0} {:>13} {:>9} {:>7} {:>12}",
            r.engine,
            r.ns_per_event,
            1e9 / r.ns_per_event,
            r.replay.invalidations(),
            r.spurious,
            r.missed,
            r.peak_bytes
        );
    }
    outln!(
        "{:<15} {:>10.1}   (the replay loop with an engine that does nothing: in every figure above)",
        "loop only",
        floor
    );
    if let Some(dw) = rows.iter().find(|r| r.engine == "depwatch") {
        for r in rows.iter().filter(|r| r.engine != "depwatch") {
            outln!(
                "  {} / depwatch: {:.2}x time per event, {:.2}x net of the replay loop",
                r.engine,
                r.ns_per_event / dw.ns_per_event,
                (r.ns_per_event - floor) / (dw.ns_per_event - floor)
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
        _ => Err("usage: depwatch replay FILE... [--engine NAME|all] [--json] [--budget-ms N]\n       depwatch bench [--quick]".into()),
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
