//! Graphs: create, free, config, errors, the watch hook, stats, aspect helpers.

use std::ffi::{c_char, c_void};

use crate::boundary::{self, Failure, get_opt, install_hook, put, with_graph};
use crate::*;

/// The message of the calling thread's last failed call, as a NUL-terminated string
/// (empty if no call on this thread has failed yet). Successful calls leave it as it
/// was.
///
/// Ownership: borrowed from depwatch, valid until the calling thread's next failing
/// `dw_` call or its exit; copy it to keep it. Thread-safe (per-thread storage).
#[unsafe(no_mangle)]
pub extern "C" fn dw_last_error() -> *const c_char {
    boundary::last_error()
}

/// The name of a status, such as `"DW_ERR_STALE_OBJECT"`, or `"unknown status"` for a
/// value that is not one. Static storage; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dw_status_str(status: i32) -> *const c_char {
    let s: &'static std::ffi::CStr = match status {
        DW_OK => c"DW_OK",
        DW_ERR_NULL_POINTER => c"DW_ERR_NULL_POINTER",
        DW_ERR_FREED_GRAPH => c"DW_ERR_FREED_GRAPH",
        DW_ERR_UNKNOWN_ENUM => c"DW_ERR_UNKNOWN_ENUM",
        DW_ERR_INVALID_ARGUMENT => c"DW_ERR_INVALID_ARGUMENT",
        DW_ERR_STALE_OBJECT => c"DW_ERR_STALE_OBJECT",
        DW_ERR_STALE_UNIT => c"DW_ERR_STALE_UNIT",
        DW_ERR_STALE_CELL => c"DW_ERR_STALE_CELL",
        DW_ERR_NO_DEPENDENCIES => c"DW_ERR_NO_DEPENDENCIES",
        DW_ERR_UNSTABLE => c"DW_ERR_UNSTABLE",
        DW_ERR_STALE_TICKET => c"DW_ERR_STALE_TICKET",
        DW_ERR_FOREIGN_TICKET => c"DW_ERR_FOREIGN_TICKET",
        DW_ERR_UNIT_FIRING => c"DW_ERR_UNIT_FIRING",
        DW_ERR_NO_BATCH => c"DW_ERR_NO_BATCH",
        DW_ERR_FULL => c"DW_ERR_FULL",
        DW_ERR_REENTRANT => c"DW_ERR_REENTRANT",
        DW_ERR_NOT_TRACKED => c"DW_ERR_NOT_TRACKED",
        DW_ERR_BUFFER_TOO_SMALL => c"DW_ERR_BUFFER_TOO_SMALL",
        DW_ERR_BAD_VERDICT => c"DW_ERR_BAD_VERDICT",
        DW_ERR_PANIC => c"DW_ERR_PANIC",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The default config: storm threshold 6, the slot-retirement limit that keeps IDs
/// from ever aliasing, no flags. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dw_config_default() -> dw_config {
    let c = dw::Config::default();
    dw_config {
        storm_threshold: c.storm_threshold,
        max_slot_reuse: c.max_slot_reuse,
        flags: 0,
    }
}

/// The aspect "the whole object". Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dw_aspect_whole() -> dw_aspect {
    boundary::aspect_to_c(dw::Aspect::Whole)
}

/// The aspect "one key", by the VM's 64-bit hash of it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dw_aspect_key(key_hash: u64) -> dw_aspect {
    boundary::aspect_to_c(dw::Aspect::Key(key_hash))
}

/// The aspect "one fixed attribute". An unknown `attr` is not checked here; calls that
/// take the aspect refuse it with `DW_ERR_UNKNOWN_ENUM`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn dw_aspect_attr(attr: dw_attr) -> dw_aspect {
    dw_aspect {
        kind: DW_ASPECT_ATTR,
        attr,
        key: 0,
    }
}

/// Creates a graph. `config` may be NULL for [`dw_config_default`]; it is read during
/// the call only. On success `*out` is the new graph, owned by the caller until
/// [`dw_graph_free`].
///
/// Fails with `DW_ERR_NULL_POINTER` if `out` is NULL and `DW_ERR_UNKNOWN_ENUM` for
/// unknown flag bits. Thread-safe: graphs are independent of each other.
///
/// # Safety
///
/// `config` is NULL or readable; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_graph_new(
    config: *const dw_config,
    out: *mut *mut dw_graph,
) -> dw_status {
    boundary::status_of(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: `config` is NULL or readable (the caller's contract).
        let config = unsafe { get_opt(config) }.unwrap_or_else(|| dw_config_default());
        let g = boundary::new_graph(config)?;
        // SAFETY: `out` is non-NULL and writable (the caller's contract).
        unsafe { put(out, g, "out") }
    })
}

/// Frees a graph and everything it holds. Payloads of live units are not touched:
/// they are the VM's (call [`dw_unregister_all`] first to get them back).
///
/// The handle's 16-byte shell stays allocated for the life of the process, marked
/// freed, so a freed graph passed to any call again gives `DW_ERR_FREED_GRAPH`
/// (including a second `dw_graph_free`). A pointer that never came from
/// [`dw_graph_new`] is undefined behaviour. Refused with `DW_ERR_REENTRANT` from inside
/// the graph's own handler or watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; no other thread is using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_graph_free(g: *mut dw_graph) -> dw_status {
    // SAFETY: the caller's contract, as `free_graph` requires.
    unsafe { boundary::free_graph(g) }
}

/// Writes the graph's config (as given to [`dw_graph_new`]) to `*out`.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_graph_config(g: *mut dw_graph, out: *mut dw_config) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { with_graph(g, |ctx| put(out, ctx.config, "out")) }
}

/// Sets the watch hook (NULL clears it): `hook(ctx, change)` is called when an object
/// gains its first dependent or loses its last, at the end of the graph call that
/// caused the change, on the thread making that call. The hook must not call into the
/// graph (such calls return `DW_ERR_REENTRANT`). `ctx` is passed back untouched and
/// must stay valid until the hook is replaced or the graph freed.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `hook` is NULL or a function with this
/// signature that returns normally.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_set_watch_hook(
    g: *mut dw_graph,
    hook: dw_watch_hook,
    ctx: *mut c_void,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`; `hook` and `ctx` are stored, not called.
    unsafe {
        with_graph(g, |c| {
            let (flags, salts) = (c.flags.clone(), c.salts);
            let requests = c.side().requests.clone();
            install_hook(c.core, hook, ctx, flags, requests, salts);
            Ok(())
        })
    }
}

/// Writes the graph's counters and sizes to `*out`. O(cells).
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_graph_stats(g: *mut dw_graph, out: *mut dw_stats) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |ctx| {
            let s = ctx.core.stats();
            put(
                out,
                dw_stats {
                    events: s.events,
                    quiet_events: s.quiet_events,
                    prefilter_rejects: s.prefilter_rejects,
                    fires: s.fires,
                    invalidated: s.invalidated,
                    patched: s.patched,
                    rearmed: s.rearmed,
                    live_objects: s.live_objects,
                    live_units: s.live_units,
                    live_edges: s.live_edges,
                    live_cells: s.live_cells,
                    retired_slots: s.retired_slots,
                    pending_units: s.pending_units,
                    bytes: s.bytes,
                },
                "out",
            )
        })
    }
}
