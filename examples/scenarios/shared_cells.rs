//! Many compiled units load the same global. The JIT resolves the key's cell to a
//! handle once and registers every unit with it, skipping the key lookup per unit.
//! When the module's globals dict dies, the cached handle is refused as stale, and the
//! JIT asks for a new one for the new dict at the same address.

use depwatch::adapters::DictEvent;
use depwatch::{Aspect, Error};

use super::{Jit, Outcome, invalidate, key};

const UNITS: [&str; 8] = [
    "f0 (calls len)",
    "f1 (calls len)",
    "f2 (calls len)",
    "f3 (calls len)",
    "f4 (calls len)",
    "f5 (calls len)",
    "f6 (calls len)",
    "f7 (calls len)",
];

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let globals = 0x7f00_a000;
    let module = jit.dicts.track(&mut jit.graph, globals);
    // `len` is a builtin as long as the module's globals lack it: each unit depends on
    // that absence (a real JIT would also depend on builtins['len']).
    let len = jit
        .graph
        .cell_handle(module, Aspect::Key(key("len")))
        .unwrap();
    for (site, name) in UNITS.iter().enumerate() {
        jit.graph
            .register_cells([(len, site as u32)], name)
            .unwrap();
    }
    println!("   8 units call len; globals['len'] was resolved to a cell handle once");
    assert_eq!(
        jit.graph
            .dependents(module, Aspect::Key(key("len")))
            .unwrap()
            .len(),
        8
    );

    let mut log = Vec::new();
    println!("   len = my_len  (shadows the builtin in this module)");
    jit.dicts
        .on_event(
            &mut jit.graph,
            globals,
            DictEvent::Added { key: key("len") },
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert_eq!(log, UNITS);

    // The cell keeps its storm count, so it stays and the cached handle still works.
    let recompiled = jit
        .graph
        .register_cells([(len, 0)], "f0 recompiled")
        .unwrap();
    println!("   f0 recompiled with the same cached handle");

    println!("   the module is unloaded: its globals dict is deallocated");
    jit.dicts
        .on_event(
            &mut jit.graph,
            globals,
            DictEvent::Deallocated,
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert!(!jit.graph.is_valid(recompiled));
    let refused = jit
        .graph
        .register_cells([(len, 0)], "f0 again")
        .unwrap_err();
    assert_eq!(refused.error, Error::StaleCell(len));
    println!(
        "   the cached handle for globals['len'] is refused as stale: its cell went with the dict"
    );

    // A new module's dict at the same address is a new object with a new cell.
    let module2 = jit.dicts.track(&mut jit.graph, globals);
    let len2 = jit
        .graph
        .cell_handle(module2, Aspect::Key(key("len")))
        .unwrap();
    assert!(module2 != module && len2 != len);
    jit.graph
        .register_cells([(len2, 0)], "f0 in the reloaded module")
        .unwrap();
    println!("   the JIT resolves a new handle for the new dict and registers again");
    jit.outcome("shared_cells")
}
