//! Runs one scenario: `cargo run --example patch_vs_discard`. See `scenarios/patch_vs_discard.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::patch_vs_discard::run();
    scenarios::print_outcome(&outcome);
}
