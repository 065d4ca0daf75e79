//! Units: tickets, registration (by dependency or by cell handle), unregistration,
//! queries, payloads.

use std::ffi::c_void;

use dw::{CellHandle, Dep, Error, Site, Ticket, UnitId};

use crate::boundary::{
    self, Ctx, Failure, aspect_of, aspect_to_c, fill, opt_str, put, slice, with_graph,
};
use crate::*;

/// Takes a compile ticket and writes it to `*out`. Take it before the compiler reads
/// the objects it will depend on, and register the result with
/// [`dw_register_with_ticket`] or [`dw_register_cells_with_ticket`]: registration is
/// refused with `DW_ERR_STALE_TICKET` if any event touched any of the unit's objects
/// (any key of them) since, or if one was tracked after the ticket was taken.
///
/// The graph remembers the 256 most recent distinct tickets (tickets taken with no
/// change in between are the same ticket). An older one is refused as stale: a
/// recompile, never a stale unit accepted.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_take_ticket(g: *mut dw_graph, out: *mut dw_ticket) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            if out.is_null() {
                return Err(Failure::null("out"));
            }
            let t = ctx.core.ticket();
            let raw = ctx.ticket_serial(t);
            put(out, raw, "out")
        })
    }
}

/// Converts C dependencies into `out` (emptied first); every argument is checked
/// before the graph is touched.
///
/// # Safety
///
/// Each `name` is NULL or NUL-terminated.
unsafe fn deps_of(ctx: &Ctx<'_>, deps: &[dw_dep], out: &mut Vec<Dep>) -> Result<(), Failure> {
    out.clear();
    for d in deps {
        let mut dep = Dep::new(ctx.object(d.object), aspect_of(&d.aspect)?).at(d.site);
        // SAFETY: the caller's contract for `name`.
        if let Some(name) = unsafe { opt_str(d.name, "a dependency's name") }? {
            dep = dep.named(name);
        }
        out.push(dep);
    }
    Ok(())
}

/// What every registration from C shares: `out` checked, an empty array refused before
/// the ticket is looked at (the core's order of refusals), the ticket resolved, and the
/// new unit recorded and written to `*out`.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `items` is NULL or points at `n`
/// readable `T`s; `out` is NULL or writable.
unsafe fn registration<T>(
    g: *mut dw_graph,
    items: *const T,
    n: usize,
    what: &str,
    ticket: Option<dw_ticket>,
    out: *mut dw_unit,
    register: impl FnOnce(&mut Ctx<'_>, &[T], Option<Ticket>) -> Result<UnitId, Failure>,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `items` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            if out.is_null() {
                return Err(Failure::null("out"));
            }
            let items = slice(items, n, what)?;
            if items.is_empty() {
                return Err(Error::NoDependencies.into());
            }
            let ticket = ticket.map(|t| ctx.ticket(t)).transpose()?;
            let unit = register(ctx, items, ticket)?;
            let raw = ctx.registered(unit);
            put(out, raw, "out")
        })
    }
}

/// # Safety
///
/// As [`dw_register_with_ticket`].
unsafe fn register(
    g: *mut dw_graph,
    deps: *const dw_dep,
    n_deps: usize,
    payload: dw_payload,
    ticket: Option<dw_ticket>,
    out: *mut dw_unit,
) -> dw_status {
    let register = |ctx: &mut Ctx<'_>, deps: &[dw_dep], ticket: Option<Ticket>| {
        // The side's dependency buffer, so a registration allocates nothing here.
        let mut buf = std::mem::take(&mut ctx.side().deps_buf);
        // SAFETY: the caller's contract: each dependency's name is NULL or
        // NUL-terminated.
        let unit = unsafe { deps_of(ctx, deps, &mut buf) }.and_then(|()| {
            let deps = buf.drain(..);
            Ok(match ticket {
                Some(t) => ctx.core.register_with_ticket(&t, deps, payload)?,
                None => ctx.core.register(deps, payload)?,
            })
        });
        buf.clear();
        ctx.side().deps_buf = buf;
        unit
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { registration(g, deps, n_deps, "deps", ticket, out, register) }
}

/// Registers a unit with the payload and the dependencies `deps[0..n_deps)`, each an
/// (object, aspect, site) triple with an optional key name, and writes its ID to
/// `*out`. Duplicate triples collapse into one edge. `deps` and the names are read
/// during the call only. O(dependencies).
///
/// Refused, registering nothing, with `DW_ERR_NO_DEPENDENCIES` (`n_deps` is 0),
/// `DW_ERR_STALE_OBJECT`, `DW_ERR_UNSTABLE` (the storm policy), `DW_ERR_FULL`,
/// `DW_ERR_NULL_POINTER` (`out` NULL, or `deps` NULL with `n_deps` > 0),
/// `DW_ERR_UNKNOWN_ENUM` (an aspect) or `DW_ERR_INVALID_ARGUMENT` (a name not UTF-8).
/// The payload stays the caller's on refusal. Reentrant from a handler.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `deps` is NULL or points at `n_deps`
/// readable `dw_dep`s whose names are NULL or NUL-terminated; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_register(
    g: *mut dw_graph,
    deps: *const dw_dep,
    n_deps: usize,
    payload: dw_payload,
    out: *mut dw_unit,
) -> dw_status {
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { register(g, deps, n_deps, payload, None, out) }
}

/// [`dw_register`] under a compile ticket from [`dw_take_ticket`]: also refused with
/// `DW_ERR_STALE_TICKET` if an object it depends on changed since the ticket (or the
/// ticket expired), and `DW_ERR_FOREIGN_TICKET` for another graph's ticket.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// As [`dw_register`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_register_with_ticket(
    g: *mut dw_graph,
    ticket: dw_ticket,
    deps: *const dw_dep,
    n_deps: usize,
    payload: dw_payload,
    out: *mut dw_unit,
) -> dw_status {
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { register(g, deps, n_deps, payload, Some(ticket), out) }
}

/// The handle of the cell for (`object`, `aspect`), created if absent, written to
/// `*out`. A VM that compiles many units against the same key resolves its handle once
/// and registers with [`dw_register_cells`], skipping the key lookup per edge.
///
/// A handle stays valid while its cell has dependents or storm state; a reclaimed
/// cell's handle is refused with `DW_ERR_STALE_CELL`, never confused with a newer cell:
/// ask again. The graph remembers the 65,536 most recently handed-out distinct handles
/// (asking again for a remembered one gives the same value); an older one is refused
/// as stale too.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_cell_handle(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
    out: *mut dw_cell,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            if out.is_null() {
                return Err(Failure::null("out"));
            }
            let aspect = aspect_of(&aspect)?;
            let h = ctx.core.cell_handle(ctx.object(object), aspect)?;
            let raw = ctx.cell_serial(h);
            put(out, raw, "out")
        })
    }
}

/// # Safety
///
/// As [`dw_register_cells_with_ticket`].
unsafe fn register_cells(
    g: *mut dw_graph,
    cells: *const dw_cell_dep,
    n_cells: usize,
    payload: dw_payload,
    ticket: Option<dw_ticket>,
    out: *mut dw_unit,
) -> dw_status {
    let register = |ctx: &mut Ctx<'_>, cells: &[dw_cell_dep], ticket: Option<Ticket>| {
        let mut handles: Vec<(CellHandle, Site)> = Vec::with_capacity(cells.len());
        for c in cells {
            handles.push((ctx.cell_handle(c.cell)?, c.site));
        }
        Ok(match ticket {
            Some(t) => ctx.core.register_cells_with_ticket(&t, handles, payload)?,
            None => ctx.core.register_cells(handles, payload)?,
        })
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { registration(g, cells, n_cells, "cells", ticket, out, register) }
}

/// Registers a unit whose dependencies are cell handles with sites,
/// `cells[0..n_cells)`, and writes its ID to `*out`: [`dw_register`] without the key
/// lookup per edge. Refused as `dw_register` is, and with `DW_ERR_STALE_CELL` for a
/// stale handle.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `cells` is NULL or points at `n_cells`
/// readable `dw_cell_dep`s; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_register_cells(
    g: *mut dw_graph,
    cells: *const dw_cell_dep,
    n_cells: usize,
    payload: dw_payload,
    out: *mut dw_unit,
) -> dw_status {
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { register_cells(g, cells, n_cells, payload, None, out) }
}

/// [`dw_register_cells`] under a compile ticket, as [`dw_register_with_ticket`].
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// As [`dw_register_cells`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_register_cells_with_ticket(
    g: *mut dw_graph,
    ticket: dw_ticket,
    cells: *const dw_cell_dep,
    n_cells: usize,
    payload: dw_payload,
    out: *mut dw_unit,
) -> dw_status {
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { register_cells(g, cells, n_cells, payload, Some(ticket), out) }
}

/// Unregisters a live unit (say, when its code is freed) and writes its payload to
/// `*payload_out` (which may be NULL). A queued fire for it is dropped. Twice gives
/// `DW_ERR_STALE_UNIT`; the unit being fired gives `DW_ERR_UNIT_FIRING` (answer from the
/// handler instead). Reentrant from a handler.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `payload_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_unregister(
    g: *mut dw_graph,
    unit: dw_unit,
    payload_out: *mut dw_payload,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `payload_out`.
    unsafe {
        with_graph(g, |ctx| {
            let p = ctx.core.unregister(ctx.unit(unit))?;
            boundary::put_opt(payload_out, p);
            Ok(())
        })
    }
}

/// Unregisters every live unit, calling `callback(ctx, unit, payload)` (if not NULL)
/// for each after it is gone, so the VM can free its code: the C form of "invalidate
/// all" (CPython's `_Py_Executors_InvalidateAll`). Writes the number unregistered to
/// `*n_out` (which may be NULL). The callback may call into the graph; units it
/// registers stay. From inside a handler, the unit being fired is skipped (its verdict
/// decides). Unregistered units do not count as invalidated in the stats.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `callback` is NULL or a function with
/// this signature that returns normally; `n_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_unregister_all(
    g: *mut dw_graph,
    callback: dw_unit_fn,
    ctx: *mut c_void,
    n_out: *mut usize,
) -> dw_status {
    let mut gone: Vec<(dw_unit, dw_payload)> = Vec::new();
    // SAFETY: the caller's contract covers `g` and `n_out`.
    let status = unsafe {
        with_graph(g, |c| {
            let units = c.take_units();
            let mut survivors = Vec::new();
            for u in units {
                match c.core.unregister(u) {
                    Ok(p) => gone.push((c.salts.unit(u), p)),
                    Err(Error::UnitFiring(_)) => survivors.push(u),
                    Err(_) => {}
                }
            }
            c.put_back_units(survivors);
            boundary::put_opt(n_out, gone.len());
            Ok(())
        })
    };
    if status != DW_OK {
        return status;
    }
    if let Some(cb) = callback {
        // The callbacks run outside any graph borrow, so they may call in.
        for (u, p) in gone {
            // SAFETY: `callback` and `ctx` come from the caller, who guarantees the
            // signature and that it returns normally.
            unsafe { cb(ctx, u, p) };
        }
    }
    DW_OK
}

/// Writes whether the unit is live with no fire queued for it to `*out`. A stale or
/// foreign ID gives false, not an error.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_is_valid(g: *mut dw_graph, unit: dw_unit, out: *mut bool) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            let v = ctx.core.is_valid(ctx.unit(unit));
            put(out, v, "out")
        })
    }
}

/// Writes the unit's payload to `*out`. `DW_ERR_STALE_UNIT` if it is not live,
/// `DW_ERR_UNIT_FIRING` while it is being fired (the handler has it in the fire).
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_payload_get(
    g: *mut dw_graph,
    unit: dw_unit,
    out: *mut dw_payload,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            let p = *ctx.core.payload(ctx.unit(unit))?;
            put(out, p, "out")
        })
    }
}

/// Replaces the unit's payload. Refused as [`dw_payload_get`] is.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_payload_set(
    g: *mut dw_graph,
    unit: dw_unit,
    payload: dw_payload,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`.
    unsafe {
        with_graph(g, |ctx| {
            *ctx.core.payload_mut(ctx.unit(unit))? = payload;
            Ok(())
        })
    }
}

/// The unit's live dependencies, sorted and deduplicated: writes their count to
/// `*n_out` and, if `cap` is large enough, the dependencies to `deps[0..n)`; with `cap`
/// too small only the count, and `DW_ERR_BUFFER_TOO_SMALL`. `deps` may be NULL when
/// `cap` is 0.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `deps` is NULL or writable for `cap`
/// entries; `n_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_dependencies(
    g: *mut dw_graph,
    unit: dw_unit,
    deps: *mut dw_dependency,
    cap: usize,
    n_out: *mut usize,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `deps` and `n_out`.
    unsafe {
        with_graph(g, |ctx| {
            let found = ctx.core.dependencies(ctx.unit(unit))?;
            let items: Vec<dw_dependency> = found
                .into_iter()
                .map(|d| dw_dependency {
                    object: ctx.salts.object(d.object),
                    aspect: aspect_to_c(d.aspect),
                    site: d.site,
                })
                .collect();
            fill(deps, cap, &items, n_out, "deps")
        })
    }
}
