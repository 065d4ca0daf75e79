//! A/B harness: instruction counts (callgrind) of the quiet path and of a single-unit
//! invalidation, in a graph with 10k background units of 8 dependencies.
use depwatch::{Aspect, Dep, Graph, Kind, Verdict};
use std::hint::black_box;

const ROUNDS: u64 = 1000;

#[inline(never)]
fn quiet_whole(g: &mut Graph<u64>, idle: depwatch::ObjectId) {
    for _ in 0..ROUNDS {
        black_box(g.notify(black_box(idle), Aspect::Whole, "m", &mut |_, _| Verdict::Invalidate).unwrap());
    }
}

#[inline(never)]
fn quiet_key(g: &mut Graph<u64>, watched: depwatch::ObjectId) {
    for k in 0..ROUNDS {
        black_box(g.notify(watched, Aspect::Key(black_box((1 << 40) + k)), "m", &mut |_, _| Verdict::Invalidate).unwrap());
    }
}

#[inline(never)]
fn one_event(g: &mut Graph<u64>, hot: depwatch::ObjectId) -> usize {
    g.notify(hot, Aspect::Key(7), "m", &mut |_, _| Verdict::Invalidate).unwrap().fired
}

fn main() {
    let mut g: Graph<u64> = Graph::new();
    if std::env::var_os("HOOK").is_some_and(|h| !h.is_empty()) {
        g.set_watch_hook(|c| { black_box(c); });
    }
    let objs: Vec<_> = (0..1000).map(|i| g.track(Kind::Dict, i)).collect();
    for u in 0..10_000usize {
        let deps = (0..8).map(|s| Dep::key(objs[(u * 7 + s) % 1000], (u % 64) as u64 + s as u64).at(s as u32));
        g.register(deps, u as u64).unwrap();
    }
    let idle = g.track(Kind::Dict, u64::MAX);
    let hot = g.track(Kind::Dict, 0);
    quiet_whole(&mut g, idle);
    quiet_key(&mut g, objs[0]);
    let mut fired = 0;
    for round in 0..ROUNDS as usize {
        let mut deps = vec![Dep::key(hot, 7)];
        deps.extend((1..8).map(|s| Dep::key(objs[(round * 7 + s) % 1000], s as u64).at(s as u32)));
        g.register(deps, round as u64).unwrap();
        fired += one_event(&mut g, hot);
        g.reset_stability(hot, Aspect::Key(7)).unwrap();
    }
    assert_eq!(fired, ROUNDS as usize);
}
