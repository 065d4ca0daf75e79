//! Micro-benchmarks behind the data-structure decisions in `design/DECISIONS.md`.
//!
//! * `unit_set/*`: a sorted `Vec<u32>` against a `RoaringBitmap` as the dependents set
//!   of one cell, at sizes around the switch point: remove + re-insert one unit, and a
//!   full iteration. Heap bytes of each are printed once.
//! * `prefilter/*`: a quiet keyed event on a dict of 10,000 keys of which 1% are
//!   watched: depwatch's blocked `KeyFilter`, the `bloomfilter` crate, `fastbloom`, and
//!   no filter (the hashbrown probe alone).
//!
//! * `batch_union/*`: the union a batch wave takes of its hit cells' dependents, with
//!   each unit hit twice on average: what the graph does (push every hit's `UnitId`,
//!   sort, walk the runs), against inserting slot indices into a `RoaringBitmap`, and
//!   against roaring's `MultiOps` union of the cells' bitmaps.
//!
//! Run: `cargo bench --bench structures`.

mod common;

use std::hint::black_box;

use common::stream;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use depwatch::prefilter::KeyFilter;
use roaring::RoaringBitmap;

fn unit_sets(c: &mut Criterion) {
    let mut group = c.benchmark_group("unit_set");
    for n in [8usize, 64, 256, 1024, 4096, 16384] {
        let mut next = stream(n as u64);
        let mut members: Vec<u32> = (0..n).map(|_| (next() % 1_000_000) as u32).collect();
        members.sort_unstable();
        members.dedup();
        let vec = members.clone();
        let bitmap: RoaringBitmap = members.iter().copied().collect();
        eprintln!(
            "unit_set n={n}: sorted vec {} B, roaring {} B",
            vec.capacity() * 4 + 24,
            bitmap.serialized_size() + 32
        );
        group.bench_with_input(BenchmarkId::new("vec_remove_insert", n), &n, |b, _| {
            let mut v = vec.clone();
            let mut i = 0;
            b.iter(|| {
                let x = members[i % members.len()];
                i += 1;
                if let Ok(at) = v.binary_search(&x) {
                    v.remove(at);
                }
                if let Err(at) = v.binary_search(&x) {
                    v.insert(at, x);
                }
                black_box(v.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("roaring_remove_insert", n), &n, |b, _| {
            let mut r = bitmap.clone();
            let mut i = 0;
            b.iter(|| {
                let x = members[i % members.len()];
                i += 1;
                r.remove(x);
                r.insert(x);
                black_box(r.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("vec_iterate", n), &n, |b, _| {
            b.iter(|| black_box(&vec).iter().map(|&x| x as u64).sum::<u64>())
        });
        group.bench_with_input(BenchmarkId::new("roaring_iterate", n), &n, |b, _| {
            b.iter(|| black_box(&bitmap).iter().map(|x| x as u64).sum::<u64>())
        });
    }
    group.finish();
}

fn prefilters(c: &mut Criterion) {
    const KEYS: u64 = 10_000;
    let mut next = stream(42);
    let keys: Vec<u64> = (0..KEYS).map(|_| next()).collect();
    let watched: Vec<u64> = keys.iter().copied().step_by(100).collect();
    let quiet: Vec<u64> = keys
        .iter()
        .copied()
        .filter(|k| !watched.contains(k))
        .collect();
    let map: hashbrown::HashMap<u64, u32> = watched.iter().map(|&k| (k, 1)).collect();

    let mut ours = KeyFilter::default();
    ours.rebuild(watched.iter().copied());
    let mut bloom = bloomfilter::Bloom::new_for_fp_rate(watched.len(), 0.01).unwrap();
    let mut fast = fastbloom::BloomFilter::with_false_pos(0.01).expected_items(watched.len());
    for k in &watched {
        bloom.set(k);
        fast.insert(k);
    }
    let fp = |f: &dyn Fn(u64) -> bool| quiet.iter().filter(|&&k| f(k)).count();
    eprintln!(
        "prefilter false positives on {} quiet keys: KeyFilter {} ({} B), bloomfilter {}, fastbloom {}",
        quiet.len(),
        fp(&|k| ours.may_contain(k)),
        ours.heap_bytes(),
        fp(&|k| bloom.check(&k)),
        fp(&|k| fast.contains(&k)),
    );

    let mut group = c.benchmark_group("prefilter");
    // Each iteration handles one quiet keyed event: filter, then probe the map on a hit.
    let run =
        |name: &str, group: &mut criterion::BenchmarkGroup<'_, _>, check: &dyn Fn(u64) -> bool| {
            group.bench_function(name, |b| {
                let mut i = 0;
                b.iter(|| {
                    let k = quiet[i % quiet.len()];
                    i += 1;
                    black_box(check(black_box(k)) && map.contains_key(&k))
                })
            });
        };
    run("keyfilter_blocked", &mut group, &|k| ours.may_contain(k));
    run("bloomfilter_crate", &mut group, &|k| bloom.check(&k));
    run("fastbloom_crate", &mut group, &|k| fast.contains(&k));
    run("no_filter_hashbrown", &mut group, &|_| true);
    group.finish();
}

fn batch_unions(c: &mut Criterion) {
    use roaring::MultiOps;
    const CELL: usize = 1000;
    let mut group = c.benchmark_group("batch_union");
    for hits in [10_000usize, 100_000, 1_000_000] {
        // `hits / 2` units, so each is hit twice on average; every cell is large enough
        // (1000 members) to be a roaring bitmap in the graph.
        let units = (hits / 2) as u64;
        let mut next = stream(hits as u64);
        let cells: Vec<Vec<u32>> = (0..hits / CELL)
            .map(|_| {
                let mut m: Vec<u32> = (0..CELL).map(|_| (next() % units) as u32).collect();
                m.sort_unstable();
                m.dedup();
                m
            })
            .collect();
        let bitmaps: Vec<RoaringBitmap> =
            cells.iter().map(|m| m.iter().copied().collect()).collect();
        // A `UnitId` as the wave holds it: the slot's version above its index.
        let id = |slot: u32| (1u64 << 32) | slot as u64;
        let total: usize = cells.iter().map(Vec::len).sum();
        let mut distinct: Vec<u32> = cells.concat();
        distinct.sort_unstable();
        distinct.dedup();
        let union = bitmaps.iter().union();
        assert!(
            union.iter().eq(distinct.iter().copied()),
            "the unions disagree"
        );
        eprintln!(
            "batch_union hits={total}: {} distinct units; roaring union {} B, id vector {} B",
            distinct.len(),
            union.serialized_size(),
            total * 8
        );
        group.throughput(criterion::Throughput::Elements(total as u64));
        let mut wave: Vec<u64> = Vec::with_capacity(total);
        group.bench_with_input(BenchmarkId::new("sort_ids", hits), &hits, |b, _| {
            b.iter(|| {
                wave.clear();
                for m in &cells {
                    wave.extend(m.iter().map(|&s| id(s)));
                }
                wave.sort_unstable();
                let (mut distinct, mut i) = (0u64, 0);
                while i < wave.len() {
                    let run = wave[i..].iter().take_while(|&&u| u == wave[i]).count();
                    distinct += wave[i] & 0xffff_ffff;
                    i += run;
                }
                black_box(distinct)
            })
        });
        group.bench_with_input(BenchmarkId::new("roaring_insert", hits), &hits, |b, _| {
            b.iter(|| {
                let mut r = RoaringBitmap::new();
                for m in &cells {
                    for &s in m {
                        r.insert(s);
                    }
                }
                black_box(r.iter().map(u64::from).sum::<u64>())
            })
        });
        group.bench_with_input(BenchmarkId::new("roaring_multiops", hits), &hits, |b, _| {
            b.iter(|| {
                let r = bitmaps.iter().union();
                black_box(r.iter().map(u64::from).sum::<u64>())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, unit_sets, prefilters, batch_unions);
criterion_main!(benches);
