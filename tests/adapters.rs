//! The adapters, tested as "events in, invalidations out".
//!
//! The first sections port the behavioural tests of CPython's
//! `Lib/test/test_capi/test_watchers.py`. CPython's tests observe watcher callbacks;
//! here the observable is which depwatch units fire, why, and what stays valid. The
//! C-API limit tests (watcher ID ranges, "no more IDs") are replaced by a test that
//! depwatch has no such limit.

use std::panic::{AssertUnwindSafe, catch_unwind};

use depwatch::adapters::{
    CodeAdapter, CodeEvent, DictAdapter, DictEvent, FunctionAdapter, FunctionEvent, TypeAdapter,
    Values, WatchAction, WatchRequest, WatchRequests,
};
use depwatch::{Attr, Fire, Graph, Kind, UnitId, Verdict};

type Log = Vec<(&'static str, &'static str)>;

/// A handler that records (payload, event label) and invalidates.
fn record(
    log: &mut Log,
) -> impl FnMut(&mut Graph<&'static str>, Fire<'_, &'static str>) -> Verdict + '_ {
    move |_, fire| {
        log.push((*fire.payload, fire.hits[0].cause.label));
        Verdict::Invalidate
    }
}

const FOO: u64 = 0xf00;
const HMM: u64 = 0x4d4d;
const D: u64 = 0xd1c7;

fn dict_with_unit(key: u64) -> (Graph<&'static str>, DictAdapter, UnitId) {
    let mut g = Graph::new();
    let mut dicts = DictAdapter::new();
    let dep = dicts.key(&mut g, D, key);
    let u = g.register([dep], "unit").unwrap();
    (g, dicts, u)
}

/// One event on a dict with one unit on key `FOO`: the unit fires once, with `label`,
/// and is invalidated.
fn assert_kills_the_unit(event: DictEvent, label: &str) {
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let mut log = Log::new();
    dicts
        .on_event(&mut g, D, event, &mut record(&mut log))
        .unwrap();
    assert_eq!(log, [("unit", label)]);
    assert!(!g.is_valid(u));
}

// ----- TestDictWatchers ----------------------------------------------------------------

#[test]
fn dict_set_new_item() {
    assert_kills_the_unit(DictEvent::Added { key: FOO }, "dict.ADDED");
}

#[test]
fn dict_set_existing_item() {
    let ev = DictEvent::Modified {
        key: FOO,
        values: Values::new(1, 2),
    };
    assert_kills_the_unit(ev, "dict.MODIFIED");
}

#[test]
fn dict_clone_into_empty_dict_hits_every_key() {
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let other = g
        .register_with(|g| [dicts.key(g, D, HMM)], "other")
        .unwrap();
    let mut log = Log::new();
    dicts
        .on_event(&mut g, D, DictEvent::Cloned, &mut record(&mut log))
        .unwrap();
    log.sort();
    assert_eq!(log, [("other", "dict.CLONED"), ("unit", "dict.CLONED")]);
    assert!(!g.is_valid(u) && !g.is_valid(other));
}

#[test]
fn dict_no_event_if_not_watched() {
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let mut log = Log::new();
    // Another dict, never tracked: a no-op, counted.
    let r = dicts
        .on_event(
            &mut g,
            0xbeef,
            DictEvent::Added { key: FOO },
            &mut record(&mut log),
        )
        .unwrap();
    assert_eq!(r.fired, 0);
    assert!(log.is_empty() && g.is_valid(u));
    assert_eq!(dicts.stats().untracked, 1);
    assert_eq!(g.stats().events, 0, "the graph never saw it");
    // A tracked dict, but a key nobody depends on: rejected by the prefilter.
    dicts
        .on_event(
            &mut g,
            D,
            DictEvent::Added { key: HMM },
            &mut record(&mut log),
        )
        .unwrap();
    assert!(log.is_empty() && g.is_valid(u));
    assert_eq!(g.stats().quiet_events, 1);
    assert_eq!(g.stats().prefilter_rejects, 1);
}

#[test]
fn dict_del_and_pop() {
    // `del d["foo"]` and `d.pop("foo")` both report DELETED.
    for _ in ["del", "pop"] {
        assert_kills_the_unit(DictEvent::Deleted { key: FOO }, "dict.DELETED");
    }
}

#[test]
fn dict_clear() {
    assert_kills_the_unit(DictEvent::Cleared, "dict.CLEARED");
}

#[test]
fn dict_dealloc_invalidates_and_retires() {
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let old = dicts.get(D).unwrap();
    let mut log = Log::new();
    dicts
        .on_event(&mut g, D, DictEvent::Deallocated, &mut record(&mut log))
        .unwrap();
    assert_eq!(log, [("unit", "destroyed")]);
    assert!(!g.is_valid(u));
    assert_eq!(dicts.get(D), None);
    assert!(!g.contains_object(old));
    assert_eq!(dicts.stats().retired, 1);
}

#[test]
fn dict_same_value_stored_100_times_rearms() {
    // `obj.__dict__["x"] = same` 100 times: CPython fires MODIFIED each time.
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let mut log = Log::new();
    for _ in 0..100 {
        let ev = DictEvent::Modified {
            key: FOO,
            values: Values::new(0x5a3e, 0x5a3e),
        };
        dicts
            .on_event(&mut g, D, ev, &mut record(&mut log))
            .unwrap();
    }
    assert!(log.is_empty());
    assert!(g.is_valid(u));
    assert_eq!(dicts.stats().same_value, 100);
    assert!(
        g.is_stable(dicts.get(D).unwrap(), depwatch::Aspect::Key(FOO))
            .unwrap()
    );
    // Values unknown: must be treated as a change.
    let ev = DictEvent::Modified {
        key: FOO,
        values: Values::UNKNOWN,
    };
    dicts
        .on_event(&mut g, D, ev, &mut record(&mut log))
        .unwrap();
    assert!(!g.is_valid(u));
}

#[test]
fn dict_unwatch_after_last_dependent() {
    let mut g: Graph<&'static str> = Graph::new();
    let requests = WatchRequests::install(&mut g);
    let mut dicts = DictAdapter::new();
    let u = g.register_with(|g| [dicts.key(g, D, FOO)], "unit").unwrap();
    let mut log = Log::new();
    dicts
        .on_event(
            &mut g,
            D,
            DictEvent::Added { key: FOO },
            &mut record(&mut log),
        )
        .unwrap();
    let object = dicts.get(D).unwrap();
    let req = |action| WatchRequest {
        object,
        kind: Kind::Dict,
        handle: D,
        action,
    };
    assert_eq!(
        requests.drain(),
        [req(WatchAction::Watch), req(WatchAction::Unwatch)]
    );
    assert!(!g.is_valid(u));
    // Later events are quiet: the VM has unwatched the dict; if it still reports, nothing fires.
    dicts
        .on_event(
            &mut g,
            D,
            DictEvent::Added { key: HMM },
            &mut record(&mut log),
        )
        .unwrap();
    assert_eq!(log.len(), 1);
}

#[test]
fn dict_two_watchers_are_two_independent_graphs() {
    let (mut g1, mut dicts1, u1) = dict_with_unit(FOO);
    let (mut g2, mut dicts2, u2) = dict_with_unit(HMM);
    let (mut log1, mut log2) = (Log::new(), Log::new());
    dicts1
        .on_event(
            &mut g1,
            D,
            DictEvent::Added { key: FOO },
            &mut record(&mut log1),
        )
        .unwrap();
    dicts2
        .on_event(
            &mut g2,
            D,
            DictEvent::Added { key: FOO },
            &mut record(&mut log2),
        )
        .unwrap();
    assert_eq!((log1.len(), log2.len()), (1, 0));
    assert!(!g1.is_valid(u1) && g2.is_valid(u2));
}

#[test]
fn dict_error_in_handler_loses_no_invalidation() {
    // CPython reports a raising callback as unraisable and the mutation still happens.
    // Here: the panic reaches the VM, the panicking unit is invalidated, the rest stay
    // queued and are delivered next.
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let u2 = g
        .register_with(|g| [dicts.key(g, D, FOO)], "second")
        .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        dicts.on_event(&mut g, D, DictEvent::Added { key: FOO }, &mut |_, _| {
            panic!("boom!")
        })
    }));
    assert!(r.is_err());
    assert!(!g.is_valid(u) && !g.is_valid(u2));
    let mut log = Log::new();
    g.deliver(&mut record(&mut log));
    assert_eq!(log, [("second", "dict.ADDED")]);
}

#[test]
fn dict_dealloc_error_in_handler_still_retires() {
    let (mut g, mut dicts, u) = dict_with_unit(FOO);
    let old = dicts.get(D).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        dicts.on_event(&mut g, D, DictEvent::Deallocated, &mut |_, _| {
            panic!("boom!")
        })
    }));
    assert!(r.is_err());
    assert!(!g.is_valid(u));
    assert_eq!(dicts.get(D), None);
    assert!(!g.contains_object(old));
    // A new dict at the same address is a new object.
    assert_ne!(dicts.track(&mut g, D), old);
}

// ----- TestTypeWatchers ----------------------------------------------------------------

const C: u64 = 0xc;
const ATTR_FOO: u64 = 0xf00f;
const ATTR_BAR: u64 = 0xba7;

#[test]
fn type_watch_type() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut types = TypeAdapter::new();
    let u = g.register_with(|g| [types.whole(g, C)], "on C").unwrap();
    let mut log = Log::new();
    types
        .on_modified(&mut g, C, None, &mut record(&mut log))
        .unwrap();
    assert_eq!(log, [("on C", "type.MODIFIED")]);
    assert!(!g.is_valid(u));
}

#[test]
fn type_event_aggregation_and_lookup_resets_it() {
    // CPython: `C.foo = ...; C.bar = ...` with no lookup gives one event; the adapter
    // queues a re-arm for the VM while dependents remain, so the next change after the
    // re-arm (CPython's "lookup resets aggregation") is seen.
    let mut g: Graph<&'static str> = Graph::new();
    let requests = WatchRequests::install(&mut g);
    let mut types = TypeAdapter::with_requests(requests.clone());
    let u = g
        .register_with(|g| [types.whole(g, C)], "guard on C")
        .unwrap();
    assert_eq!(requests.drain()[0].action, WatchAction::Watch);
    let rearm = |_: &mut Graph<&'static str>, _: Fire<'_, &'static str>| Verdict::Rearmed;
    // One aggregated event for two changes.
    let r = types.on_modified(&mut g, C, None, &mut { rearm }).unwrap();
    assert_eq!(r.rearmed, 1);
    assert_eq!(
        requests.drain(),
        [WatchRequest {
            object: types.get(C).unwrap(),
            kind: Kind::Type,
            handle: C,
            action: WatchAction::Rearm
        }]
    );
    // After the VM re-arms, the next change is an event again.
    let r = types.on_modified(&mut g, C, None, &mut { rearm }).unwrap();
    assert_eq!(r.rearmed, 1);
    assert!(g.is_valid(u));
    // Once invalidated there is nothing left to re-arm for: an unwatch, not a re-arm.
    let mut log = Log::new();
    requests.drain();
    types
        .on_modified(&mut g, C, None, &mut record(&mut log))
        .unwrap();
    assert_eq!(
        requests
            .drain()
            .iter()
            .map(|r| r.action)
            .collect::<Vec<_>>(),
        [WatchAction::Unwatch]
    );
}

#[test]
fn type_unwatch_after_last_dependent() {
    let mut g: Graph<&'static str> = Graph::new();
    let requests = WatchRequests::install(&mut g);
    let mut types = TypeAdapter::new();
    let u = g
        .register_with(|g| [types.attr(g, C, ATTR_FOO)], "cache")
        .unwrap();
    g.unregister(u).unwrap();
    let actions: Vec<_> = requests
        .drain()
        .into_iter()
        .map(|r| (r.kind, r.action))
        .collect();
    assert_eq!(
        actions,
        [
            (Kind::Type, WatchAction::Watch),
            (Kind::Type, WatchAction::Unwatch)
        ]
    );
    let r = types
        .on_modified(&mut g, C, None, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert_eq!(r.fired, 0);
}

#[test]
fn type_subclass_watched_base_modified() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut types = TypeAdapter::new();
    types.set_bases(D, &[C]);
    let u = g.register_with(|g| [types.whole(g, D)], "on D").unwrap();
    let mut log = Log::new();
    // C itself is not tracked; D is, and gets the event.
    types
        .on_modified(&mut g, C, None, &mut record(&mut log))
        .unwrap();
    assert_eq!(log, [("on D", "type.MODIFIED")]);
    assert!(!g.is_valid(u));
}

#[test]
fn type_attribute_precision_when_the_vm_knows_the_name() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut types = TypeAdapter::new();
    let foo = g
        .register_with(|g| [types.attr(g, C, ATTR_FOO)], "foo cache")
        .unwrap();
    let bar = g
        .register_with(|g| [types.attr(g, C, ATTR_BAR)], "bar cache")
        .unwrap();
    types
        .on_modified(&mut g, C, Some(ATTR_FOO), &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert!(!g.is_valid(foo) && g.is_valid(bar));
    // No name (CPython's own event): every dependent.
    types
        .on_modified(&mut g, C, None, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert!(!g.is_valid(bar));
}

#[test]
fn type_error_in_handler() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut types = TypeAdapter::new();
    let u = g.register_with(|g| [types.whole(g, C)], "on C").unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        types.on_modified(&mut g, C, None, &mut |_, _| panic!("boom!"))
    }));
    assert!(r.is_err());
    assert!(!g.is_valid(u));
    assert!(
        !g.in_batch(),
        "the adapter's batch was closed before delivery"
    );
}

#[test]
fn type_two_watchers() {
    let (mut g1, mut g2) = (Graph::<&'static str>::new(), Graph::<&'static str>::new());
    let (mut t1, mut t2) = (TypeAdapter::new(), TypeAdapter::new());
    let (c1, c2) = (0xc1, 0xc2);
    let u1 = g1.register_with(|g1| [t1.whole(g1, c1)], "C1").unwrap();
    let u2 = g2.register_with(|g2| [t2.whole(g2, c2)], "C2").unwrap();
    t1.on_modified(&mut g1, c1, None, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    t2.on_modified(&mut g2, c1, None, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert!(!g1.is_valid(u1) && g2.is_valid(u2));
}

#[test]
fn type_subclass_propagation_three_levels_multiple_inheritance() {
    // class A; class B(A); class C(A); class D(B, C); class E(D)
    // C3 MRO of E: E, D, B, C, A, object.
    let (a, b, c, d, e) = (0xa, 0xb, 0xc, 0xd, 0xe);
    let mut g: Graph<&'static str> = Graph::new();
    let mut types = TypeAdapter::new();
    types.set_bases(b, &[a]);
    types.set_bases(c, &[a]);
    types.set_bases(d, &[b, c]);
    types.set_bases(e, &[d]);
    assert_eq!(types.with_subclasses(b), [b, d, e]);
    let x = 0x78;
    let mut units = Vec::new();
    for (t, name) in [(a, "A.x"), (b, "B.x"), (c, "C.x"), (d, "D.x"), (e, "E.x")] {
        units.push((
            name,
            g.register_with(|g| [types.attr(g, t, x)], name).unwrap(),
        ));
    }
    // A unit depending on E.x and D.x fires once for a change to A.x.
    let both = g
        .register_with(|g| [types.attr(g, d, x), types.attr(g, e, x)], "D.x+E.x")
        .unwrap();
    let mut log = Log::new();
    fn rearm(
        log: &mut Log,
    ) -> impl FnMut(&mut Graph<&'static str>, Fire<'_, &'static str>) -> Verdict + '_ {
        move |_, f| {
            log.push((*f.payload, f.hits[0].cause.label));
            Verdict::Rearmed
        }
    }
    types
        .on_modified(&mut g, c, Some(x), &mut rearm(&mut log))
        .unwrap();
    log.sort();
    assert_eq!(
        log.iter().map(|l| l.0).collect::<Vec<_>>(),
        ["C.x", "D.x", "D.x+E.x", "E.x"],
        "a change to C reaches C, D and E but not A or B"
    );
    log.clear();
    let r = types
        .on_modified(&mut g, a, Some(x), &mut rearm(&mut log))
        .unwrap();
    assert_eq!(r.fired, 6, "every class, and the two-dependency unit once");
    // An unrelated attribute of A fires nothing.
    let r = types
        .on_modified(&mut g, a, Some(0x79), &mut rearm(&mut log))
        .unwrap();
    assert_eq!(r.fired, 0);
    // Dealloc of E removes it from the hierarchy and invalidates its dependents.
    types
        .on_deallocated(&mut g, e, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert_eq!(types.with_subclasses(a), [a, b, c, d]);
    assert!(!g.is_valid(both));
    assert!(
        units
            .iter()
            .filter(|(n, _)| *n != "E.x")
            .all(|(_, u)| g.is_valid(*u))
    );
}

#[test]
fn type_dealloc_retires_handle_and_address_reuse_gets_new_id() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut types = TypeAdapter::new();
    let u = g
        .register_with(|g| [types.whole(g, C)], "on old C")
        .unwrap();
    let old = types.get(C).unwrap();
    types
        .on_deallocated(&mut g, C, &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert!(!g.is_valid(u));
    let new = types.track(&mut g, C);
    assert_ne!(old, new);
    let u2 = g
        .register_with(|g| [types.whole(g, C)], "on new C")
        .unwrap();
    assert!(g.is_valid(u2));
}

// ----- TestCodeObjectWatchers ----------------------------------------------------------

#[test]
fn code_create_and_destroy_counts() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut lazy = CodeAdapter::new();
    let mut eager = CodeAdapter::tracking_creates();
    for (i, h) in [0x1u64, 0x2, 0x3].into_iter().enumerate() {
        for codes in [&mut lazy, &mut eager] {
            codes
                .on_event(&mut g, h, CodeEvent::Create, &mut |_, _| {
                    Verdict::Invalidate
                })
                .unwrap();
            assert_eq!(codes.stats().created, i as u64 + 1);
        }
    }
    assert_eq!((lazy.stats().tracked, eager.stats().tracked), (0, 3));
    for codes in [&mut lazy, &mut eager] {
        codes
            .on_event(&mut g, 0x2, CodeEvent::Destroy, &mut |_, _| {
                Verdict::Invalidate
            })
            .unwrap();
    }
    assert_eq!((lazy.stats().retired, eager.stats().retired), (0, 1));
    assert_eq!((lazy.stats().untracked, eager.stats().tracked), (1, 2));
    let mut handles: Vec<u64> = eager.tracked_handles().collect();
    handles.sort();
    assert_eq!(handles, [0x1, 0x3], "the dead one is gone");
    assert_eq!(lazy.tracked_handles().count(), 0);
}

#[test]
fn code_destroy_invalidates_inliners_and_instrumentation_invalidates_compiled() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut codes = CodeAdapter::new();
    let inliner = g
        .register_with(|g| [codes.whole(g, 0xc0de)], "inlined f")
        .unwrap();
    let code = codes.track(&mut g, 0xc1);
    let compiled = g
        .register(
            [depwatch::Dep::attr(code, Attr::Instrumentation)],
            "f compiled",
        )
        .unwrap();
    let mut log = Log::new();
    codes
        .on_event(&mut g, 0xc1, CodeEvent::Instrumented, &mut record(&mut log))
        .unwrap();
    codes
        .on_event(&mut g, 0xc0de, CodeEvent::Destroy, &mut record(&mut log))
        .unwrap();
    assert_eq!(
        log,
        [
            ("f compiled", "code.INSTRUMENTED"),
            ("inlined f", "destroyed")
        ]
    );
    assert!(!g.is_valid(inliner) && !g.is_valid(compiled));
}

// ----- TestFuncWatchers ----------------------------------------------------------------

#[test]
fn func_every_event_kind() {
    let f = 0xf;
    let cases = [
        (
            FunctionEvent::ModifyCode(Values::new(1, 2)),
            Attr::Code,
            "func.MODIFY_CODE",
        ),
        (
            FunctionEvent::ModifyDefaults(Values::new(1, 2)),
            Attr::Defaults,
            "func.MODIFY_DEFAULTS",
        ),
        (
            FunctionEvent::ModifyKwDefaults(Values::new(1, 2)),
            Attr::KwDefaults,
            "func.MODIFY_KWDEFAULTS",
        ),
        (
            FunctionEvent::ModifyClosure(Values::UNKNOWN),
            Attr::Closure,
            "func.MODIFY_CLOSURE",
        ),
        (
            FunctionEvent::ModifyGlobals(Values::UNKNOWN),
            Attr::Globals,
            "func.MODIFY_GLOBALS",
        ),
        (
            FunctionEvent::ModifyAnnotations(Values::UNKNOWN),
            Attr::Annotations,
            "func.MODIFY_ANNOTATIONS",
        ),
    ];
    for (event, attr, label) in cases {
        let mut g: Graph<&'static str> = Graph::new();
        let mut funcs = FunctionAdapter::tracking_creates();
        funcs
            .on_event(&mut g, f, FunctionEvent::Create, &mut |_, _| {
                Verdict::Invalidate
            })
            .unwrap();
        // One unit per attribute: only the matching one fires.
        let all = [
            Attr::Code,
            Attr::Defaults,
            Attr::KwDefaults,
            Attr::Closure,
            Attr::Globals,
            Attr::Annotations,
        ];
        let units: Vec<(Attr, UnitId)> = all
            .iter()
            .map(|&a| {
                (
                    a,
                    g.register_with(|g| [funcs.attr(g, f, a)], "unit").unwrap(),
                )
            })
            .collect();
        let mut log = Log::new();
        funcs
            .on_event(&mut g, f, event, &mut record(&mut log))
            .unwrap();
        assert_eq!(log, [("unit", label)]);
        for (a, u) in units {
            assert_eq!(g.is_valid(u), a != attr, "{label}: unit on {a:?}");
        }
        // Storing the same value again re-arms.
        let same = match event {
            FunctionEvent::ModifyCode(_) => FunctionEvent::ModifyCode(Values::new(3, 3)),
            other => other,
        };
        if same != event {
            let r = funcs
                .on_event(&mut g, f, same, &mut record(&mut log))
                .unwrap();
            assert_eq!(r.fired, 0);
            assert_eq!(funcs.stats().same_value, 1);
        }
    }
}

#[test]
fn func_destroy_invalidates_and_retires() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut funcs = FunctionAdapter::new();
    let u = g
        .register_with(|g| [funcs.attr(g, 0xf, Attr::Code)], "inlined")
        .unwrap();
    assert_eq!(funcs.tracked_handles().collect::<Vec<_>>(), [0xf]);
    let mut log = Log::new();
    funcs
        .on_event(&mut g, 0xf, FunctionEvent::Destroy, &mut record(&mut log))
        .unwrap();
    assert_eq!(log, [("inlined", "destroyed")]);
    assert!(!g.is_valid(u));
    assert_eq!(funcs.get(0xf), None);
    assert_eq!(funcs.tracked_handles().count(), 0);
    // Untracked functions (most of them: the watcher sees every function) are no-ops.
    funcs
        .on_event(&mut g, 0x99, FunctionEvent::Destroy, &mut record(&mut log))
        .unwrap();
    assert_eq!(funcs.stats().untracked, 1);
}

#[test]
fn func_multiple_watchers() {
    let mut graphs: Vec<(Graph<&'static str>, FunctionAdapter, UnitId)> = (0..2)
        .map(|_| {
            let mut g = Graph::new();
            let mut funcs = FunctionAdapter::new();
            let u = g
                .register_with(|g| [funcs.attr(g, 0xf, Attr::Code)], "u")
                .unwrap();
            (g, funcs, u)
        })
        .collect();
    for (g, funcs, u) in &mut graphs {
        funcs
            .on_event(
                g,
                0xf,
                FunctionEvent::ModifyCode(Values::UNKNOWN),
                &mut |_, _| Verdict::Invalidate,
            )
            .unwrap();
        assert!(!g.is_valid(*u));
    }
}

#[test]
fn func_raising_handler() {
    let mut g: Graph<&'static str> = Graph::new();
    let mut funcs = FunctionAdapter::new();
    let u = g
        .register_with(|g| [funcs.attr(g, 0xf, Attr::Defaults)], "u")
        .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        funcs.on_event(&mut g, 0xf, FunctionEvent::Destroy, &mut |_, _| {
            panic!("testing 123")
        })
    }));
    assert!(r.is_err());
    assert!(!g.is_valid(u));
    assert_eq!(funcs.get(0xf), None, "retired before delivery");
}

// ----- beyond test_watchers.py ---------------------------------------------------------

#[test]
fn no_watcher_limit_ten_thousand_independent_subscriptions() {
    // CPython allows 8 watchers per kind (6 for dicts). depwatch has no such limit:
    // 10,000 independent graphs each watch the same dict handle.
    let mut subs: Vec<(Graph<u32>, DictAdapter, UnitId)> = (0..10_000)
        .map(|i| {
            let mut g = Graph::new();
            let mut dicts = DictAdapter::new();
            let u = g.register_with(|g| [dicts.key(g, D, FOO)], i).unwrap();
            (g, dicts, u)
        })
        .collect();
    let mut fired = 0u32;
    for (g, dicts, u) in &mut subs {
        dicts
            .on_event(g, D, DictEvent::Added { key: FOO }, &mut |_, _| {
                fired += 1;
                Verdict::Invalidate
            })
            .unwrap();
        assert!(!g.is_valid(*u));
    }
    assert_eq!(fired, 10_000);
}

#[test]
fn address_reuse_never_aliases() {
    let mut g: Graph<u32> = Graph::new();
    let mut dicts = DictAdapter::new();
    let mut old_units = Vec::new();
    for i in 0..1000 {
        // A new dict at the same address every time.
        let u = g.register_with(|g| [dicts.key(g, D, FOO)], i).unwrap();
        for &old in &old_units {
            assert!(!g.is_valid(old));
        }
        let mut fired = Vec::new();
        dicts
            .on_event(&mut g, D, DictEvent::Deallocated, &mut |_,
                                                               f: Fire<
                '_,
                u32,
            >| {
                fired.push(*f.payload);
                Verdict::Invalidate
            })
            .unwrap();
        assert_eq!(fired, [i], "only the unit on this incarnation fires");
        old_units.push(u);
    }
    assert_eq!(g.stats().live_units, 0);
    assert_eq!(dicts.stats().retired, 1000);
}

#[test]
fn builtins_shadowing_through_the_dict_adapter() {
    let (globals, builtins, len) = (0x6106, 0xb1, 0x1e2);
    let mut g: Graph<&'static str> = Graph::new();
    let mut dicts = DictAdapter::new();
    let register = |g: &mut Graph<&'static str>, dicts: &mut DictAdapter| {
        let deps = [
            dicts.key(g, globals, len).named("len"),
            dicts.key(g, builtins, len).named("len"),
        ];
        g.register(deps, "calls len").unwrap()
    };
    let u = register(&mut g, &mut dicts);
    let mut log = Log::new();
    dicts
        .on_event(
            &mut g,
            globals,
            DictEvent::Added { key: len },
            &mut record(&mut log),
        )
        .unwrap();
    assert!(!g.is_valid(u));
    let u = register(&mut g, &mut dicts);
    let ev = DictEvent::Modified {
        key: len,
        values: Values::new(1, 2),
    };
    dicts
        .on_event(&mut g, builtins, ev, &mut record(&mut log))
        .unwrap();
    assert!(!g.is_valid(u));
    assert_eq!(
        log,
        [("calls len", "dict.ADDED"), ("calls len", "dict.MODIFIED")]
    );
}

#[test]
fn cpython_event_numbers_map_one_for_one() {
    let v = Values::new(1, 2);
    let dict: Vec<_> = (0..7)
        .map(|n| DictEvent::from_cpython(n, Some(9), v))
        .collect();
    assert_eq!(
        dict,
        [
            Some(DictEvent::Added { key: 9 }),
            Some(DictEvent::Modified { key: 9, values: v }),
            Some(DictEvent::Deleted { key: 9 }),
            Some(DictEvent::Cloned),
            Some(DictEvent::Cleared),
            Some(DictEvent::Deallocated),
            None,
        ]
    );
    assert_eq!(
        DictEvent::from_cpython(0, None, v),
        None,
        "ADDED needs a key"
    );
    assert_eq!(DictEvent::from_cpython(-1, Some(1), v), None);
    let func: Vec<_> = (0..6).map(|n| FunctionEvent::from_cpython(n, v)).collect();
    assert_eq!(
        func,
        [
            Some(FunctionEvent::Create),
            Some(FunctionEvent::Destroy),
            Some(FunctionEvent::ModifyCode(v)),
            Some(FunctionEvent::ModifyDefaults(v)),
            Some(FunctionEvent::ModifyKwDefaults(v)),
            None,
        ]
    );
    let code: Vec<_> = (0..3).map(CodeEvent::from_cpython).collect();
    assert_eq!(
        code,
        [Some(CodeEvent::Create), Some(CodeEvent::Destroy), None]
    );
    assert_eq!(DictEvent::Cloned.label(), "dict.CLONED");
    assert_eq!(CodeEvent::Instrumented.label(), "code.INSTRUMENTED");
    assert_eq!(FunctionEvent::Create.attr(), None);
}
