//! Differential tests of the adapters against naive models: the dict adapter's handle
//! map under address reuse, the function adapter's tracked handles, and the type
//! adapter's subclass fan-out.

use std::collections::{HashMap, HashSet};

use depwatch::adapters::{
    DictAdapter, DictEvent, FunctionAdapter, FunctionEvent, TypeAdapter, Values,
};
use depwatch::{Fire, Graph, UnitId, Verdict};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum DictOp {
    /// Register a unit on (handle, key).
    Depend(u64, u64),
    Added(u64, u64),
    Modified(u64, u64, bool),
    Cleared(u64),
    Dealloc(u64),
}

fn dict_op() -> impl Strategy<Value = DictOp> {
    let h = 0u64..4;
    let k = 0u64..4;
    prop_oneof![
        3 => (h.clone(), k.clone()).prop_map(|(h, k)| DictOp::Depend(h, k)),
        2 => (h.clone(), k.clone()).prop_map(|(h, k)| DictOp::Added(h, k)),
        2 => (h.clone(), k, any::<bool>()).prop_map(|(h, k, s)| DictOp::Modified(h, k, s)),
        1 => h.clone().prop_map(DictOp::Cleared),
        1 => h.prop_map(DictOp::Dealloc),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Units live exactly while no event on their (dict incarnation, key) happened,
    /// with addresses reused after every dealloc.
    #[test]
    fn dict_adapter_matches_model(ops in prop::collection::vec(dict_op(), 1..150)) {
        let mut g: Graph<usize> = Graph::with_config(depwatch::Config { storm_threshold: 0, ..Default::default() });
        let mut dicts = DictAdapter::new();
        // Model: incarnation number per handle; units as (handle, incarnation, key, alive).
        let mut incarnation: HashMap<u64, u32> = HashMap::new();
        let mut units: Vec<(u64, u32, u64, bool, UnitId)> = Vec::new();
        for op in ops {
            let mut fired: Vec<usize> = Vec::new();
            let mut h = |_: &mut Graph<usize>, f: Fire<'_, usize>| { fired.push(*f.payload); Verdict::Invalidate };
            let (handle, hit): (u64, Box<dyn Fn(u64) -> bool>) = match op {
                DictOp::Depend(handle, key) => {
                    let inc = *incarnation.entry(handle).or_default();
                    let i = units.len();
                    let u = g.register_with(|g| [dicts.key(g, handle, key)], i).unwrap();
                    units.push((handle, inc, key, true, u));
                    continue;
                }
                DictOp::Added(handle, key) => {
                    dicts.on_event(&mut g, handle, DictEvent::Added { key }, &mut h).unwrap();
                    (handle, Box::new(move |k| k == key))
                }
                DictOp::Modified(handle, key, same) => {
                    let values = if same { Values::new(7, 7) } else { Values::new(7, 8) };
                    dicts.on_event(&mut g, handle, DictEvent::Modified { key, values }, &mut h).unwrap();
                    (handle, Box::new(move |k| !same && k == key))
                }
                DictOp::Cleared(handle) => {
                    dicts.on_event(&mut g, handle, DictEvent::Cleared, &mut h).unwrap();
                    (handle, Box::new(|_| true))
                }
                DictOp::Dealloc(handle) => {
                    dicts.on_event(&mut g, handle, DictEvent::Deallocated, &mut h).unwrap();
                    let inc = incarnation.entry(handle).or_default();
                    let was = *inc;
                    *inc += 1;
                    let mut want: Vec<usize> = Vec::new();
                    for (i, u) in units.iter_mut().enumerate() {
                        if u.0 == handle && u.1 == was && u.3 {
                            u.3 = false;
                            want.push(i);
                        }
                    }
                    fired.sort();
                    prop_assert_eq!(fired, want);
                    prop_assert_eq!(dicts.get(handle), None);
                    continue;
                }
            };
            let inc = incarnation.get(&handle).copied().unwrap_or(0);
            let mut want: Vec<usize> = Vec::new();
            for (i, u) in units.iter_mut().enumerate() {
                if u.0 == handle && u.1 == inc && u.3 && hit(u.2) {
                    u.3 = false;
                    want.push(i);
                }
            }
            fired.sort();
            prop_assert_eq!(fired, want);
            for u in &units {
                prop_assert_eq!(g.is_valid(u.4), u.3);
            }
        }
    }

    /// A change to type T with attribute `a` fires exactly the units on (S, a) or
    /// (S, whole) for every S whose transitive bases include T (or S = T).
    #[test]
    fn type_fanout_matches_transitive_closure(
        edges in prop::collection::vec((0u64..8, prop::collection::vec(0u64..8, 0..3)), 0..12),
        deps in prop::collection::vec((0u64..8, prop::option::of(0u64..3)), 1..20),
        changed in 0u64..8,
        attr in prop::option::of(0u64..3),
    ) {
        let mut types = TypeAdapter::new();
        let mut bases: HashMap<u64, Vec<u64>> = HashMap::new();
        for (t, bs) in edges {
            types.set_bases(t, &bs);
            bases.insert(t, bs);
        }
        // Naive: is `changed` among the reflexive-transitive bases of `t`?
        fn reaches(t: u64, target: u64, bases: &HashMap<u64, Vec<u64>>, seen: &mut HashSet<u64>) -> bool {
            t == target
                || (seen.insert(t)
                    && bases.get(&t).into_iter().flatten().any(|&b| b != t && reaches(b, target, bases, seen)))
        }
        let mut g: Graph<usize> = Graph::new();
        let mut ids = Vec::new();
        for (i, &(t, a)) in deps.iter().enumerate() {
            let u = g.register_with(|g| [match a { Some(a) => types.attr(g, t, a), None => types.whole(g, t) }], i).unwrap();
            ids.push(u);
        }
        let mut fired = Vec::new();
        types.on_modified(&mut g, changed, attr, &mut |_, f: Fire<'_, usize>| { fired.push(*f.payload); Verdict::Invalidate }).unwrap();
        fired.sort();
        let want: Vec<usize> = deps
            .iter()
            .enumerate()
            .filter(|(_, (t, a))| reaches(*t, changed, &bases, &mut HashSet::new()) && (a.is_none() || attr.is_none() || *a == attr))
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(fired, want);
    }

    /// The function adapter tracks a handle from its first dependent (or its CREATE,
    /// when tracking creates) until its DESTROY; `tracked_handles` lists exactly those.
    #[test]
    fn function_adapter_tracks_exactly_the_live_handles(
        eager in any::<bool>(),
        ops in prop::collection::vec((0u8..3, 0u64..6), 1..100),
    ) {
        let mut g: Graph<u64> = Graph::new();
        let mut funcs = if eager { FunctionAdapter::tracking_creates() } else { FunctionAdapter::new() };
        let mut model: HashSet<u64> = HashSet::new();
        let invalidate = &mut |_: &mut Graph<u64>, _: Fire<'_, u64>| Verdict::Invalidate;
        for (op, h) in ops {
            match op {
                0 => {
                    g.register_with(|g| [funcs.attr(g, h, depwatch::Attr::Code)], h).unwrap();
                    model.insert(h);
                }
                1 => {
                    funcs.on_event(&mut g, h, FunctionEvent::Create, invalidate).unwrap();
                    if eager {
                        model.insert(h);
                    }
                }
                _ => {
                    funcs.on_event(&mut g, h, FunctionEvent::Destroy, invalidate).unwrap();
                    model.remove(&h);
                }
            }
            let got: HashSet<u64> = funcs.tracked_handles().collect();
            prop_assert_eq!(&got, &model);
            prop_assert_eq!(funcs.stats().tracked, model.len());
        }
    }
}
