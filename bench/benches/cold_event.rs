//! Why a single invalidation on a fresh engine is slow: code or data?
//!
//! `cargo bench --bench cold_event` builds a fresh engine per round (10k background
//! units and one unit on the hot key, as `depwatch bench`'s "invalidate 1 units x 8
//! deps" row) and times three single-unit events, engines alternating round by round:
//!
//! * **cold**: the first event on the fresh engine. Setting up 10k units evicts the
//!   event path's code as well as the engine's data.
//! * **code warm**: the same, but an event on a separate small engine runs just
//!   before, so the event path's code is cached while this engine's data is as cold.
//! * **second**: a second event on the same engine (a new unit registered first).
//!
//! Prints medians in ns per event and the callbacks/depwatch ratios.
//!
//! To count the code lines each engine's event path touches, run the executable that
//! `cargo bench --bench cold_event --no-run` names under callgrind with `--callgrind`
//! (20 rounds of cold and second events, no timing):
//!
//! ```text
//! valgrind --tool=callgrind --cache-sim=yes --toggle-collect='*fire_hot*' \
//!     target/release/deps/cold_event-HASH --callgrind depwatch
//! ```
//!
//! The `ILmr` total (last-level instruction misses, with a last-level cache that
//! never evicts) is the number of distinct 64-byte code lines touched.

use std::time::Instant;

use depwatch_bench::engines::{Engine, engine};
use depwatch_bench::workloads::{background, fire_hot, hot_units};

const N: usize = 10_000;
const ENGINES: [&str; 2] = ["depwatch", "callbacks"];

/// A fresh engine with the background and one unit on the hot key.
fn fresh(name: &str, n: usize) -> Box<dyn Engine> {
    let mut e = engine(name).expect("known engine");
    background(&mut *e, n);
    hot_units(&mut *e, n, 1, 0, 1);
    e
}

/// One round: (cold, code warm, second) in ns; `timed` false skips the code-warm run.
fn round(name: &str, timed: bool) -> [u64; 3] {
    let mut out = Vec::new();
    let mut e = fresh(name, N);
    let start = Instant::now();
    fire_hot(&mut *e, &mut out, 1);
    let cold = start.elapsed().as_nanos() as u64;
    hot_units(&mut *e, N, 1, 1, 100);
    out.clear();
    let start = Instant::now();
    fire_hot(&mut *e, &mut out, 1);
    let second = start.elapsed().as_nanos() as u64;
    drop(e);
    if !timed {
        return [cold, 0, second];
    }
    let mut e = fresh(name, N);
    let mut other = fresh(name, 100);
    out.clear();
    fire_hot(&mut *other, &mut out, 1);
    out.clear();
    let start = Instant::now();
    fire_hot(&mut *e, &mut out, 1);
    let warm_code = start.elapsed().as_nanos() as u64;
    [cold, warm_code, second]
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        let name = args.get(i + 1).map_or("depwatch", String::as_str);
        for _ in 0..20 {
            round(name, false);
        }
        return;
    }
    // `cargo bench -- --test` (CI) runs it once, untimed in effect.
    let rounds = if args.iter().any(|a| a == "--test") {
        2
    } else {
        300
    };
    let mut samples = vec![[Vec::new(), Vec::new(), Vec::new()]; ENGINES.len()];
    for _ in 0..rounds {
        for (e, name) in ENGINES.iter().enumerate() {
            let r = round(name, true);
            (0..3).for_each(|i| samples[e][i].push(r[i]));
        }
    }
    let m: Vec<[u64; 3]> = samples
        .iter_mut()
        .map(|s| [median(&mut s[0]), median(&mut s[1]), median(&mut s[2])])
        .collect();
    println!("single-unit event, {N} background units, median ns over {rounds} rounds");
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "engine", "cold", "code warm", "second"
    );
    for (name, r) in ENGINES.iter().zip(&m) {
        println!("{name:<10} {:>10} {:>10} {:>10}", r[0], r[1], r[2]);
    }
    let ratio = |i: usize| m[1][i] as f64 / m[0][i] as f64;
    println!(
        "{:<10} {:>9.2}x {:>9.2}x {:>9.2}x",
        "cb/dw",
        ratio(0),
        ratio(1),
        ratio(2)
    );
}
