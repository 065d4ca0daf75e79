//! Runs one scenario: `cargo run --example object_death`. See `scenarios/object_death.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::object_death::run();
    scenarios::print_outcome(&outcome);
}
