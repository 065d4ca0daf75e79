//! The four watcher callbacks CPython calls. They run with the GIL held, before (dicts,
//! functions; on 3.13 also classes) or after (classes on 3.12) the mutation, and run no
//! Python code: each turns its arguments into a [`Raw`] event and hands it to
//! [`dispatch`], after the lock-free filters turned away the events nobody depends on.

use std::os::raw::c_int;
use std::sync::atomic::Ordering;

use depwatch::adapters::{CodeEvent, DictEvent, FunctionEvent, Values};
use pyo3::ffi as pyffi;

use crate::cpython::{cached_str_hash, preserving_exception, str_hash};
use crate::ffi;
use crate::filters::{
    ANY_WHOLE_DICT, CODE_KEY, FUNC_KEY, KEY_FILTER, LIVE_TICKETS, TRACKED_CODES, TRACKED_FUNCS,
    WHOLE_KEY, count_prefilter_skip, filter_may_contain, unconcerned,
};
use crate::state::{Raw, dispatch};

pub unsafe extern "C" fn dict_callback(
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

/// The label of a key event whose key is not an exact `str`.
fn non_str_label(event: c_int) -> &'static str {
    match event {
        0 => "dict.ADDED non-str key",
        1 => "dict.MODIFIED non-str key",
        _ => "dict.DELETED non-str key",
    }
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
            let handle = dict as u64;
            let hash = str_hash(key);
            if (0..=2).contains(&event) && hash.is_none() {
                // A key that is not an exact str could equal a str key: the event hits
                // the whole dict (conservative, never missed).
                dispatch(Raw::DictNonStr {
                    handle,
                    label: non_str_label(event),
                });
                return;
            }
            let Some(event) = DictEvent::from_cpython(event, hash, Values::UNKNOWN) else {
                return;
            };
            // The callback runs before the store, so the old value can still be read;
            // `dispatch` reads it only if a unit depends on the key.
            let old_value = (matches!(event, DictEvent::Modified { .. }) && !new_value.is_null())
                .then_some((dict as usize, key as usize, new_value as usize));
            dispatch(Raw::Dict {
                handle,
                event,
                old_value,
            });
        });
    }
    0
}

pub unsafe extern "C" fn type_callback(ty: *mut pyffi::PyTypeObject) -> c_int {
    // SAFETY: called by CPython with the GIL held and a valid type.
    unsafe { preserving_exception(|| dispatch(Raw::Type { handle: ty as u64 })) };
    0
}

pub unsafe extern "C" fn function_callback(
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

pub unsafe extern "C" fn code_callback(event: c_int, co: *mut pyffi::PyObject) -> c_int {
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
