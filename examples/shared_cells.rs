//! Runs one scenario: `cargo run --example shared_cells`. See `scenarios/shared_cells.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::shared_cells::run();
    scenarios::print_outcome(&outcome);
}
