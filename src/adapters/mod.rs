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
