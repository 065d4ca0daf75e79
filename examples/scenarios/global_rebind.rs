//! Units have inlined module globals. Rebinding one global invalidates exactly the
//! units that loaded that name; writes to other keys invalidate nothing.

use depwatch::adapters::{DictEvent, Values};

use super::{Jit, Outcome, invalidate, key};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let globals = 0x7f00_1000;
    let dicts = &mut jit.dicts;
    let uses_x_y = jit
        .graph
        .register_with(
            |g| {
                [
                    dicts.key(g, globals, key("x")).named("x"),
                    dicts.key(g, globals, key("y")).named("y").at(1),
                ]
            },
            "f (loads x, y)",
        )
        .unwrap();
    let uses_y = jit
        .graph
        .register_with(
            |g| [dicts.key(g, globals, key("y")).named("y")],
            "g (loads y)",
        )
        .unwrap();
    let uses_z = jit
        .graph
        .register_with(
            |g| [dicts.key(g, globals, key("z")).named("z")],
            "h (loads z)",
        )
        .unwrap();
    println!("   3 compiled units load globals x, y and z");
    let requests = jit.requests.drain();
    assert_eq!(requests.len(), 1, "one watch request: the globals dict");
    println!("   VM: PyDict_Watch(globals), once, for its first dependent");

    let mut log = Vec::new();
    for other in ["a", "b", "counter"] {
        jit.dicts
            .on_event(
                &mut jit.graph,
                globals,
                DictEvent::Added { key: key(other) },
                &mut invalidate(&mut log),
            )
            .unwrap();
    }
    let s = jit.graph.stats();
    println!(
        "   3 writes to other globals: {} quiet, {} rejected by the key prefilter",
        s.quiet_events, s.prefilter_rejects
    );
    assert_eq!(s.quiet_events, 3);
    assert!(log.is_empty());

    println!("   x = 42");
    let rebind = DictEvent::Modified {
        key: key("x"),
        values: Values::new(1, 42),
    };
    jit.dicts
        .on_event(&mut jit.graph, globals, rebind, &mut invalidate(&mut log))
        .unwrap();
    assert_eq!(log, ["f (loads x, y)"]);
    assert!(!jit.graph.is_valid(uses_x_y));
    assert!(jit.graph.is_valid(uses_y) && jit.graph.is_valid(uses_z));
    jit.outcome("global_rebind")
}
