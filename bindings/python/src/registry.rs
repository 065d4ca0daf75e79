//! `Registry`: dependency specs in, units out, and errors that say what happened in
//! Python's terms.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use depwatch::{Aspect, Attr, Dep, Error as GraphError};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi as pyffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use crate::cpython;
use crate::ffi;
use crate::filters::{
    ANY_WHOLE_DICT, CODE_KEY, FUNC_KEY, KEY_FILTER, LIVE_TICKETS, OBJECT_FILTER, WHOLE_KEY,
    filter_insert, prefilter_skips,
};
use crate::pytypes::{AttrDep, Ticket, Unit};
use crate::state::{State, arm_closure, flush, track_closure, with_state};
use crate::{DepwatchError, StaleTicket, Unstable};

/// What a dependency spec names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    DictKey(u64, u64),
    DictWhole(u64),
    TypeAttr(u64, u64),
    TypeWhole(u64),
    FuncAttr(u64, Attr),
    FuncWhole(u64),
    Code(u64),
}

/// A dependency spec, parsed (outside depwatch's lock).
struct Spec {
    target: Target,
    /// The object depended on.
    obj: Py<PyAny>,
    /// The key or attribute name, as an exact str.
    name: Option<Py<PyAny>>,
    text: String,
}

impl Spec {
    fn dict_or_type(&self) -> Option<(u64, bool)> {
        match self.target {
            Target::DictKey(h, _) | Target::DictWhole(h) => Some((h, true)),
            Target::TypeAttr(h, _) | Target::TypeWhole(h) => Some((h, false)),
            _ => None,
        }
    }

    /// What it is, in Python terms, for an error message. May run Python code: call it
    /// outside depwatch's lock.
    fn what(&self, py: Python<'_>) -> String {
        let obj = self.obj.bind(py);
        let quoted = self
            .name
            .as_ref()
            .and_then(|n| n.bind(py).repr().ok())
            .map(|r| r.to_string())
            .unwrap_or_default();
        match self.target {
            Target::DictKey(..) => match obj.cast::<PyDict>() {
                Ok(d) => format!("the key {quoted} of {}", describe_dict(d)),
                Err(_) => format!("the key {quoted} of a dict"),
            },
            Target::DictWhole(_) => match obj.cast::<PyDict>() {
                Ok(d) => describe_dict(d),
                Err(_) => "a dict".into(),
            },
            Target::TypeAttr(..) => match obj.cast::<PyType>() {
                Ok(t) => format!("the attribute {quoted} of class {}", describe_class(t)),
                Err(_) => format!("the attribute {quoted} of a class"),
            },
            Target::TypeWhole(_) => match obj.cast::<PyType>() {
                Ok(t) => format!("class {}", describe_class(t)),
                Err(_) => "a class".into(),
            },
            Target::FuncAttr(..) => format!("{}.{}", describe_function(obj), self.text),
            Target::FuncWhole(_) => format!("function {}", describe_function(obj)),
            Target::Code(_) => "a code object".into(),
        }
    }
}

/// Why a registration was refused, worked out under the lock and said outside it.
enum Refusal {
    /// The storm policy (the index of the spec, if found).
    Storm(Option<usize>),
    /// A dependency changed after the ticket was taken.
    Changed(Option<usize>),
    /// A dependency was not watched when the ticket was taken.
    Unwatched(usize),
    /// CPython could give this class (named) no version tag.
    NoTag(usize, String),
    ForeignTicket,
    NoDependencies,
    Graph(String),
    Py(PyErr),
}

impl From<PyErr> for Refusal {
    fn from(e: PyErr) -> Self {
        Refusal::Py(e)
    }
}

impl Refusal {
    fn into_err(self, py: Python<'_>, specs: &[Spec], threshold: u32) -> PyErr {
        let what =
            |i: Option<usize>| i.map_or_else(|| "a dependency".to_string(), |i| specs[i].what(py));
        match self {
            Refusal::Storm(i) => Unstable::new_err(format!(
                "{} changed too often: it invalidated code {threshold} times, so depwatch's \
storm policy refuses new dependencies on it. Do not specialize on it; read it each time.",
                what(i)
            )),
            Refusal::Changed(i) => StaleTicket::new_err(format!(
                "{} changed after the compile ticket was taken, so what was computed under the \
ticket may have read a stale value; take a new ticket and compute again",
                what(i)
            )),
            Refusal::Unwatched(i) => StaleTicket::new_err(format!(
                "{} was not watched when the compile ticket was taken, so the ticket \
cannot vouch for it. It is watched now: take a new ticket and compute again.",
                what(Some(i))
            )),
            Refusal::NoTag(i, class) => Unstable::new_err(format!(
                "CPython can no longer report changes to class {class}: it could not give it \
a version tag (CPython 3.13 gives a class at most 1000, and each change followed by a \
lookup uses one). So depwatch refuses to depend on {}; read it each time instead.",
                what(Some(i))
            )),
            Refusal::ForeignTicket => {
                StaleTicket::new_err("the compile ticket belongs to another graph")
            }
            Refusal::NoDependencies => DepwatchError::new_err(
                "a unit needs at least one dependency: one that could never be invalidated \
would never be wrong, which is almost certainly a mistake",
            ),
            Refusal::Graph(m) => DepwatchError::new_err(m),
            Refusal::Py(e) => e,
        }
    }
}

/// "a" or "an", for a type name.
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some(c) if "aeiouAEIOU".contains(c) => "an",
        _ => "a",
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

fn describe_dict(d: &Bound<'_, PyDict>) -> String {
    let at = format!("{:#x}", d.as_ptr() as usize);
    match d.get_item("__name__") {
        Ok(Some(n)) if n.cast::<PyString>().is_ok() => match n.repr() {
            Ok(r) => format!("the namespace of module {r} (a dict at {at})"),
            Err(_) => format!("a module's namespace (a dict at {at})"),
        },
        _ => match d.len() {
            1 => format!("a dict at {at} with 1 key"),
            n => format!("a dict at {at} with {n} keys"),
        },
    }
}

fn describe_class(ty: &Bound<'_, PyType>) -> String {
    ty.qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn describe_function(f: &Bound<'_, PyAny>) -> String {
    f.getattr("__qualname__")
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

const WHAT_CAN: &str = "a dependency is (dict, key), (class, attribute), \
(function, '__code__' | '__defaults__' | '__kwdefaults__'), a code object, or a whole \
dict, class or function";

fn parse_spec(spec: &Bound<'_, PyAny>) -> PyResult<Spec> {
    let py = spec.py();
    if let Ok(t) = spec.cast::<PyTuple>() {
        if t.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "a (object, name) spec has two items, not {}",
                t.len()
            )));
        }
        let obj = t.get_item(0)?;
        let name_obj = t.get_item(1)?;
        if name_obj.cast::<PyString>().is_err() {
            let n = type_name(&name_obj);
            return Err(PyTypeError::new_err(format!(
                "the name in (object, name) must be a str, not {} {n}",
                article(&n)
            )));
        }
        // An exact str copy of a str subclass: watchers hash keys with str's own hash.
        // SAFETY: `name_obj` is a live str; the result is a new reference or NULL.
        let exact = unsafe { pyffi::PyUnicode_FromObject(name_obj.as_ptr()) };
        if exact.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `exact` is a new, owned reference to an exact str.
        let exact: Bound<'_, PyAny> = unsafe { Bound::from_owned_ptr(py, exact) };
        let hash = exact.hash()? as u64;
        let text = exact.cast::<PyString>()?.to_string_lossy().into_owned();
        let handle = obj.as_ptr() as u64;
        let spec = |target| Spec {
            target,
            obj: obj.clone().unbind(),
            name: Some(exact.clone().unbind()),
            text: text.clone(),
        };
        if obj.cast::<PyDict>().is_ok() {
            return Ok(spec(Target::DictKey(handle, hash)));
        }
        if obj.cast::<PyType>().is_ok() {
            return Ok(spec(Target::TypeAttr(handle, hash)));
        }
        // SAFETY: `obj` is a live object (we hold a reference); the check reads its type.
        if unsafe { pyffi::PyFunction_Check(obj.as_ptr()) } != 0 {
            let attr = match text.as_str() {
                "__code__" => Attr::Code,
                "__defaults__" => Attr::Defaults,
                "__kwdefaults__" => Attr::KwDefaults,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "a function can be depended on for __code__, __defaults__ or \
__kwdefaults__, not {}; depend on the whole function for anything else",
                        exact.repr()?
                    )));
                }
            };
            return Ok(spec(Target::FuncAttr(handle, attr)));
        }
        let n = type_name(&obj);
        return Err(PyTypeError::new_err(format!(
            "(object, name) needs a dict, a class or a function, not {} {n}",
            article(&n)
        )));
    }
    let ptr = spec.as_ptr();
    let handle = ptr as u64;
    let target = if spec.cast::<PyDict>().is_ok() {
        Target::DictWhole(handle)
    } else if spec.cast::<PyType>().is_ok() {
        Target::TypeWhole(handle)
    // SAFETY: `spec` is a live object; the check reads its type.
    } else if unsafe { pyffi::PyFunction_Check(ptr) } != 0 {
        Target::FuncWhole(handle)
    // SAFETY: as above.
    } else if unsafe { pyffi::PyCode_Check(ptr) } != 0 {
        Target::Code(handle)
    } else {
        let n = type_name(spec);
        return Err(PyTypeError::new_err(format!(
            "cannot depend on {} {n}: {WHAT_CAN}",
            article(&n)
        )));
    };
    Ok(Spec {
        target,
        obj: spec.clone().unbind(),
        name: None,
        text: String::new(),
    })
}

/// The graph ID and aspect of a parsed spec, if its object is tracked.
fn id_of(s: &State, t: Target) -> (Option<depwatch::ObjectId>, Aspect) {
    match t {
        Target::DictKey(h, k) => (s.dicts.get(h), Aspect::Key(k)),
        Target::DictWhole(h) => (s.dicts.get(h), Aspect::Whole),
        Target::TypeAttr(h, k) => (s.types.get(h), Aspect::Key(k)),
        Target::TypeWhole(h) => (s.types.get(h), Aspect::Whole),
        Target::FuncAttr(h, a) => (s.funcs.get(h), Aspect::Attr(a)),
        Target::FuncWhole(h) => (s.funcs.get(h), Aspect::Whole),
        Target::Code(h) => (s.codes.get(h), Aspect::Whole),
    }
}

/// A refused registration, classified (under the lock; no Python code).
fn refusal(s: &State, specs: &[Spec], error: &GraphError) -> Refusal {
    let find = |object: depwatch::ObjectId, aspect: Option<Aspect>| {
        specs.iter().position(|sp| {
            let (id, a) = id_of(s, sp.target);
            id == Some(object) && aspect.is_none_or(|x| x == a || x == Aspect::Whole)
        })
    };
    match error {
        GraphError::Unstable { object, aspect } => Refusal::Storm(find(*object, Some(*aspect))),
        GraphError::StaleTicket { object } => Refusal::Changed(find(*object, None)),
        GraphError::ForeignTicket => Refusal::ForeignTicket,
        GraphError::NoDependencies => Refusal::NoDependencies,
        other => Refusal::Graph(other.to_string()),
    }
}

/// Creates units from dependency specs. Every registry shares one graph.
#[pyclass(module = "depwatch")]
pub struct Registry;

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
                clock: s.clock,
            }
        })
    }

    /// Registers a unit.
    ///
    /// `deps` is a list of specs: `(dict, "key")` (also the key's absence),
    /// `(cls, "attr")` (what the attribute lookup on the class finds, through its MRO
    /// and its metaclass's), `(func, "__code__" | "__defaults__" | "__kwdefaults__")`, a
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
        let specs: Vec<Spec> = deps
            .try_iter()?
            .map(|d| parse_spec(&d?))
            .collect::<PyResult<_>>()?;
        if let Some(sites) = &sites
            && sites.len() != specs.len()
        {
            return Err(PyValueError::new_err(format!(
                "sites needs one entry per dependency: {} deps, {} sites",
                specs.len(),
                sites.len()
            )));
        }
        let ticket = ticket.map(|t| (t.inner, t.clock));
        // Everything below runs no Python code: no other thread can run, and every
        // event it causes is applied before the lock is released.
        let threshold = std::cell::Cell::new(0);
        let out = with_state(py, |s| -> Result<Py<Unit>, Refusal> {
            threshold.set(s.graph.config().storm_threshold);
            for spec in &specs {
                if let Target::TypeAttr(h, _) | Target::TypeWhole(h) = spec.target {
                    // SAFETY: the GIL is held and the class is alive (`deps` holds it).
                    unsafe { track_closure(py, s, h)? };
                }
            }
            // Before anything can track them: a function or code object's events take
            // the full path only if its bit is set (see `function_callback`).
            for spec in &specs {
                match spec.target {
                    Target::FuncAttr(h, _) | Target::FuncWhole(h) => {
                        filter_insert(&OBJECT_FILTER, h, FUNC_KEY)
                    }
                    Target::Code(h) => filter_insert(&OBJECT_FILTER, h, CODE_KEY),
                    _ => {}
                }
            }
            // Was each dict and class reported on since the ticket was taken? A dict
            // CPython was not reporting on is untracked (its handle retired); a class
            // must have kept a version tag, with every class its lookups reach.
            let unobserved = specs.iter().position(|spec| match spec.dict_or_type() {
                Some((h, true)) => s.dicts.get(h).is_none(),
                Some((h, false)) => {
                    s.types.get(h).is_none()
                        || ticket.is_some_and(|(_, clock)| {
                            // SAFETY: the class is alive (as above).
                            unsafe { cpython::closure(h as *mut pyffi::PyTypeObject) }
                                .into_iter()
                                .any(|m| {
                                    s.classes
                                        .get(&(m as u64))
                                        .is_none_or(|c| c.armed_at.is_none_or(|a| a > clock))
                                })
                        })
                }
                None => false,
            });
            // Watch every dict and class from now on, before registering.
            for (i, spec) in specs.iter().enumerate() {
                match spec.dict_or_type() {
                    Some((h, true)) => {
                        // SAFETY: the dict is alive (`deps` holds it) and the GIL is
                        // held. Watching twice is a no-op.
                        unsafe { ffi::PyDict_Watch(s.dict_watcher, h as *mut pyffi::PyObject) };
                        s.dicts.track(&mut s.graph, h);
                    }
                    Some((h, false)) => {
                        s.types.track(&mut s.graph, h);
                        // SAFETY: the class is alive (as above).
                        if let Err(bad) = unsafe { arm_closure(s, h) } {
                            // SAFETY: `bad` is alive: it is `h` or kept alive by `h`.
                            let bad_name = unsafe {
                                std::ffi::CStr::from_ptr(
                                    (*(bad as *mut pyffi::PyTypeObject)).tp_name,
                                )
                            }
                            .to_string_lossy()
                            .into_owned();
                            s.stats.untagged_classes += 1;
                            return Err(Refusal::NoTag(i, bad_name));
                        }
                    }
                    None => {}
                }
            }
            for spec in &specs {
                match spec.target {
                    Target::FuncAttr(h, _) | Target::FuncWhole(h) => {
                        s.funcs.track(&mut s.graph, h);
                    }
                    Target::Code(h) => {
                        s.codes.track(&mut s.graph, h);
                    }
                    _ => {}
                }
            }
            if ticket.is_some()
                && let Some(i) = unobserved
            {
                return Err(Refusal::Unwatched(i));
            }
            // What each class attribute resolves to now, in C (no Python code runs).
            let mut attrs = Vec::new();
            let mut rearmable = true;
            for spec in &specs {
                if let (Target::TypeAttr(h, k), Some(name)) = (spec.target, &spec.name) {
                    // SAFETY: the class is alive (as above) and `name` is an exact str.
                    let found =
                        unsafe { cpython::resolve(h as *mut pyffi::PyTypeObject, name.as_ptr()) };
                    let own = |p: *mut pyffi::PyObject| {
                        // SAFETY: `p` is NULL or borrowed from a live class dict.
                        (!p.is_null()).then(|| unsafe { Bound::from_borrowed_ptr(py, p) }.unbind())
                    };
                    let seen = found.map(|(f, m)| (own(f), own(m)));
                    rearmable &= seen.is_some();
                    attrs.push(AttrDep {
                        ty: h,
                        hash: k,
                        name: name.clone_ref(py),
                        seen,
                    });
                    s.names.entry(k).or_insert_with(|| spec.text.clone());
                }
            }
            let mut metas: Vec<(usize, usize)> = Vec::new();
            for spec in &specs {
                if let Target::TypeAttr(h, _) | Target::TypeWhole(h) = spec.target {
                    // SAFETY: the class is alive (as above); reading its type.
                    let meta = unsafe { pyffi::Py_TYPE(h as *mut pyffi::PyObject) } as usize;
                    if !metas.contains(&(h as usize, meta)) {
                        metas.push((h as usize, meta));
                    }
                }
            }
            let mut dep_list = Vec::with_capacity(specs.len());
            {
                let State {
                    graph,
                    dicts,
                    funcs,
                    codes,
                    types,
                    ..
                } = &mut *s;
                for (i, spec) in specs.iter().enumerate() {
                    let site = sites.as_ref().map_or(i as u32, |s| s[i]);
                    let name = spec.text.as_str();
                    let dep = match spec.target {
                        Target::DictKey(h, k) => {
                            filter_insert(&KEY_FILTER, h, k);
                            dicts.key(graph, h, k).named(name)
                        }
                        Target::DictWhole(h) => {
                            ANY_WHOLE_DICT.store(true, Ordering::Relaxed);
                            filter_insert(&KEY_FILTER, h, WHOLE_KEY);
                            dicts.whole(graph, h)
                        }
                        Target::TypeAttr(h, k) => types.attr(graph, h, k).named(name),
                        Target::TypeWhole(h) => types.whole(graph, h),
                        Target::FuncAttr(h, a) => funcs.attr(graph, h, a),
                        Target::FuncWhole(h) => Dep::whole(funcs.track(graph, h)),
                        Target::Code(h) => codes.whole(graph, h),
                    };
                    dep_list.push(dep.at(site));
                }
            }
            let has_classes = !metas.is_empty();
            let serial = s.next_serial;
            let registered = match &ticket {
                Some((t, _)) => s.graph.register_with_ticket(t, dep_list, serial),
                None => s.graph.register(dep_list, serial),
            };
            let id = registered.map_err(|r| refusal(s, &specs, &r.error))?;
            s.next_serial += 1;
            let unit = Py::new(
                py,
                Unit {
                    serial,
                    valid: AtomicBool::new(true),
                    suspect: AtomicBool::new(false),
                    rearmable,
                    attrs: Mutex::new(attrs),
                    reasons: Mutex::new(Vec::new()),
                    sites: Mutex::new(Vec::new()),
                    on_invalidate,
                    metas,
                },
            )?;
            s.units.insert(serial, unit.clone_ref(py));
            s.unit_ids.insert(serial, id);
            // Registered from code CPython runs in the middle of a class modification
            // (another watcher, the unraisable hook): on 3.13 the class dict may not be
            // updated yet, so what was resolved above is checked again afterwards.
            if has_classes && crate::state::any_in_flight(s) {
                unit.get().suspect.store(true, Ordering::Release);
                s.suspects.push(serial);
            }
            // A safe point: watch newly depended-on dicts and classes right away.
            crate::state::apply_watch_requests(py, s);
            Ok(unit)
        })?;
        out.map_err(|r| r.into_err(py, &specs, threshold.get()))
    }

    /// Whether a new dependency on `(obj, name)` or `obj` would be accepted: by the
    /// storm policy, and for a class, whether CPython can still report its changes
    /// (a version tag for it and every class its lookups reach; asking watches them).
    fn is_stable(&self, py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<bool> {
        let spec = parse_spec(spec)?;
        with_state(py, |s| -> PyResult<bool> {
            if let Target::TypeAttr(h, _) | Target::TypeWhole(h) = spec.target {
                // SAFETY: the GIL is held and the class is alive (`spec` holds it).
                unsafe { track_closure(py, s, h)? };
                // SAFETY: as above.
                if unsafe { arm_closure(s, h) }.is_err() {
                    return Ok(false);
                }
            }
            let (id, aspect) = id_of(s, spec.target);
            Ok(id.is_none_or(|id| s.graph.is_stable(id, aspect).unwrap_or(true)))
        })?
    }

    /// Re-checks suspect units, applies deferred watch requests and runs pending
    /// `on_invalidate` callbacks now.
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
        d.set_item("type_rearms", b.type_rearms)?;
        d.set_item("untagged_classes", b.untagged_classes)?;
        d.set_item("prefilter_skips", prefilter_skips())?;
        d.set_item("tracked_dicts", dicts.tracked)?;
        d.set_item("tracked_types", types.tracked)?;
        d.set_item("retired_dicts", dicts.retired)?;
        Ok(d)
    }
}

// ----- the benchmark floor ---------------------------------------------------------------

/// A dict watcher that returns at once: what CPython charges to call any watcher.
unsafe extern "C" fn noop_dict_callback(
    _event: std::os::raw::c_int,
    _dict: *mut pyffi::PyObject,
    _key: *mut pyffi::PyObject,
    _new_value: *mut pyffi::PyObject,
) -> std::os::raw::c_int {
    0
}

/// The watcher id of `noop_dict_callback`, once added (-1 before).
static NOOP_WATCHER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// For benchmarks only: watches `d` with a dict watcher that does nothing, so a
/// benchmark can time CPython's own cost of calling a watcher side by side with
/// depwatch's. Uses one of CPython's 8 dict-watcher slots for the life of the process.
#[pyfunction]
pub fn _noop_watch(py: Python<'_>, d: &Bound<'_, PyDict>) -> PyResult<()> {
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
