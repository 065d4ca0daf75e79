//! Events: notify, destroy, batches, delivery, and the trampoline that calls the C
//! handler.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use dw::{Fire, Report, Verdict};

use crate::boundary::{
    self, Core, Ctx, Failure, Flags, Salts, Side, aspect_of, aspect_to_c, kind_to_c, put,
    with_graph,
};
use crate::*;

type CHandler = unsafe extern "C" fn(
    ctx: *mut c_void,
    graph: *mut dw_graph,
    fire: *const dw_fire,
) -> dw_verdict;

/// One delivering call's link to the C handler.
pub(crate) struct Delivery<'a> {
    handler: CHandler,
    ctx: *mut c_void,
    shell: *mut dw_graph,
    side: *mut Side,
    flags: &'a Arc<Flags>,
    salts: Salts,
    /// The first unknown verdict a handler returned: (unit, value).
    bad: Option<(dw_unit, dw_verdict)>,
}

/// Restores `Flags::active` when a fire ends, even by unwinding.
struct ActiveGuard<'a> {
    flags: &'a Flags,
    prev: *mut Core,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.flags.active.store(self.prev, Ordering::Relaxed);
    }
}

impl<'a> Delivery<'a> {
    pub(crate) fn new(
        ctx: &Ctx<'a>,
        handler: dw_handler,
        hctx: *mut c_void,
    ) -> Result<Self, Failure> {
        let handler = handler.ok_or_else(|| Failure::null("the handler"))?;
        Ok(Self {
            handler,
            ctx: hctx,
            shell: ctx.shell,
            side: ctx.side_ptr(),
            flags: ctx.flags,
            salts: ctx.salts,
            bad: None,
        })
    }

    /// The core's handler: converts the fire, calls C, converts the answer.
    pub(crate) fn fire(&mut self, graph: &mut Core, fire: Fire<'_, dw_payload>) -> Verdict {
        let salts = self.salts;
        // Short borrow of the side state: take the buffers, map the labels.
        let (causes, mut hits, mut keys) = {
            // SAFETY: the side field of the live state (the graph cannot be freed while
            // a handler runs). No other borrow of it is live: the outer call holds none
            // across the core call that is running this fire, and reentrant calls only
            // happen inside the C handler call below, after this borrow ends.
            let side = unsafe { &mut *self.side };
            let mut causes = std::mem::take(&mut side.causes_buf);
            let hits = std::mem::take(&mut side.hits_buf);
            let mut keys = std::mem::take(&mut side.cause_keys);
            causes.clear();
            keys.clear();
            for h in fire.hits {
                let key = ptr::from_ref(h.cause).addr();
                if keys.contains(&key) {
                    continue;
                }
                keys.push(key);
                let c = h.cause;
                let (name, name_len) = match &c.name {
                    Some(n) => (n.as_ptr().cast::<c_char>(), n.len()),
                    None => (ptr::null(), 0),
                };
                causes.push(dw_cause {
                    object: salts.object(c.object),
                    kind: kind_to_c(c.kind),
                    aspect: aspect_to_c(c.aspect),
                    label: side.c_label(c.label),
                    name,
                    name_len,
                    version: c.version,
                    destroyed: c.destroyed,
                });
            }
            (causes, hits, keys)
        };
        // Every cause is in place: the hits may now point into the cause array.
        hits.clear();
        for h in fire.hits {
            let key = ptr::from_ref(h.cause).addr();
            let i = keys.iter().position(|&k| k == key).unwrap_or(0);
            hits.push(dw_hit {
                dependency: dw_dependency {
                    object: salts.object(h.dependency.object),
                    aspect: aspect_to_c(h.dependency.aspect),
                    site: h.dependency.site,
                },
                cause: &causes[i],
            });
        }
        let unit = salts.unit(fire.unit);
        let mut payload = *fire.payload;
        let c_fire = dw_fire {
            unit,
            payload: &mut payload,
            hits: hits.as_ptr(),
            n_hits: hits.len(),
            terminal: fire.is_terminal(),
        };
        let answer = {
            let prev = self
                .flags
                .active
                .swap(graph as *mut Core, Ordering::Relaxed);
            let _restore = ActiveGuard {
                flags: self.flags,
                prev,
            };
            // SAFETY: the handler and its context come together from the delivering
            // call, whose contract is that the handler has this signature and returns
            // normally. `c_fire` and everything it points to (the payload copy, the hit
            // and cause arrays, the key names held by the core's wave) live until the
            // call returns; reentrant calls use `Flags::active`, a reborrow of `graph`,
            // which is not used until the handler returns.
            unsafe { (self.handler)(self.ctx, self.shell, &c_fire) }
        };
        *fire.payload = payload;
        {
            // SAFETY: as above; the handler has returned, so no reentrant call is live.
            let side = unsafe { &mut *self.side };
            side.causes_buf = causes;
            side.hits_buf = hits;
            side.cause_keys = std::mem::take(&mut keys);
        }
        match answer {
            DW_INVALIDATE => Verdict::Invalidate,
            DW_PATCHED => Verdict::Patched,
            DW_REARMED => Verdict::Rearmed,
            other => {
                self.bad.get_or_insert((unit, other));
                Verdict::Invalidate
            }
        }
    }

    /// Writes the report and reports an unknown verdict, if a handler returned one.
    ///
    /// # Safety
    ///
    /// `out` is NULL or writable.
    pub(crate) unsafe fn finish(&self, report: Report, out: *mut dw_report) -> Result<(), Failure> {
        // SAFETY: the caller's contract.
        unsafe { boundary::put_opt(out, report_to_c(report)) };
        match self.bad {
            None => Ok(()),
            Some((unit, v)) => Err(Failure::new(
                DW_ERR_BAD_VERDICT,
                format!(
                    "the handler returned {v} for unit {unit:#x}, not a dw_verdict; the unit was invalidated"
                ),
            )),
        }
    }
}

pub(crate) fn report_to_c(r: Report) -> dw_report {
    dw_report {
        fired: r.fired,
        invalidated: r.invalidated,
        patched: r.patched,
        rearmed: r.rearmed,
        deferred: r.deferred,
    }
}

/// Two deliveries' reports as one.
pub(crate) fn add_reports(a: Report, b: Report) -> Report {
    Report {
        fired: a.fired + b.fired,
        invalidated: a.invalidated + b.invalidated,
        patched: a.patched + b.patched,
        rearmed: a.rearmed + b.rearmed,
        deferred: b.deferred,
    }
}

/// One delivering call from C: checks the handler, runs `op` with a delivery to it,
/// and writes the report.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `handler` is NULL or a `dw_handler`
/// that returns normally; `report` is NULL or writable.
#[inline(always)]
unsafe fn delivering(
    g: *mut dw_graph,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
    op: impl FnOnce(&mut Ctx<'_>, &mut Delivery<'_>) -> Result<Report, Failure>,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        with_graph(g, |c| {
            let mut d = Delivery::new(c, handler, ctx)?;
            let r = op(c, &mut d)?;
            d.finish(r, report)
        })
    }
}

/// Records an event on (`object`, `aspect`) and delivers the fires: `handler(ctx, g,
/// fire)` is called once per live unit that depended on it, and for no other unit, and
/// its verdict applied. `label` says what happened (NULL: the empty label). Its text is
/// read when the graph first meets the pointer, interned for the life of the process,
/// and remembered by pointer (for the 16 most recent pointers): pass string literals, or
/// strings whose text does not change while the graph lives; a buffer reused with new
/// text may be reported with its old text. `*report` (may
/// be NULL) gets what the call did.
///
/// Inside a handler or an open batch the event is recorded at once (version bumped, hit
/// units marked pending) and its fires are queued for the outer delivery or
/// `dw_end_batch`; the report says `deferred`. A handler that returns an unknown
/// verdict gets its unit invalidated and the call returns `DW_ERR_BAD_VERDICT` after
/// delivering everything. `DW_ERR_NULL_POINTER` for a NULL handler (nothing recorded).
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `label` is NULL or NUL-terminated;
/// `handler` is NULL or a function with the `dw_handler` signature that returns
/// normally; `report` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_notify(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
    label: *const c_char,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `label`, `handler` and `report`. (The
    // hot path, written out rather than through `delivering`: 15 instructions fewer.)
    unsafe {
        with_graph(g, |c| {
            let mut d = Delivery::new(c, handler, ctx)?;
            let aspect = aspect_of(&aspect)?;
            let object = c.object(object);
            let label = c.label(label)?;
            let r = c
                .core
                .notify(object, aspect, label, &mut |g, f| d.fire(g, f))?;
            d.finish(r, report)
        })
    }
}

/// Records an event and queues its fires without delivering them: they go out with
/// the next delivering call ([`dw_deliver`], `dw_notify`, `dw_destroy`,
/// `dw_end_batch`, or an adapter event). The hit units report `dw_is_valid` false
/// until then. For handlers and VMs that deliver at their own safe points.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `label` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_notify_deferred(
    g: *mut dw_graph,
    object: dw_object,
    aspect: dw_aspect,
    label: *const c_char,
) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `label`.
    unsafe {
        with_graph(g, |c| {
            let aspect = aspect_of(&aspect)?;
            let label = c.label(label)?;
            let object = c.object(object);
            Ok(c.core.notify_deferred(object, aspect, label)?)
        })
    }
}

/// Destroys an object: every dependent is fired (label `"destroyed"`, `terminal`) and
/// invalidated whatever the handler answers, and the ID is retired: every later call
/// with it gives `DW_ERR_STALE_OBJECT`. Delivery, reports and reentrancy as
/// [`dw_notify`].
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// As [`dw_notify`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_destroy(
    g: *mut dw_graph,
    object: dw_object,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        delivering(g, handler, ctx, report, |c, d| {
            let object = c.object(object);
            Ok(c.core.destroy(object, &mut |g, f| d.fire(g, f))?)
        })
    }
}

/// [`dw_destroy`] with the fires queued, as [`dw_notify_deferred`].
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_destroy_deferred(g: *mut dw_graph, object: dw_object) -> dw_status {
    // SAFETY: the caller's contract covers `g`.
    unsafe {
        with_graph(g, |c| {
            let object = c.object(object);
            Ok(c.core.destroy_deferred(object)?)
        })
    }
}

/// Opens a batch: events are recorded at once but their fires are held until the
/// matching [`dw_end_batch`], which fires each hit unit once with all its causes.
/// Batches nest; only the outermost `dw_end_batch` delivers.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_begin_batch(g: *mut dw_graph) -> dw_status {
    // SAFETY: the caller's contract covers `g`.
    unsafe {
        with_graph(g, |c| {
            c.core.begin_batch();
            Ok(())
        })
    }
}

/// Closes a batch and delivers its fires (unless nested, or called inside a handler:
/// then they are queued, and the report says `deferred`). `DW_ERR_NO_BATCH` if none is
/// open. Delivery as [`dw_notify`].
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `handler` is NULL or a `dw_handler`
/// that returns normally; `report` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_end_batch(
    g: *mut dw_graph,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        delivering(g, handler, ctx, report, |c, d| {
            Ok(c.core.end_batch(&mut |g, f| d.fire(g, f))?)
        })
    }
}

/// Writes whether a batch is open to `*out`.
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_in_batch(g: *mut dw_graph, out: *mut bool) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { with_graph(g, |c| put(out, c.core.in_batch(), "out")) }
}

/// Delivers every queued fire (from deferred events, or left queued when a delivery
/// was abandoned by `DW_ERR_PANIC`). Inside a handler it does nothing and reports
/// `deferred`: the outer delivery drains the queue.
///
/// The handler runs inside this call, under the lock, and must return normally.
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// As [`dw_end_batch`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_deliver(
    g: *mut dw_graph,
    handler: dw_handler,
    ctx: *mut c_void,
    report: *mut dw_report,
) -> dw_status {
    // SAFETY: the caller's contract covers `g`, `handler` and `report`.
    unsafe {
        delivering(g, handler, ctx, report, |c, d| {
            Ok(c.core.deliver(&mut |g, f| d.fire(g, f)))
        })
    }
}

/// Writes the number of units with a fire queued but not yet delivered to `*out`.
/// O(units).
///
/// Lock: the graph's (see the header). Callable from its handler, not its watch hook.
///
/// # Safety
///
/// `g` is NULL or a graph from `dw_graph_new`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dw_pending_fires(g: *mut dw_graph, out: *mut usize) -> dw_status {
    // SAFETY: the caller's contract covers `g` and `out`.
    unsafe { with_graph(g, |c| put(out, c.core.pending_fires(), "out")) }
}
