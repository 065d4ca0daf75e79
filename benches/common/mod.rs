//! Shared by the benches.

/// A deterministic xorshift stream, so every run and every engine sees the same inputs.
pub fn stream(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
