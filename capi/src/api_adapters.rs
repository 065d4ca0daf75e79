//! The four CPython-shaped adapters by handle, and the watch requests.

use std::ffi::c_void;

use dw::adapters::{
    AdapterStats, CodeEvent, DictEvent, FunctionEvent, Values, WatchAction, WatchRequest,
};
use dw::{Error, Fire, Kind, ObjectId, Report, Verdict};

use crate::api_events::{Delivery, add_reports};
use crate::boundary::{
    Core, Ctx, Failure, Side, fill, get_opt, kind_of, kind_to_c, put, slice, with_graph,
};
use crate::*;

/// The handler the adapters get while recording: deliveries are held then (by a batch,
/// or because a handler is running), so it is never called. If it were, the panic
/// would be caught, the unit invalidated, and the call would return `DW_ERR_PANIC`.
fn held(_: &mut Core, _: Fire<'_, dw_payload>) -> Verdict {
    panic!("depwatch-capi: a fire was delivered while an adapter was recording")
}

/// Runs an adapter's recording step with deliveries held, then delivers to C with no
/// adapter borrowed, so a handler may feed the adapters again (CPython's executor
/// teardown can free a dict or function, whose watcher then fires inside the handler).
///
/// Outside a handler: queued fires are delivered first (as any delivering call does),
/// then the step runs inside a batch, and closing the batch delivers its fires. Inside
/// a handler, the step runs directly: the core queues its fires for the outer delivery.
fn adapter_event<R>(
    c: &mut Ctx<'_>,
    d: &mut Delivery<'_>,
    step: impl FnOnce(&mut Core, &mut Side) -> Result<R, Error>,
) -> Result<(Report, R), Failure> {
    if c.reentrant {
        let (core, side) = c.split();
        let r = step(core, side)?;
        return Ok((
            Report {
                deferred: true,
                ..Report::default()
            },
            r,
        ));
    }
    let flushed = c.core.deliver(&mut |g, f| d.fire(g, f));
    c.core.begin_batch();
    let recorded = {
        let (core, side) = c.split();
        step(core, side)
    };
    // Close the batch even if the step failed, so the graph is never left in one.
    let delivered = c.core.end_batch(&mut |g, f| d.fire(g, f))?;
    let r = recorded?;
    Ok((add_reports(flushed, delivered), r))
}

/// One adapter event from C: checks the handler, parses the event, runs `step` with
/// deliveries held (see [`adapter_event`]), delivers, and writes the report.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `handler` is NULL or a `dw_handler`
/// that returns normally; `report` is NULL or writable.
#[inline(always)]
unsafe fn adapter_call<E>(
    g: *mut dw_graph,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
    parse: impl FnOnce() -> Result<E, Failure>,
    step: impl FnOnce(E, &mut Core, &mut Side) -> Result<Report, Error>,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        with_graph(g, |c| {
            let mut d = Delivery::new(c, handler, ctx)?;
            let event = parse()?;
            let (r, _) = adapter_event(c, &mut d, |core, side| step(event, core, side))?;
            d.finish(r, report)
        })
    }
}

fn values_of(v: Option<dw_values>) -> Values {
    match v {
        None => Values::UNKNOWN,
        Some(v) => Values {
            old: v.has_old.then_some(v.old_value),
            new: v.has_new.then_some(v.new_value),
        },
    }
}

fn adapter_kind(kind: dw_kind) -> Result<Kind, Failure> {
    match kind_of(kind)? {
        Kind::Custom(_) => Err(Failure::unknown(
            "adapter kind (adapters exist for dict, function, code and type)",
            i64::from(kind),
        )),
        k => Ok(k),
    }
}

/// The ID for the object of `kind` (dict, function, code or type) at `handle`, tracked
/// on first use by that kind's adapter, written to `*out`. The same live handle always
/// gives the same ID; after the object's death event (DEALLOCATED, DESTROY,
/// [`dw_type_deallocated`]) the handle gets a new ID, so a new object at a reused
/// address never inherits the old one's dependents. Use these IDs in `dw_dep`s.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_track_handle(
    g: *mut dw_graph,
    kind: dw_kind,
    handle: u64,
    out: *mut dw_object,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |c| {
            let kind = adapter_kind(kind)?;
            if out.is_null() {
                return Err(Failure::null("out"));
            }
            let (core, side) = c.split();
            let id = match kind {
                Kind::Dict => side.dicts.track(core, handle),
                Kind::Function => side.funcs.track(core, handle),
                Kind::Code => side.codes.track(core, handle),
                _ => side.types.track(core, handle),
            };
            put(out, c.salts.object(id), "out")
        })
    }
}

/// The ID the adapter of `kind` holds for `handle`, written to `*out`, without
/// tracking: `DW_ERR_NOT_TRACKED` if it holds none.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_lookup_handle(
    g: *mut dw_graph,
    kind: dw_kind,
    handle: u64,
    out: *mut dw_object,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |c| {
            let kind = adapter_kind(kind)?;
            let side = c.side();
            let id: Option<ObjectId> = match kind {
                Kind::Dict => side.dicts.get(handle),
                Kind::Function => side.funcs.get(handle),
                Kind::Code => side.codes.get(handle),
                _ => side.types.get(handle),
            };
            let id = id.ok_or_else(|| {
                Failure::new(
                    DW_ERR_NOT_TRACKED,
                    format!("no object is tracked for handle {handle:#x}"),
                )
            })?;
            put(out, c.salts.object(id), "out")
        })
    }
}

/// Feeds one dict watcher event (CPython's `PyDict_WatchEvent` number) for the dict at
/// `dict`: ADDED, MODIFIED and DELETED notify `Key(key_hash)`; CLONED and CLEARED
/// notify the whole dict; DEALLOCATED destroys it and retires the handle. `key_hash`
/// is ignored for the non-key events. A MODIFIED whose `values` (may be NULL: unknown)
/// say the same object is stored again re-arms instead of firing. An untracked handle
/// is a counted no-op. Delivery, reports and reentrancy as [`dw_notify`]; from inside
/// a handler the event is recorded and its fires queued for the outer delivery.
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `values` is NULL or readable; `handler`
/// is NULL or a `dw_handler` that returns normally; `report` is NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dw_dict_event(
    g: *mut dw_graph,
    event: dw_dict_event_kind,
    dict: u64,
    key_hash: u64,
    values: *const dw_values,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `values`, `handler` and `report`. (The
    // dict write barrier, written out rather than through `adapter_call`, which costs
    // it 28 instructions.)
    unsafe {
        with_graph(g, |c| {
            let mut d = Delivery::new(c, handler, ctx)?;
            let values = values_of(get_opt(values));
            let event = DictEvent::from_cpython(event, Some(key_hash), values)
                .ok_or_else(|| Failure::unknown("dict event", i64::from(event)))?;
            let (r, ()) = adapter_event(c, &mut d, |core, side| {
                side.dicts.on_event(core, dict, event, &mut held).map(drop)
            })?;
            d.finish(r, report)
        })
    }
}

fn function_event(event: i32, values: Values) -> Option<FunctionEvent> {
    Some(match event {
        DW_FUNC_EVENT_CREATE => FunctionEvent::Create,
        DW_FUNC_EVENT_DESTROY => FunctionEvent::Destroy,
        DW_FUNC_EVENT_MODIFY_CODE => FunctionEvent::ModifyCode(values),
        DW_FUNC_EVENT_MODIFY_DEFAULTS => FunctionEvent::ModifyDefaults(values),
        DW_FUNC_EVENT_MODIFY_KWDEFAULTS => FunctionEvent::ModifyKwDefaults(values),
        DW_FUNC_EVENT_MODIFY_CLOSURE => FunctionEvent::ModifyClosure(values),
        DW_FUNC_EVENT_MODIFY_GLOBALS => FunctionEvent::ModifyGlobals(values),
        DW_FUNC_EVENT_MODIFY_ANNOTATIONS => FunctionEvent::ModifyAnnotations(values),
        _ => return None,
    })
}

/// Feeds one function watcher event (`DW_FUNC_EVENT_*`; 0 to 4 are CPython's
/// `PyFunction_WatchEvent`) for the function at `func`: a MODIFY notifies that
/// attribute (`DW_ATTR_CODE`, `_DEFAULTS`, ...) unless `values` say the same object is
/// stored again; DESTROY destroys it and retires the handle; CREATE tracks it only with
/// `DW_CONFIG_TRACK_FUNCTION_CREATES`. Otherwise as [`dw_dict_event`].
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// As [`dw_dict_event`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_function_event(
    g: *mut dw_graph,
    event: dw_func_event_kind,
    func: u64,
    values: *const dw_values,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `values` (read here) and `g`, `handler` and
    // `report` (as `adapter_call` requires).
    unsafe {
        let values = values_of(get_opt(values));
        let parse = || {
            function_event(event, values)
                .ok_or_else(|| Failure::unknown("function event", i64::from(event)))
        };
        adapter_call(g, handler, ctx, report, parse, |e, core, side| {
            side.funcs.on_event(core, func, e, &mut held)
        })
    }
}

/// Feeds one code event (`DW_CODE_EVENT_*`; 0 and 1 are CPython's `PyCodeEvent`) for
/// the code object at `code`: DESTROY destroys it and retires the handle; INSTRUMENTED
/// notifies `DW_ATTR_INSTRUMENTATION` (hitting whole-object dependencies too); CREATE
/// tracks it only with `DW_CONFIG_TRACK_CODE_CREATES`. Otherwise as [`dw_dict_event`].
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `handler` is NULL or a `dw_handler`
/// that returns normally; `report` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_code_event(
    g: *mut dw_graph,
    event: dw_code_event_kind,
    code: u64,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    let parse = || match event {
        DW_CODE_EVENT_CREATE => Ok(CodeEvent::Create),
        DW_CODE_EVENT_DESTROY => Ok(CodeEvent::Destroy),
        DW_CODE_EVENT_INSTRUMENTED => Ok(CodeEvent::Instrumented),
        e => Err(Failure::unknown("code event", i64::from(e))),
    };
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        adapter_call(g, handler, ctx, report, parse, |e, core, side| {
            side.codes.on_event(core, code, e, &mut held)
        })
    }
}

/// Feeds a type watcher event: the type at `ty` was modified. `attr_hash` points at the
/// hash of the attribute's name if the VM knows it, or is NULL for a whole-type event
/// (CPython's type watcher gives no name). The event is applied to `ty` and to every
/// tracked transitive subclass (see [`dw_type_set_bases`]) in one batch, so a unit
/// depending on several fires once. With `DW_CONFIG_WATCH_REQUESTS`, a
/// `DW_WATCH_REARM` request is queued, after delivery, for each of those types that
/// still has dependents. Otherwise as [`dw_dict_event`].
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `attr_hash` is NULL or readable;
/// `handler` is NULL or a `dw_handler` that returns normally; `report` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_type_modified(
    g: *mut dw_graph,
    ty: u64,
    attr_hash: *const u64,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `attr_hash`, `handler` and `report`.
    unsafe {
        with_graph(g, |c| {
            let mut d = Delivery::new(c, handler, ctx)?;
            let attr = get_opt(attr_hash);
            let (r, targets) = adapter_event(c, &mut d, |core, side| {
                let targets: Vec<(u64, ObjectId)> = side
                    .types
                    .with_subclasses(ty)
                    .into_iter()
                    .filter_map(|t| Some((t, side.types.get(t)?)))
                    .collect();
                side.types.on_modified(core, ty, attr, &mut held)?;
                Ok(targets)
            })?;
            let (core, side) = c.split();
            if let Some(requests) = &side.requests {
                for (handle, id) in targets {
                    if core.is_watched(id) == Ok(true) {
                        requests.push(WatchRequest {
                            object: id,
                            kind: Kind::Type,
                            handle,
                            action: WatchAction::Rearm,
                        });
                    }
                }
            }
            d.finish(r, report)
        })
    }
}

/// Feeds a type's deallocation: its dependents are invalidated, the handle retired, and
/// the type leaves the hierarchy. Otherwise as [`dw_dict_event`].
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// As [`dw_code_event`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_type_deallocated(
    g: *mut dw_graph,
    ty: u64,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        adapter_call(
            g,
            handler,
            ctx,
            report,
            || Ok(()),
            |(), core, side| side.types.on_deallocated(core, ty, &mut held),
        )
    }
}

/// Records the direct bases of the type at `ty` (its `__bases__`, `bases[0..n_bases)`,
/// read during the call), replacing earlier ones. A change to any transitive base then
/// fans out to `ty`. Call it when a class is created and when its `__bases__` changes.
/// Cycles in bad input are cut.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `bases` is NULL or points at `n_bases`
/// readable handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_type_set_bases(
    g: *mut dw_graph,
    ty: u64,
    bases: *const u64,
    n_bases: usize,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `bases`.
    unsafe {
        with_graph(g, |c| {
            let bases = slice(bases, n_bases, "bases")?;
            c.side().types.set_bases(ty, bases);
            Ok(())
        })
    }
}

/// Moves up to `cap` of the oldest queued watch requests into `requests[0..n)` and
/// writes `n` to `*n_out`; call again until it writes fewer than `cap`. Requests come
/// from the watch hook (`DW_WATCH_WATCH` when an object gains its first dependent,
/// `DW_WATCH_UNWATCH` when it loses its last) and from type events (`DW_WATCH_REARM`).
/// The VM applies them to its objects (`PyDict_Watch`, `PyType_Watch`, ...).
/// A request whose object was destroyed after it was queued is dropped, never handed
/// out, so every handle returned is a live object's.
/// `DW_ERR_INVALID_ARGUMENT` unless the graph was created with
/// `DW_CONFIG_WATCH_REQUESTS`.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `requests` is NULL or writable for `cap`
/// entries; `n_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_drain_watch_requests(
    g: *mut dw_graph,
    requests: *mut dw_watch_request,
    cap: usize,
    n_out: *mut usize,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `requests` and `n_out`.
    unsafe {
        with_graph(g, |c| {
            if n_out.is_null() {
                return Err(Failure::null("n_out"));
            }
            if requests.is_null() && cap > 0 {
                // Refused before anything is taken from the queue.
                return Err(Failure::new(
                    DW_ERR_NULL_POINTER,
                    format!("requests is NULL with capacity {cap}"),
                ));
            }
            let (core, side) = c.split();
            let Some(queue) = &side.requests else {
                return Err(Failure::new(
                    DW_ERR_INVALID_ARGUMENT,
                    "watch requests are off: create the graph with DW_CONFIG_WATCH_REQUESTS".into(),
                ));
            };
            side.pending_requests.extend(queue.drain());
            // A request is queued for a live object, but the object may have died since
            // (a handler registered on a dict that a later handler freed): never hand
            // the VM a dead object's handle.
            side.pending_requests
                .retain(|r| core.contains_object(r.object));
            let n = cap.min(side.pending_requests.len());
            let batch: Vec<dw_watch_request> = side
                .pending_requests
                .drain(..n)
                .map(|r| dw_watch_request {
                    kind: kind_to_c(r.kind),
                    handle: r.handle,
                    action: match r.action {
                        WatchAction::Watch => DW_WATCH_WATCH,
                        WatchAction::Unwatch => DW_WATCH_UNWATCH,
                        WatchAction::Rearm => DW_WATCH_REARM,
                    },
                })
                .collect();
            fill(requests, cap, &batch, n_out, "requests")
        })
    }
}

/// Writes the counters of the adapter of `kind` (dict, function, code or type) to
/// `*out`.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_get_adapter_stats(
    g: *mut dw_graph,
    kind: dw_kind,
    out: *mut dw_adapter_stats,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe {
        with_graph(g, |c| {
            let kind = adapter_kind(kind)?;
            let side = c.side();
            let s: AdapterStats = match kind {
                Kind::Dict => side.dicts.stats(),
                Kind::Function => side.funcs.stats(),
                Kind::Code => side.codes.stats(),
                _ => side.types.stats(),
            };
            put(
                out,
                dw_adapter_stats {
                    events: s.events,
                    untracked: s.untracked,
                    same_value: s.same_value,
                    tracked: s.tracked,
                    retired: s.retired,
                    created: s.created,
                },
                "out",
            )
        })
    }
}
