//! A mini VM: a bytecode interpreter for a tiny Python-like language, with a
//! specializing tier whose assumptions are tracked by depwatch.

pub mod code;
pub mod jit;
pub mod parse;
pub mod vm;
