//! Runs one scenario: `cargo run --example defaults_change`. See `scenarios/defaults_change.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::defaults_change::run();
    scenarios::print_outcome(&outcome);
}
