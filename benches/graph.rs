//! The core graph against its targets (issue: core graph):
//!
//! * `quiet/*`: an event nobody depends on (≤ 5 ns), at 1k, 10k and 100k units;
//!   whole-object on an unwatched object, and keyed on a watched dict's unwatched key.
//! * `invalidate/k`: k units with 8 dependencies each share one key; one event
//!   invalidates all k, cleanup included (≤ 40 ns per unit).
//! * `invalidate_warm/k`: the same in one long-lived graph, re-registered between
//!   timed events, so memory is as warm as in a running VM.
//! * `patch/k`: the same, answered `Patched`: only the fired edges go.
//! * `register/d`: registering a unit with d dependencies, alone (≤ 25 ns per edge);
//!   the units are unregistered after each timed batch, untimed.
//! * `register_cells/d`: the same registrations through cell handles resolved
//!   beforehand, as a VM that caches them per key would.
//! * `register_unregister/d`: the pair, per edge.
//! * Bytes per edge at 1M units × 8 dependencies is printed at start-up
//!   (≤ 16 bytes per edge).
//!
//! Run: `cargo bench --bench graph`.

mod common;

use std::hint::black_box;

use common::stream;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use depwatch::{Aspect, CellHandle, Dep, Graph, Kind, ObjectId, UnitId, Verdict};

/// `units` units with 8 keyed dependencies each over `objects` dicts of `keys` keys.
fn populated(units: usize, objects: usize, keys: u64) -> (Graph<u64>, Vec<ObjectId>) {
    let mut g = Graph::new();
    let objs: Vec<ObjectId> = (0..objects)
        .map(|i| g.track(Kind::Dict, i as u64))
        .collect();
    let mut next = stream(units as u64);
    for u in 0..units {
        let deps = (0..8u32).map(|s| {
            let o = objs[(next() % objects as u64) as usize];
            Dep::key(o, next() % keys).at(s)
        });
        g.register(deps, u as u64).unwrap();
    }
    (g, objs)
}

fn footprint() {
    for (label, objects, keys) in [
        ("shared cells: 10k dicts x 8 keys", 10_000, 8),
        ("distinct cells: 1M dicts x 2^40 keys", 1_000_000, 1 << 40),
    ] {
        let (g, _) = populated(1_000_000, objects, keys);
        let s = g.stats();
        eprintln!(
            "footprint 1M units x 8 deps, {label}: {} edges, {} cells, {} bytes, {:.1} bytes/edge",
            s.live_edges,
            s.live_cells,
            s.bytes,
            s.bytes as f64 / s.live_edges as f64
        );
    }
}

fn quiet(c: &mut Criterion) {
    // `cargo bench -- --test` (CI) runs each bench once; the footprint needs ~1.5 GB.
    if !std::env::args().any(|a| a == "--test") {
        footprint();
    }
    let mut group = c.benchmark_group("quiet");
    for units in [1_000usize, 10_000, 100_000] {
        let (mut g, objs) = populated(units, 1000, 64);
        let idle = g.track(Kind::Dict, u64::MAX);
        group.bench_with_input(
            BenchmarkId::new("whole_unwatched", units),
            &units,
            |b, _| {
                b.iter(|| {
                    g.notify(black_box(idle), Aspect::Whole, "m", &mut |_, _| {
                        Verdict::Invalidate
                    })
                    .unwrap()
                })
            },
        );
        let watched = objs[0];
        let mut k = 1u64 << 32;
        group.bench_with_input(BenchmarkId::new("key_unwatched", units), &units, |b, _| {
            b.iter(|| {
                k += 1;
                g.notify(watched, Aspect::Key(black_box(k)), "m", &mut |_, _| {
                    Verdict::Invalidate
                })
                .unwrap()
            })
        });
    }
    group.finish();
}

fn fan_out(c: &mut Criterion, name: &str, verdict: Verdict) {
    let mut group = c.benchmark_group(name);
    for k in [1usize, 10, 100, 1000] {
        group.throughput(Throughput::Elements(k as u64));
        group.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, &k| {
            b.iter_batched_ref(
                || {
                    let (mut g, objs) = populated(10_000, 1000, 64);
                    let hot = g.track(Kind::Dict, 0);
                    for u in 0..k {
                        let mut deps = vec![Dep::key(hot, 7)];
                        deps.extend(
                            (1..8)
                                .map(|s| Dep::key(objs[(u * 7 + s) % 1000], s as u64).at(s as u32)),
                        );
                        g.register(deps, u as u64).unwrap();
                    }
                    (g, hot)
                },
                |(g, hot)| {
                    let r = g
                        .notify(*hot, Aspect::Key(7), "m", &mut |_, _| verdict)
                        .unwrap();
                    assert_eq!(r.fired, k);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn invalidate(c: &mut Criterion) {
    fan_out(c, "invalidate", Verdict::Invalidate);
}

fn patch(c: &mut Criterion) {
    fan_out(c, "patch", Verdict::Patched);
}

/// 1024 dependency sets of `d` random keys (of 64) on the fixture's 1000 dicts.
fn dependency_sets(objs: &[ObjectId], d: usize, seed: u64) -> Vec<Vec<Dep>> {
    let mut next = stream(seed);
    (0..1024)
        .map(|_| {
            (0..d)
                .map(|s| Dep::key(objs[(next() % 1000) as usize], next() % 64).at(s as u32))
                .collect()
        })
        .collect()
}

fn register(c: &mut Criterion) {
    let mut group = c.benchmark_group("register_unregister");
    for d in [1usize, 8, 64] {
        let (mut g, objs) = populated(10_000, 1000, 64);
        let deps = dependency_sets(&objs, d, d as u64);
        group.throughput(Throughput::Elements(d as u64));
        let mut i = 0;
        group.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| {
            b.iter(|| {
                let u = g.register(deps[i % deps.len()].iter().cloned(), 0).unwrap();
                i += 1;
                g.unregister(u).unwrap()
            })
        });
    }
    group.finish();
}

/// `invalidate/k` in a long-lived graph: k units (8 deps each) are registered on the
/// hot key, untimed, then one timed event invalidates them, over and over on the same
/// graph. Its memory is as warm as the workload keeps it, unlike `invalidate/k`.
fn invalidate_warm(c: &mut Criterion) {
    let mut group = c.benchmark_group("invalidate_warm");
    for k in [1usize, 10, 100, 1000] {
        let (mut g, objs) = populated(10_000, 1000, 64);
        let hot = g.track(Kind::Dict, 0);
        let mut round = 0usize;
        group.throughput(Throughput::Elements(k as u64));
        group.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, &k| {
            b.iter_custom(|iters| {
                let mut spent = std::time::Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    for u in 0..k {
                        let mut deps = vec![Dep::key(hot, 7)];
                        deps.extend((1..8).map(|s| {
                            Dep::key(objs[(u * 7 + s + round) % 1000], s as u64).at(s as u32)
                        }));
                        g.register(deps, u as u64).unwrap();
                    }
                    let start = std::time::Instant::now();
                    let r = g
                        .notify(hot, Aspect::Key(7), "m", &mut |_, _| Verdict::Invalidate)
                        .unwrap();
                    spent += start.elapsed();
                    assert_eq!(r.fired, k);
                    // The same key fires every round: keep the storm policy out of it.
                    g.reset_stability(hot, Aspect::Key(7)).unwrap();
                }
                spent
            })
        });
    }
    group.finish();
}

/// Registration alone (the target's figure): registrations are timed in rounds of up to
/// 1024, each round's units unregistered afterwards, untimed.
fn register_only(c: &mut Criterion) {
    register_timed(c, "register", |g, set, _| {
        g.register(set.iter().cloned(), 0).unwrap()
    });
}

/// The same registrations through cell handles resolved beforehand (untimed), as a
/// VM that caches them per key does: no key lookup per dependency.
fn register_cells(c: &mut Criterion) {
    register_timed(c, "register_cells", |g, _, handles| {
        g.register_cells(handles.iter().copied(), 0).unwrap()
    });
}

/// Times registrations alone, in rounds of up to 1024 (one pass over the dependency
/// sets) that are unregistered, untimed, between rounds, so the graph never holds
/// more than 1024 extra units.
fn register_timed(
    c: &mut Criterion,
    group: &str,
    register: impl Fn(&mut Graph<u64>, &[Dep], &[(CellHandle, u32)]) -> UnitId,
) {
    let mut group = c.benchmark_group(group);
    for d in [1usize, 8, 64] {
        let (mut g, objs) = populated(10_000, 1000, 64);
        let deps = dependency_sets(&objs, d, d as u64 + 100);
        let handles: Vec<Vec<(CellHandle, u32)>> = deps
            .iter()
            .map(|set| {
                set.iter()
                    .map(|dep| (g.cell_handle(dep.object, dep.aspect).unwrap(), dep.site))
                    .collect()
            })
            .collect();
        group.throughput(Throughput::Elements(d as u64));
        group.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| {
            b.iter_custom(|iters| {
                let mut spent = std::time::Duration::ZERO;
                let mut units = Vec::with_capacity(deps.len());
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(deps.len());
                    let start = std::time::Instant::now();
                    for (set, cells) in deps[..n].iter().zip(&handles) {
                        units.push(register(&mut g, set, cells));
                    }
                    spent += start.elapsed();
                    for u in units.drain(..) {
                        g.unregister(u).unwrap();
                    }
                    left -= n;
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    quiet,
    invalidate,
    invalidate_warm,
    patch,
    register,
    register_only,
    register_cells
);
criterion_main!(benches);
