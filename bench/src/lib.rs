//! **depwatch-bench** measures depwatch against the systems it replaces. It is not
//! part of what a VM embeds: the `depwatch` library crate has none of this.
//!
//! * [`trace`]: a streaming reader for `depwatch-trace v1`, the event traces recorded
//!   from real CPython 3.13 programs.
//! * [`engines`]: depwatch and the systems it is compared with, behind one
//!   [`Engine`](engines::Engine) trait.
//! * [`driver`]: replay, the correctness gate, and timing.
//! * [`workloads`]: the synthetic workloads the benchmarks run on every engine.
//!
//! The `depwatch` command (`replay`, `bench`) and the criterion benches `engines` and
//! `cold_event` are built on these modules.
//!
//! ```
//! use depwatch_bench::{driver, trace::Trace};
//! let text = "# depwatch-trace v1 demo\nO 1 dict\nU 1 1:len\nM 1 other dict.ADDED\nM 1 len dict.ADDED\n";
//! let trace = Trace::read(text.as_bytes()).unwrap();
//! let (replay, agreement) = driver::check("depwatch", &trace).unwrap();
//! assert_eq!(replay.invalidations(), 1);
//! assert_eq!((agreement.missed, agreement.spurious), (0, 0));
//! // The bloom scan ignores keys: the write to `other` already kills the unit. That
//! // early kill is spurious; the required invalidation is met (early), not missed.
//! let (_, agreement) = driver::check("bloom-scan", &trace).unwrap();
//! assert_eq!((agreement.missed, agreement.spurious), (0, 1));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod driver;
pub mod engines;
pub mod trace;
pub mod workloads;
