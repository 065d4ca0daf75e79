//! Watcher adapters: CPython-shaped events in, graph events out.
//!
//! A VM calls one adapter per object kind from its own watcher callbacks. Each adapter
//! maps the VM's handle for an object (an opaque `u64`, such as its address) to the
//! graph's [`ObjectId`](crate::ObjectId), and turns each event into graph events with
//! the right [`Aspect`](crate::Aspect):
//!
//! | CPython event | adapter call | graph event |
//! |---|---|---|
//! | `PyDict_EVENT_ADDED`, `MODIFIED`, `DELETED` (key) | [`DictAdapter::on_event`] | `notify(dict, Key(hash))` |
//! | `PyDict_EVENT_MODIFIED` storing the same object again | same, with [`Values`] | none: re-armed and counted |
//! | `PyDict_EVENT_CLONED`, `CLEARED` | same | `notify(dict, Whole)` |
//! | `PyDict_EVENT_DEALLOCATED` | same | `destroy(dict)`, handle retired |
//! | `PyFunction_EVENT_CREATE` | [`FunctionAdapter::on_event`] | tracked only if configured |
//! | `PyFunction_EVENT_DESTROY` | same | `destroy(func)`, handle retired |
//! | `PyFunction_EVENT_MODIFY_CODE`, `_DEFAULTS`, `_KWDEFAULTS` | same | `notify(func, Attr(..))` |
//! | `PY_CODE_EVENT_CREATE`, `DESTROY` | [`CodeAdapter::on_event`] | tracked if configured / `destroy(code)` |
//! | (`sys.monitoring` instrumentation) | same, `Instrumented` | `notify(code, Attr(Instrumentation))` |
//! | type watcher (`PyType_Watch`) | [`TypeAdapter::on_modified`] | `notify(T, Whole or Key(attr))` for T and every tracked subclass, in one batch |
//! | type deallocation | [`TypeAdapter::on_deallocated`] | `destroy(type)`, handle retired |
//!
//! An event for a handle the adapter does not track is a cheap no-op, counted in
//! [`AdapterStats::untracked`]. An event for a tracked dict key nobody depends on is
//! rejected by the graph's key prefilter.
//!
//! [`WatchRequests`] turns the graph's first/last-dependent hook into the calls the VM
//! makes on its own objects: `PyDict_Watch`/`PyDict_Unwatch`,
//! `PyType_Watch`/`PyType_Unwatch`, and, for types, the re-arm `PyType_Watch` that
//! CPython's once-per-version-tag type events need.

//! # Wiring a VM's four watcher callbacks
//!
//! The VM owns one graph and one adapter per kind. Each of its watcher callbacks
//! converts CPython's arguments (event number, object, key, new value) into handles and
//! hashes and calls the adapter, then applies the queued watch requests:
//!
//! ```
//! use depwatch::adapters::*;
//! use depwatch::{Attr, Fire, Graph, Verdict};
//!
//! /// What a JIT keeps per compiled unit; here, a name.
//! type Compiled = &'static str;
//!
//! struct Jit {
//!     graph: Graph<Compiled>,
//!     dicts: DictAdapter,
//!     funcs: FunctionAdapter,
//!     codes: CodeAdapter,
//!     types: TypeAdapter,
//!     requests: WatchRequests,
//!     deopted: Vec<Compiled>,
//! }
//!
//! impl Jit {
//!     fn new() -> Self {
//!         let mut graph = Graph::new();
//!         let requests = WatchRequests::install(&mut graph);
//!         let types = TypeAdapter::with_requests(requests.clone());
//!         Self { graph, dicts: DictAdapter::new(), funcs: FunctionAdapter::new(),
//!                codes: CodeAdapter::new(), types, requests, deopted: Vec::new() }
//!     }
//!
//!     // PyDict_AddWatcher callback: (event, dict, key, new_value). The key's hash is
//!     // the VM's (for str keys, the cached str hash); the old value is read from the
//!     // dict, since the callback runs before the store.
//!     fn dict_watcher(&mut self, event: i32, dict: u64, key: Option<u64>, values: Values) {
//!         let Some(event) = DictEvent::from_cpython(event, key, values) else { return };
//!         let deopted = &mut self.deopted;
//!         let _ = self.dicts.on_event(&mut self.graph, dict, event, &mut deopt(deopted));
//!         self.apply_watch_requests();
//!     }
//!
//!     // PyFunction_AddWatcher callback: (event, func, new_value).
//!     fn func_watcher(&mut self, event: i32, func: u64, values: Values) {
//!         let Some(event) = FunctionEvent::from_cpython(event, values) else { return };
//!         let deopted = &mut self.deopted;
//!         let _ = self.funcs.on_event(&mut self.graph, func, event, &mut deopt(deopted));
//!     }
//!
//!     // PyCode_AddWatcher callback: (event, code).
//!     fn code_watcher(&mut self, event: i32, code: u64) {
//!         let Some(event) = CodeEvent::from_cpython(event) else { return };
//!         let deopted = &mut self.deopted;
//!         let _ = self.codes.on_event(&mut self.graph, code, event, &mut deopt(deopted));
//!     }
//!
//!     // PyType_AddWatcher callback: (type). CPython gives no attribute name.
//!     fn type_watcher(&mut self, ty: u64) {
//!         let deopted = &mut self.deopted;
//!         let _ = self.types.on_modified(&mut self.graph, ty, None, &mut deopt(deopted));
//!         self.apply_watch_requests();
//!     }
//!
//!     fn apply_watch_requests(&mut self) {
//!         for r in self.requests.drain_live(&self.graph) {
//!             // Watch / Rearm: PyDict_Watch or PyType_Watch; Unwatch: the Unwatch twin.
//!             let _ = (r.kind, r.handle, r.action);
//!         }
//!     }
//! }
//!
//! fn deopt(log: &mut Vec<Compiled>) -> impl FnMut(&mut Graph<Compiled>, Fire<'_, Compiled>) -> Verdict + '_ {
//!     move |_, fire| { log.push(*fire.payload); Verdict::Invalidate }
//! }
//!
//! let mut jit = Jit::new();
//! let (globals, f, len) = (0x1000, 0x2000, 0x6c656e);
//! let (dicts, funcs) = (&mut jit.dicts, &mut jit.funcs);
//! jit.graph
//!     .register_with(|g| [dicts.key(g, globals, len), funcs.attr(g, f, Attr::Code)], "g")
//!     .unwrap();
//! jit.func_watcher(2, f, Values::new(0xc0de, 0xc0de2)); // f.__code__ = other code
//! assert_eq!(jit.deopted, ["g"]);
//! ```

mod code;
mod dict;
mod function;
mod handles;
mod types;
mod watch;

pub use code::{CodeAdapter, CodeEvent};
pub use dict::{DictAdapter, DictEvent};
pub use function::{FunctionAdapter, FunctionEvent};
pub use handles::{AdapterStats, Handle, Values};
pub use types::TypeAdapter;
pub use watch::{WatchAction, WatchRequest, WatchRequests};
