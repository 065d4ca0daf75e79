//! Runs one scenario: `cargo run --example compile_race`. See `scenarios/compile_race.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::compile_race::run();
    scenarios::print_outcome(&outcome);
}
