//! A compile ticket is taken, and a dependency is mutated during "compilation".
//! Registration is rejected, and the JIT recompiles.

use depwatch::Error;
use depwatch::adapters::{DictEvent, Values};

use super::{Jit, Outcome, invalidate, key};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let globals = 0x7f00_7000;
    let globals_id = jit.dicts.track(&mut jit.graph, globals);
    let mut log = Vec::new();
    let mut attempts = 0;
    let unit = loop {
        attempts += 1;
        let ticket = jit.graph.ticket();
        println!("   attempt {attempts}: ticket taken, compiler reads globals['x']");
        if attempts == 1 {
            // Another thread (or a finalizer run by the compiler's allocation) writes x.
            println!("   ... meanwhile: x = 2");
            let ev = DictEvent::Modified {
                key: key("x"),
                values: Values::new(1, 2),
            };
            jit.dicts
                .on_event(&mut jit.graph, globals, ev, &mut invalidate(&mut log))
                .unwrap();
        }
        let deps = [jit.dicts.key(&mut jit.graph, globals, key("x")).named("x")];
        match jit
            .graph
            .register_with_ticket(&ticket, deps, "f (x folded)")
        {
            Ok(unit) => break unit,
            Err(rejected) => {
                assert_eq!(rejected.error, Error::StaleTicket { object: globals_id });
                println!(
                    "   refused: globals changed after the compile ticket was taken; the code may have read a stale x"
                );
            }
        }
    };
    println!("   attempt {attempts}: registered");
    assert_eq!(attempts, 2);
    assert!(jit.graph.is_valid(unit));
    jit.outcome("compile_race")
}
