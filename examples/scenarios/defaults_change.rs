//! A unit specialized on `f.__defaults__` is invalidated by MODIFY_DEFAULTS and not by
//! MODIFY_KWDEFAULTS.

use depwatch::Attr;
use depwatch::adapters::{FunctionEvent, Values};

use super::{Jit, Outcome, invalidate};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let f = 0xf;
    let funcs = &mut jit.funcs;
    let unit = jit
        .graph
        .register_with(
            |g| [funcs.attr(g, f, Attr::Defaults)],
            "call f(1) with b=2 folded",
        )
        .unwrap();
    let mut log = Vec::new();
    println!("   f.__kwdefaults__ = {{'c': 3}}");
    let kw = FunctionEvent::ModifyKwDefaults(Values::new(0x10, 0x11));
    jit.funcs
        .on_event(&mut jit.graph, f, kw, &mut invalidate(&mut log))
        .unwrap();
    assert!(log.is_empty() && jit.graph.is_valid(unit));
    println!("   still valid");
    println!("   f.__defaults__ = (5,)");
    let d = FunctionEvent::ModifyDefaults(Values::new(0x20, 0x21));
    jit.funcs
        .on_event(&mut jit.graph, f, d, &mut invalidate(&mut log))
        .unwrap();
    assert_eq!(log, ["call f(1) with b=2 folded"]);
    assert!(!jit.graph.is_valid(unit));
    jit.outcome("defaults_change")
}
