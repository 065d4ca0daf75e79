//! Runs every scenario of `examples/` under `cargo test`, so CI checks their assertions.

#[path = "../examples/scenarios/mod.rs"]
#[allow(dead_code)]
mod scenarios;

#[test]
fn every_scenario_passes_its_assertions() {
    for (name, _, run) in scenarios::all() {
        let outcome = run();
        assert_eq!(outcome.name, name);
        assert!(outcome.events > 0, "{name} raised no events");
    }
}

#[test]
fn storm_bound_does_not_grow_with_the_loop() {
    let mut a = scenarios::Jit::new();
    let mut b = scenarios::Jit::new();
    let (small, _, _) = scenarios::storm::hot_loop(&mut a, 100);
    let (large, _, _) = scenarios::storm::hot_loop(&mut b, 20_000);
    assert_eq!(small, large);
}

#[path = "../examples/minivm/mod.rs"]
#[allow(dead_code)]
mod minivm;

use minivm::vm::{Options, Summary, run};

fn programs() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/minivm/programs");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("programs directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "mini"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Every shipped program prints the same with the specializing tier on and off, at
/// several hotness thresholds.
#[test]
fn minivm_differential_specializer_on_and_off() {
    let programs = programs();
    assert!(programs.len() >= 5, "programs found: {}", programs.len());
    for (name, src) in &programs {
        let off = run(
            src,
            Options {
                jit: false,
                threshold: 3,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!off.output.is_empty(), "{name} printed nothing");
        assert_eq!(off.summary, Summary::default());
        for threshold in [1, 2, 3, 7] {
            let on = run(
                src,
                Options {
                    jit: true,
                    threshold,
                },
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(on.output, off.output, "{name} at threshold {threshold}");
            assert!(
                on.summary.jit.compiled > 0,
                "{name}: nothing compiled at threshold {threshold}"
            );
        }
    }
}

/// The shipped programs exercise what they claim to.
#[test]
fn minivm_programs_exercise_invalidation_patching_and_deopt() {
    let summary = |file: &str| {
        let (_, src) = programs().into_iter().find(|(n, _)| n == file).unwrap();
        run(&src, Options::default()).unwrap().summary
    };
    let m = summary("mutations.mini");
    assert!(
        m.jit.invalidated >= 3 && m.jit.patched >= 1 && m.jit.inlined >= 1,
        "{m:?}"
    );
    let c = summary("classes.mini");
    assert!(c.jit.deopts >= 1 && c.jit.invalidated >= 2, "{c:?}");
    let g = summary("globals.mini");
    assert!(g.jit.patched >= 2 && g.quiet > 0, "{g:?}");
    let k = summary("counter.mini");
    assert!(
        k.jit.patched >= 1 && k.quiet >= 500,
        "later counter writes are quiet: {k:?}"
    );
}

/// Bad programs give errors, never panics.
#[test]
fn minivm_rejects_bad_programs_cleanly() {
    for bad in [
        "def",
        "x = ",
        "class C(:\nend",
        "while 1:\n",
        "print(undefined_name)",
        "1 / 0",
        "del nope",
        "f = 1\nf()",
        "(",
        "\"open",
    ] {
        assert!(run(bad, Options::default()).is_err(), "{bad:?} should fail");
    }
}

mod fuzz {
    use super::minivm::vm::{Options, run};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Arbitrary token soup never panics the parser, compiler or VM.
        #[test]
        fn no_panics(src in prop::collection::vec(
            prop_oneof![
                Just("def f(a, b=1):\n"), Just("end\n"), Just("x = "), Just("f(1)"), Just("\n"),
                Just("class C:\n"), Just("C.x = 2\n"), Just("while x < 3:\n"), Just("x = x + 1\n"),
                Just("return x\n"), Just("if x:\n"), Just("else:\n"), Just("("), Just(")"), Just("1"),
                Just("print(x)\n"), Just("del x\n"), Just("f.__code__ = f.__code__\n"), Just("global x\n"),
            ],
            0..30,
        )) {
            let src: String = src.concat();
            let _ = run(&src, Options { jit: true, threshold: 1 });
        }
    }
}

#[test]
fn counts_read_as_words() {
    use scenarios::plural;
    assert_eq!(plural(0u64, "unit"), "0 units");
    assert_eq!(plural(1u64, "unit"), "1 unit");
    assert_eq!(plural(2u64, "invalidation"), "2 invalidations");
    assert_eq!(plural(1u64, "time"), "1 time");
    let one = scenarios::Outcome {
        name: "demo",
        events: 1,
        fired: 1,
        invalidated: 1,
        patched: 0,
        quiet: 0,
    };
    assert_eq!(
        one.describe(),
        "demo: 1 event (0 quiet); 1 unit fired: 1 invalidated, 0 patched"
    );
    let many = scenarios::Outcome {
        events: 3,
        fired: 0,
        quiet: 3,
        invalidated: 0,
        ..one
    };
    assert_eq!(
        many.describe(),
        "demo: 3 events (3 quiet); 0 units fired: 0 invalidated, 0 patched"
    );
    // The legend says which columns count units and which count events.
    let legend = scenarios::LEGEND.join("\n");
    assert!(legend.contains("events: object changes") && legend.contains("fired: units"));
}

#[test]
fn ids_are_explained_as_a_slot_and_its_generation() {
    use depwatch::{Graph, Kind};
    let mut g: Graph<()> = Graph::new();
    let old = g.track(Kind::Dict, 0x10);
    g.destroy(old, &mut |_, _| depwatch::Verdict::Invalidate)
        .unwrap();
    let new = g.track(Kind::Dict, 0x10);
    let (a, b) = (scenarios::describe_id(old), scenarios::describe_id(new));
    assert!(a.starts_with("slot ") && a.contains(", generation "), "{a}");
    assert_ne!(a, b, "a reused slot shows a new generation");
    assert_eq!(a.split(',').next(), b.split(',').next(), "the same slot");
}
