//! Runs one scenario: `cargo run --example batch_import`. See `scenarios/batch_import.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::batch_import::run();
    scenarios::print_outcome(&outcome);
}
