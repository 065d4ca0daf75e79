//! A dict is deallocated and a new dict appears at the same address. The dead dict's
//! dependents are invalidated, and nothing aliases.

use depwatch::Error;
use depwatch::adapters::DictEvent;

use super::{Jit, Outcome, describe_id, invalidate, key};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let addr = 0x7f00_9000;
    let dicts = &mut jit.dicts;
    let old_unit = jit
        .graph
        .register_with(|g| [dicts.key(g, addr, key("k"))], "reads old d['k']")
        .unwrap();
    let old_id = jit.dicts.get(addr).unwrap();
    let mut log = Vec::new();
    println!("   del d  (the dict at {addr:#x} is deallocated)");
    jit.dicts
        .on_event(
            &mut jit.graph,
            addr,
            DictEvent::Deallocated,
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert_eq!(log, ["reads old d['k']"]);

    println!("   d = {{}}  (a new dict, allocated at the same address)");
    let dicts = &mut jit.dicts;
    let new_unit = jit
        .graph
        .register_with(|g| [dicts.key(g, addr, key("k"))], "reads new d['k']")
        .unwrap();
    let new_id = jit.dicts.get(addr).unwrap();
    println!(
        "   old d's ID: {}; new d's ID: {}",
        describe_id(old_id),
        describe_id(new_id)
    );
    println!("   (the slot was reused with a new generation, so the two IDs never compare equal)");
    assert_ne!(old_id, new_id);
    assert_eq!(jit.graph.version(old_id), Err(Error::StaleObject(old_id)));
    assert!(!jit.graph.is_valid(old_unit) && jit.graph.is_valid(new_unit));

    // An event on the new dict reaches only the new unit.
    jit.dicts
        .on_event(
            &mut jit.graph,
            addr,
            DictEvent::Added { key: key("k") },
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert_eq!(log, ["reads old d['k']", "reads new d['k']"]);
    jit.outcome("object_death")
}
