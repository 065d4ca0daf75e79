//! A unit uses builtin `len`: it depends on (builtins, len) and on the absence of
//! (globals, len). Defining a global `len` invalidates it, and so does replacing
//! `builtins.len`.

use depwatch::UnitId;
use depwatch::adapters::{DictEvent, Values};

use super::{Jit, Outcome, invalidate, key};

const GLOBALS: u64 = 0x7f00_2000;
const BUILTINS: u64 = 0x7f00_3000;

fn compile(jit: &mut Jit, name: &'static str) -> UnitId {
    let dicts = &mut jit.dicts;
    jit.graph
        .register_with(
            |g| {
                [
                    dicts.key(g, GLOBALS, key("len")).named("len"),
                    dicts.key(g, BUILTINS, key("len")).named("len"),
                ]
            },
            name,
        )
        .unwrap()
}

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let mut log = Vec::new();
    let first = compile(&mut jit, "uses builtin len");
    println!("   compiled: len resolved to builtins.len, because globals has no `len`");
    println!("   module does: len = my_len");
    jit.dicts
        .on_event(
            &mut jit.graph,
            GLOBALS,
            DictEvent::Added { key: key("len") },
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert!(!jit.graph.is_valid(first));

    // The global goes away again, and the JIT recompiles against builtins.
    jit.dicts
        .on_event(
            &mut jit.graph,
            GLOBALS,
            DictEvent::Deleted { key: key("len") },
            &mut invalidate(&mut log),
        )
        .unwrap();
    let second = compile(&mut jit, "uses builtin len'");
    println!("   builtins.len = other_len");
    let replace = DictEvent::Modified {
        key: key("len"),
        values: Values::new(0xb1, 0xb2),
    };
    jit.dicts
        .on_event(&mut jit.graph, BUILTINS, replace, &mut invalidate(&mut log))
        .unwrap();
    assert!(!jit.graph.is_valid(second));
    // Other builtins changing leaves a fresh unit alone.
    let third = compile(&mut jit, "uses builtin len''");
    jit.dicts
        .on_event(
            &mut jit.graph,
            BUILTINS,
            DictEvent::Added { key: key("print") },
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert!(jit.graph.is_valid(third));
    assert_eq!(log, ["uses builtin len", "uses builtin len'"]);
    jit.outcome("builtins_shadowing")
}
