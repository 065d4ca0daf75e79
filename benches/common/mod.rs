//! What the graph's own benches share.

/// A deterministic xorshift stream, so every run sees the same inputs (the same
/// generator as `depwatch_bench::workloads::stream`, which the core's benches do not
/// depend on).
pub fn stream(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
