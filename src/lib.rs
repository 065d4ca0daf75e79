//! **depwatch** tells a language VM or JIT which optimized code has become wrong.
//!
//! A JIT compiles code that assumes things: this global is still `len`, this class
//! attribute is still that function, this function's `__code__` has not changed.
//! depwatch keeps one dependency graph for all of those assumptions, and when an object
//! changes it tells the VM exactly which compiled units relied on it, at which sites,
//! and why.
//!
//! # The model, in one page
//!
//! * **Objects.** The VM calls [`Graph::track`] for each object it wants to depend on and
//!   gets an [`ObjectId`]: a generational ID that is never reused, so a dead object's ID
//!   can never alias a new object at the same address. The object's [`Kind`] (dict,
//!   function, code, type or a custom kind) is kept for reasons.
//! * **Aspects.** A dependency is on the whole object, on one key ([`Aspect::Key`], the
//!   VM's 64-bit hash of a dict key or attribute name), or on one fixed attribute
//!   ([`Aspect::Attr`], such as a function's `__code__`). An event on a key hits that
//!   key's dependents and the whole object's; a whole-object event hits everything;
//!   an event on one key never hits another key's dependents.
//! * **Units.** [`Graph::register`] takes a payload (say, a pointer to compiled code) and
//!   its dependencies, each an (object, aspect, site) triple built with [`Dep`]. The
//!   site is a `u32` only the VM interprets, for example a patch point. Registering and
//!   unregistering cost O(dependencies). A VM that compiles many units against the
//!   same keys can resolve each (object, aspect) to a [`CellHandle`] once and register
//!   with [`Graph::register_cells`], which skips the key lookup per edge.
//! * **Events.** [`Graph::notify`] records that (object, aspect) changed and calls the
//!   VM's handler once for each live unit that depended on it when the event was
//!   recorded, and for no other unit.
//!   The [`Fire`] lists each hit (dependency edge, [`Cause`]). The handler answers with
//!   a [`Verdict`]: `Invalidate` (the unit dies), `Patched` (the VM patched those sites
//!   to deopt; only the hit edges go) or `Rearmed` (the fact still holds; nothing goes).
//!   [`Graph::destroy`] is the terminal event: every dependent is invalidated and the ID
//!   is retired.
//! * **Batches.** Between [`Graph::begin_batch`] and [`Graph::end_batch`], events are
//!   recorded but fires are held; each hit unit then fires once with all its causes. A
//!   unit registered while the batch is open was compiled after the events so far, and
//!   fires only for the batch's later events.
//! * **Reentrancy.** The handler gets `&mut Graph`: it may register, unregister, notify,
//!   destroy or batch. Events raised inside a handler are queued and delivered after
//!   the current fire, by the same outer delivery.
//! * **Versions, tickets and storms.** Every event bumps the object's
//!   [`version`](Graph::version). A compiler takes a [`Ticket`] before reading what it
//!   will depend on, and [`Graph::register_with_ticket`] refuses the unit if any of
//!   those objects changed meanwhile. Objects and keys that keep invalidating code are
//!   marked unstable ([`Config::storm_threshold`]), and new dependencies on them are
//!   refused, so a hot global stops costing recompiles. With
//!   [`StormCount::Every`] every write counts, so a global written in a loop is
//!   refused before anything is compiled against it.
//! * **Watch hooks.** [`Graph::set_watch_hook`] tells the VM when an object gains its
//!   first dependent and loses its last, so it can keep a one-bit "watched" flag in its
//!   own object header and pay nothing for objects nobody depends on. A destroyed
//!   object is never reported unwatched, and
//!   [`WatchRequests::drain_live`](adapters::WatchRequests::drain_live) drops queued
//!   requests for objects that died before the VM got to them.
//!
//! # Example
//!
//! ```
//! use depwatch::{Aspect, Dep, Graph, Kind, Verdict};
//!
//! // The VM's payload: here, just a name for the compiled code.
//! let mut graph: Graph<&str> = Graph::new();
//! let globals = graph.track(Kind::Dict, 0x1000);
//! let builtins = graph.track(Kind::Dict, 0x2000);
//! let (len, print) = (0x6c656e_u64, 0x7072696e74_u64); // the VM's key hashes
//!
//! // `f` calls the builtin `len`: it depends on `len` being absent from globals (site 0)
//! // and on builtins["len"] (site 1). `g` calls `print`.
//! let f = graph
//!     .register([Dep::key(globals, len).named("len"), Dep::key(builtins, len).at(1)], "f")
//!     .unwrap();
//! let g = graph.register([Dep::key(builtins, print)], "g").unwrap();
//!
//! // The program defines a global `len`, shadowing the builtin.
//! let mut fired = Vec::new();
//! let report = graph
//!     .notify(globals, Aspect::Key(len), "dict.ADDED", &mut |_graph, fire| {
//!         fired.push((*fire.payload, fire.sites(), fire.hits[0].cause.label));
//!         Verdict::Invalidate
//!     })
//!     .unwrap();
//!
//! assert_eq!(fired, [("f", vec![0], "dict.ADDED")]);
//! assert_eq!(report.invalidated, 1);
//! assert!(!graph.is_valid(f)); // exactly the dependent died
//! assert!(graph.is_valid(g)); // and nothing else
//! assert_eq!(graph.version(globals).unwrap(), 1);
//! ```
//!
//! The design and its invariants are in [ARCHITECTURE.md], the measured choices behind
//! it in [DECISIONS.md], and the numbers in [PERFORMANCE.md], in the repository's
//! `design/` folder.
//!
//! [ARCHITECTURE.md]: https://github.com/depwatch/depwatch/blob/main/design/ARCHITECTURE.md
//! [DECISIONS.md]: https://github.com/depwatch/depwatch/blob/main/design/DECISIONS.md
//! [PERFORMANCE.md]: https://github.com/depwatch/depwatch/blob/main/design/PERFORMANCE.md

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod adapters;
mod aspect;
mod error;
mod fire;
mod graph;
mod id;
pub mod prefilter;
mod stats;
pub mod unit_set;

pub use aspect::{Aspect, Attr, Dep, Dependency, Kind, Site};
pub use error::{Error, Rejected};
pub use fire::{Cause, Fire, Hit, Report, Verdict};
pub use graph::{CellHandle, Config, Graph, StormCount, Ticket, WatchChange};
pub use id::{DEFAULT_MAX_SLOT_REUSE, ObjectId, UnitId};
pub use stats::Stats;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
