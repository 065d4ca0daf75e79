//! CPython 3.12+ watcher APIs that pyo3-ffi does not bind, declared from
//! `Include/cpython/dictobject.h`, `object.h`, `funcobject.h` and `code.h` (identical
//! in 3.12 and 3.13). The event enums are C `int`-sized enums, passed as `c_int`.

use std::os::raw::{c_int, c_void};

use pyo3::ffi::{PyObject, PyTypeObject};

/// `PyDict_WatchEvent`: ADDED..DEALLOCATED = 0..5.
pub type DictWatchCallback = unsafe extern "C" fn(
    event: c_int,
    dict: *mut PyObject,
    key: *mut PyObject,
    new_value: *mut PyObject,
) -> c_int;
pub type TypeWatchCallback = unsafe extern "C" fn(ty: *mut PyTypeObject) -> c_int;
/// `PyFunction_WatchEvent`: CREATE, DESTROY, MODIFY_CODE, MODIFY_DEFAULTS,
/// MODIFY_KWDEFAULTS = 0..4. `func` is a `PyFunctionObject *`.
pub type FunctionWatchCallback =
    unsafe extern "C" fn(event: c_int, func: *mut PyObject, new_value: *mut PyObject) -> c_int;
/// `PyCodeEvent`: CREATE = 0, DESTROY = 1. `co` is a `PyCodeObject *`.
pub type CodeWatchCallback = unsafe extern "C" fn(event: c_int, co: *mut PyObject) -> c_int;

pub const FUNC_EVENT_CREATE: c_int = 0;
pub const FUNC_EVENT_MODIFY_CODE: c_int = 2;
pub const FUNC_EVENT_MODIFY_DEFAULTS: c_int = 3;
pub const FUNC_EVENT_MODIFY_KWDEFAULTS: c_int = 4;
pub const CODE_EVENT_CREATE: c_int = 0;

unsafe extern "C" {
    pub fn PyDict_AddWatcher(callback: DictWatchCallback) -> c_int;
    pub fn PyDict_Watch(watcher_id: c_int, dict: *mut PyObject) -> c_int;
    pub fn PyDict_Unwatch(watcher_id: c_int, dict: *mut PyObject) -> c_int;
    pub fn PyType_AddWatcher(callback: TypeWatchCallback) -> c_int;
    pub fn PyType_Watch(watcher_id: c_int, ty: *mut PyObject) -> c_int;
    pub fn PyFunction_AddWatcher(callback: FunctionWatchCallback) -> c_int;
    pub fn PyCode_AddWatcher(callback: CodeWatchCallback) -> c_int;
    pub fn PyErr_GetRaisedException() -> *mut PyObject;
    pub fn PyErr_SetRaisedException(exc: *mut PyObject);
    pub fn Py_AddPendingCall(
        func: unsafe extern "C" fn(*mut c_void) -> c_int,
        arg: *mut c_void,
    ) -> c_int;
}

/// `dk_kind` of a dict's keys object (`Include/internal/pycore_dict.h`): 0 is
/// `DICT_KEYS_GENERAL` (any keys), 1 `DICT_KEYS_UNICODE` and 2 `DICT_KEYS_SPLIT` (only
/// exact `str` keys). The field is the byte after `dk_refcnt`, `dk_log2_size` and
/// `dk_log2_index_bytes` in 3.12 and 3.13. [`dict_kind_layout_ok`] checks that on the
/// running interpreter before anything relies on it.
pub const DK_KIND_OFFSET: usize = std::mem::size_of::<pyo3::ffi::Py_ssize_t>() + 2;
