//! The benchmark engines against a naive model, on random workloads: registrations,
//! keyed and whole-object mutations, patches, deaths and drops.
//!
//! * The exact engines (depwatch, eager and lazy callbacks) must invalidate and patch
//!   exactly the units the model does, at the same event.
//! * The bloom scan must have invalidated every unit the model invalidates by the
//!   same event (it may kill more, and earlier), and must refuse to patch.

use std::collections::{BTreeMap, BTreeSet};

use depwatch::Aspect;
use depwatch::Kind;
use depwatch_bench::engines::{ENGINES, Engine, engine};
use depwatch_bench::workloads::can_patch;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// A new unit depending on these (object slot, aspect) pairs.
    Register(Vec<(usize, Option<u64>)>),
    /// A mutation of an object slot: `Some(key)` keyed, `None` whole-object.
    Mutate(usize, Option<u64>),
    /// The same, answered by patching.
    Patch(usize, Option<u64>),
    /// The object in this slot dies; the slot gets a fresh object.
    Destroy(usize),
    /// Drops the n-th unit registered (if any, and whether live or not).
    Drop(usize),
}

const SLOTS: usize = 4;
const KEYS: u64 = 3;

fn aspect(key: Option<u64>) -> Aspect {
    key.map_or(Aspect::Whole, Aspect::Key)
}

fn op() -> impl Strategy<Value = Op> {
    let dep = (0..SLOTS, prop::option::weighted(0.8, 0..KEYS));
    prop_oneof![
        3 => prop::collection::vec(dep, 1..5).prop_map(Op::Register),
        3 => (0..SLOTS, prop::option::weighted(0.8, 0..KEYS)).prop_map(|(s, k)| Op::Mutate(s, k)),
        2 => (0..SLOTS, prop::option::weighted(0.8, 0..KEYS)).prop_map(|(s, k)| Op::Patch(s, k)),
        1 => (0..SLOTS).prop_map(Op::Destroy),
        1 => (0..64usize).prop_map(Op::Drop),
    ]
}

/// The naive model: each live unit's remaining dependencies.
#[derive(Default)]
struct Model {
    live: BTreeMap<u64, BTreeSet<(u64, Aspect)>>,
}

impl Model {
    /// The live units an event on (`obj`, `event`) hits, in order.
    fn hit(&self, obj: u64, event: Aspect) -> Vec<u64> {
        self.live
            .iter()
            .filter(|(_, deps)| deps.iter().any(|&(o, a)| o == obj && event.hits(a)))
            .map(|(&u, _)| u)
            .collect()
    }
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn engines_match_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut engines: Vec<Box<dyn Engine>> =
            ENGINES.iter().map(|n| engine(n).unwrap()).collect();
        let mut model = Model::default();
        // The bloom scan's dead units (invalidated or dropped).
        let mut bloom_dead: BTreeSet<u64> = BTreeSet::new();
        let mut slots: Vec<u64> = (1..=SLOTS as u64).collect();
        let mut next_obj = SLOTS as u64 + 1;
        let mut units: Vec<u64> = Vec::new();
        for &o in &slots {
            engines.iter_mut().for_each(|e| e.object(o, Kind::Dict));
        }
        for (t, op) in ops.into_iter().enumerate() {
            match op {
                Op::Register(deps) => {
                    let deps: BTreeSet<(u64, Aspect)> =
                        deps.into_iter().map(|(s, k)| (slots[s], aspect(k))).collect();
                    let deps: Vec<(u64, Aspect)> = deps.into_iter().collect();
                    let unit = units.len() as u64 + 1;
                    units.push(unit);
                    engines.iter_mut().for_each(|e| e.register(unit, &deps));
                    model.live.insert(unit, deps.into_iter().collect());
                }
                Op::Mutate(s, k) => {
                    let (obj, a) = (slots[s], aspect(k));
                    let want = model.hit(obj, a);
                    want.iter().for_each(|u| { model.live.remove(u); });
                    for e in engines.iter_mut() {
                        let mut out = Vec::new();
                        e.mutate(obj, a, "dict.MODIFIED", &mut out);
                        check(&**e, t, out, &want, &mut bloom_dead)?;
                    }
                }
                Op::Patch(s, k) => {
                    let (obj, a) = (slots[s], aspect(k));
                    let want = model.hit(obj, a);
                    for u in &want {
                        model.live.get_mut(u).unwrap().retain(|&(o, d)| o != obj || !a.hits(d));
                    }
                    for e in engines.iter_mut() {
                        let mut out = Vec::new();
                        let patched = e.patch(obj, a, &mut out);
                        if e.name() == "bloom-scan" {
                            prop_assert!(!patched && out.is_empty(), "the bloom scan cannot patch");
                        } else {
                            prop_assert!(patched, "{} refused to patch", e.name());
                            prop_assert_eq!(sorted(out), want.clone(), "{} patch at op {}", e.name(), t);
                        }
                    }
                }
                Op::Destroy(s) => {
                    let obj = slots[s];
                    let want = model.hit(obj, Aspect::Whole);
                    want.iter().for_each(|u| { model.live.remove(u); });
                    for e in engines.iter_mut() {
                        let mut out = Vec::new();
                        e.destroy(obj, &mut out);
                        check(&**e, t, out, &want, &mut bloom_dead)?;
                    }
                    slots[s] = next_obj;
                    engines.iter_mut().for_each(|e| e.object(next_obj, Kind::Dict));
                    next_obj += 1;
                }
                Op::Drop(n) => {
                    if let Some(&unit) = units.get(n) {
                        model.live.remove(&unit);
                        bloom_dead.insert(unit);
                        engines.iter_mut().for_each(|e| e.drop_unit(unit));
                    }
                }
            }
            for e in &engines {
                if e.name() != "bloom-scan" {
                    prop_assert_eq!(e.live_units(), model.live.len(), "{} live units", e.name());
                }
            }
        }
    }
}

/// One engine's invalidations for an event against the model's `want`.
fn check(
    e: &dyn Engine,
    t: usize,
    out: Vec<u64>,
    want: &[u64],
    bloom_dead: &mut BTreeSet<u64>,
) -> Result<(), TestCaseError> {
    if e.name() == "bloom-scan" {
        bloom_dead.extend(out);
        for u in want {
            prop_assert!(
                bloom_dead.contains(u),
                "bloom scan missed unit {} at op {}",
                u,
                t
            );
        }
    } else {
        prop_assert_eq!(sorted(out), want.to_vec(), "{} at op {}", e.name(), t);
    }
    Ok(())
}

#[test]
fn every_engine_but_the_bloom_scan_can_patch() {
    let patching: Vec<&str> = ENGINES.into_iter().filter(|n| can_patch(n)).collect();
    assert_eq!(patching, ["depwatch", "callbacks", "callbacks-lazy"]);
    assert!(!can_patch("no such engine"));
}
