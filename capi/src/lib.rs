//! The C ABI of depwatch: `depwatch.h`, `libdepwatch.a` and `libdepwatch.so`.
//!
//! Every item here is `dw_`-prefixed and `#[repr(C)]` or a C integer type; the header
//! `capi/include/depwatch.h` is generated from this crate by cbindgen
//! (`capi/header.sh`) and checked in. The header's comments are these doc comments;
//! read them there or here.
//!
//! # Conventions
//!
//! * **Handles.** A graph is an opaque `dw_graph *`. Objects, units, cell handles and
//!   tickets are 64-bit words passed by value (`dw_object`, `dw_unit`, `dw_cell`,
//!   `dw_ticket`). They are scrambled with a per-graph key, so an ID from another graph
//!   (or an object ID passed as a unit) is refused as stale, not confused with a live
//!   one, except with a probability below 2^-31 per call.
//! * **Statuses.** Every fallible call returns a `dw_status`; `DW_OK` is 0. On failure
//!   no out-parameter is written (except the count with `DW_ERR_BUFFER_TOO_SMALL` and
//!   the report with `DW_ERR_BAD_VERDICT`), and [`dw_last_error`] gives a message for
//!   the calling thread.
//! * **Enums** are plain integer typedefs with `#define`d values, so that an unknown
//!   value from C is a status (`DW_ERR_UNKNOWN_ENUM`), never undefined behaviour.
//! * **No panic crosses into C.** Every entry point catches unwinding and returns
//!   `DW_ERR_PANIC`; the graph is then as consistent as after a panicking Rust handler.
//!
//! # Threads, reentrancy, callbacks
//!
//! A graph is not thread-safe: the VM must serialize every call on one graph (one lock
//! per graph, held across each call; the handler and the watch hook run under it).
//! Different graphs may be used from different threads at once. A handler may call
//! back into the graph it was given, as a Rust handler may. The watch hook may not (its
//! calls return `DW_ERR_REENTRANT`). Callbacks must return normally: `longjmp` out of
//! a handler or hook, or a C++ exception through one, is undefined behaviour.

#![deny(missing_docs)]
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};

mod boundary;
mod heap;
mod rings;
mod api_graph;
mod api_objects;
mod api_units;
mod api_events;
mod api_adapters;

pub use api_adapters::*;
pub use api_events::*;
pub use api_graph::*;
pub use api_objects::*;
pub use api_units::*;
pub use boundary::dw_graph;
pub use heap::dw_heap_bytes;

// ----- statuses ---------------------------------------------------------------------

/// What a call did: `DW_OK` (0), or why it refused. [`dw_status_str`] names a status;
/// [`dw_last_error`] says more about the last failure on the calling thread.
pub type dw_status = i32;
/// Success.
pub const DW_OK: dw_status = 0;
/// A required pointer was NULL, or an array with a nonzero length had a NULL pointer.
pub const DW_ERR_NULL_POINTER: dw_status = 1;
/// The graph was freed by `dw_graph_free` (detected by its magic word).
pub const DW_ERR_FREED_GRAPH: dw_status = 2;
/// An enum argument had a value this version does not know: a kind, attribute, aspect
/// kind, event number, watch action, or a config flag bit.
pub const DW_ERR_UNKNOWN_ENUM: dw_status = 3;
/// An argument was malformed: a label or name that is not UTF-8.
pub const DW_ERR_INVALID_ARGUMENT: dw_status = 4;
/// The object was destroyed, or the ID belongs to another graph or is not an object ID.
pub const DW_ERR_STALE_OBJECT: dw_status = 5;
/// The unit was invalidated or unregistered, or the ID belongs to another graph or is
/// not a unit ID.
pub const DW_ERR_STALE_UNIT: dw_status = 6;
/// The cell handle's cell was reclaimed (or the handle was forgotten, see
/// [`dw_cell_handle`], or belongs to another graph): ask for a new one.
pub const DW_ERR_STALE_CELL: dw_status = 7;
/// A unit needs at least one dependency.
pub const DW_ERR_NO_DEPENDENCIES: dw_status = 8;
/// The storm policy marked a dependency's object or key unstable.
pub const DW_ERR_UNSTABLE: dw_status = 9;
/// Something the unit depends on changed after the ticket was taken (or the ticket
/// expired, see [`dw_take_ticket`]): recompile.
pub const DW_ERR_STALE_TICKET: dw_status = 10;
/// The ticket belongs to another graph.
pub const DW_ERR_FOREIGN_TICKET: dw_status = 11;
/// The unit is being fired right now: answer from the handler instead.
pub const DW_ERR_UNIT_FIRING: dw_status = 12;
/// `dw_end_batch` with no batch open.
pub const DW_ERR_NO_BATCH: dw_status = 13;
/// Too many live (object, aspect) cells.
pub const DW_ERR_FULL: dw_status = 14;
/// The call is not allowed where it was made: any call from inside the watch hook, or
/// `dw_graph_free` of a graph from inside its own handler.
pub const DW_ERR_REENTRANT: dw_status = 15;
/// An adapter lookup found no object for the handle.
pub const DW_ERR_NOT_TRACKED: dw_status = 16;
/// The caller's buffer was too small; the count out-parameter holds the size needed.
pub const DW_ERR_BUFFER_TOO_SMALL: dw_status = 17;
/// A handler returned a value that is not a `dw_verdict`. The unit was invalidated (the
/// safe answer), delivery went on, and the report was written.
pub const DW_ERR_BAD_VERDICT: dw_status = 18;
/// depwatch panicked (a bug). The call was abandoned; the graph is consistent, and
/// fires not yet delivered stay queued for the next delivering call.
pub const DW_ERR_PANIC: dw_status = 19;

// ----- IDs --------------------------------------------------------------------------

/// An object's ID: generational, never reused, scrambled per graph.
pub type dw_object = u64;
/// A unit's ID: generational, never reused, scrambled per graph.
pub type dw_unit = u64;
/// A cell handle (one watched (object, aspect) pair), from [`dw_cell_handle`].
pub type dw_cell = u64;
/// A compile ticket, from [`dw_take_ticket`].
pub type dw_ticket = u64;

// ----- kinds, attributes, aspects ----------------------------------------------------

/// An object's kind: `DW_KIND_DICT` .. `DW_KIND_TYPE`, or `DW_KIND_CUSTOM_BASE + n` for
/// a VM-defined kind `n` (0 to 65535).
pub type dw_kind = u32;
/// A dict (module globals, builtins, a class or instance `__dict__`).
pub const DW_KIND_DICT: dw_kind = 0;
/// A function object.
pub const DW_KIND_FUNCTION: dw_kind = 1;
/// A code object.
pub const DW_KIND_CODE: dw_kind = 2;
/// A class.
pub const DW_KIND_TYPE: dw_kind = 3;
/// VM-defined kinds are `DW_KIND_CUSTOM_BASE + n`, `n` from 0 to 65535.
pub const DW_KIND_CUSTOM_BASE: dw_kind = 0x1_0000;

/// A fixed attribute of an object: `DW_ATTR_CODE` .. `DW_ATTR_INSTRUMENTATION`, or
/// `DW_ATTR_OTHER_BASE + n` for a VM-defined attribute `n` (0 to 65535).
pub type dw_attr = u32;
/// `__code__`.
pub const DW_ATTR_CODE: dw_attr = 0;
/// `__defaults__`.
pub const DW_ATTR_DEFAULTS: dw_attr = 1;
/// `__kwdefaults__`.
pub const DW_ATTR_KWDEFAULTS: dw_attr = 2;
/// `__closure__`.
pub const DW_ATTR_CLOSURE: dw_attr = 3;
/// `__globals__`.
pub const DW_ATTR_GLOBALS: dw_attr = 4;
/// `__annotations__`.
pub const DW_ATTR_ANNOTATIONS: dw_attr = 5;
/// Instrumentation state (`sys.monitoring`).
pub const DW_ATTR_INSTRUMENTATION: dw_attr = 6;
/// VM-defined attributes are `DW_ATTR_OTHER_BASE + n`, `n` from 0 to 65535.
pub const DW_ATTR_OTHER_BASE: dw_attr = 0x1_0000;

/// Which part of an object a dependency or event is about: `DW_ASPECT_WHOLE`,
/// `DW_ASPECT_KEY` or `DW_ASPECT_ATTR`.
pub type dw_aspect_kind = u32;
/// The whole object. An event on it hits every dependency on the object.
pub const DW_ASPECT_WHOLE: dw_aspect_kind = 0;
/// One dict key or type attribute name, by the VM's 64-bit hash (`dw_aspect.key`). An
/// event on it hits that key's dependencies and the whole object's.
pub const DW_ASPECT_KEY: dw_aspect_kind = 1;
/// One fixed attribute (`dw_aspect.attr`). An event on it hits that attribute's
/// dependencies and the whole object's.
pub const DW_ASPECT_ATTR: dw_aspect_kind = 2;

/// An aspect: `kind` says which; `key` is read for `DW_ASPECT_KEY`, `attr` for
/// `DW_ASPECT_ATTR`, and the other field is ignored (reported back as 0). Build one
/// with [`dw_aspect_whole`], [`dw_aspect_key`] or [`dw_aspect_attr`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct dw_aspect {
    /// `DW_ASPECT_WHOLE`, `DW_ASPECT_KEY` or `DW_ASPECT_ATTR`.
    pub kind: dw_aspect_kind,
    /// The attribute, for `DW_ASPECT_ATTR`.
    pub attr: dw_attr,
    /// The key's hash, for `DW_ASPECT_KEY`.
    pub key: u64,
}

// ----- units ------------------------------------------------------------------------

/// A unit's payload: a pointer or a 64-bit word, as the VM likes. depwatch never reads
/// it, never frees what it points to, and hands it back unchanged.
#[repr(C)]
#[derive(Clone, Copy)]
pub union dw_payload {
    /// The payload as a number.
    pub u64: u64,
    /// The payload as a pointer (for example to the compiled code).
    pub ptr: *mut c_void,
}

/// One dependency to register: (object, aspect, site), and an optional key name.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dw_dep {
    /// The object depended on.
    pub object: dw_object,
    /// The aspect of it.
    pub aspect: dw_aspect,
    /// The site that relies on it: a number only the VM interprets (a patch point).
    pub site: u32,
    /// NULL, or a NUL-terminated UTF-8 name for the key, copied at registration and
    /// reported in causes. Borrowed for the call only.
    pub name: *const c_char,
}

/// One dependency to register through a cell handle: the cell and the site.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dw_cell_dep {
    /// The cell, from [`dw_cell_handle`].
    pub cell: dw_cell,
    /// The site that relies on it.
    pub site: u32,
}

/// One edge of a unit as it is reported back.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct dw_dependency {
    /// The object depended on.
    pub object: dw_object,
    /// The aspect of it.
    pub aspect: dw_aspect,
    /// The site.
    pub site: u32,
}

// ----- events -----------------------------------------------------------------------

/// A handler's answer for one fired unit.
pub type dw_verdict = i32;
/// The unit is dead: it is removed with all its edges. Its payload is not touched
/// again; the VM frees what it points to.
pub const DW_INVALIDATE: dw_verdict = 0;
/// The VM patched the hit sites (say, to a deopt jump): the unit stays valid and only
/// the hit edges are removed.
pub const DW_PATCHED: dw_verdict = 1;
/// The VM re-checked and the assumption still holds: every edge stays.
pub const DW_REARMED: dw_verdict = 2;

/// Why a unit fired: one event on one object.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dw_cause {
    /// The object the event was on.
    pub object: dw_object,
    /// Its kind.
    pub kind: dw_kind,
    /// The event's aspect (`DW_ASPECT_WHOLE` for whole-object events and destruction).
    pub aspect: dw_aspect,
    /// The event's label (such as `"dict.MODIFIED"`, or `"destroyed"`), NUL-terminated.
    /// Interned: valid for the rest of the process.
    pub label: *const c_char,
    /// The key's name if a dependency on it was registered with one, else NULL. Not
    /// NUL-terminated (print it with `%.*s`); valid for the handler call only.
    pub name: *const c_char,
    /// The length of `name` in bytes (0 when `name` is NULL).
    pub name_len: usize,
    /// The object's version after the event.
    pub version: u64,
    /// Whether the event destroyed the object: the unit is then invalidated whatever
    /// the handler answers.
    pub destroyed: bool,
}

/// One hit: a dependency edge of the fired unit, and the cause that hit it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dw_hit {
    /// The edge that was hit.
    pub dependency: dw_dependency,
    /// The event that hit it. Points into the fire's cause array: two hits with the same
    /// cause have the same pointer. Valid for the handler call only.
    pub cause: *const dw_cause,
}

/// One unit firing, as the handler sees it. Everything it points to is borrowed for
/// the handler call only.
#[repr(C)]
#[derive(Debug)]
pub struct dw_fire {
    /// The unit.
    pub unit: dw_unit,
    /// Its payload. The handler may change it (the unit keeps the new value if it
    /// survives).
    pub payload: *mut dw_payload,
    /// The hit edges with their causes, ordered by edge; in a batch an edge hit by two
    /// causes appears twice. Never NULL; `n_hits` is at least 1.
    pub hits: *const dw_hit,
    /// The number of hits.
    pub n_hits: usize,
    /// Whether a cause destroyed an object (the unit is invalidated regardless).
    pub terminal: bool,
}

/// The VM's handler: called once per fired unit, with the context pointer given to the
/// delivering call, the graph (which the handler may call back into), and the fire.
/// Returns a `dw_verdict`.
///
/// Calls made from inside the handler are reentrant: events are recorded at once and
/// their fires delivered after this one by the same outer call. The handler must
/// return normally; `longjmp` out of it, or a C++ exception through it, is undefined
/// behaviour.
pub type dw_handler = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        graph: *mut dw_graph,
        fire: *const dw_fire,
    ) -> dw_verdict,
>;

/// What one delivering call did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dw_report {
    /// Units the handler was called for.
    pub fired: usize,
    /// Units invalidated.
    pub invalidated: usize,
    /// Units patched.
    pub patched: usize,
    /// Units re-armed.
    pub rearmed: usize,
    /// Whether fires were left queued: the call was made inside a handler or an open
    /// batch, and the outer delivery (or `dw_end_batch`) delivers them.
    pub deferred: bool,
}

/// The callback of [`dw_unregister_all`]: one call per unregistered unit, with its
/// payload, after the unit is gone.
pub type dw_unit_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, unit: dw_unit, payload: dw_payload)>;

// ----- graph ------------------------------------------------------------------------

/// Config flag: keep a queue of watch requests (see [`dw_drain_watch_requests`]).
pub const DW_CONFIG_WATCH_REQUESTS: u32 = 1;
/// Config flag: the function adapter tracks every function from its CREATE event.
pub const DW_CONFIG_TRACK_FUNCTION_CREATES: u32 = 2;
/// Config flag: the code adapter tracks every code object from its CREATE event.
pub const DW_CONFIG_TRACK_CODE_CREATES: u32 = 4;
/// Config flag: every event counts toward the storm threshold, not only the effective
/// ones, so a key written `storm_threshold` times is unstable even if nothing ever
/// depended on it (the core's `StormCount::Every`). Each such key's counter takes a
/// cell of about 64 bytes until the object is destroyed or its stability is reset.
pub const DW_CONFIG_STORM_COUNTS_EVERY_EVENT: u32 = 8;

/// A graph's tuning knobs. Start from [`dw_config_default`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct dw_config {
    /// How many effective events (ones that invalidated or patched something; with
    /// `DW_CONFIG_STORM_COUNTS_EVERY_EVENT`, any event) an object, or one key or
    /// attribute of it, may take before new dependencies on it are refused with
    /// `DW_ERR_UNSTABLE`. CPython uses 6 for globals; 0 disables.
    pub storm_threshold: u32,
    /// How many times an ID slot may be reused before it is retired for good. The
    /// default keeps IDs from ever aliasing; lower it only to test retirement.
    pub max_slot_reuse: u32,
    /// `DW_CONFIG_*` flags, or 0.
    pub flags: u32,
}

/// A change in whether an object has dependents, for the VM's one-bit "watched" flag.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct dw_watch_change {
    /// The object.
    pub object: dw_object,
    /// Its kind.
    pub kind: dw_kind,
    /// The VM's handle for it, as given when it was tracked.
    pub handle: u64,
    /// true: it gained its first dependent; false: it lost its last.
    pub watched: bool,
}

/// The watch hook: told when an object gains its first dependent or loses its last, at
/// the end of the graph call that caused it. It gets no graph: calls into the graph
/// from inside it return `DW_ERR_REENTRANT`. A destroyed object is never reported as
/// unwatched (its handle may point at freed memory). `change` is valid for the call.
pub type dw_watch_hook =
    Option<unsafe extern "C" fn(ctx: *mut c_void, change: *const dw_watch_change)>;

/// Counters and sizes of a graph.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dw_stats {
    /// Events recorded (each notify and destroy).
    pub events: u64,
    /// Events that hit no dependent.
    pub quiet_events: u64,
    /// Keyed events rejected by the key prefilter.
    pub prefilter_rejects: u64,
    /// Handler calls.
    pub fires: u64,
    /// Units invalidated.
    pub invalidated: u64,
    /// Units patched.
    pub patched: u64,
    /// Units re-armed.
    pub rearmed: u64,
    /// Live objects.
    pub live_objects: usize,
    /// Live units.
    pub live_units: usize,
    /// Live dependency edges.
    pub live_edges: usize,
    /// Live (object, aspect) cells.
    pub live_cells: usize,
    /// ID slots retired because their version was worn out.
    pub retired_slots: usize,
    /// Units with a fire queued but not delivered.
    pub pending_units: usize,
    /// An estimate of the bytes the graph holds (the core graph only; [`dw_heap_bytes`]
    /// counts everything the library allocated).
    pub bytes: usize,
}

// ----- adapters ---------------------------------------------------------------------

/// Old and new value identities of a mutation, when the VM knows them. When both are
/// known and equal, the store changes nothing and the adapter re-arms instead of
/// firing.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dw_values {
    /// The old value's identity (read when `has_old`).
    pub old_value: u64,
    /// The new value's identity (read when `has_new`).
    pub new_value: u64,
    /// Whether `old_value` is known.
    pub has_old: bool,
    /// Whether `new_value` is known.
    pub has_new: bool,
}

/// A dict event number, as CPython's `PyDict_WatchEvent`.
pub type dw_dict_event_kind = i32;
/// `PyDict_EVENT_ADDED`: a new key.
pub const DW_DICT_EVENT_ADDED: dw_dict_event_kind = 0;
/// `PyDict_EVENT_MODIFIED`: an existing key gets a value.
pub const DW_DICT_EVENT_MODIFIED: dw_dict_event_kind = 1;
/// `PyDict_EVENT_DELETED`: a key is removed.
pub const DW_DICT_EVENT_DELETED: dw_dict_event_kind = 2;
/// `PyDict_EVENT_CLONED`: the whole contents replaced.
pub const DW_DICT_EVENT_CLONED: dw_dict_event_kind = 3;
/// `PyDict_EVENT_CLEARED`: `d.clear()`.
pub const DW_DICT_EVENT_CLEARED: dw_dict_event_kind = 4;
/// `PyDict_EVENT_DEALLOCATED`: the dict dies; its handle is retired.
pub const DW_DICT_EVENT_DEALLOCATED: dw_dict_event_kind = 5;

/// A function event number: CPython's `PyFunction_WatchEvent` (0 to 4), plus three
/// attributes CPython does not watch.
pub type dw_func_event_kind = i32;
/// `PyFunction_EVENT_CREATE`.
pub const DW_FUNC_EVENT_CREATE: dw_func_event_kind = 0;
/// `PyFunction_EVENT_DESTROY`: the function dies; its handle is retired.
pub const DW_FUNC_EVENT_DESTROY: dw_func_event_kind = 1;
/// `PyFunction_EVENT_MODIFY_CODE`.
pub const DW_FUNC_EVENT_MODIFY_CODE: dw_func_event_kind = 2;
/// `PyFunction_EVENT_MODIFY_DEFAULTS`.
pub const DW_FUNC_EVENT_MODIFY_DEFAULTS: dw_func_event_kind = 3;
/// `PyFunction_EVENT_MODIFY_KWDEFAULTS`.
pub const DW_FUNC_EVENT_MODIFY_KWDEFAULTS: dw_func_event_kind = 4;
/// `f.__closure__` changed (not a CPython event).
pub const DW_FUNC_EVENT_MODIFY_CLOSURE: dw_func_event_kind = 5;
/// `f.__globals__` changed (not a CPython event).
pub const DW_FUNC_EVENT_MODIFY_GLOBALS: dw_func_event_kind = 6;
/// `f.__annotations__` changed (not a CPython event).
pub const DW_FUNC_EVENT_MODIFY_ANNOTATIONS: dw_func_event_kind = 7;

/// A code event number: CPython's `PyCodeEvent` (0, 1), plus instrumentation.
pub type dw_code_event_kind = i32;
/// `PY_CODE_EVENT_CREATE`.
pub const DW_CODE_EVENT_CREATE: dw_code_event_kind = 0;
/// `PY_CODE_EVENT_DESTROY`: the code object dies; its handle is retired.
pub const DW_CODE_EVENT_DESTROY: dw_code_event_kind = 1;
/// The code was instrumented (`sys.monitoring`): hits its whole-object and
/// `DW_ATTR_INSTRUMENTATION` dependencies.
pub const DW_CODE_EVENT_INSTRUMENTED: dw_code_event_kind = 2;

/// What the VM should do to one of its objects.
pub type dw_watch_action = u32;
/// The object gained its first dependent: `PyDict_Watch` / `PyType_Watch`.
pub const DW_WATCH_WATCH: dw_watch_action = 0;
/// The object lost its last dependent: `PyDict_Unwatch` / `PyType_Unwatch`.
pub const DW_WATCH_UNWATCH: dw_watch_action = 1;
/// A type event was delivered and the type still has dependents: call `PyType_Watch`
/// again (CPython fires a type watcher once per version tag).
pub const DW_WATCH_REARM: dw_watch_action = 2;

/// One watch request.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct dw_watch_request {
    /// The object's kind.
    pub kind: dw_kind,
    /// The VM's handle for it.
    pub handle: u64,
    /// What to do: a `dw_watch_action`.
    pub action: dw_watch_action,
}

/// Counters of one adapter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dw_adapter_stats {
    /// Events received.
    pub events: u64,
    /// Events for handles not tracked (no-ops).
    pub untracked: u64,
    /// Modifications that stored the same object again (re-armed, not fired).
    pub same_value: u64,
    /// Handles tracked now.
    pub tracked: usize,
    /// Handles retired by a death event.
    pub retired: u64,
    /// Create events seen.
    pub created: u64,
}

#[cfg(test)]
mod tests;
