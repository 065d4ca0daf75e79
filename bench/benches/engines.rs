//! Every engine on the same workloads (`cargo bench --bench engines`):
//!
//! * `quiet_key/N`: an event on a watched dict's key nobody depends on, with N units.
//! * `fanout/k`: invalidating k units (8 deps each) with one event, cleanup included.
//! * `fanout_warm/k`: the same in one long-lived engine, re-registered between events.
//! * `patch/k`: the `fanout_warm` event answered by patching: only the fired
//!   dependency goes (every engine that can patch; the bloom scan cannot).
//! * `register/d`: registering a unit with d = 1, 8 or 64 dependencies.
//! * `churn/8`: registering and dropping a unit with 8 dependencies.
//! * `batch/500`: 500 events in one batch over 50 overlapping units.
//! * `replay/*`: every shared trace under `DEPWATCH_TRACES` (default
//!   `shared/traces` beside the repository) when present, else the in-repo copy of one.
//!
//! `depwatch bench` prints the same comparisons as one table; `depwatch replay`
//! replays any trace. The engines are in `bench/src/engines.rs`.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use depwatch::Aspect;
use depwatch_bench::driver::replay;
use depwatch_bench::engines::{ENGINES, Engine, engine};
use depwatch_bench::trace::Trace;
use depwatch_bench::workloads::{
    HOT, background, batch_events, batch_units, can_patch, check_fired, check_patched, fire_hot,
    hot_event, hot_units, patch_event, unit_deps,
};

/// Background units in the fan-out, registration, churn and batch fixtures.
const N: usize = 10_000;

/// A fresh engine holding the shared background of `n` units.
fn populated(name: &str, n: usize) -> Box<dyn Engine> {
    let mut e = engine(name).unwrap();
    background(&mut *e, n);
    e
}

fn quiet_key(c: &mut Criterion) {
    let mut g = c.benchmark_group("quiet_key");
    for n in [1_000usize, 10_000, 100_000] {
        for name in ENGINES {
            let mut e = populated(name, n);
            let mut out = Vec::new();
            let mut k = 0u64;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    k += 1;
                    e.mutate(
                        HOT,
                        Aspect::Key(black_box(k % 1_000_000)),
                        "dict.ADDED",
                        &mut out,
                    );
                })
            });
            // Exact engines fire nothing; the bloom scan's first keyed event on the
            // watched dict spuriously kills its one unit, and the dict goes unwatched.
            assert!(out.is_empty() || name == "bloom-scan", "{name}: {out:?}");
        }
    }
    g.finish();
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    for k in [1usize, 10, 100, 1000] {
        g.throughput(Throughput::Elements(k as u64));
        for name in ENGINES {
            g.bench_with_input(BenchmarkId::new(name, k), &k, |b, &k| {
                b.iter_batched_ref(
                    || {
                        let mut e = populated(name, N);
                        hot_units(&mut *e, N, k, 0, 1);
                        (e, Vec::new())
                    },
                    |(e, out)| fire_hot(&mut **e, out, k),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

/// `fanout/k` in one long-lived engine: k fresh units are registered (untimed) before
/// each timed event, in place of the ones the last event invalidated. Lazy callbacks
/// pay here for the dead entries they never removed.
fn fanout_warm(c: &mut Criterion) {
    warm_rounds(c, "fanout_warm", &ENGINES, false, hot_event, check_fired);
}

/// For each k and each engine in `names`, one long-lived engine; each round registers
/// k fresh units on the hot key (untimed), times `event`, checks how many units it
/// fired with `check(engine, fired, k)` (untimed) and, with `drop_after`, drops the
/// round's units (untimed).
fn warm_rounds(
    c: &mut Criterion,
    group: &str,
    names: &[&'static str],
    drop_after: bool,
    event: impl Fn(&mut dyn Engine, &mut Vec<u64>),
    check: impl Fn(&dyn Engine, usize, usize),
) {
    let mut g = c.benchmark_group(group);
    for k in [1usize, 10, 100, 1000] {
        g.throughput(Throughput::Elements(k as u64));
        for &name in names {
            let mut e = populated(name, N);
            let mut round = 0u64;
            let mut out = Vec::new();
            g.bench_with_input(BenchmarkId::new(name, k), &k, |b, &k| {
                b.iter_custom(|iters| {
                    let mut spent = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        round += 1;
                        let first = 10_000_000 + round * k as u64;
                        hot_units(&mut *e, N, k, round, first);
                        out.clear();
                        let start = std::time::Instant::now();
                        event(&mut *e, &mut out);
                        spent += start.elapsed();
                        check(&*e, out.len(), k);
                        if drop_after {
                            (first..first + k as u64).for_each(|u| e.drop_unit(u));
                        }
                    }
                    spent
                })
            });
        }
    }
    g.finish();
}

fn register(c: &mut Criterion) {
    let mut g = c.benchmark_group("register");
    for d in [1usize, 8, 64] {
        g.throughput(Throughput::Elements(d as u64));
        for name in ENGINES {
            let mut e = populated(name, N);
            let mut u = 0u64;
            g.bench_function(BenchmarkId::new(name, d), |b| {
                b.iter(|| {
                    u += 1;
                    e.register(u, &unit_deps(N, u, 200, d));
                })
            });
        }
    }
    g.finish();
}

/// `fanout_warm/k` answered by patching: the k units stay live minus the fired
/// dependency, and are dropped (untimed) before the next round registers k fresh
/// ones. Engines that cannot patch (the bloom scan) are left out.
fn patch(c: &mut Criterion) {
    let patching: Vec<&'static str> = ENGINES.into_iter().filter(|n| can_patch(n)).collect();
    let event = |e: &mut dyn Engine, out: &mut Vec<u64>| {
        patch_event(e, out);
    };
    warm_rounds(c, "patch", &patching, true, event, check_patched);
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn");
    g.throughput(Throughput::Elements(1));
    for name in ENGINES {
        let mut e = populated(name, N);
        let mut u = 0u64;
        g.bench_function(BenchmarkId::new(name, 8), |b| {
            b.iter(|| {
                u += 1;
                e.register(u, &unit_deps(N, u, 300, 8));
                e.drop_unit(u);
            })
        });
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(500));
    for name in ENGINES {
        g.bench_function(BenchmarkId::new(name, 500), |b| {
            b.iter_batched_ref(
                || {
                    let mut e = populated(name, N);
                    batch_units(&mut *e);
                    (e, Vec::new())
                },
                |(e, out)| {
                    e.mutate_batch(&batch_events(), out);
                    assert!(out.len() >= 50, "{name}: {}", out.len());
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn load(path: &std::path::Path) -> Trace {
    Trace::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn replay_trace(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("DEPWATCH_TRACES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("../../shared/traces"));
    let mut traces = vec![root.join("tests/data/test_functools.trace.gz")];
    if let Ok(dir) = std::fs::read_dir(&shared) {
        let mut found: Vec<_> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".trace.gz"))
            .collect();
        found.sort();
        if !found.is_empty() {
            traces = found;
        }
    }
    let mut g = c.benchmark_group("replay");
    for path in traces {
        let trace = load(&path);
        g.throughput(Throughput::Elements(trace.events.len() as u64));
        for name in ENGINES {
            g.bench_function(BenchmarkId::new(name, &trace.name), |b| {
                b.iter(|| black_box(replay(&mut *engine(name).unwrap(), &trace, false)))
            });
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    quiet_key,
    fanout,
    fanout_warm,
    patch,
    register,
    churn,
    batch,
    replay_trace
);
criterion_main!(benches);
