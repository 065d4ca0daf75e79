//! The one global state every `Registry` shares, and how events reach it.
//!
//! * One global [`State`] holds the graph and the four adapters (watchers are per
//!   interpreter, so one graph is the honest model).
//! * CPython calls the watcher callbacks with the GIL held, and they must not run
//!   Python code. A callback turns its arguments into a [`Raw`] event (handles are
//!   object addresses, keys are str hashes) and applies it at once if the state is
//!   free. If the state is busy, this is a reentrant event (a decref inside depwatch's
//!   own critical section); the holder applies the queue before it lets go. Nothing in a
//!   critical section runs Python code or releases the GIL, so no other thread can
//!   mutate anything while the state is held.
//! * A unit hit by a dict, function or code event is marked invalid right there, so
//!   `unit.valid` is already `False` when the mutating statement finishes. A unit hit by
//!   a class event only through `(class, name)` dependencies is marked *suspect*:
//!   CPython's type watcher names no attribute, so the attributes are looked up again
//!   (re-resolved) at the next safe point or when `unit.valid` is read, and the unit is
//!   re-armed if each still resolves to the same objects (as Cinder's
//!   `TypeAttrDeoptPatcher::maybePatch` does). The lookup must wait: on 3.13 the
//!   watcher runs before the class dict is updated.
//! * The user's `on_invalidate(unit, reasons)` and the deferred watch calls run later,
//!   at a safe point: a `Py_AddPendingCall` scheduled by the callback, or the next call
//!   into depwatch, whichever comes first.
//! * Deferred watch requests are reconciled against the current graph, not replayed:
//!   a dict is unwatched only if it still has no dependents and is still alive (its
//!   handle still tracked), so an address CPython reuses is never touched. Unwatching
//!   retires the dict's handle (a new dict at that address gets a fresh ID), unless
//!   units were invalidated through the dict: such a dict stays watched until it dies,
//!   so its storm history lasts exactly as long as it does. Classes stay watched until
//!   they die.

use std::collections::{HashMap, HashSet};
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, TryLockError};

use depwatch::adapters::{
    CodeAdapter, CodeEvent, DictAdapter, DictEvent, FunctionAdapter, FunctionEvent, TypeAdapter,
    Values, WatchAction, WatchRequest, WatchRequests,
};
use depwatch::{Aspect, Fire, Graph, Kind, Report, Verdict};
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use crate::cpython;
use crate::ffi;
use crate::filters::{TRACKED_CODES, TRACKED_FUNCS, refresh_object_filter};
use crate::pytypes::{Unit, lock};

/// An event from a watcher callback, in depwatch's terms.
pub enum Raw {
    /// `old_value`: for a MODIFIED event applied synchronously, the (dict, key, new
    /// value) addresses to read the old value from, only if the event would fire.
    Dict {
        handle: u64,
        event: DictEvent,
        old_value: Option<(usize, usize, usize)>,
    },
    /// A key event whose key is not an exact `str`: it could equal any str key, so it
    /// hits the whole dict, under its own label.
    DictNonStr {
        handle: u64,
        label: &'static str,
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
pub struct BindingStats {
    pub callbacks: u64,
    pub on_invalidate_calls: u64,
    pub on_invalidate_errors: u64,
    /// Suspect units whose class attributes still resolved to the same objects.
    pub type_rearms: u64,
    /// Classes CPython could give no version tag when depwatch re-armed them.
    pub untagged_classes: u64,
}

/// A class depwatch watches: a tracked class, or one its lookups can reach.
pub struct ClassInfo {
    /// A weak reference whose callback reports the class's death (`None` for a class
    /// that cannot be weakly referenced: a static type, which never dies).
    _weak: Option<Py<PyAny>>,
    /// When depwatch last gave it a version tag (its arm clock), or `None` if CPython
    /// reported a change since: until re-armed, further changes are silent.
    pub armed_at: Option<u64>,
}

pub struct State {
    pub graph: Graph<u64>,
    pub dicts: DictAdapter,
    pub funcs: FunctionAdapter,
    pub codes: CodeAdapter,
    pub types: TypeAdapter,
    pub requests: WatchRequests,
    pub units: HashMap<u64, Py<Unit>>,
    pub unit_ids: HashMap<u64, depwatch::UnitId>,
    pub next_serial: u64,
    /// Invalidated units whose `on_invalidate` has not run yet.
    pub fired: Vec<Py<Unit>>,
    /// Watch requests waiting for a safe point.
    pub deferred: Vec<WatchRequest>,
    /// Every class depwatch watches, by address.
    pub classes: HashMap<u64, ClassInfo>,
    /// Dicts through which units were invalidated: watched until they die.
    pub dict_history: HashSet<u64>,
    /// Serials of suspect units (see the module docs).
    pub suspects: Vec<u64>,
    /// Classes CPython reported a change of, with the version tag they had then. While
    /// a class still has that tag, CPython is still inside the modification (running
    /// other watchers, or code they run), and on 3.13 the class dict is not updated
    /// yet: a lookup then cannot re-arm a unit.
    pub in_flight: Vec<(u64, u32)>,
    /// Attribute names by str hash, for reasons.
    pub names: HashMap<u64, String>,
    /// The arm clock: bumped each time a class is given a version tag.
    pub clock: u64,
    pub dict_watcher: c_int,
    pub type_watcher: c_int,
    pub stats: BindingStats,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static QUEUE: Mutex<Vec<Raw>> = Mutex::new(Vec::new());
/// Whether `QUEUE` may hold events (set by reentrant callbacks), so the common case
/// never touches the queue's lock.
static QUEUED: AtomicBool = AtomicBool::new(false);
static PENDING_SCHEDULED: AtomicBool = AtomicBool::new(false);

/// Runs `f` on the state (installing the watchers on first use), then applies any
/// events queued meanwhile. Refuses, rather than deadlocks, if called from inside
/// depwatch's own critical section. `f` must run no Python code.
pub fn with_state<R>(py: Python<'_>, f: impl FnOnce(&mut State) -> R) -> PyResult<R> {
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
    if (!state.fired.is_empty() || !state.deferred.is_empty() || !state.suspects.is_empty())
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

fn install(py: Python<'_>) -> PyResult<State> {
    // SAFETY: the GIL is held (we have a `Python` token), and each callback is a
    // `'static` `extern "C"` function with exactly the signature the header declares.
    let (dict_watcher, type_watcher, func_watcher, code_watcher) = unsafe {
        (
            ffi::PyDict_AddWatcher(crate::watchers::dict_callback),
            ffi::PyType_AddWatcher(crate::watchers::type_callback),
            ffi::PyFunction_AddWatcher(crate::watchers::function_callback),
            ffi::PyCode_AddWatcher(crate::watchers::code_callback),
        )
    };
    if dict_watcher < 0 || type_watcher < 0 || func_watcher < 0 || code_watcher < 0 {
        return Err(PyErr::take(py)
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
        classes: HashMap::new(),
        dict_history: HashSet::new(),
        suspects: Vec::new(),
        in_flight: Vec::new(),
        names: HashMap::new(),
        clock: 0,
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
    refresh_object_filter(
        state.funcs.stats().retired + state.codes.stats().retired,
        state.funcs.tracked_handles(),
        state.codes.tracked_handles(),
    );
}

/// How the handler answers the units an event fires.
#[derive(Clone, Copy)]
enum Mode {
    /// Invalidate.
    Plain,
    /// A class event: units hit only through re-armable `(class, name)` dependencies
    /// become suspect and stay; the others are invalidated.
    TypeEvent,
    /// A re-check found `(ty, hash)` resolving to `now`: units that saw the same stay.
    Recheck {
        ty: u64,
        hash: u64,
        now: (*mut pyffi::PyObject, *mut pyffi::PyObject),
    },
}

/// What the handler needs of the state.
struct Answer<'a> {
    units: &'a mut HashMap<u64, Py<Unit>>,
    unit_ids: &'a mut HashMap<u64, depwatch::UnitId>,
    fired: &'a mut Vec<Py<Unit>>,
    suspects: &'a mut Vec<u64>,
    names: &'a HashMap<u64, String>,
}

fn ptr_of(o: &Option<Py<PyAny>>) -> *mut pyffi::PyObject {
    o.as_ref().map_or(std::ptr::null_mut(), |o| o.as_ptr())
}

/// Whether `unit` saw `(ty, hash)` resolve to `now` when it was registered.
fn unit_saw(
    unit: &Unit,
    ty: u64,
    hash: u64,
    now: (*mut pyffi::PyObject, *mut pyffi::PyObject),
) -> bool {
    let attrs = lock(&unit.attrs);
    let mut matching = attrs
        .iter()
        .filter(|a| a.ty == ty && a.hash == hash)
        .peekable();
    matching.peek().is_some()
        && matching.all(|a| {
            a.seen
                .as_ref()
                .is_some_and(|(f, m)| ptr_of(f) == now.0 && ptr_of(m) == now.1)
        })
}

impl Answer<'_> {
    fn answer(&mut self, fire: Fire<'_, u64>, mode: Mode) -> Verdict {
        let serial = *fire.payload;
        let unit = self.units.get(&serial).map(|u| u.get());
        match (mode, unit) {
            (Mode::TypeEvent, Some(unit)) if unit.rearmable && !fire.is_terminal() => {
                let attrs_only = fire.hits.iter().all(|h| {
                    h.cause.kind == Kind::Type && matches!(h.dependency.aspect, Aspect::Key(_))
                });
                if attrs_only {
                    if !unit.suspect.swap(true, Ordering::AcqRel) {
                        self.suspects.push(serial);
                    }
                    return Verdict::Rearmed;
                }
            }
            (Mode::Recheck { ty, hash, now }, Some(unit))
                if unit.rearmable && unit_saw(unit, ty, hash, now) =>
            {
                return Verdict::Rearmed;
            }
            _ => {}
        }
        self.invalidate(serial, &fire);
        Verdict::Invalidate
    }

    fn invalidate(&mut self, serial: u64, fire: &Fire<'_, u64>) {
        self.unit_ids.remove(&serial);
        let Some(py_unit) = self.units.remove(&serial) else {
            return;
        };
        let unit = py_unit.get();
        unit.valid.store(false, Ordering::Release);
        unit.suspect.store(false, Ordering::Release);
        let mut reasons = lock(&unit.reasons);
        for c in fire.causes() {
            if c.kind == Kind::Type && c.aspect == Aspect::Whole && !c.destroyed {
                // CPython names no attribute: name the unit's own that the event hit.
                for h in fire.hits.iter().filter(|h| std::ptr::eq(h.cause, c)) {
                    let r = match h.dependency.aspect {
                        Aspect::Key(k) => match self.names.get(&k) {
                            Some(n) => format!("{} {n}", c.label),
                            None => c.label.to_string(),
                        },
                        _ => c.label.to_string(),
                    };
                    if !reasons.contains(&r) {
                        reasons.push(r);
                    }
                }
                continue;
            }
            reasons.push(match &c.name {
                Some(n) => format!("{} {n}", c.label),
                None => c.label.to_string(),
            });
        }
        drop(reasons);
        lock(&unit.sites).extend(fire.sites());
        self.fired.push(py_unit);
    }
}

/// Applies one event; returns whether it fired a unit or killed an object (so watch
/// requests or callbacks may be waiting).
pub fn apply(state: &mut State, raw: Raw) -> bool {
    let mode = if matches!(raw, Raw::Type { .. }) {
        Mode::TypeEvent
    } else {
        Mode::Plain
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
    let State {
        graph,
        dicts,
        funcs,
        codes,
        types,
        units,
        unit_ids,
        fired,
        classes,
        dict_history,
        suspects,
        in_flight,
        names,
        ..
    } = state;
    let mut answer = Answer {
        units,
        unit_ids,
        fired,
        suspects,
        names,
    };
    let mut handler = |_: &mut Graph<u64>, fire: Fire<'_, u64>| answer.answer(fire, mode);
    // Errors here are stale IDs for objects already retired: nothing to invalidate.
    let report = match raw {
        Raw::Dict { handle, event, .. } => {
            let report = dicts.on_event(graph, handle, event, &mut handler);
            if event == DictEvent::Deallocated {
                dict_history.remove(&handle);
            } else if report.as_ref().is_ok_and(|r| r.invalidated > 0) {
                dict_history.insert(handle);
            }
            report
        }
        Raw::DictNonStr { handle, label } => match dicts.get(handle) {
            Some(id) => {
                let report = graph.notify(id, Aspect::Whole, label, &mut handler);
                if report.as_ref().is_ok_and(|r| r.invalidated > 0) {
                    dict_history.insert(handle);
                }
                report
            }
            None => Ok(Report::default()),
        },
        Raw::Func { handle, event } => funcs.on_event(graph, handle, event, &mut handler),
        Raw::Code { handle, event } => codes.on_event(graph, handle, event, &mut handler),
        Raw::Type { handle } => {
            if let Some(c) = classes.get_mut(&handle) {
                c.armed_at = None;
                // SAFETY: the class is alive: CPython is reporting a change to it.
                let tag = unsafe { (*(handle as *mut pyffi::PyTypeObject)).tp_version_tag };
                // Drop the modifications that are over (their class's tag moved on).
                in_flight.retain(|&(h, t)| {
                    // SAFETY: a class in `classes` is alive (its death removes it).
                    classes.contains_key(&h)
                        && unsafe { (*(h as *mut pyffi::PyTypeObject)).tp_version_tag } == t
                });
                in_flight.push((handle, tag));
            }
            types.on_modified(graph, handle, None, &mut handler)
        }
        Raw::TypeDead { handle } => {
            // Dropping the weak reference runs no Python code: its callback is ours.
            classes.remove(&handle);
            types.on_deallocated(graph, handle, &mut handler)
        }
    };
    terminal || report.is_ok_and(|r| r.fired > 0)
}

/// Applies a raw event from a watcher callback now, or queues it if depwatch is busy
/// (a reentrant event): the holder drains the queue before it unlocks.
pub fn dispatch(mut raw: Raw) {
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
    // Synchronous, before the store: read the old value, but only if it matters and
    // only where the lookup runs no Python code.
    if let Raw::Dict {
        handle,
        event: DictEvent::Modified { key, values },
        old_value: Some((dict, k, new)),
    } = &mut raw
    {
        let fires = state
            .dicts
            .get(*handle)
            .is_some_and(|id| state.graph.would_fire(id, Aspect::Key(*key)) == Ok(true));
        let dict = *dict as *mut pyffi::PyObject;
        // SAFETY: we are inside the dict watcher callback: the GIL is held and the
        // dict, key and new value are alive.
        if fires && unsafe { cpython::str_keys_only(dict) } {
            // SAFETY: as above. The key is an exact str and so is every key of the
            // dict, so the lookup compares strings only and runs no Python code. The
            // result is a borrowed reference.
            let old = unsafe { pyffi::PyDict_GetItem(dict, *k as *mut pyffi::PyObject) };
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

/// Re-arms classes, re-checks suspect units, applies deferred watch requests, then runs
/// pending `on_invalidate` callbacks.
pub fn flush(py: Python<'_>) -> PyResult<()> {
    let fired = with_state(py, |s| {
        apply_watch_requests(py, s);
        resolve_suspects(s);
        std::mem::take(&mut s.fired)
    })?;
    let mut calls = 0;
    let mut errors = 0;
    for py_unit in fired {
        let unit = py_unit.get();
        // Outside depwatch's lock: dropping them may run finalizers.
        drop(std::mem::take(&mut *lock(&unit.attrs)));
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

/// Invalidates one registered unit for a change CPython reports to no watcher
/// (`reason` says which); its `on_invalidate` runs at the next safe point.
pub fn invalidate_now(py: Python<'_>, serial: u64, reason: &str) -> PyResult<()> {
    with_state(py, |s| {
        if let Some(id) = s.unit_ids.remove(&serial) {
            let _ = s.graph.unregister(id);
        }
        if let Some(py_unit) = s.units.remove(&serial) {
            let unit = py_unit.get();
            unit.valid.store(false, Ordering::Release);
            unit.suspect.store(false, Ordering::Release);
            lock(&unit.reasons).push(reason.to_string());
            s.fired.push(py_unit);
        }
    })
}

/// Re-checks suspect units now (`unit.valid` calls this); `on_invalidate` waits for the
/// next safe point.
pub fn recheck(py: Python<'_>) -> PyResult<()> {
    with_state(py, |s| {
        apply_watch_requests(py, s);
        resolve_suspects(s);
    })
}

/// Whether CPython is still inside the modification of a class it reported (the class
/// keeps the version tag it had then); prunes the modifications that are over.
pub fn any_in_flight(s: &mut State) -> bool {
    let classes = &s.classes;
    s.in_flight.retain(|&(h, tag)| {
        // SAFETY: a class in `classes` is alive (its death removes it).
        classes.contains_key(&h)
            && unsafe { (*(h as *mut pyffi::PyTypeObject)).tp_version_tag } == tag
    });
    !s.in_flight.is_empty()
}

/// Re-resolves the `(class, name)` dependencies of suspect units. Classes are re-armed
/// first (by the caller), so a change made after this look is reported again.
fn resolve_suspects(s: &mut State) {
    if s.suspects.is_empty() {
        return;
    }
    // Inside a class modification a lookup may still see the old value: changes found
    // now invalidate, but nothing is re-armed until the modification is over.
    let deferring = any_in_flight(s);
    if !deferring {
        // Every class a suspect's lookups reach gets a version tag first, so a change
        // made after the look below is reported again.
        let mut classes: Vec<u64> = Vec::new();
        for serial in &s.suspects {
            if let Some(u) = s.units.get(serial) {
                for a in lock(&u.get().attrs).iter() {
                    if !classes.contains(&a.ty) {
                        classes.push(a.ty);
                    }
                }
            }
        }
        for ty in classes {
            // SAFETY: the class of a registered unit is alive (see below).
            if let Err(bad) = unsafe { arm_closure(s, ty) } {
                out_of_tags(s, bad);
            }
        }
    }
    let serials = std::mem::take(&mut s.suspects);
    type Now = Option<(*mut pyffi::PyObject, *mut pyffi::PyObject)>;
    let mut now: HashMap<(u64, u64), Now> = HashMap::new();
    let mut changed: Vec<(u64, u64)> = Vec::new();
    for serial in &serials {
        let Some(unit) = s.units.get(serial).map(|u| u.get()) else {
            continue;
        };
        if !unit.suspect.load(Ordering::Acquire) {
            continue;
        }
        for a in lock(&unit.attrs).iter() {
            let key = (a.ty, a.hash);
            let cur = *now.entry(key).or_insert_with(|| {
                // SAFETY: the GIL is held. The unit is registered, so its class is
                // alive: a class's death is reported (weak reference callback) and
                // invalidates its dependents. The name is an exact str.
                unsafe { cpython::resolve(a.ty as *mut pyffi::PyTypeObject, a.name.as_ptr()) }
            });
            let same = match (&a.seen, cur) {
                (Some((f, m)), Some((cf, cm))) => ptr_of(f) == cf && ptr_of(m) == cm,
                _ => false,
            };
            if !same && !changed.contains(&key) {
                changed.push(key);
            }
        }
    }
    let State {
        graph,
        types,
        units,
        unit_ids,
        fired,
        suspects,
        names,
        ..
    } = s;
    for (ty, hash) in changed {
        let Some(id) = types.get(ty) else { continue };
        let mode = match now[&(ty, hash)] {
            Some(cur) => Mode::Recheck { ty, hash, now: cur },
            None => Mode::Plain,
        };
        let mut answer = Answer {
            units: &mut *units,
            unit_ids: &mut *unit_ids,
            fired: &mut *fired,
            suspects: &mut *suspects,
            names,
        };
        let _ = graph.notify(id, Aspect::Key(hash), "type.MODIFIED", &mut |_, f| {
            answer.answer(f, mode)
        });
    }
    for serial in serials {
        let Some(u) = s.units.get(&serial) else {
            continue;
        };
        if deferring {
            if u.get().suspect.load(Ordering::Acquire) && !s.suspects.contains(&serial) {
                s.suspects.push(serial);
            }
        } else if u.get().suspect.swap(false, Ordering::AcqRel) {
            s.stats.type_rearms += 1;
        }
    }
}

/// Records the classes a lookup on the class at `handle` can reach (see
/// [`cpython::closure`]) as its "bases" in the type adapter, so a change to any of them
/// fans out to it, and arranges for each one's death to be reported.
///
/// # Safety
/// The GIL must be held and `handle` must be a live class.
pub unsafe fn track_closure(py: Python<'_>, s: &mut State, handle: u64) -> PyResult<()> {
    // SAFETY: as for this function; closure members are kept alive by the class.
    let members = unsafe { cpython::closure(handle as *mut pyffi::PyTypeObject) };
    for &t in &members {
        let h = t as u64;
        // SAFETY: `t` is alive (as above).
        let reach: Vec<u64> = unsafe { cpython::closure(t) }
            .into_iter()
            .skip(1)
            .map(|m| m as u64)
            .collect();
        s.types.set_bases(h, &reach);
        if let std::collections::hash_map::Entry::Vacant(e) = s.classes.entry(h) {
            let callback = PyCFunction::new_closure(
                py,
                None,
                None,
                move |_args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| {
                    dispatch(Raw::TypeDead { handle: h });
                },
            )?;
            // SAFETY: `t` is a live type and `callback` a live callable; the result is a
            // new reference or NULL. Creating it allocates and runs no Python code.
            let weak = unsafe { pyffi::PyWeakref_NewRef(t.cast(), callback.as_ptr()) };
            let weak = if weak.is_null() {
                // Static types cannot be weakly referenced: they never die.
                PyErr::take(py);
                None
            } else {
                // SAFETY: `weak` is a new, owned reference.
                Some(unsafe { Bound::from_owned_ptr(py, weak) }.unbind())
            };
            e.insert(ClassInfo {
                _weak: weak,
                armed_at: None,
            });
        }
    }
    Ok(())
}

/// Gives every class a lookup on `handle` can reach a version tag and watches it, so
/// CPython reports its next change. Returns the first class CPython can give no tag
/// (3.13 gives a class at most 1000): its changes would go unreported.
///
/// # Safety
/// The GIL must be held and `handle` must be a live class.
pub unsafe fn arm_closure(s: &mut State, handle: u64) -> Result<(), u64> {
    // SAFETY: as for this function.
    let members = unsafe { cpython::closure(handle as *mut pyffi::PyTypeObject) };
    for t in members {
        // SAFETY: `t` is alive (kept by the class); `PyType_Watch` runs no Python code
        // and assigns a version tag if CPython still can.
        let tagged = unsafe {
            ffi::PyType_Watch(s.type_watcher, t.cast());
            cpython::has_version_tag(t)
        };
        if !tagged {
            return Err(t as u64);
        }
        if let Some(info) = s.classes.get_mut(&(t as u64))
            && info.armed_at.is_none()
        {
            s.clock += 1;
            info.armed_at = Some(s.clock);
        }
    }
    Ok(())
}

/// CPython could give the class at `bad` no version tag: it will report none of its
/// changes, so every unit depending on it, or on a class whose lookups reach it, is
/// invalidated.
fn out_of_tags(s: &mut State, bad: u64) {
    s.stats.untagged_classes += 1;
    let targets: Vec<_> = s
        .types
        .with_subclasses(bad)
        .into_iter()
        .filter_map(|t| s.types.get(t))
        .collect();
    let State {
        graph,
        units,
        unit_ids,
        fired,
        suspects,
        names,
        ..
    } = s;
    let mut answer = Answer {
        units,
        unit_ids,
        fired,
        suspects,
        names,
    };
    graph.begin_batch();
    for id in targets {
        let _ = graph.notify_deferred(id, Aspect::Whole, "type.OUT_OF_VERSION_TAGS");
    }
    let _ = graph.end_batch(&mut |_, f| answer.answer(f, Mode::Plain));
}

/// Reconciles each deferred request with the graph as it is now.
pub fn apply_watch_requests(py: Python<'_>, s: &mut State) {
    s.deferred.extend(s.requests.drain());
    let requests = std::mem::take(&mut s.deferred);
    for r in requests {
        match r.kind {
            Kind::Dict => {
                // Untracked means dead (or retired): never touch that address.
                let Some(id) = s.dicts.get(r.handle) else {
                    continue;
                };
                let watched = s.graph.is_watched(id) == Ok(true);
                let obj = r.handle as *mut pyffi::PyObject;
                match (watched, r.action) {
                    // SAFETY: the handle is tracked, so the dict is alive (its
                    // DEALLOCATED event would have retired it); the GIL is held.
                    (true, WatchAction::Watch) => unsafe {
                        ffi::PyDict_Watch(s.dict_watcher, obj);
                    },
                    (false, WatchAction::Unwatch) if !s.dict_history.contains(&r.handle) => {
                        // SAFETY: as above.
                        unsafe { ffi::PyDict_Unwatch(s.dict_watcher, obj) };
                        // CPython will not report its death now: retire the handle, so
                        // a dict allocated at this address later is a new object.
                        let _ = s.dicts.on_event(
                            &mut s.graph,
                            r.handle,
                            DictEvent::Deallocated,
                            &mut |_, _| Verdict::Invalidate,
                        );
                    }
                    _ => {}
                }
            }
            Kind::Type => {
                let Some(id) = s.types.get(r.handle) else {
                    continue;
                };
                let wanted = matches!(r.action, WatchAction::Watch | WatchAction::Rearm);
                if wanted && s.graph.is_watched(id) == Ok(true) {
                    // SAFETY: tracked, so alive (its weak reference callback would have
                    // retired it); the GIL is held. The class's reach is read again: an
                    // assignment to `__bases__` changes its MRO.
                    let _ = unsafe { track_closure(py, s, r.handle) };
                    // SAFETY: as above.
                    if let Err(bad) = unsafe { arm_closure(s, r.handle) } {
                        out_of_tags(s, bad);
                    }
                }
            }
            _ => {}
        }
    }
}
