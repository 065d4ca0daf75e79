//! What depwatch needs to know about CPython's objects, read at the C level so that no
//! Python code runs: exact-`str` hashes, whether a dict's keys are all exact `str`, a
//! class's MRO and metaclass, version tags, and what a class attribute lookup finds.
//!
//! Nothing here calls back into Python. Attribute lookups through a metaclass, `mro()`
//! and `__bases__` can all run user code, so depwatch reads `tp_mro` instead.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi as pyffi;

use crate::ffi;

/// Saves and restores the pending exception around a callback body, as CPython asks.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn preserving_exception(body: impl FnOnce()) {
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
pub unsafe fn cached_str_hash(key: *mut pyffi::PyObject) -> Option<u64> {
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
pub unsafe fn str_hash(key: *mut pyffi::PyObject) -> Option<u64> {
    // SAFETY: `key` is valid (caller's contract). `str.__hash__` of an exact str is the
    // C hash, so no Python code runs.
    unsafe {
        if let Some(h) = cached_str_hash(key) {
            return Some(h);
        }
        if key.is_null() || pyffi::PyUnicode_CheckExact(key) == 0 {
            return None;
        }
        let h = pyffi::PyObject_Hash(key);
        if h == -1 {
            pyffi::PyErr_Clear();
            return None;
        }
        Some(h as u64)
    }
}

/// Whether reading `dk_kind` was checked to work on this interpreter.
static DICT_KIND_OK: AtomicBool = AtomicBool::new(false);

/// Checks, once, that `dk_kind` reads 1 or 2 for a dict of `str` keys and 0 for a dict
/// with an `int` key. If not (another CPython layout), [`str_keys_only`] always says
/// no, and a same-value store is treated as a change: conservative, never missed.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn check_dict_kind_layout() {
    // SAFETY: the GIL is held; the dicts are ours and alive until decref'd.
    unsafe {
        let strs = pyffi::PyDict_New();
        let general = pyffi::PyDict_New();
        if strs.is_null() || general.is_null() {
            pyffi::PyErr_Clear();
            pyffi::Py_XDECREF(strs);
            pyffi::Py_XDECREF(general);
            return;
        }
        let one = pyffi::PyLong_FromLong(1);
        let ok = !one.is_null()
            && pyffi::PyDict_SetItemString(strs, c"a".as_ptr(), one) == 0
            && pyffi::PyDict_SetItemString(general, c"a".as_ptr(), one) == 0
            && pyffi::PyDict_SetItem(general, one, one) == 0
            && matches!(raw_dict_kind(strs), 1 | 2)
            && raw_dict_kind(general) == 0;
        pyffi::PyErr_Clear();
        pyffi::Py_XDECREF(one);
        pyffi::Py_DECREF(strs);
        pyffi::Py_DECREF(general);
        DICT_KIND_OK.store(ok, Ordering::Relaxed);
    }
}

/// # Safety
/// The GIL must be held and `dict` must be a live dict.
unsafe fn raw_dict_kind(dict: *mut pyffi::PyObject) -> u8 {
    // SAFETY: `dict` is a live dict (caller's contract), so `ma_keys` points at its
    // keys object, which is at least `DK_KIND_OFFSET + 1` bytes long in 3.12 and 3.13.
    unsafe {
        let keys = (*dict.cast::<pyffi::PyDictObject>()).ma_keys.cast::<u8>();
        if keys.is_null() {
            return 0;
        }
        *keys.add(ffi::DK_KIND_OFFSET)
    }
}

/// Whether every key of `dict` is an exact `str`, so that looking up an exact `str`
/// in it compares only strings and runs no Python code. `false` when unsure.
///
/// # Safety
/// The GIL must be held and `dict` must be a live dict.
pub unsafe fn str_keys_only(dict: *mut pyffi::PyObject) -> bool {
    // SAFETY: as for this function; the layout was checked by `check_dict_kind_layout`.
    DICT_KIND_OK.load(Ordering::Relaxed) && matches!(unsafe { raw_dict_kind(dict) }, 1 | 2)
}

/// The types a lookup on `ty` can reach: its `tp_mro` (which a custom `mro()` may fill
/// with classes that are not bases), then, unless the metaclass is `type`, the
/// metaclass's `tp_mro`. `ty` itself comes first. Each type once.
///
/// # Safety
/// The GIL must be held and `ty` must be a live type.
pub unsafe fn closure(ty: *mut pyffi::PyTypeObject) -> Vec<*mut pyffi::PyTypeObject> {
    let mut out = vec![ty];
    // SAFETY: `ty` is live; `tp_mro` is NULL or a tuple of types it owns, and its
    // metaclass is alive while it is.
    unsafe {
        push_mro(ty, &mut out);
        let meta = pyffi::Py_TYPE(ty.cast());
        if meta != &raw mut pyffi::PyType_Type {
            if !out.contains(&meta) {
                out.push(meta);
            }
            push_mro(meta, &mut out);
        }
    }
    out
}

/// # Safety
/// As for [`closure`].
unsafe fn push_mro(ty: *mut pyffi::PyTypeObject, out: &mut Vec<*mut pyffi::PyTypeObject>) {
    // SAFETY: `ty` is live (caller's contract); its `tp_mro` tuple holds its items.
    unsafe {
        let mro = (*ty).tp_mro;
        if mro.is_null() || pyffi::PyTuple_Check(mro) == 0 {
            return;
        }
        for i in 0..pyffi::PyTuple_GET_SIZE(mro) {
            let t = pyffi::PyTuple_GET_ITEM(mro, i);
            if pyffi::PyType_Check(t) != 0 && !out.contains(&t.cast()) {
                out.push(t.cast());
            }
        }
    }
}

/// Whether `ty` has a valid version tag, without which CPython calls no type watcher
/// for it.
///
/// # Safety
/// The GIL must be held and `ty` must be a live type.
pub unsafe fn has_version_tag(ty: *mut pyffi::PyTypeObject) -> bool {
    // SAFETY: `ty` is live (caller's contract); reading two fields.
    // (3.12 also sets `Py_TPFLAGS_VALID_VERSION_TAG`; 3.13 keeps only the tag, and
    // both clear it to 0 on a change.)
    unsafe { (*ty).tp_version_tag != 0 }
}

/// `name` in the dicts of `ty`'s `tp_mro`, in order, as `_PyType_Lookup` finds it:
/// `Some(NULL)` if no class has it, `None` if a dict on the way may hold a key that is
/// not an exact `str` (its `__eq__` could run). The result is borrowed from a type's
/// dict.
///
/// # Safety
/// The GIL must be held, `ty` must be a live type and `name` an exact str.
unsafe fn find_in_mro(
    ty: *mut pyffi::PyTypeObject,
    name: *mut pyffi::PyObject,
) -> Option<*mut pyffi::PyObject> {
    // SAFETY: as for this function. `PyType_GetDict` returns a new reference to a dict
    // the type keeps alive, so dropping ours frees nothing; the lookup of an exact str
    // in a dict of exact str keys runs no Python code.
    unsafe {
        let mro = (*ty).tp_mro;
        if mro.is_null() || pyffi::PyTuple_Check(mro) == 0 {
            return None;
        }
        for i in 0..pyffi::PyTuple_GET_SIZE(mro) {
            let t = pyffi::PyTuple_GET_ITEM(mro, i);
            if pyffi::PyType_Check(t) == 0 {
                return None;
            }
            let dict = pyffi::PyType_GetDict(t.cast());
            if dict.is_null() {
                pyffi::PyErr_Clear();
                return None;
            }
            let found = if str_keys_only(dict) {
                Some(pyffi::PyDict_GetItem(dict, name))
            } else {
                None
            };
            pyffi::Py_DECREF(dict);
            match found {
                None => return None,
                Some(v) if !v.is_null() => return Some(v),
                Some(_) => {}
            }
        }
        Some(std::ptr::null_mut())
    }
}

/// What `ty.<name>` finds, as `type.__getattribute__` looks: `(in the class's MRO, in
/// the metaclass's MRO)`, each NULL if absent. `None` if depwatch cannot tell without
/// running Python code, or if the answer does not decide the lookup: the metaclass
/// defines `__getattribute__` or `__getattr__`, or a data descriptor on the metaclass
/// (such as `type.__name__`) computes the value. Borrowed results.
///
/// # Safety
/// The GIL must be held, `ty` must be a live type and `name` an exact str.
pub unsafe fn resolve(
    ty: *mut pyffi::PyTypeObject,
    name: *mut pyffi::PyObject,
) -> Option<(*mut pyffi::PyObject, *mut pyffi::PyObject)> {
    // SAFETY: as for this function; the metaclass is alive while `ty` is.
    unsafe {
        let meta = pyffi::Py_TYPE(ty.cast());
        let type_getattro = pyffi::PyType_Type.tp_getattro;
        if (*meta).tp_getattro.map(|f| f as usize) != type_getattro.map(|f| f as usize) {
            return None;
        }
        let in_meta = find_in_mro(meta, name)?;
        if !in_meta.is_null() && (*pyffi::Py_TYPE(in_meta)).tp_descr_set.is_some() {
            return None;
        }
        let in_class = find_in_mro(ty, name)?;
        Some((in_class, in_meta))
    }
}
