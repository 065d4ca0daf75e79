//! `depwatch._native`: depwatch driven by CPython 3.12+'s real dict, type, function
//! and code watchers.
//!
//! * [`state`]: the one global state, how events reach it, safe points, re-checks.
//! * [`watchers`]: the four callbacks CPython calls.
//! * [`filters`]: the lock-free filters that turn away events nobody depends on.
//! * [`cpython`]: what depwatch reads of CPython's objects, at the C level.
//! * [`registry`]: `Registry`, dependency specs and error messages.
//! * [`pytypes`]: `Unit` and `Ticket`.

#![deny(missing_docs)]

mod cpython;
mod ffi;
mod filters;
mod pytypes;
mod registry;
mod state;
mod watchers;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

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
    "A dependency changed, or was not watched, after the compile ticket was taken."
);
create_exception!(
    _native,
    Unstable,
    DepwatchError,
    "depwatch refuses the dependency: it changed too often (the storm policy), or \
CPython can no longer report its changes (a class out of version tags)."
);

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // SAFETY: the GIL is held (module init).
    unsafe { cpython::check_dict_kind_layout() };
    m.add_class::<registry::Registry>()?;
    m.add_function(wrap_pyfunction!(registry::_noop_watch, m)?)?;
    m.add_class::<pytypes::Unit>()?;
    m.add_class::<pytypes::Ticket>()?;
    m.add_class::<pytypes::Memo>()?;
    m.add("DepwatchError", py.get_type::<DepwatchError>())?;
    m.add("StaleTicket", py.get_type::<StaleTicket>())?;
    m.add("Unstable", py.get_type::<Unstable>())?;
    Ok(())
}
