//! The Rust side of the boundary-cost measurement (`capi/bench/run.sh`): the same two
//! operations as `capi/bench/overhead.c`, on the core `Graph` directly. `overhead N
//! quiet|invalidate|dict` runs one round of one loop only, for instruction
//! counts under callgrind.

use std::hint::black_box;
use std::time::Instant;

use dw::adapters::{DictAdapter, DictEvent, Values};
use dw::{Aspect, Config, Dep, Fire, Graph, Kind, Verdict};

const ROUNDS: usize = 11;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::args().nth(2);
    let (run_quiet, run_inval, run_dict) = match only.as_deref() {
        Some("quiet") => (true, false, false),
        Some("invalidate") => (false, true, false),
        Some("dict") => (false, false, true),
        _ => (true, true, true),
    };
    let rounds = if only.is_some() { 1 } else { ROUNDS };
    let mut g: Graph<u64> = Graph::with_config(Config {
        storm_threshold: 0,
        ..Config::default()
    });
    let d = g.track(Kind::Dict, 0x1000);
    g.register([Dep::key(d, 1)], 1).expect("register");
    let mut dicts = DictAdapter::new();
    let by_handle = dicts.key(&mut g, 0x2000, 1);
    g.register([by_handle], 1).expect("register");
    let mut sink = 0u64;
    let mut handler = |_: &mut Graph<u64>, fire: Fire<'_, u64>| {
        sink += *fire.payload;
        Verdict::Invalidate
    };
    let (mut quiet, mut inval, mut dict) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t0 = Instant::now();
        for _ in 0..n * u64::from(run_quiet) {
            black_box(g.notify(d, black_box(Aspect::Key(2)), "dict.MODIFIED", &mut handler))
                .expect("notify");
        }
        quiet.push(t0.elapsed().as_nanos() as f64 / n as f64);
        let t0 = Instant::now();
        for _ in 0..n * u64::from(run_inval) {
            g.register([Dep::key(d, 3)], 1).expect("register");
            black_box(g.notify(d, black_box(Aspect::Key(3)), "dict.MODIFIED", &mut handler))
                .expect("notify");
        }
        inval.push(t0.elapsed().as_nanos() as f64 / n as f64);
        let t0 = Instant::now();
        for _ in 0..n * u64::from(run_dict) {
            let event = DictEvent::Modified {
                key: black_box(2),
                values: Values::UNKNOWN,
            };
            black_box(dicts.on_event(&mut g, 0x2000, event, &mut handler)).expect("dict");
        }
        dict.push(t0.elapsed().as_nanos() as f64 / n as f64);
    }
    if only.is_some() {
        return;
    }
    assert_eq!(sink, ROUNDS as u64 * n, "not every unit fired");
    println!("rust  quiet_notify  {:6.1} ns/op", median(quiet));
    println!("rust  invalidate_1  {:6.1} ns/op", median(inval));
    println!("rust  dict_quiet    {:6.1} ns/op", median(dict));
}
