//! Runs one scenario: `cargo run --example code_swap_inlining`. See `scenarios/code_swap_inlining.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::code_swap_inlining::run();
    scenarios::print_outcome(&outcome);
}
