//! The seeds' own example: `f` is inlined into `g`. Then `f.__code__ = h.__code__`:
//! `g` is invalidated, `f`'s own compiled entry is reset, and unrelated units survive.

use depwatch::Attr;
use depwatch::adapters::{CodeEvent, FunctionEvent, Values};

use super::{Jit, Outcome, invalidate};

pub fn run() -> Outcome {
    let mut jit = Jit::new();
    let (f, h, f_code, h_code) = (0xf, 0x4, 0xc0f, 0xc04);
    let (funcs, codes) = (&mut jit.funcs, &mut jit.codes);
    // g inlined f's body: it relies on f.__code__ being f_code.
    let g = jit
        .graph
        .register_with(
            |gr| [funcs.attr(gr, f, Attr::Code), codes.whole(gr, f_code)],
            "g (inlined f)",
        )
        .unwrap();
    // f's own compiled entry.
    let f_entry = jit
        .graph
        .register_with(
            |gr| [funcs.attr(gr, f, Attr::Code), codes.whole(gr, f_code)],
            "f (compiled entry)",
        )
        .unwrap();
    // Unrelated: h's compiled entry, and a unit on f's defaults.
    let h_entry = jit
        .graph
        .register_with(
            |gr| [funcs.attr(gr, h, Attr::Code), codes.whole(gr, h_code)],
            "h (compiled entry)",
        )
        .unwrap();
    let on_defaults = jit
        .graph
        .register_with(
            |gr| [funcs.attr(gr, f, Attr::Defaults)],
            "k (uses f's defaults)",
        )
        .unwrap();

    println!("   f.__code__ = h.__code__");
    let mut log = Vec::new();
    let swap = FunctionEvent::ModifyCode(Values::new(f_code, h_code));
    jit.funcs
        .on_event(&mut jit.graph, f, swap, &mut invalidate(&mut log))
        .unwrap();
    log.sort();
    assert_eq!(log, ["f (compiled entry)", "g (inlined f)"]);
    assert!(!jit.graph.is_valid(g) && !jit.graph.is_valid(f_entry));
    assert!(jit.graph.is_valid(h_entry) && jit.graph.is_valid(on_defaults));
    println!("   f now runs in the interpreter until it is hot again; h and k are untouched");

    // f's old code object dies later: nothing is left depending on it.
    let r = jit
        .codes
        .on_event(
            &mut jit.graph,
            f_code,
            CodeEvent::Destroy,
            &mut invalidate(&mut log),
        )
        .unwrap();
    assert_eq!(r.fired, 0);
    jit.outcome("code_swap_inlining")
}
