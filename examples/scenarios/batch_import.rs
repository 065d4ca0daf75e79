//! A module import sets 500 globals inside one batch. Each dependent unit fires
//! exactly once and lists all its causes.

use depwatch::adapters::DictEvent;

use super::{Jit, Outcome, invalidate, key};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let module = 0x7f00_6000;
    let names: Vec<String> = (0..500).map(|i| format!("g{i}")).collect();
    let mut units = Vec::new();
    for (i, payload) in ["u0", "u1", "u2", "u3", "u4"].into_iter().enumerate() {
        let dicts = &mut jit.dicts;
        // Each unit depends on the absence of 150 names (overlapping its neighbours').
        let deps = |g: &mut depwatch::Graph<_>| {
            names[i * 80..i * 80 + 150]
                .iter()
                .map(|n| dicts.key(g, module, key(n)))
                .collect::<Vec<_>>()
        };
        units.push(jit.graph.register_with(deps, payload).unwrap());
    }
    println!("   import sets 500 globals in one batch");
    let mut log = Vec::new();
    let mut causes = Vec::new();
    jit.graph.begin_batch();
    for n in &names {
        jit.dicts
            .on_event(
                &mut jit.graph,
                module,
                DictEvent::Added { key: key(n) },
                &mut invalidate(&mut log),
            )
            .unwrap();
    }
    assert!(log.is_empty(), "nothing fires before the batch ends");
    {
        let mut handler = invalidate(&mut log);
        jit.graph
            .end_batch(&mut |g, fire| {
                causes.push(fire.causes().len());
                handler(g, fire)
            })
            .unwrap();
    }
    assert_eq!(log, ["u0", "u1", "u2", "u3", "u4"], "each unit once");
    assert_eq!(causes, [150; 5]);
    assert!(units.iter().all(|&u| !jit.graph.is_valid(u)));
    jit.outcome("batch_import")
}
