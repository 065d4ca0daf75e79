//! A unit has 3 load sites on 3 globals, handled the Cinder way: one global changes,
//! only that site is reported, the handler patches it to a deopt, and the unit stays
//! valid for the other two.

use depwatch::Verdict;
use depwatch::adapters::{DictEvent, Values};

use super::{Jit, Outcome, answer, key};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let globals = 0x7f00_4000;
    let dicts = &mut jit.dicts;
    let unit = jit
        .graph
        .register_with(
            |g| {
                ["a", "b", "c"]
                    .iter()
                    .enumerate()
                    .map(|(site, n)| dicts.key(g, globals, key(n)).named(*n).at(site as u32))
                    .collect::<Vec<_>>()
            },
            "f (3 guarded loads)",
        )
        .unwrap();
    let mut patched_sites = Vec::new();
    println!("   b = 99");
    let ev = DictEvent::Modified {
        key: key("b"),
        values: Values::new(1, 99),
    };
    jit.dicts
        .on_event(&mut jit.graph, globals, ev, &mut |g, fire| {
            patched_sites = fire.sites();
            answer(&mut Vec::new(), Verdict::Patched)(g, fire)
        })
        .unwrap();
    assert_eq!(patched_sites, [1]);
    assert!(jit.graph.is_valid(unit));
    assert_eq!(jit.graph.dependencies(unit).unwrap().len(), 2);
    println!("   f stays compiled; sites 0 and 2 still guarded, site 1 now deopts");

    // Writing b again fires nothing: the patched site no longer depends on it.
    let r = jit
        .dicts
        .on_event(&mut jit.graph, globals, ev, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert_eq!(r.fired, 0);
    jit.outcome("patch_vs_discard")
}
