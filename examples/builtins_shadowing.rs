//! Runs one scenario: `cargo run --example builtins_shadowing`. See `scenarios/builtins_shadowing.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::builtins_shadowing::run();
    scenarios::print_outcome(&outcome);
}
