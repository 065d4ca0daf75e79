//! Rust-side tests of the FFI boundary. They call the `extern "C"` functions as C does,
//! with Rust callbacks, and exercise every `unsafe` block: pointer arguments, the graph
//! shell and its tombstone, reentrant calls from a handler, the watch hook, and panics.
//! They run under Miri (`cargo +nightly miri test -p depwatch-capi`), which checks the
//! aliasing of the reentrant paths.

use std::ffi::{CStr, c_char, c_void};
use std::ptr;

use crate::boundary::{
    Failure, fill, get_opt, opt_str, put, put_opt, slice, status_of, with_graph,
};
use crate::*;

fn graph(flags: u32) -> *mut dw_graph {
    let mut c = dw_config_default();
    c.flags = flags;
    let mut g = ptr::null_mut();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { dw_graph_new(&c, &mut g) }, DW_OK);
    g
}

fn track(g: *mut dw_graph, kind: dw_kind, handle: u64) -> dw_object {
    let mut o = 0;
    // SAFETY: a live graph and a valid out-pointer.
    assert_eq!(unsafe { dw_track(g, kind, handle, &mut o) }, DW_OK);
    o
}

fn register(g: *mut dw_graph, object: dw_object, aspect: dw_aspect, payload: u64) -> dw_unit {
    let dep = dw_dep {
        object,
        aspect,
        site: 0,
        name: ptr::null(),
    };
    let mut u = 0;
    // SAFETY: a live graph, one readable dep, a valid out-pointer.
    let s = unsafe { dw_register(g, &dep, 1, dw_payload { u64: payload }, &mut u) };
    assert_eq!(s, DW_OK, "{}", last_error());
    u
}

fn valid(g: *mut dw_graph, u: dw_unit) -> bool {
    let mut v = false;
    // SAFETY: a live graph and a valid out-pointer.
    assert_eq!(unsafe { dw_is_valid(g, u, &mut v) }, DW_OK);
    v
}

fn last_error() -> String {
    // SAFETY: `dw_last_error` returns a NUL-terminated string valid until the next
    // failing call on this thread.
    unsafe { CStr::from_ptr(dw_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn free(g: *mut dw_graph) {
    // SAFETY: a live graph.
    assert_eq!(unsafe { dw_graph_free(g) }, DW_OK);
}

/// Counts fires and answers `answer`.
#[derive(Default)]
struct Count {
    fired: usize,
    answer: dw_verdict,
    labels: Vec<String>,
    names: Vec<String>,
}

unsafe extern "C" fn count(
    ctx: *mut c_void,
    _g: *mut dw_graph,
    fire: *const dw_fire,
) -> dw_verdict {
    // SAFETY: `ctx` is the `Count` the test passed; `fire` and what it points to are
    // valid for the call.
    let (c, fire) = unsafe { (&mut *(ctx as *mut Count), &*fire) };
    c.fired += 1;
    // SAFETY: the fire's hit array has `n_hits` entries; their causes are valid.
    let hits = unsafe { std::slice::from_raw_parts(fire.hits, fire.n_hits) };
    for h in hits {
        // SAFETY: as above; the label is NUL-terminated, the name has `name_len` bytes.
        let cause = unsafe { &*h.cause };
        c.labels.push(
            // SAFETY: labels handed to handlers are NUL-terminated.
            unsafe { CStr::from_ptr(cause.label) }
                .to_string_lossy()
                .into_owned(),
        );
        if !cause.name.is_null() {
            // SAFETY: a non-NULL name has `name_len` readable bytes during the call.
            let name =
                unsafe { std::slice::from_raw_parts(cause.name as *const u8, cause.name_len) };
            c.names.push(String::from_utf8_lossy(name).into_owned());
        }
    }
    c.answer
}

#[test]
fn pointer_helpers_refuse_null_and_accept_valid_pointers() {
    let mut x = 0u32;
    // SAFETY: NULL and a valid pointer, as each helper's contract allows.
    unsafe {
        assert_eq!(
            put(ptr::null_mut::<u32>(), 1, "x").unwrap_err().status(),
            DW_ERR_NULL_POINTER
        );
        put(&mut x, 5, "x").unwrap();
        assert_eq!(x, 5);
        put_opt(ptr::null_mut::<u32>(), 1);
        put_opt(&mut x, 6);
        assert_eq!(x, 6);
        assert_eq!(get_opt(ptr::null::<u32>()), None);
        assert_eq!(get_opt(&x as *const u32), Some(6));
        assert!(slice(ptr::null::<u32>(), 0, "a").unwrap().is_empty());
        assert_eq!(
            slice(ptr::null::<u32>(), 3, "a").unwrap_err().status(),
            DW_ERR_NULL_POINTER
        );
        let arr = [1u32, 2, 3];
        assert_eq!(slice(arr.as_ptr(), 3, "a").unwrap(), &arr);
        let mut out = [0u32; 2];
        let mut n = 0usize;
        fill(out.as_mut_ptr(), 2, &[7, 8], &mut n, "out").unwrap();
        assert_eq!((out, n), ([7, 8], 2));
        let e = fill(out.as_mut_ptr(), 1, &[1, 2, 3], &mut n, "out").unwrap_err();
        assert_eq!((e.status(), n, out), (DW_ERR_BUFFER_TOO_SMALL, 3, [7, 8]));
        assert_eq!(
            fill(ptr::null_mut(), 2, &[1u32], &mut n, "out")
                .unwrap_err()
                .status(),
            DW_ERR_NULL_POINTER
        );
        assert_eq!(
            fill(out.as_mut_ptr(), 2, &[1u32], ptr::null_mut(), "out")
                .unwrap_err()
                .status(),
            DW_ERR_NULL_POINTER
        );
        fill(ptr::null_mut::<u32>(), 0, &[], &mut n, "out").unwrap();
        assert_eq!(n, 0);
        assert_eq!(opt_str(ptr::null(), "s").unwrap(), None);
        assert_eq!(opt_str(c"len".as_ptr(), "s").unwrap(), Some("len"));
        let bad = [0xffu8, 0];
        assert_eq!(
            opt_str(bad.as_ptr().cast(), "s").unwrap_err().status(),
            DW_ERR_INVALID_ARGUMENT
        );
    }
}

#[test]
fn a_panic_becomes_a_status_and_a_message() {
    let s = status_of(|| panic!("boom"));
    assert_eq!(s, DW_ERR_PANIC);
    assert!(last_error().contains("boom"), "{}", last_error());
    assert_eq!(
        status_of(|| Err(Failure::null("thing"))),
        DW_ERR_NULL_POINTER
    );
    assert_eq!(last_error(), "thing is NULL");
    // A panic inside a graph call leaves the graph usable.
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    // SAFETY: a live graph.
    let s = unsafe { with_graph(g, |_| panic!("inside")) };
    assert_eq!(s, DW_ERR_PANIC);
    let u = register(g, o, dw_aspect_key(1), 1);
    assert!(valid(g, u));
    free(g);
}

#[test]
fn a_freed_graph_is_caught_by_its_tombstone() {
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    free(g);
    let mut v = 0;
    // SAFETY: a freed graph from `dw_graph_new`, which the contract allows.
    unsafe {
        assert_eq!(dw_version(g, o, &mut v), DW_ERR_FREED_GRAPH);
        assert_eq!(dw_graph_free(g), DW_ERR_FREED_GRAPH);
        assert_eq!(dw_graph_free(ptr::null_mut()), DW_ERR_NULL_POINTER);
    }
    assert!(last_error().contains("NULL"));
}

#[test]
fn ids_are_scrambled_per_graph() {
    let (g1, g2) = (graph(0), graph(0));
    let a = track(g1, DW_KIND_DICT, 1);
    let b = track(g2, DW_KIND_DICT, 1);
    let mut v = 0;
    // SAFETY: live graphs and valid out-pointers.
    unsafe {
        assert_eq!(dw_version(g1, a, &mut v), DW_OK);
        assert_eq!(dw_version(g1, b, &mut v), DW_ERR_STALE_OBJECT);
        assert_eq!(dw_version(g2, a, &mut v), DW_ERR_STALE_OBJECT);
    }
    let u = register(g1, a, dw_aspect_whole(), 1);
    // A unit ID is not an object ID.
    // SAFETY: as above.
    assert_eq!(unsafe { dw_version(g1, u, &mut v) }, DW_ERR_STALE_OBJECT);
    free(g1);
    free(g2);
}

#[test]
fn fires_carry_labels_names_and_payloads() {
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    let dep = dw_dep {
        object: o,
        aspect: dw_aspect_key(9),
        site: 4,
        name: c"LIMIT".as_ptr(),
    };
    let mut u = 0;
    let mut c = Count::default();
    let mut rep = dw_report::default();
    // SAFETY: a live graph, valid pointers, `count` with its `Count` context.
    unsafe {
        assert_eq!(
            dw_register(g, &dep, 1, dw_payload { u64: 3 }, &mut u),
            DW_OK
        );
        let s = dw_notify(
            g,
            o,
            dw_aspect_key(9),
            c"dict.MODIFIED".as_ptr(),
            Some(count),
            (&mut c as *mut Count).cast(),
            &mut rep,
        );
        assert_eq!(s, DW_OK);
    }
    assert_eq!((c.fired, rep.invalidated), (1, 1));
    assert_eq!(c.labels, ["dict.MODIFIED"]);
    assert_eq!(c.names, ["LIMIT"]);
    assert!(!valid(g, u));
    free(g);
}

unsafe extern "C" fn label_ptr(
    ctx: *mut c_void,
    _g: *mut dw_graph,
    fire: *const dw_fire,
) -> dw_verdict {
    // SAFETY: `ctx` is the test's list; the fire has at least one hit, with a cause.
    unsafe {
        let list = &mut *(ctx as *mut Vec<*const c_char>);
        list.push((*(*(*fire).hits).cause).label);
    }
    DW_INVALIDATE
}

#[test]
fn labels_are_interned_by_content_and_remembered_by_pointer() {
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    let mut seen: Vec<*const c_char> = Vec::new();
    let ctx: *mut c_void = (&mut seen as *mut Vec<*const c_char>).cast();
    let (a, b) = (*b"same\0", *b"same\0");
    let mut reused = *b"first\0";
    let fire = |label: *const c_char| {
        register(g, o, dw_aspect_whole(), 1);
        // SAFETY: a NUL-terminated label, a live graph, `label_ptr` with its context.
        let s = unsafe {
            dw_notify(
                g,
                o,
                dw_aspect_whole(),
                label,
                Some(label_ptr),
                ctx,
                ptr::null_mut(),
            )
        };
        assert_eq!(s, DW_OK);
    };
    fire(a.as_ptr().cast());
    fire(b.as_ptr().cast());
    fire(reused.as_mut_ptr().cast());
    reused[..5].copy_from_slice(b"other");
    fire(reused.as_mut_ptr().cast());
    // SAFETY: labels handed to handlers are interned for the life of the process.
    let text = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    // Two buffers with one text: one interned C string, which is neither buffer.
    assert_eq!(seen[0], seen[1]);
    assert_ne!(seen[0], a.as_ptr().cast());
    assert_eq!(text(seen[0]), "same");
    // A pointer seen before is trusted to hold its first text (documented).
    assert_eq!(
        (text(seen[2]), text(seen[3])),
        ("first".into(), "first".into())
    );
    let bad = [0xc3u8, 0x28, 0];
    register(g, o, dw_aspect_whole(), 1);
    // SAFETY: as above.
    let s = unsafe {
        dw_notify(
            g,
            o,
            dw_aspect_whole(),
            bad.as_ptr().cast(),
            Some(label_ptr),
            ctx,
            ptr::null_mut(),
        )
    };
    assert_eq!(s, DW_ERR_INVALID_ARGUMENT);
    free(g);
}

/// What the reentrant handler does and sees.
struct Reenter {
    other: dw_object,
    dict_handle: u64,
    new_unit: dw_unit,
    statuses: Vec<dw_status>,
    fires: usize,
}

unsafe extern "C" fn reenter(
    ctx: *mut c_void,
    g: *mut dw_graph,
    _fire: *const dw_fire,
) -> dw_verdict {
    // SAFETY: `ctx` is the test's `Reenter`.
    let r = unsafe { &mut *(ctx as *mut Reenter) };
    r.fires += 1;
    if r.fires > 1 {
        return DW_INVALIDATE;
    }
    let dep = dw_dep {
        object: r.other,
        aspect: dw_aspect_key(2),
        site: 0,
        name: ptr::null(),
    };
    // SAFETY: `g` is the graph the handler was given; reentrant calls are allowed.
    unsafe {
        r.statuses.push(dw_register(
            g,
            &dep,
            1,
            dw_payload { u64: 9 },
            &mut r.new_unit,
        ));
        r.statuses.push(dw_notify(
            g,
            r.other,
            dw_aspect_key(1),
            c"inner".as_ptr(),
            Some(reenter),
            ctx,
            ptr::null_mut(),
        ));
        r.statuses.push(dw_dict_event(
            g,
            DW_DICT_EVENT_DEALLOCATED,
            r.dict_handle,
            0,
            ptr::null(),
            Some(reenter),
            ctx,
            ptr::null_mut(),
        ));
        r.statuses.push(dw_graph_free(g));
        r.statuses
            .push(with_graph(g, |_| panic!("a panic in a reentrant call")));
    }
    DW_INVALIDATE
}

#[test]
fn a_handler_calls_back_in() {
    let g = graph(0);
    let a = track(g, DW_KIND_DICT, 1);
    let other = track(g, DW_KIND_DICT, 2);
    let mut dict = 0;
    // SAFETY: a live graph and a valid out-pointer.
    assert_eq!(
        unsafe { dw_track_handle(g, DW_KIND_DICT, 0xd, &mut dict) },
        DW_OK
    );
    let first = register(g, a, dw_aspect_key(1), 1);
    let on_other = register(g, other, dw_aspect_key(1), 2);
    let on_dict = register(g, dict, dw_aspect_whole(), 3);
    let mut r = Reenter {
        other,
        dict_handle: 0xd,
        new_unit: 0,
        statuses: Vec::new(),
        fires: 0,
    };
    let mut rep = dw_report::default();
    // SAFETY: a live graph, `reenter` with its context.
    let s = unsafe {
        dw_notify(
            g,
            a,
            dw_aspect_key(1),
            c"outer".as_ptr(),
            Some(reenter),
            (&mut r as *mut Reenter).cast(),
            &mut rep,
        )
    };
    assert_eq!(s, DW_OK, "{}", last_error());
    assert_eq!(
        r.statuses,
        [DW_OK, DW_OK, DW_OK, DW_ERR_REENTRANT, DW_ERR_PANIC]
    );
    assert_eq!((r.fires, rep.fired, rep.invalidated), (3, 3, 3));
    assert!(!valid(g, first) && !valid(g, on_other) && !valid(g, on_dict));
    assert!(valid(g, r.new_unit));
    free(g);
}

struct HookLog {
    g: *mut dw_graph,
    changes: Vec<(u64, bool)>,
    reentry: dw_status,
}

unsafe extern "C" fn hook(ctx: *mut c_void, change: *const dw_watch_change) {
    // SAFETY: `ctx` is the test's `HookLog`; `change` is valid for the call.
    let (log, change) = unsafe { (&mut *(ctx as *mut HookLog), &*change) };
    log.changes.push((change.handle, change.watched));
    let mut v = 0;
    // SAFETY: the graph pointer is live; the call must be refused, not run.
    log.reentry = unsafe { dw_version(log.g, change.object, &mut v) };
}

#[test]
fn the_watch_hook_reports_and_cannot_call_in() {
    let g = graph(DW_CONFIG_WATCH_REQUESTS);
    let mut log = HookLog {
        g,
        changes: Vec::new(),
        reentry: DW_OK,
    };
    // SAFETY: a live graph; `hook` with its context, which outlives the graph's use.
    assert_eq!(
        unsafe { dw_set_watch_hook(g, Some(hook), (&mut log as *mut HookLog).cast()) },
        DW_OK
    );
    let o = track(g, DW_KIND_DICT, 0xd1c7);
    let u = register(g, o, dw_aspect_key(1), 1);
    // SAFETY: a live graph.
    assert_eq!(unsafe { dw_unregister(g, u, ptr::null_mut()) }, DW_OK);
    assert_eq!(log.changes, [(0xd1c7, true), (0xd1c7, false)]);
    assert_eq!(log.reentry, DW_ERR_REENTRANT);
    let mut reqs = [dw_watch_request {
        kind: 0,
        handle: 0,
        action: 0,
    }; 4];
    let mut n = 0;
    // SAFETY: a live graph, a buffer of 4, a valid count pointer.
    assert_eq!(
        unsafe { dw_drain_watch_requests(g, reqs.as_mut_ptr(), 4, &mut n) },
        DW_OK
    );
    assert_eq!(n, 2);
    assert_eq!(
        (reqs[0].action, reqs[1].action),
        (DW_WATCH_WATCH, DW_WATCH_UNWATCH)
    );
    free(g);
}

unsafe extern "C" fn sum_payloads(ctx: *mut c_void, _unit: dw_unit, payload: dw_payload) {
    // SAFETY: `ctx` is the test's counter; the payloads were registered as numbers.
    unsafe { *(ctx as *mut u64) += payload.u64 };
}

#[test]
fn unregister_all_hands_back_every_payload() {
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    let units: Vec<dw_unit> = (1..=70)
        .map(|i| register(g, o, dw_aspect_key(i), i))
        .collect();
    // SAFETY: a live graph.
    unsafe {
        for &u in &units[..10] {
            assert_eq!(dw_unregister(g, u, ptr::null_mut()), DW_OK);
        }
    }
    let (mut sum, mut n) = (0u64, 0usize);
    // SAFETY: a live graph, `sum_payloads` with its counter, a valid count pointer.
    let s =
        unsafe { dw_unregister_all(g, Some(sum_payloads), (&mut sum as *mut u64).cast(), &mut n) };
    assert_eq!(s, DW_OK);
    assert_eq!((n, sum), (60, (11..=70).sum::<u64>()));
    assert!(units.iter().all(|&u| !valid(g, u)));
    free(g);
}

#[test]
fn an_unknown_verdict_invalidates_and_is_reported() {
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    let u = register(g, o, dw_aspect_whole(), 1);
    let mut c = Count {
        answer: 99,
        ..Count::default()
    };
    let mut rep = dw_report::default();
    // SAFETY: a live graph, `count` with its context.
    let s = unsafe {
        dw_notify(
            g,
            o,
            dw_aspect_whole(),
            ptr::null(),
            Some(count),
            (&mut c as *mut Count).cast(),
            &mut rep,
        )
    };
    assert_eq!(s, DW_ERR_BAD_VERDICT);
    assert_eq!(rep.invalidated, 1);
    assert!(!valid(g, u));
    free(g);
}

#[test]
fn cells_and_tickets_round_trip_and_expire() {
    let g = graph(0);
    let o = track(g, DW_KIND_DICT, 1);
    let (mut cell, mut t, mut u) = (0, 0, 0);
    // SAFETY: a live graph and valid pointers throughout.
    unsafe {
        assert_eq!(dw_cell_handle(g, o, dw_aspect_key(3), &mut cell), DW_OK);
        assert_eq!(dw_take_ticket(g, &mut t), DW_OK);
        let cd = dw_cell_dep { cell, site: 1 };
        assert_eq!(
            dw_register_cells_with_ticket(g, t, &cd, 1, dw_payload { u64: 1 }, &mut u),
            DW_OK
        );
        let bogus = dw_cell_dep {
            cell: cell ^ 1,
            site: 1,
        };
        assert_eq!(
            dw_register_cells(g, &bogus, 1, dw_payload { u64: 1 }, &mut u),
            DW_ERR_STALE_CELL
        );
        assert_eq!(
            dw_register_with_ticket(
                g,
                t ^ (1 << 40),
                ptr::null(),
                0,
                dw_payload { u64: 1 },
                &mut u
            ),
            DW_ERR_NO_DEPENDENCIES
        );
        let dep = dw_dep {
            object: o,
            aspect: dw_aspect_key(4),
            site: 0,
            name: ptr::null(),
        };
        assert_eq!(
            dw_register_with_ticket(g, t ^ (1 << 40), &dep, 1, dw_payload { u64: 1 }, &mut u),
            DW_ERR_FOREIGN_TICKET
        );
    }
    free(g);
}

#[test]
fn requests_for_an_object_destroyed_before_the_drain_are_dropped() {
    let g = graph(DW_CONFIG_WATCH_REQUESTS);
    let dead = track(g, DW_KIND_DICT, 0xdead);
    let live = track(g, DW_KIND_DICT, 0x11fe);
    register(g, dead, dw_aspect_key(1), 1); // queues Watch for 0xdead
    register(g, live, dw_aspect_key(1), 2); // queues Watch for 0x11fe
    // The dict dies before the VM drains: its handle may be freed memory now.
    let mut c = Count::default();
    // SAFETY: a live graph; `count` with its `Count` context, live for the call.
    assert_eq!(
        unsafe {
            dw_destroy(
                g,
                dead,
                Some(count),
                (&mut c as *mut Count).cast(),
                ptr::null_mut(),
            )
        },
        DW_OK,
        "{}",
        last_error()
    );
    let mut reqs = [dw_watch_request {
        kind: 0,
        handle: 0,
        action: 0,
    }; 4];
    let mut n = 0;
    // SAFETY: a live graph, a buffer of 4, a valid count pointer.
    assert_eq!(
        unsafe { dw_drain_watch_requests(g, reqs.as_mut_ptr(), 4, &mut n) },
        DW_OK
    );
    assert_eq!(n, 1);
    assert_eq!((reqs[0].handle, reqs[0].action), (0x11fe, DW_WATCH_WATCH));
    free(g);
}

#[test]
fn heap_bytes_count_what_a_graph_allocates_and_frees() {
    // Other tests allocate on other threads meanwhile: the margins are far above that.
    let n = if cfg!(miri) { 200 } else { 20_000 };
    let before = dw_heap_bytes();
    let g = graph(0);
    for h in 0..n {
        // The dict adapter's table as well as the core's objects.
        let mut o = 0;
        // SAFETY: a live graph and a valid out-pointer.
        assert_eq!(
            unsafe { dw_track_handle(g, DW_KIND_DICT, h, &mut o) },
            DW_OK
        );
    }
    let held = dw_heap_bytes();
    let floor = n * (16 + 64); // a handle entry and an object record, at least
    assert!(held >= before + floor, "{before} then {held}");
    // SAFETY: a live graph, freed once.
    assert_eq!(unsafe { dw_graph_free(g) }, DW_OK);
    let after = dw_heap_bytes();
    assert!(after + floor <= held, "{held} then {after}");
}
