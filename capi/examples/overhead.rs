//! The Rust side of the boundary-cost measurement (`capi/bench/run.sh`): the same two
//! operations as `capi/bench/overhead.c`, on the core `Graph` directly.

use std::hint::black_box;
use std::time::Instant;

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
    let mut g: Graph<u64> = Graph::with_config(Config {
        storm_threshold: 0,
        ..Config::default()
    });
    let d = g.track(Kind::Dict, 0x1000);
    g.register([Dep::key(d, 1)], 1).expect("register");
    let mut sink = 0u64;
    let mut handler = |_: &mut Graph<u64>, fire: Fire<'_, u64>| {
        sink += *fire.payload;
        Verdict::Invalidate
    };
    let (mut quiet, mut inval) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        for _ in 0..n {
            black_box(g.notify(d, black_box(Aspect::Key(2)), "dict.MODIFIED", &mut handler))
                .expect("notify");
        }
        quiet.push(t0.elapsed().as_nanos() as f64 / n as f64);
        let t0 = Instant::now();
        for _ in 0..n {
            g.register([Dep::key(d, 3)], 1).expect("register");
            black_box(g.notify(d, black_box(Aspect::Key(3)), "dict.MODIFIED", &mut handler))
                .expect("notify");
        }
        inval.push(t0.elapsed().as_nanos() as f64 / n as f64);
    }
    assert_eq!(sink, ROUNDS as u64 * n, "not every unit fired");
    println!("rust  quiet_notify  {:6.1} ns/op", median(quiet));
    println!("rust  invalidate_1  {:6.1} ns/op", median(inval));
}
