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
