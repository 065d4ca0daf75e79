//! A global counter is incremented in a hot loop. After the storm threshold the key is
//! unstable and the JIT stops depending on it, so the invalidation count stays bounded
//! instead of growing with the loop.

use depwatch::Error;
use depwatch::adapters::{DictEvent, Values};

use super::{Jit, Outcome, key, plural};

/// Runs the loop `iterations` times; returns (invalidations, compiles with the counter
/// folded, compiles without).
pub fn hot_loop(jit: &mut Jit, iterations: u64) -> (usize, usize, usize) {
    let globals = 0x7f00_8000;
    let (mut invalidations, mut folded, mut generic) = (0, 0, 0);
    let mut compiled = None;
    for i in 0..iterations {
        if compiled.is_none_or(|u| !jit.graph.is_valid(u)) {
            let dicts = &mut jit.dicts;
            match jit.graph.register_with(
                |g| [dicts.key(g, globals, key("counter")).named("counter")],
                "loop body",
            ) {
                Ok(u) => {
                    folded += 1;
                    compiled = Some(u);
                }
                Err(r) => {
                    assert!(matches!(r.error, Error::Unstable { .. }));
                    // Compile without the assumption: load `counter` generically.
                    generic += 1;
                    let dicts = &mut jit.dicts;
                    compiled = Some(
                        jit.graph
                            .register_with(
                                |g| [dicts.key(g, globals, key("other"))],
                                "loop body (generic)",
                            )
                            .unwrap(),
                    );
                }
            }
        }
        let ev = DictEvent::Modified {
            key: key("counter"),
            values: Values::new(i, i + 1),
        };
        let r = jit
            .dicts
            .on_event(&mut jit.graph, globals, ev, &mut |_, _| {
                depwatch::Verdict::Invalidate
            })
            .unwrap();
        invalidations += r.invalidated;
    }
    (invalidations, folded, generic)
}

pub fn run() -> Outcome {
    let mut small = Jit::new();
    let mut jit = Jit::new();
    let (inv_small, _, _) = hot_loop(&mut small, 1_000);
    let (inv, folded, generic) = hot_loop(&mut jit, 10_000);
    let threshold = jit.graph.config().storm_threshold as usize;
    println!(
        "   1,000 iterations: {}; 10,000 iterations: {}",
        plural(inv_small as u64, "invalidation"),
        plural(inv as u64, "invalidation")
    );
    println!(
        "   compiled {} with `counter` folded, then {} without it",
        plural(folded as u64, "time"),
        plural(generic as u64, "time")
    );
    assert_eq!(inv_small, threshold);
    assert_eq!(inv, threshold);
    assert_eq!((folded, generic), (threshold, 1));
    jit.outcome("storm")
}
