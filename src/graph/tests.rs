//! Unit tests of the graph's private structure.

use super::*;

#[test]
fn a_cell_is_one_cache_line() {
    assert_eq!(std::mem::size_of::<Option<Cell>>(), 64);
    assert_eq!(std::mem::align_of::<Option<Cell>>(), 64);
}

#[test]
fn recycled_hit_buffers_keep_their_allocation() {
    let cause = Cause {
        object: ObjectId::default(),
        kind: Kind::Dict,
        aspect: Aspect::Whole,
        label: "m",
        name: None,
        version: 1,
        epoch: 1,
        destroyed: false,
    };
    let mut hits = Vec::with_capacity(16);
    hits.push(Hit {
        dependency: Dependency {
            object: ObjectId::default(),
            aspect: Aspect::Whole,
            site: 0,
        },
        cause: &cause,
    });
    let ptr = hits.as_ptr() as usize;
    let kept: Vec<Hit<'static>> = recycle(hits);
    assert!(kept.is_empty());
    assert_eq!(kept.capacity(), 16);
    assert_eq!(kept.as_ptr() as usize, ptr, "same allocation");
}

#[test]
fn names_go_with_their_cells() {
    let mut g: Graph<()> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let u = g.register([Dep::key(d, 7).named("len")], ()).unwrap();
    assert_eq!(g.names.len(), 1);
    g.unregister(u).unwrap();
    g.destroy(d, &mut |_, _| Verdict::Invalidate).unwrap();
    assert!(g.names.is_empty(), "a freed cell leaves no name behind");
}

#[test]
fn a_wave_moves_without_a_memcpy_call() {
    // LLVM inlines moves up to 128 bytes on x86-64; a wave is moved in and out of the
    // queue on every event (design/DECISIONS.md §8).
    assert!(
        std::mem::size_of::<Wave>() <= 128,
        "{}",
        std::mem::size_of::<Wave>()
    );
}
