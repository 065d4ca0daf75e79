//! Runs one scenario: `cargo run --example storm`. See `scenarios/storm.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::storm::run();
    scenarios::print_outcome(&outcome);
}
