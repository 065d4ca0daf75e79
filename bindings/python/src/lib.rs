//! `depwatch._native`: depwatch driven by CPython 3.12+'s real dict, type, function
//! and code watchers.
//!
//! # How events flow
//!
//! * One global [`State`] holds the graph and the four adapters. Every `Registry`
//!   shares it (watchers are per interpreter, so one graph is the honest model).
//! * CPython calls the watcher callbacks *before* a mutation, with the GIL held, and
//!   they must not run Python code. A callback turns its arguments into a raw event
//!   (handles are object addresses, keys are str hashes), queues it, and applies the
//!   queue at once if the state is free. If the state is busy, this is a reentrant
//!   event (a decref inside depwatch's own critical section); the holder applies the
//!   queue before it lets go. A unit hit by an event is marked invalid right there, so
//!   `unit.valid` is already `False` when the mutating statement finishes.
//! * The user's `on_invalidate(unit, reasons)` and the deferred `PyDict_Unwatch` and
//!   `PyType_Watch` (re-arm) calls run later, at a safe point: a `Py_AddPendingCall`
//!   scheduled by the callback, or the next call into depwatch, whichever comes first.
//!   Errors raised by `on_invalidate` are reported as unraisable; the invalidation has
//!   already happened.
//! * Deferred watch requests are reconciled against the current graph, not replayed:
//!   a dict is unwatched only if it still has no dependents, and only if it is still
//!   alive (its handle still tracked), so an address CPython reuses is never touched.

mod ffi;

use std::collections::HashMap;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use depwatch::adapters::{
    CodeAdapter, CodeEvent, DictAdapter, DictEvent, FunctionAdapter, FunctionEvent, TypeAdapter,
    Values, WatchAction, WatchRequest, WatchRequests,
};
use depwatch::{Attr, Dep, Error as GraphError, Fire, Graph, Kind, Verdict};
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple, PyType};
use pyo3::{create_exception, ffi as pyffi};

create_exception!(
    _native,
    DepwatchError,
    PyException,
    "Base class of depwatch's errors."
);
create_exception!(
    _native,
    StaleTicket,
    DepwatchError,
    "A dependency changed after the compile ticket was taken."
);
create_exception!(
    _native,
    Unstable,
    DepwatchError,
    "The storm policy marked a dependency unstable."
);

// ----- units and tickets ----------------------------------------------------------------

/// A registered unit of optimized code.
#[pyclass(frozen, module = "depwatch")]
struct Unit {
    serial: u64,
    valid: AtomicBool,
    reasons: Mutex<Vec<String>>,
    sites: Mutex<Vec<u32>>,
    on_invalidate: Option<Py<PyAny>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[pymethods]
impl Unit {
    /// False once anything the unit depends on changed (set inside the watcher
    /// callback, before the mutation completes).
    #[getter]
    fn valid(&self) -> bool {
        self.valid.load(Ordering::Acquire)
    }

    /// Why the unit was invalidated: one string per cause, such as
    /// `"dict.MODIFIED x"`.
    #[getter]
    fn reasons(&self) -> Vec<String> {
        lock(&self.reasons).clone()
    }

    /// The sites whose dependencies fired.
    #[getter]
    fn sites_fired(&self) -> Vec<u32> {
        lock(&self.sites).clone()
    }

    /// Unregisters a valid unit; returns False if it was no longer registered.
    fn unregister(&self, py: Python<'_>) -> PyResult<bool> {
        let removed = with_state(py, |s| {
            let py_unit = s.units.remove(&self.serial)?;
            let id = s.unit_ids.remove(&self.serial);
            if let Some(id) = id {
                let _ = s.graph.unregister(id);
            }
            Some(py_unit)
        })?;
        self.valid.store(false, Ordering::Release);
        Ok(removed.is_some())
    }

    fn __repr__(&self) -> String {
        format!("<depwatch.Unit #{} valid={}>", self.serial, self.valid())
    }
}

/// A compile ticket: take it before reading what the unit will depend on. While any
/// ticket is alive, every dict event takes the full path, so the ticket sees it.
#[pyclass(frozen, module = "depwatch")]
struct Ticket {
    inner: depwatch::Ticket,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        LIVE_TICKETS.fetch_sub(1, Ordering::AcqRel);
    }
}

// ----- global state ----------------------------------------------------------------------

enum Raw {
    /// `old_value`: for a MODIFIED event applied synchronously, the (dict, key, new
    /// value) addresses to read the old value from, only if the event would fire.
    Dict {
        handle: u64,
        event: DictEvent,
        old_value: Option<(usize, usize, usize)>,
    },
    Func {
        handle: u64,
        event: FunctionEvent,
    },
    Code {
        handle: u64,
        event: CodeEvent,
    },
    Type {
        handle: u64,
    },
    TypeDead {
        handle: u64,
    },
}

#[derive(Default, Clone, Copy)]
struct BindingStats {
    callbacks: u64,
    on_invalidate_calls: u64,
    on_invalidate_errors: u64,
}

struct State {
    graph: Graph<u64>,
    dicts: DictAdapter,
    funcs: FunctionAdapter,
    codes: CodeAdapter,
    types: TypeAdapter,
    requests: WatchRequests,
    units: HashMap<u64, Py<Unit>>,
    unit_ids: HashMap<u64, depwatch::UnitId>,
    next_serial: u64,
    /// Invalidated units whose `on_invalidate` has not run yet.
    fired: Vec<Py<Unit>>,
    /// Watch requests waiting for a safe point.
    deferred: Vec<WatchRequest>,
    /// Weak references to tracked types; their callbacks report type deaths.
    type_refs: HashMap<u64, Py<PyAny>>,
    /// Dicts and types tracked but currently unwatched (their last dependent went):
    /// CPython reports nothing for them, so a compile ticket cannot vouch for them.
    unobserved: std::collections::HashSet<u64>,
    dict_watcher: c_int,
    type_watcher: c_int,
    stats: BindingStats,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static QUEUE: Mutex<Vec<Raw>> = Mutex::new(Vec::new());
/// Whether `QUEUE` may hold events (set by reentrant callbacks), so the common case
/// never touches the queue's lock.
static QUEUED: AtomicBool = AtomicBool::new(false);
static TRACKED_FUNCS: AtomicUsize = AtomicUsize::new(0);
static TRACKED_CODES: AtomicUsize = AtomicUsize::new(0);
static PENDING_SCHEDULED: AtomicBool = AtomicBool::new(false);

// ----- the lock-free key prefilter -----------------------------------------------------------
//
// A write to a watched dict's key that nothing depends on is the common case, and CPython
// already charges about 1.5x an unwatched write just to call a watcher. So the dict
// callback first asks a lock-free blocked bloom filter over (dict, key) pairs that have
// ever had a dependent (and (dict, WHOLE) for whole-dict dependencies) and returns at once
// on a miss. Bits are set at registration, before the unit exists, and never cleared:
// false positives only send an event down the normal path. Skipping is sound because
// nothing else needs to see quiet events, except compile tickets (an unrelated write to
// a dependency's dict must reject a ticket), so the fast path is off while any ticket
// object is alive. The GIL orders the registration's stores before any later callback.

const FILTER_WORDS: usize = 1 << 14; // 1 Mi bits, 128 KiB
static KEY_FILTER: [AtomicU64; FILTER_WORDS] = [const { AtomicU64::new(0) }; FILTER_WORDS];
static LIVE_TICKETS: AtomicUsize = AtomicUsize::new(0);
/// Set (for good) once any unit depends on a whole dict; until then the dict prefilter
/// skips its second probe. Set before the dependency's filter bit, under the GIL.
static ANY_WHOLE_DICT: AtomicBool = AtomicBool::new(false);
static PREFILTER_SKIPS: AtomicU64 = AtomicU64::new(0);
/// The key used for whole-dict dependencies in the filter.
const WHOLE_KEY: u64 = 0x9e37_79b9_7f4a_7c15;

// Function and code watchers see every function and code object in the interpreter,
// so they have a filter of their own, over the tracked ones: a death or change of any
// other returns at once, without the lock. A bit is set before its object is tracked.
// Unlike the key filter it is rebuilt from the live tracked handles whenever a tracked
// one dies: the allocator hands a dead function's address to the next function at
// once, and a stale bit would send every later function at that address down the full
// path. The rebuild runs under the GIL and the state lock and runs no Python code, so
// no callback reads the filter half-built.
const OBJECT_FILTER_WORDS: usize = 1 << 12; // 256 Ki bits, 32 KiB
static OBJECT_FILTER: [AtomicU64; OBJECT_FILTER_WORDS] =
    [const { AtomicU64::new(0) }; OBJECT_FILTER_WORDS];
/// Function and code deaths (of tracked ones) already reflected in `OBJECT_FILTER`.
static OBJECT_FILTER_RETIRED: AtomicU64 = AtomicU64::new(0);
/// The keys under which functions and code objects are in `OBJECT_FILTER`.
const FUNC_KEY: u64 = 0x6a09_e667_f3bc_c908;
const CODE_KEY: u64 = 0xbb67_ae85_84ca_a73b;

/// One multiply: a str key's hash is already SipHash output, and the dict's address
/// is spread by a Fibonacci multiply whose high half (where every address bit has
/// reached) is rotated down to the word index.
/// `table`'s length is a power of two.
#[inline(always)]
fn filter_slot(table: &[AtomicU64], object: u64, key: u64) -> (usize, u64) {
    let h = key ^ object.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(32);
    let word = (h as usize) & (table.len() - 1);
    (word, (1u64 << (h >> 58)) | (1u64 << ((h >> 52) & 63)))
}

fn filter_insert(table: &[AtomicU64], object: u64, key: u64) {
    let (word, bits) = filter_slot(table, object, key);
    table[word].fetch_or(bits, Ordering::Relaxed);
}

/// Counts an event the prefilter let a callback skip. Callbacks run under the GIL, one
/// at a time: a plain load and store (no locked read-modify-write) is enough for a
/// statistic.
#[inline(always)]
fn count_prefilter_skip() {
    PREFILTER_SKIPS.store(
        PREFILTER_SKIPS.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
}

#[inline(always)]
fn filter_may_contain(table: &[AtomicU64], object: u64, key: u64) -> bool {
    let (word, bits) = filter_slot(table, object, key);
    table[word].load(Ordering::Relaxed) & bits == bits
}

/// Rebuilds `OBJECT_FILTER` from the live tracked functions and code objects, if a
/// tracked one died since the last rebuild.
fn refresh_object_filter(state: &State) {
    let retired = state.funcs.stats().retired + state.codes.stats().retired;
    if OBJECT_FILTER_RETIRED.load(Ordering::Relaxed) == retired {
        return;
    }
    for word in &OBJECT_FILTER {
        word.store(0, Ordering::Relaxed);
    }
    for h in state.funcs.tracked_handles() {
        filter_insert(&OBJECT_FILTER, h, FUNC_KEY);
    }
    for h in state.codes.tracked_handles() {
        filter_insert(&OBJECT_FILTER, h, CODE_KEY);
    }
    OBJECT_FILTER_RETIRED.store(retired, Ordering::Relaxed);
}

/// Runs `f` on the state (installing the watchers on first use), then applies any
/// events queued meanwhile. Refuses, rather than deadlocks, if called from inside
/// depwatch's own critical section (a finalizer run by a decref there).
fn with_state<R>(py: Python<'_>, f: impl FnOnce(&mut State) -> R) -> PyResult<R> {
    let mut guard = match STATE.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => {
            return Err(PyRuntimeError::new_err(
                "depwatch was called from inside one of its own callbacks",
            ));
        }
    };
    if guard.is_none() {
        *guard = Some(install(py)?);
    }
    let state = guard.as_mut().expect("installed above");
    drain(state);
    let out = f(state);
    drain(state);
    state.deferred.extend(state.requests.drain());
    schedule_pending(state);
    publish_tracked(state);
    Ok(out)
}

/// Asks CPython to run `pending_call` at its next safe point, if there is work.
fn schedule_pending(state: &State) {
    if (!state.fired.is_empty() || !state.deferred.is_empty())
        && !PENDING_SCHEDULED.swap(true, Ordering::AcqRel)
    {
        // SAFETY: `pending_call` is a `'static` function matching the expected
        // signature; the argument is unused; the GIL is held by every caller.
        if unsafe { ffi::Py_AddPendingCall(pending_call, std::ptr::null_mut()) } != 0 {
            // The pending-call queue is full: the next depwatch call flushes instead.
            PENDING_SCHEDULED.store(false, Ordering::Release);
        }
    }
}

fn install(_py: Python<'_>) -> PyResult<State> {
    // SAFETY: the GIL is held (we have a `Python` token), and each callback is a
    // `'static` `extern "C"` function with exactly the signature the header declares.
    let (dict_watcher, type_watcher, func_watcher, code_watcher) = unsafe {
        (
            ffi::PyDict_AddWatcher(dict_callback),
            ffi::PyType_AddWatcher(type_callback),
            ffi::PyFunction_AddWatcher(function_callback),
            ffi::PyCode_AddWatcher(code_callback),
        )
    };
    if dict_watcher < 0 || type_watcher < 0 || func_watcher < 0 || code_watcher < 0 {
        return Err(PyErr::take(_py)
            .unwrap_or_else(|| PyRuntimeError::new_err("could not add a CPython watcher")));
    }
    let mut graph = Graph::new();
    let requests = WatchRequests::install(&mut graph);
    Ok(State {
        graph,
        dicts: DictAdapter::new(),
        funcs: FunctionAdapter::new(),
        codes: CodeAdapter::new(),
        types: TypeAdapter::with_requests(requests.clone()),
        requests,
        units: HashMap::new(),
        unit_ids: HashMap::new(),
        next_serial: 1,
        fired: Vec::new(),
        deferred: Vec::new(),
        type_refs: HashMap::new(),
        unobserved: std::collections::HashSet::new(),
        dict_watcher,
        type_watcher,
        stats: BindingStats::default(),
    })
}

/// Applies every queued raw event.
fn drain(state: &mut State) {
    if !QUEUED.swap(false, Ordering::AcqRel) {
        return;
    }
    loop {
        let batch = std::mem::take(&mut *lock(&QUEUE));
        if batch.is_empty() {
            break;
        }
        for raw in batch {
            apply(state, raw);
        }
        QUEUED.store(false, Ordering::Release);
    }
}

/// Lets the function and code watchers skip work while nothing of theirs is tracked,
/// and drops the filter bits of the tracked ones that died.
fn publish_tracked(state: &State) {
    TRACKED_FUNCS.store(state.funcs.stats().tracked, Ordering::Relaxed);
    TRACKED_CODES.store(state.codes.stats().tracked, Ordering::Relaxed);
    refresh_object_filter(state);
}

/// Applies one event; returns whether it fired a unit or killed an object (so watch
/// requests or callbacks may be waiting).
fn apply(state: &mut State, raw: Raw) -> bool {
    let State {
        graph,
        dicts,
        funcs,
        codes,
        types,
        units,
        unit_ids,
        fired,
        type_refs,
        ..
    } = state;
    let mut handler = |_: &mut Graph<u64>, fire: Fire<'_, u64>| -> Verdict {
        let serial = *fire.payload;
        unit_ids.remove(&serial);
        if let Some(py_unit) = units.remove(&serial) {
            let unit = py_unit.get();
            unit.valid.store(false, Ordering::Release);
            lock(&unit.reasons).extend(fire.causes().iter().map(|c| match &c.name {
                Some(n) => format!("{} {n}", c.label),
                None => c.label.to_string(),
            }));
            lock(&unit.sites).extend(fire.sites());
            fired.push(py_unit);
        }
        Verdict::Invalidate
    };
    let terminal = matches!(
        raw,
        Raw::TypeDead { .. }
            | Raw::Dict {
                event: DictEvent::Deallocated,
                ..
            }
            | Raw::Func {
                event: FunctionEvent::Destroy,
                ..
            }
            | Raw::Code {
                event: CodeEvent::Destroy,
                ..
            }
    );
    // Errors here are stale IDs for objects already retired: nothing to invalidate.
    let report = match raw {
        Raw::Dict { handle, event, .. } => dicts.on_event(graph, handle, event, &mut handler),
        Raw::Func { handle, event } => funcs.on_event(graph, handle, event, &mut handler),
        Raw::Code { handle, event } => codes.on_event(graph, handle, event, &mut handler),
        Raw::Type { handle } => types.on_modified(graph, handle, None, &mut handler),
        Raw::TypeDead { handle } => {
            type_refs.remove(&handle);
            types.on_deallocated(graph, handle, &mut handler)
        }
    };
    terminal || report.is_ok_and(|r| r.fired > 0)
}

/// Applies a raw event from a watcher callback now, or queues it if depwatch is busy
/// (a reentrant event): the holder drains the queue before it unlocks.
fn dispatch(mut raw: Raw) {
    let mut guard = match STATE.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => {
            // Applied later, after the store: the old value can no longer be read, so
            // the event stays a plain change (conservative).
            if let Raw::Dict { old_value, .. } = &mut raw {
                *old_value = None;
            }
            lock(&QUEUE).push(raw);
            QUEUED.store(true, Ordering::Release);
            return;
        }
    };
    let Some(state) = guard.as_mut() else { return };
    state.stats.callbacks += 1;
    drain(state);
    // Synchronous, before the store: read the old value, but only if it matters.
    if let Raw::Dict {
        handle,
        event: DictEvent::Modified { key, values },
        old_value: Some((dict, k, new)),
    } = &mut raw
    {
        let fires = state
            .dicts
            .get(*handle)
            .is_some_and(|id| state.graph.would_fire(id, depwatch::Aspect::Key(*key)) == Ok(true));
        if fires {
            // SAFETY: we are inside the dict watcher callback (the GIL is held and the
            // dict, key and new value are alive); the key is an exact str, so the
            // lookup runs no Python code. The result is a borrowed reference.
            let old = unsafe {
                pyffi::PyDict_GetItem(*dict as *mut pyffi::PyObject, *k as *mut pyffi::PyObject)
            };
            if !old.is_null() {
                *values = Values::new(old as u64, *new as u64);
            }
        }
    }
    // The common case, an event nobody depends on, stops here.
    if apply(state, raw) {
        drain(state);
        state.deferred.extend(state.requests.drain());
        schedule_pending(state);
        publish_tracked(state);
    }
}

unsafe extern "C" fn pending_call(_arg: *mut c_void) -> c_int {
    PENDING_SCHEDULED.store(false, Ordering::Release);
    // Pending calls run in the main thread with the GIL held, at a safe point.
    Python::attach(|py| {
        let _ = flush(py);
    });
    0
}

/// Applies deferred watch requests and runs pending `on_invalidate` callbacks.
fn flush(py: Python<'_>) -> PyResult<()> {
    let fired = with_state(py, |s| {
        apply_watch_requests(s);
        std::mem::take(&mut s.fired)
    })?;
    let mut calls = 0;
    let mut errors = 0;
    for py_unit in fired {
        let unit = py_unit.get();
        if let Some(cb) = &unit.on_invalidate {
            calls += 1;
            let reasons = lock(&unit.reasons).clone();
            if let Err(e) = cb.call1(py, (py_unit.clone_ref(py), reasons)) {
                errors += 1;
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        }
    }
    if calls > 0 {
        with_state(py, |s| {
            s.stats.on_invalidate_calls += calls;
            s.stats.on_invalidate_errors += errors;
        })?;
    }
    Ok(())
}

/// Reconciles each deferred request with the graph as it is now.
fn apply_watch_requests(s: &mut State) {
    let requests = std::mem::take(&mut s.deferred);
    for r in requests {
        let (id, watcher) = match r.kind {
            Kind::Dict => (s.dicts.get(r.handle), s.dict_watcher),
            Kind::Type => (s.types.get(r.handle), s.type_watcher),
            _ => continue,
        };
        // Untracked means dead (or never tracked): never touch that address.
        let Some(id) = id else { continue };
        let watched = s.graph.is_watched(id) == Ok(true);
        let obj = r.handle as *mut pyffi::PyObject;
        // SAFETY: the handle is tracked, so the object is alive (its DEALLOCATED event
        // or weakref callback would have retired it); the GIL is held by our caller.
        unsafe {
            match (r.kind, watched, r.action) {
                (Kind::Dict, true, WatchAction::Watch) => ffi::PyDict_Watch(watcher, obj),
                (Kind::Dict, false, WatchAction::Unwatch) => {
                    s.unobserved.insert(r.handle);
                    ffi::PyDict_Unwatch(watcher, obj)
                }
                (Kind::Type, true, WatchAction::Watch | WatchAction::Rearm) => {
                    ffi::PyType_Watch(watcher, obj)
                }
                (Kind::Type, false, WatchAction::Unwatch) => {
                    s.unobserved.insert(r.handle);
                    ffi::PyType_Unwatch(watcher, obj)
                }
                _ => 0,
            };
        }
    }
}

// ----- the watcher callbacks -------------------------------------------------------------

/// Saves and restores the pending exception around a callback body, as CPython asks.
///
/// # Safety
/// The GIL must be held.
unsafe fn preserving_exception(body: impl FnOnce()) {
    // SAFETY: the GIL is held (caller's contract); fetching and restoring the current
    // exception transfers ownership of it and back, leaving the count balanced.
    unsafe {
        let saved = ffi::PyErr_GetRaisedException();
        body();
        ffi::PyErr_SetRaisedException(saved);
    }
}

/// The cached hash of an exact `str` key, or `None` (not an exact str, or no hash
/// cached yet). Reads one field and calls nothing.
///
/// # Safety
/// The GIL must be held and `key` must be NULL or a valid object.
#[inline(always)]
unsafe fn cached_str_hash(key: *mut pyffi::PyObject) -> Option<u64> {
    // SAFETY: `key` is valid (caller's contract), and an exact str is at least a
    // PyASCIIObject, whose `hash` field caches the hash (-1 until computed).
    unsafe {
        if key.is_null() || pyffi::PyUnicode_CheckExact(key) == 0 {
            return None;
        }
        match (*key.cast::<pyffi::PyASCIIObject>()).hash {
            -1 => None,
            h => Some(h as u64),
        }
    }
}

/// The hash of an exact `str` key, computed if not cached yet, or `None`.
///
/// # Safety
/// The GIL must be held and `key` must be NULL or a valid object.
unsafe fn str_hash(key: *mut pyffi::PyObject) -> Option<u64> {
    // SAFETY: `key` is valid (caller's contract). An exact str is a PyASCIIObject at
    // least, whose `hash` field caches the hash (-1 until computed; a key stored in a
    // dict always has it). Otherwise `str.__hash__` of an exact str is the C hash, so
    // no Python code runs.
    unsafe {
        if key.is_null() || pyffi::PyUnicode_CheckExact(key) == 0 {
            return None;
        }
        let cached = (*key.cast::<pyffi::PyASCIIObject>()).hash;
        if cached != -1 {
            return Some(cached as u64);
        }
        let h = pyffi::PyObject_Hash(key);
        if h == -1 {
            pyffi::PyErr_Clear();
            return None;
        }
        Some(h as u64)
    }
}

unsafe extern "C" fn dict_callback(
    event: c_int,
    dict: *mut pyffi::PyObject,
    key: *mut pyffi::PyObject,
    new_value: *mut pyffi::PyObject,
) -> c_int {
    // The fast path: a key event on an exact-str key no dependency ever named. It
    // calls nothing (a key without a cached hash takes the full path), so it needs no
    // stack frame.
    if (0..=2).contains(&event) && LIVE_TICKETS.load(Ordering::Relaxed) == 0 {
        // SAFETY: called by CPython with the GIL held and valid pointers; reading an
        // exact str's cached hash runs no code.
        if let Some(hash) = unsafe { cached_str_hash(key) } {
            let handle = dict as u64;
            if !filter_may_contain(&KEY_FILTER, handle, hash)
                && (!ANY_WHOLE_DICT.load(Ordering::Relaxed)
                    || !filter_may_contain(&KEY_FILTER, handle, WHOLE_KEY))
            {
                count_prefilter_skip();
                return 0;
            }
        }
    }
    // SAFETY: as for this function.
    unsafe { dict_event(event, dict, key, new_value) }
}

/// The body of [`dict_callback`] past the prefilter, out of line so the prefilter's
/// path saves and restores no registers it does not use.
///
/// # Safety
/// As for `PyDict_WatchCallback`: the GIL is held and the pointers are valid (key and
/// new_value may be NULL).
#[inline(never)]
unsafe fn dict_event(
    event: c_int,
    dict: *mut pyffi::PyObject,
    key: *mut pyffi::PyObject,
    new_value: *mut pyffi::PyObject,
) -> c_int {
    // SAFETY: CPython calls this with the GIL held and valid pointers (key and
    // new_value may be NULL), per `PyDict_WatchCallback`.
    unsafe {
        preserving_exception(|| {
            let hash = str_hash(key);
            let event = match (event, hash) {
                // A key that is not an exact str could equal a str key: treat the event
                // as a change to the whole dict (conservative, never missed).
                (0..=2, None) => Some(DictEvent::Cleared),
                _ => DictEvent::from_cpython(event, hash, Values::UNKNOWN),
            };
            // The callback runs before the store, so the old value can still be read;
            // `dispatch` reads it only if a unit depends on the key.
            let old_value = (event.is_some_and(|e| matches!(e, DictEvent::Modified { .. }))
                && !new_value.is_null())
            .then_some((dict as usize, key as usize, new_value as usize));
            if let Some(event) = event {
                dispatch(Raw::Dict {
                    handle: dict as u64,
                    event,
                    old_value,
                });
            }
        });
    }
    0
}

unsafe extern "C" fn type_callback(ty: *mut pyffi::PyTypeObject) -> c_int {
    // SAFETY: called by CPython with the GIL held and a valid type.
    unsafe { preserving_exception(|| dispatch(Raw::Type { handle: ty as u64 })) };
    0
}

/// Whether a function or code watcher can return at once. Those watchers see every
/// function and code object in the interpreter, so they leave unless this object may be
/// tracked: not on a creation, not while nothing of the kind is tracked, and not when
/// `OBJECT_FILTER` says no.
#[inline(always)]
fn unconcerned(created: bool, tracked: &AtomicUsize, handle: u64, key: u64) -> bool {
    if created || tracked.load(Ordering::Relaxed) == 0 {
        return true;
    }
    if !filter_may_contain(&OBJECT_FILTER, handle, key) {
        count_prefilter_skip();
        return true;
    }
    false
}

unsafe extern "C" fn function_callback(
    event: c_int,
    func: *mut pyffi::PyObject,
    new_value: *mut pyffi::PyObject,
) -> c_int {
    let created = event == ffi::FUNC_EVENT_CREATE;
    if unconcerned(created, &TRACKED_FUNCS, func as u64, FUNC_KEY) {
        return 0;
    }
    // SAFETY: called by CPython with the GIL held and a valid function object;
    // `new_value` may be NULL. The getters return borrowed references.
    unsafe {
        preserving_exception(|| {
            let old = match event {
                ffi::FUNC_EVENT_MODIFY_CODE => pyffi::PyFunction_GetCode(func),
                ffi::FUNC_EVENT_MODIFY_DEFAULTS => pyffi::PyFunction_GetDefaults(func),
                ffi::FUNC_EVENT_MODIFY_KWDEFAULTS => pyffi::PyFunction_GetKwDefaults(func),
                _ => std::ptr::null_mut(),
            };
            let values = if old.is_null() || new_value.is_null() {
                Values::UNKNOWN
            } else {
                Values::new(old as u64, new_value as u64)
            };
            if let Some(event) = FunctionEvent::from_cpython(event, values) {
                dispatch(Raw::Func {
                    handle: func as u64,
                    event,
                });
            }
        });
    }
    0
}

unsafe extern "C" fn code_callback(event: c_int, co: *mut pyffi::PyObject) -> c_int {
    let created = event == ffi::CODE_EVENT_CREATE;
    if unconcerned(created, &TRACKED_CODES, co as u64, CODE_KEY) {
        return 0;
    }
    // SAFETY: called by CPython with the GIL held and a valid code object.
    unsafe {
        preserving_exception(|| {
            if let Some(event) = CodeEvent::from_cpython(event) {
                dispatch(Raw::Code {
                    handle: co as u64,
                    event,
                });
            }
        });
    }
    0
}

// ----- the registry ------------------------------------------------------------------------

/// Creates units from dependency specs. Every registry shares one graph.
#[pyclass(module = "depwatch")]
struct Registry;

/// A dependency spec, resolved.
enum Spec {
    DictKey(u64, u64, String),
    DictWhole(u64),
    TypeAttr(u64, u64, String),
    TypeWhole(u64),
    FuncAttr(u64, Attr),
    FuncWhole(u64),
    Code(u64),
}

fn py_hash(s: &Bound<'_, PyString>) -> PyResult<u64> {
    Ok(s.hash()? as u64)
}

fn parse_spec<'py>(spec: &Bound<'py, PyAny>) -> PyResult<(Spec, Option<Bound<'py, PyType>>)> {
    let ptr = spec.as_ptr();
    if let Ok(t) = spec.cast::<PyTuple>() {
        if t.len() != 2 {
            return Err(PyValueError::new_err("a (object, name) spec has two items"));
        }
        let obj = t.get_item(0)?;
        let name_obj = t.get_item(1)?;
        let name = name_obj
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("the name in (object, name) must be a str"))?;
        let handle = obj.as_ptr() as u64;
        let text = name.to_str()?.to_string();
        if obj.cast::<PyDict>().is_ok() {
            return Ok((Spec::DictKey(handle, py_hash(name)?, text), None));
        }
        if let Ok(ty) = obj.cast::<PyType>() {
            return Ok((
                Spec::TypeAttr(handle, py_hash(name)?, text),
                Some(ty.clone()),
            ));
        }
        // SAFETY: `obj` is a live object (we hold a reference); the check reads its type.
        if unsafe { pyffi::PyFunction_Check(obj.as_ptr()) } != 0 {
            let attr = match text.as_str() {
                "__code__" => Attr::Code,
                "__defaults__" => Attr::Defaults,
                "__kwdefaults__" => Attr::KwDefaults,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "functions can be watched on __code__, __defaults__ or __kwdefaults__, not {other}"
                    )));
                }
            };
            return Ok((Spec::FuncAttr(handle, attr), None));
        }
        return Err(PyTypeError::new_err(
            "(object, name) needs a dict, a class or a function",
        ));
    }
    let handle = ptr as u64;
    if spec.cast::<PyDict>().is_ok() {
        return Ok((Spec::DictWhole(handle), None));
    }
    if let Ok(ty) = spec.cast::<PyType>() {
        return Ok((Spec::TypeWhole(handle), Some(ty.clone())));
    }
    // SAFETY: `spec` is a live object; the checks read its type.
    unsafe {
        if pyffi::PyFunction_Check(ptr) != 0 {
            return Ok((Spec::FuncWhole(handle), None));
        }
        if pyffi::PyCode_Check(ptr) != 0 {
            return Ok((Spec::Code(handle), None));
        }
    }
    Err(PyTypeError::new_err(format!(
        "cannot depend on a {}",
        spec.get_type().name()?
    )))
}

/// Records `ty`'s MRO in the type adapter and arranges for its death to be reported.
fn track_type(py: Python<'_>, s: &mut State, ty: &Bound<'_, PyType>) -> PyResult<()> {
    let mro = ty.mro();
    for t in mro.iter() {
        let t = t.cast::<PyType>()?;
        let handle = t.as_ptr() as u64;
        let bases: Vec<u64> = t
            .getattr("__bases__")?
            .cast::<PyTuple>()?
            .iter()
            .map(|b| b.as_ptr() as u64)
            .collect();
        s.types.set_bases(handle, &bases);
        if let std::collections::hash_map::Entry::Vacant(e) = s.type_refs.entry(handle) {
            let callback = PyCFunction::new_closure(
                py,
                None,
                None,
                move |_args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| {
                    dispatch(Raw::TypeDead { handle });
                },
            )?;
            // Immortal or static types cannot be weakly referenced: they never die.
            if let Ok(weak) = pyo3::types::PyWeakrefReference::new_with(t, callback) {
                e.insert(weak.into_any().unbind());
            }
        }
    }
    Ok(())
}

#[pymethods]
impl Registry {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        with_state(py, |_| ())?;
        Ok(Registry)
    }

    /// Takes a compile ticket.
    fn ticket(&self, py: Python<'_>) -> PyResult<Ticket> {
        flush(py)?;
        with_state(py, |s| {
            LIVE_TICKETS.fetch_add(1, Ordering::AcqRel);
            Ticket {
                inner: s.graph.ticket(),
            }
        })
    }

    /// Registers a unit.
    ///
    /// `deps` is a list of specs: `(dict, "key")` (also the key's absence),
    /// `(cls, "attr")`, `(func, "__code__" | "__defaults__" | "__kwdefaults__")`, a
    /// code object, or a whole dict, class or function. `sites` gives one site per
    /// dependency (default: its index). Raises `StaleTicket` or `Unstable`.
    #[pyo3(signature = (deps, *, sites=None, on_invalidate=None, ticket=None))]
    fn unit(
        &self,
        py: Python<'_>,
        deps: &Bound<'_, PyAny>,
        sites: Option<Vec<u32>>,
        on_invalidate: Option<Py<PyAny>>,
        ticket: Option<PyRef<'_, Ticket>>,
    ) -> PyResult<Py<Unit>> {
        flush(py)?;
        let specs: Vec<(Spec, Option<Bound<'_, PyType>>)> = deps
            .try_iter()?
            .map(|d| parse_spec(&d?))
            .collect::<PyResult<_>>()?;
        if let Some(sites) = &sites
            && sites.len() != specs.len()
        {
            return Err(PyValueError::new_err(
                "sites needs one entry per dependency",
            ));
        }
        let ticket = ticket.map(|t| t.inner);
        with_state(py, |s| -> PyResult<Py<Unit>> {
            for (_, ty) in &specs {
                if let Some(ty) = ty {
                    track_type(py, s, ty)?;
                }
            }
            // Before anything can track them: a function or code object's events take
            // the full path only if its bit is set (see `function_callback`).
            for (spec, _) in &specs {
                match spec {
                    Spec::FuncAttr(h, _) | Spec::FuncWhole(h) => {
                        filter_insert(&OBJECT_FILTER, *h, FUNC_KEY)
                    }
                    Spec::Code(h) => filter_insert(&OBJECT_FILTER, *h, CODE_KEY),
                    _ => {}
                }
            }
            // Watch every dict and type from now on, before registering: an object
            // CPython was not reporting (never tracked, or unwatched since its last
            // dependent went) may have changed unseen, so a ticket cannot vouch for it.
            let mut was_unobserved = false;
            for (spec, _) in &specs {
                let (handle, is_dict) = match spec {
                    Spec::DictKey(h, ..) | Spec::DictWhole(h) => (*h, true),
                    Spec::TypeAttr(h, ..) | Spec::TypeWhole(h) => (*h, false),
                    _ => continue,
                };
                let tracked = if is_dict {
                    s.dicts.get(handle)
                } else {
                    s.types.get(handle)
                };
                was_unobserved |= tracked.is_none() || s.unobserved.remove(&handle);
                let obj = handle as *mut pyffi::PyObject;
                // SAFETY: the object is alive (the caller's spec list holds it) and the
                // GIL is held. Watching twice is a no-op; for a type it also assigns a
                // fresh version tag, re-arming CPython's once-per-tag watcher.
                unsafe {
                    if is_dict {
                        ffi::PyDict_Watch(s.dict_watcher, obj);
                    } else {
                        ffi::PyType_Watch(s.type_watcher, obj);
                    }
                }
            }
            if ticket.is_some() && was_unobserved {
                // Track them now, so the retry (under a fresh ticket) can succeed.
                for (spec, _) in &specs {
                    match spec {
                        Spec::DictKey(h, ..) | Spec::DictWhole(h) => {
                            s.dicts.track(&mut s.graph, *h);
                        }
                        Spec::TypeAttr(h, ..) | Spec::TypeWhole(h) => {
                            s.types.track(&mut s.graph, *h);
                        }
                        Spec::FuncAttr(h, _) | Spec::FuncWhole(h) => {
                            s.funcs.track(&mut s.graph, *h);
                        }
                        Spec::Code(h) => {
                            s.codes.track(&mut s.graph, *h);
                        }
                    }
                }
                return Err(StaleTicket::new_err(
                    "a dependency was not watched when the ticket was taken; retry",
                ));
            }
            let State {
                graph,
                dicts,
                funcs,
                codes,
                types,
                ..
            } = s;
            let mut dep_list = Vec::with_capacity(specs.len());
            for (i, (spec, _)) in specs.iter().enumerate() {
                let site = sites.as_ref().map_or(i as u32, |s| s[i]);
                let dep = match spec {
                    Spec::DictKey(h, k, name) => {
                        filter_insert(&KEY_FILTER, *h, *k);
                        dicts.key(graph, *h, *k).named(name.as_str())
                    }
                    Spec::DictWhole(h) => {
                        ANY_WHOLE_DICT.store(true, Ordering::Relaxed);
                        filter_insert(&KEY_FILTER, *h, WHOLE_KEY);
                        dicts.whole(graph, *h)
                    }
                    Spec::TypeAttr(h, k, name) => types.attr(graph, *h, *k).named(name.as_str()),
                    Spec::TypeWhole(h) => types.whole(graph, *h),
                    Spec::FuncAttr(h, a) => funcs.attr(graph, *h, *a),
                    Spec::FuncWhole(h) => Dep::whole(funcs.track(graph, *h)),
                    Spec::Code(h) => codes.whole(graph, *h),
                };
                dep_list.push(dep.at(site));
            }
            let serial = s.next_serial;
            let registered = match &ticket {
                Some(t) => s.graph.register_with_ticket(t, dep_list, serial),
                None => s.graph.register(dep_list, serial),
            };
            let id = registered.map_err(|r| match r.error {
                GraphError::StaleTicket { .. } | GraphError::ForeignTicket => {
                    StaleTicket::new_err(r.error.to_string())
                }
                GraphError::Unstable { .. } => Unstable::new_err(r.error.to_string()),
                other => DepwatchError::new_err(other.to_string()),
            })?;
            s.next_serial += 1;
            let unit = Py::new(
                py,
                Unit {
                    serial,
                    valid: AtomicBool::new(true),
                    reasons: Mutex::new(Vec::new()),
                    sites: Mutex::new(Vec::new()),
                    on_invalidate,
                },
            )?;
            s.units.insert(serial, unit.clone_ref(py));
            s.unit_ids.insert(serial, id);
            // A safe point: watch newly depended-on dicts and types right away.
            s.deferred.extend(s.requests.drain());
            apply_watch_requests(s);
            Ok(unit)
        })?
    }

    /// Whether a new dependency on `(obj, name)` or `obj` would be accepted by the
    /// storm policy.
    fn is_stable(&self, py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (spec, _) = parse_spec(spec)?;
        with_state(py, |s| {
            let (id, aspect) = match spec {
                Spec::DictKey(h, k, _) => (s.dicts.get(h), depwatch::Aspect::Key(k)),
                Spec::DictWhole(h) => (s.dicts.get(h), depwatch::Aspect::Whole),
                Spec::TypeAttr(h, k, _) => (s.types.get(h), depwatch::Aspect::Key(k)),
                Spec::TypeWhole(h) => (s.types.get(h), depwatch::Aspect::Whole),
                Spec::FuncAttr(h, a) => (s.funcs.get(h), depwatch::Aspect::Attr(a)),
                Spec::FuncWhole(h) => (s.funcs.get(h), depwatch::Aspect::Whole),
                Spec::Code(h) => (s.codes.get(h), depwatch::Aspect::Whole),
            };
            id.is_none_or(|id| s.graph.is_stable(id, aspect).unwrap_or(true))
        })
    }

    /// Runs pending `on_invalidate` callbacks and watch requests now.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        flush(py)
    }

    /// Counters: the graph's and the binding's.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        flush(py)?;
        let (g, b, dicts, funcs, types) = with_state(py, |s| {
            (
                s.graph.stats(),
                s.stats,
                s.dicts.stats(),
                s.funcs.stats(),
                s.types.stats(),
            )
        })?;
        let d = PyDict::new(py);
        d.set_item("events", g.events)?;
        d.set_item("quiet_events", g.quiet_events)?;
        d.set_item("prefilter_rejects", g.prefilter_rejects)?;
        d.set_item("invalidated", g.invalidated)?;
        d.set_item("live_units", g.live_units)?;
        d.set_item("live_edges", g.live_edges)?;
        d.set_item("live_objects", g.live_objects)?;
        d.set_item("bytes", g.bytes)?;
        d.set_item("callbacks", b.callbacks)?;
        d.set_item("on_invalidate_calls", b.on_invalidate_calls)?;
        d.set_item("on_invalidate_errors", b.on_invalidate_errors)?;
        d.set_item("same_value_rearms", dicts.same_value + funcs.same_value)?;
        d.set_item("prefilter_skips", PREFILTER_SKIPS.load(Ordering::Relaxed))?;
        d.set_item("tracked_dicts", dicts.tracked)?;
        d.set_item("tracked_types", types.tracked)?;
        d.set_item("retired_dicts", dicts.retired)?;
        Ok(d)
    }
}

// ----- the benchmark floor ---------------------------------------------------------------

/// A dict watcher that returns at once: what CPython charges to call any watcher.
unsafe extern "C" fn noop_dict_callback(
    _event: c_int,
    _dict: *mut pyffi::PyObject,
    _key: *mut pyffi::PyObject,
    _new_value: *mut pyffi::PyObject,
) -> c_int {
    0
}

/// The watcher id of `noop_dict_callback`, once added (-1 before).
static NOOP_WATCHER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// For benchmarks only: watches `d` with a dict watcher that does nothing, so a
/// benchmark can time CPython's own cost of calling a watcher side by side with
/// depwatch's. Uses one of CPython's 8 dict-watcher slots for the life of the process.
#[pyfunction]
fn _noop_watch(py: Python<'_>, d: &Bound<'_, PyDict>) -> PyResult<()> {
    let _ = py;
    let mut id = NOOP_WATCHER.load(Ordering::Relaxed);
    if id < 0 {
        // SAFETY: the GIL is held (we have a `Python` token) and the callback is a
        // `'static` function with the signature the header declares.
        id = unsafe { ffi::PyDict_AddWatcher(noop_dict_callback) };
        if id < 0 {
            return Err(PyErr::take(py)
                .unwrap_or_else(|| PyRuntimeError::new_err("could not add a dict watcher")));
        }
        NOOP_WATCHER.store(id, Ordering::Relaxed);
    }
    // SAFETY: the GIL is held and `d` is a live dict for the duration of the call.
    if unsafe { ffi::PyDict_Watch(id, d.as_ptr()) } < 0 {
        return Err(
            PyErr::take(py).unwrap_or_else(|| PyRuntimeError::new_err("PyDict_Watch failed"))
        );
    }
    Ok(())
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Registry>()?;
    m.add_function(wrap_pyfunction!(_noop_watch, m)?)?;
    m.add_class::<Unit>()?;
    m.add_class::<Ticket>()?;
    m.add("DepwatchError", py.get_type::<DepwatchError>())?;
    m.add("StaleTicket", py.get_type::<StaleTicket>())?;
    m.add("Unstable", py.get_type::<Unstable>())?;
    Ok(())
}
