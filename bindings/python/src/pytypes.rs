//! The Python types: `Unit` and `Ticket`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::filters::LIVE_TICKETS;
use crate::state::{invalidate_now, recheck, with_state};

/// Locks a mutex, ignoring poisoning (the data is plain and always consistent).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a class attribute lookup found: `(in the class's MRO, in the metaclass's MRO)`.
pub type Found = (Option<Py<PyAny>>, Option<Py<PyAny>>);

/// One `(class, name)` dependency of a unit, with what the lookup found when the unit
/// was registered (strong references, so an address is never mistaken for a dead
/// object's). `seen` is `None` when depwatch could not resolve it without running Python
/// code; the unit is then invalidated by any event on the class.
pub struct AttrDep {
    /// The class's handle (address).
    pub ty: u64,
    /// The name's str hash.
    pub hash: u64,
    /// The name, an exact str.
    pub name: Py<PyAny>,
    /// `(found in the class's MRO, found in the metaclass's MRO)`.
    pub seen: Option<Found>,
}

/// A registered unit of optimized code.
#[pyclass(frozen, module = "depwatch")]
pub struct Unit {
    pub serial: u64,
    pub valid: AtomicBool,
    /// A type event hit only its class-attribute dependencies: it stays valid if they
    /// still resolve to the same objects, which is checked at the next safe point or
    /// when `valid` is read, whichever comes first.
    pub suspect: AtomicBool,
    /// Whether every class-attribute dependency could be resolved without running
    /// Python code (only then is the unit re-armed after a type event).
    pub rearmable: bool,
    pub attrs: Mutex<Vec<AttrDep>>,
    pub reasons: Mutex<Vec<String>>,
    pub sites: Mutex<Vec<u32>>,
    pub on_invalidate: Option<Py<PyAny>>,
    /// `(class, its metaclass)` for each class the unit depends on. CPython reports no
    /// event when `C.__class__ = OtherMeta` swaps a class's metaclass (3.13), so
    /// `valid` compares them (one load each).
    pub metas: Vec<(usize, usize)>,
}

#[pymethods]
impl Unit {
    /// False once anything the unit depends on changed. Dict, function and code events
    /// set it inside the watcher callback, before the mutation completes. A class event
    /// marks the unit for a re-check of the attributes it depends on, which runs here
    /// if no safe point ran it yet.
    #[getter]
    pub fn valid(&self, py: Python<'_>) -> PyResult<bool> {
        if !self.valid.load(Ordering::Acquire) {
            return Ok(false);
        }
        if self.suspect.load(Ordering::Acquire) {
            recheck(py)?;
        }
        if !self.metas.is_empty() && self.valid.load(Ordering::Acquire) {
            // SAFETY: the unit is valid, so each class it depends on is alive (a class's
            // death invalidates its dependents inside the dealloc); reading its type is
            // one load. The GIL is held.
            let swapped = self.metas.iter().any(|&(ty, meta)| unsafe {
                pyo3::ffi::Py_TYPE(ty as *mut pyo3::ffi::PyObject) as usize != meta
            });
            if swapped {
                invalidate_now(py, self.serial, "type.METACLASS_CHANGED")?;
            }
        }
        Ok(self.valid.load(Ordering::Acquire))
    }

    /// Why the unit was invalidated: one string per cause, such as
    /// `"dict.MODIFIED x"` or `"type.MODIFIED method"`.
    #[getter]
    fn reasons(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        if self.suspect.load(Ordering::Acquire) {
            recheck(py)?;
        }
        Ok(lock(&self.reasons).clone())
    }

    /// The sites whose dependencies fired.
    #[getter]
    fn sites_fired(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        if self.suspect.load(Ordering::Acquire) {
            recheck(py)?;
        }
        Ok(lock(&self.sites).clone())
    }

    /// Unregisters a valid unit; returns False if it was no longer registered.
    fn unregister(&self, py: Python<'_>) -> PyResult<bool> {
        let removed = with_state(py, |s| {
            let py_unit = s.units.remove(&self.serial)?;
            if let Some(id) = s.unit_ids.remove(&self.serial) {
                let _ = s.graph.unregister(id);
            }
            Some(py_unit)
        })?;
        self.valid.store(false, Ordering::Release);
        self.suspect.store(false, Ordering::Release);
        // Outside depwatch's lock: dropping them may run finalizers.
        drop(std::mem::take(&mut *lock(&self.attrs)));
        Ok(removed.is_some())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<depwatch.Unit #{} valid={}>",
            self.serial,
            if self.valid(py)? { "True" } else { "False" }
        ))
    }
}

/// A compile ticket: take it before reading what the unit will depend on. While any
/// ticket is alive, every dict event takes the full path, so the ticket sees it.
#[pyclass(frozen, module = "depwatch")]
pub struct Ticket {
    pub inner: depwatch::Ticket,
    /// The binding's arm clock when the ticket was taken: a class armed later was not
    /// reported on before, so the ticket cannot vouch for it.
    pub clock: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        LIVE_TICKETS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The call path of `depwatch.cached`: a hit (the arguments' key is stored and the guard
/// unit is valid) returns the stored result without running Python code of depwatch's;
/// anything else goes to `miss(key, args, kwargs)`, the Python side, which computes,
/// registers the guard and stores. Keys are built as `functools.lru_cache` builds them
/// with `typed=False`: the positional arguments, then a marker and the keyword items
/// in call order.
#[pyclass(frozen, dict, module = "depwatch", name = "_Memo")]
pub struct Memo {
    entries: Py<PyDict>,
    miss: Py<PyAny>,
    mark: Py<PyAny>,
    guard: Mutex<Option<Py<Unit>>>,
    hits: std::sync::atomic::AtomicU64,
}

#[pymethods]
impl Memo {
    #[new]
    fn new(py: Python<'_>, entries: Py<PyDict>, miss: Py<PyAny>) -> Self {
        Memo {
            entries,
            miss,
            mark: pyo3::types::PyTuple::empty(py).into_any().unbind(),
            guard: Mutex::new(None),
            hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let key: Bound<'_, PyAny> = match kwargs {
            Some(kw) if !kw.is_empty() => {
                let mut items: Vec<Bound<'_, PyAny>> = args.iter().collect();
                items.push(self.mark.bind(py).clone());
                for (k, v) in kw.iter() {
                    items.push(k);
                    items.push(v);
                }
                PyTuple::new(py, items)?.into_any()
            }
            _ => args.clone().into_any(),
        };
        if let Some(result) = self.entries.bind(py).get_item(&key)? {
            let guard = lock(&self.guard).as_ref().map(|u| u.clone_ref(py));
            if let Some(unit) = guard
                && unit.get().valid(py)?
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(result.unbind());
            }
        }
        self.miss.call1(py, (key, args.clone(), kwargs.cloned()))
    }

    /// Binds like a function, so a cached method gets its instance.
    fn __get__(
        slf: &Bound<'_, Self>,
        obj: Option<&Bound<'_, PyAny>>,
        _owner: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        match obj {
            None => Ok(slf.clone().into_any().unbind()),
            Some(o) if o.is_none() => Ok(slf.clone().into_any().unbind()),
            Some(o) => Ok(py
                .import("types")?
                .getattr("MethodType")?
                .call1((slf, o))?
                .unbind()),
        }
    }

    /// The unit guarding the stored results, or None.
    #[getter]
    fn get_unit(&self, py: Python<'_>) -> Option<Py<Unit>> {
        lock(&self.guard).as_ref().map(|u| u.clone_ref(py))
    }

    #[setter]
    fn set_unit(&self, py: Python<'_>, unit: Option<Py<Unit>>) {
        // The old guard is dropped after the lock is released: dropping may run code.
        let old = std::mem::replace(&mut *lock(&self.guard), unit);
        drop(old);
        let _ = py;
    }

    /// Hits served from the stored results.
    #[getter]
    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn _reset_hits(&self) {
        self.hits.store(0, Ordering::Relaxed);
    }
}
