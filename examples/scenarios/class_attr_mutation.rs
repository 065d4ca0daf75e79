//! Method caches on class C and on subclass D(C). Assigning `C.method` fires both;
//! assigning an unrelated attribute fires neither (attribute-level precision); a type
//! event with no attribute name (what CPython itself reports) fires all of them.

use depwatch::{UnitId, Verdict};

use super::{Jit, Outcome, answer, invalidate, key};

const C: u64 = 0xc1a55;
const D: u64 = 0xd1a55;

/// The first three caches: `method` looked up on C and on D, `other` on D.
fn caches(jit: &mut Jit) -> [UnitId; 3] {
    let types = &mut jit.types;
    [
        jit.graph
            .register_with(
                |g| [types.attr(g, C, key("method")).named("method")],
                "C.method cache",
            )
            .unwrap(),
        jit.graph
            .register_with(
                |g| [types.attr(g, D, key("method")).named("method")],
                "D.method cache",
            )
            .unwrap(),
        jit.graph
            .register_with(
                |g| [types.attr(g, D, key("other")).named("other")],
                "D.other cache",
            )
            .unwrap(),
    ]
}

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    jit.types.set_bases(D, &[C]);
    let [c_method, d_method, d_other] = caches(&mut jit);
    let mut log = Vec::new();

    println!("   C.unrelated = 1");
    jit.types
        .on_modified(
            &mut jit.graph,
            C,
            Some(key("unrelated")),
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert!(log.is_empty());

    println!("   C.method = new_method");
    jit.types
        .on_modified(
            &mut jit.graph,
            C,
            Some(key("method")),
            &mut invalidate(&mut log),
        )
        .unwrap();
    log.sort();
    assert_eq!(log, ["C.method cache", "D.method cache"]);
    assert!(
        !jit.graph.is_valid(c_method)
            && !jit.graph.is_valid(d_method)
            && jit.graph.is_valid(d_other)
    );

    println!("   (the JIT recompiles both method caches)");
    let types = &mut jit.types;
    jit.graph
        .register_with(|g| [types.attr(g, C, key("method"))], "C.method cache'")
        .unwrap();
    jit.graph
        .register_with(|g| [types.attr(g, D, key("method"))], "D.method cache'")
        .unwrap();
    println!("   C modified, attribute unknown (CPython's type watcher gives no name)");
    log.clear();
    jit.types
        .on_modified(
            &mut jit.graph,
            C,
            None,
            &mut answer(&mut log, Verdict::Invalidate),
        )
        .unwrap();
    log.sort();
    assert_eq!(log, ["C.method cache'", "D.method cache'", "D.other cache"]);
    assert!(!jit.graph.is_valid(d_other));
    jit.outcome("class_attr_mutation")
}
