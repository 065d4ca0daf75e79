//! Objects: track, query, stability.

use crate::boundary::{self, Core, aspect_of, fill, kind_of, kind_to_c, put, with_graph};
use crate::*;

/// One query on one object, its answer written to `*out`.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
unsafe fn query<T>(
    g: *mut dw_graph,
    object: dw_object,
    out: *mut T,
    ask: impl FnOnce(&Core, dw::ObjectId) -> Result<T, boundary::Failure>,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            let answer = ask(ctx.core, ctx.object(object))?;
            put(out, answer, "out")
        })
    }
}

/// Starts tracking an object and writes its new ID to `*out`. `handle` is the VM's own
/// name for it (an address, say): depwatch only hands it back (in watch changes and
/// [`dw_object_handle`]). Tracking the same handle twice gives two objects; use
/// [`dw_track_handle`] for one ID per handle.
///
/// Fails with `DW_ERR_UNKNOWN_ENUM` for an unknown kind. Reentrant from a handler.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_track(
    g: *mut dw_graph,
    kind: dw_kind,
    handle: u64,
    out: *mut dw_object,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            let kind = kind_of(kind)?;
            if out.is_null() {
                return Err(boundary::Failure::null("out"));
            }
            let id = ctx.core.track(kind, handle);
            put(out, ctx.salts.object(id), "out")
        })
    }
}

/// Writes whether `object` is live (tracked and not destroyed) to `*out`. A stale or
/// foreign ID gives false, not an error.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_object_is_live(
    g: *mut dw_graph,
    object: dw_object,
    out: *mut bool,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { query(g, object, out, |core, id| Ok(core.contains_object(id))) }
}

/// Writes the object's kind to `*out`. `DW_ERR_STALE_OBJECT` if it is not live.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_object_kind(
    g: *mut dw_graph,
    object: dw_object,
    out: *mut dw_kind,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { query(g, object, out, |core, id| Ok(kind_to_c(core.kind(id)?))) }
}

/// Writes the VM handle the object was tracked with to `*out`. `DW_ERR_STALE_OBJECT`
/// if it is not live.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_object_handle(
    g: *mut dw_graph,
    object: dw_object,
    out: *mut u64,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { query(g, object, out, |core, id| Ok(core.handle(id)?)) }
}

/// Writes the object's version to `*out`: 0 when tracked, bumped by every event on it.
/// One slot lookup: cheap enough for an inline-cache guard. `DW_ERR_STALE_OBJECT` if
/// it is not live.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_version(
    g: *mut dw_graph,
    object: dw_object,
    out: *mut u64,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { query(g, object, out, |core, id| Ok(core.version(id)?)) }
}

/// Writes whether the object has at least one dependent unit to `*out`. From inside a
/// handler, an object whose last dependents the current event is invalidating still
/// reports true until the event's fires are all delivered; it never reports false
/// while a unit depends on it. `DW_ERR_STALE_OBJECT` if it is not live.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_is_watched(
    g: *mut dw_graph,
    object: dw_object,
    out: *mut bool,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { query(g, object, out, |core, id| Ok(core.is_watched(id)?)) }
}

/// Writes whether a new dependency on (`object`, `aspect`) would pass the storm policy
/// to `*out`. For the whole object this asks about whole-object events; for a key or
/// attribute, about that key and the object.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_is_stable(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
    out: *mut bool,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        query(g, object, out, |core, id| {
            Ok(core.is_stable(id, aspect_of(&aspect)?)?)
        })
    }
}

/// Clears the storm mark and counter of (`object`, `aspect`): the whole object's for
/// `DW_ASPECT_WHOLE`, that key's or attribute's otherwise. Reentrant from a handler.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_reset_stability(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`.
    unsafe {
        with_graph(g, |ctx| {
            let aspect = aspect_of(&aspect)?;
            Ok(ctx.core.reset_stability(ctx.object(object), aspect)?)
        })
    }
}

/// Writes whether an event on (`object`, `aspect`) would fire any unit now to `*out`.
/// A query, as cheap as a quiet event: a VM can skip work (reading a dict entry's old
/// value, say) that only matters when something depends on the change.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_would_fire(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
    out: *mut bool,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        query(g, object, out, |core, id| {
            Ok(core.would_fire(id, aspect_of(&aspect)?)?)
        })
    }
}

/// The live units an event on (`object`, `aspect`) would hit now, in ID order: writes
/// their count to `*n_out` and, if `cap` is large enough, the units to `units[0..n)`.
/// With `cap` too small it writes only the count and returns `DW_ERR_BUFFER_TOO_SMALL`;
/// `units` may be NULL when `cap` is 0. A query: nothing is recorded.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `units` is NULL or writable for `cap`
/// units; `n_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_dependents(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
    units: *mut dw_unit,
    cap: usize,
    n_out: *mut usize,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `units` and `n_out`.
    unsafe {
        with_graph(g, |ctx| {
            let aspect = aspect_of(&aspect)?;
            let found = ctx.core.dependents(ctx.object(object), aspect)?;
            let ids: Vec<dw_unit> = found.into_iter().map(|u| ctx.salts.unit(u)).collect();
            fill(units, cap, &ids, n_out, "units")
        })
    }
}
