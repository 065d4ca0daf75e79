//! Rust-side FFI tests (run under Miri too).
