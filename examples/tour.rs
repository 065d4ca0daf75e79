//! The tour of invalidation scenarios: every scenario in order, each with a heading,
//! then a summary table. Each scenario asserts what it prints.
//!
//! Run with `cargo run --release --example tour`.

#[allow(dead_code)] // the single-scenario helpers, used by examples/<scenario>.rs
mod scenarios;

fn main() {
    println!("depwatch tour: what a JIT's compiled code depends on, and what kills it\n");
    let mut rows = Vec::new();
    for (i, (name, what, run)) in scenarios::all().into_iter().enumerate() {
        println!("== {}. {name}: {what}", i + 1);
        rows.push(run());
        println!();
    }
    println!("== summary");
    println!(
        "{:<22} {:>7} {:>6} {:>12} {:>8} {:>6}",
        "scenario", "events", "fired", "invalidated", "patched", "quiet"
    );
    for r in &rows {
        println!(
            "{:<22} {:>7} {:>6} {:>12} {:>8} {:>6}",
            r.name, r.events, r.fired, r.invalidated, r.patched, r.quiet
        );
    }
    for line in scenarios::LEGEND {
        println!("  {line}");
    }
    println!("\nall {} scenarios passed their assertions", rows.len());
    println!(
        "next: the mini VM, `cargo run --release --example minivm -- examples/minivm/programs/mutations.mini`"
    );
}
