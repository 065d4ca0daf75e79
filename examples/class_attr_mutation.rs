//! Runs one scenario: `cargo run --example class_attr_mutation`. See `scenarios/class_attr_mutation.rs`.

#[allow(dead_code)]
mod scenarios;

fn main() {
    let outcome = scenarios::class_attr_mutation::run();
    scenarios::print_outcome(&outcome);
}
