//! Runs one scenario: `cargo run --example global_rebind`. See `scenarios/global_rebind.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::global_rebind::run();
    scenarios::print_outcome(&outcome);
}
