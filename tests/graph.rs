//! Targeted tests of the graph's contract: bad input, slot wear, reentrancy, panicking
//! handlers, batches, watch hooks, reasons and stats.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use depwatch::{
    Aspect, Attr, Config, Dep, Error, Fire, Graph, Kind, StormCount, UnitId, Verdict, WatchChange,
};

fn invalidate<P>(_: &mut Graph<P>, _: Fire<'_, P>) -> Verdict {
    Verdict::Invalidate
}

#[test]
fn stale_and_foreign_ids_are_errors_not_panics() {
    let mut g: Graph<u32> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let u = g.register([Dep::whole(d)], 7).unwrap();
    assert_eq!(g.unregister(u), Ok(7));
    assert_eq!(
        g.unregister(u),
        Err(Error::StaleUnit(u)),
        "double unregister"
    );
    assert_eq!(g.payload(u), Err(Error::StaleUnit(u)));
    assert!(!g.is_valid(u));

    g.destroy(d, &mut invalidate).unwrap();
    assert_eq!(g.version(d), Err(Error::StaleObject(d)));
    assert_eq!(g.destroy(d, &mut invalidate), Err(Error::StaleObject(d)));
    assert_eq!(
        g.notify(d, Aspect::Whole, "x", &mut invalidate),
        Err(Error::StaleObject(d))
    );
    let rejected = g.register([Dep::whole(d)], 9).unwrap_err();
    assert_eq!(rejected.error, Error::StaleObject(d));
    assert_eq!(rejected.payload, 9, "the payload comes back");

    // An ID from another graph is unknown here.
    let mut other: Graph<u32> = Graph::new();
    let foreign = other.track(Kind::Dict, 1);
    let _ = other.track(Kind::Dict, 2);
    let mine = g.track(Kind::Dict, 3);
    assert_ne!(foreign, mine);
    let t = other.ticket();
    let err = g
        .register_with_ticket(&t, [Dep::whole(mine)], 0)
        .unwrap_err();
    assert_eq!(err.error, Error::ForeignTicket);
}

#[test]
fn zero_and_duplicate_dependencies() {
    let mut g: Graph<()> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    assert_eq!(
        g.register(Vec::<Dep>::new(), ()).unwrap_err().error,
        Error::NoDependencies
    );
    let u = g
        .register([Dep::key(d, 5), Dep::key(d, 5), Dep::key(d, 5).at(1)], ())
        .unwrap();
    assert_eq!(g.dependencies(u).unwrap().len(), 2, "(d, 5, 0) collapsed");
    assert_eq!(g.stats().live_edges, 2);
    let mut sites = Vec::new();
    g.notify(d, Aspect::Key(5), "m", &mut |_, f: Fire<'_, ()>| {
        sites = f.sites();
        Verdict::Invalidate
    })
    .unwrap();
    assert_eq!(sites, [0, 1], "one fire for the unit, both sites reported");
}

#[test]
fn destroyed_ids_never_alias_even_when_slots_wear_out() {
    // Retire a slot after 2 reuses; churn well past it.
    let mut g: Graph<u32> = Graph::with_config(Config {
        max_slot_reuse: 2,
        ..Config::default()
    });
    let mut dead = Vec::new();
    let mut dead_units: Vec<UnitId> = Vec::new();
    for i in 0..50 {
        let d = g.track(Kind::Dict, 0xABC); // the same "address" every time
        let u = g.register([Dep::key(d, 1)], i).unwrap();
        for &old in &dead {
            assert_ne!(old, d);
            assert_eq!(g.version(old), Err(Error::StaleObject(old)));
        }
        for &old in &dead_units {
            assert_ne!(old, u);
            assert_eq!(g.payload(old), Err(Error::StaleUnit(old)));
        }
        let mut fired = Vec::new();
        g.destroy(d, &mut |_, f: Fire<'_, u32>| {
            fired.push(*f.payload);
            Verdict::Rearmed // ignored: destruction always invalidates
        })
        .unwrap();
        assert_eq!(fired, [i], "only the unit on this incarnation fires");
        assert!(!g.is_valid(u));
        dead.push(d);
        dead_units.push(u);
    }
    let s = g.stats();
    assert!(
        s.retired_slots >= 2 * 50 / 3 - 2,
        "slots retired: {}",
        s.retired_slots
    );
    assert_eq!(
        (s.live_objects, s.live_units, s.live_edges, s.live_cells),
        (0, 0, 0, 0)
    );
}

#[test]
fn handler_may_register_unregister_and_notify_reentrantly() {
    let mut g: Graph<&'static str> = Graph::new();
    let globals = g.track(Kind::Dict, 1);
    let code = g.track(Kind::Code, 2);
    let a = g.register([Dep::key(globals, 1)], "a").unwrap();
    let b = g
        .register([Dep::key(globals, 1), Dep::whole(code)], "b")
        .unwrap();
    let c = g.register([Dep::whole(code)], "c").unwrap();
    let mut log = Vec::new();
    let mut recompiled = None;
    g.notify(
        globals,
        Aspect::Key(1),
        "dict.MODIFIED",
        &mut |g: &mut Graph<_>, f: Fire<'_, _>| {
            log.push((*f.payload, f.hits[0].cause.label));
            match *f.payload {
                "a" => {
                    // Unregistering itself is refused; the answer says what happens.
                    assert_eq!(g.unregister(f.unit), Err(Error::UnitFiring(f.unit)));
                    // Freeing a's code destroys the code object: queued, delivered after.
                    assert!(g.destroy(code, &mut invalidate).unwrap().deferred);
                    // Recompile at once, depending on something else.
                    recompiled = Some(g.register([Dep::key(globals, 2)], "a2").unwrap());
                }
                "b" => {}
                _ => {}
            }
            Verdict::Invalidate
        },
    )
    .unwrap();
    // a and b fire for the key; then the queued destroy fires c (b is already dead:
    // it never fires twice).
    assert_eq!(
        log,
        [
            ("a", "dict.MODIFIED"),
            ("b", "dict.MODIFIED"),
            ("c", "destroyed")
        ]
    );
    assert!(!g.is_valid(a) && !g.is_valid(b) && !g.is_valid(c));
    assert!(g.is_valid(recompiled.unwrap()));
    assert_eq!(g.stats().live_units, 1);
}

#[test]
fn handler_unregistering_a_queued_unit_drops_its_fire() {
    let mut g: Graph<u8> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let units: Vec<UnitId> = (0..3)
        .map(|i| g.register([Dep::whole(d)], i).unwrap())
        .collect();
    let mut fired = Vec::new();
    g.notify(
        d,
        Aspect::Key(9),
        "m",
        &mut |g: &mut Graph<u8>, f: Fire<'_, u8>| {
            fired.push(*f.payload);
            if *f.payload == 0 {
                assert_eq!(g.unregister(units[2]), Ok(2));
            }
            Verdict::Invalidate
        },
    )
    .unwrap();
    assert_eq!(fired, [0, 1]);
}

#[test]
fn panicking_handler_leaves_graph_consistent_and_loses_nothing() {
    let mut g: Graph<u8> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let units: Vec<UnitId> = (0..4)
        .map(|i| g.register([Dep::key(d, 1)], i).unwrap())
        .collect();
    let result = catch_unwind(AssertUnwindSafe(|| {
        g.notify(d, Aspect::Key(1), "m", &mut |_, f: Fire<'_, u8>| {
            if *f.payload == 1 {
                panic!("handler bug");
            }
            Verdict::Invalidate
        })
    }));
    assert!(result.is_err(), "the panic reaches the caller");
    // Unit 0 fired and died; unit 1 panicked and counts as invalidated; 2 and 3 are
    // still queued, not valid, and not lost.
    assert!(!g.is_valid(units[0]) && !g.is_valid(units[1]));
    assert!(!g.is_valid(units[2]) && !g.is_valid(units[3]));
    assert_eq!(g.pending_fires(), 2);
    assert_eq!(g.stats().live_units, 2);
    let mut rest = Vec::new();
    let report = g.deliver(&mut |_, f: Fire<'_, u8>| {
        rest.push(*f.payload);
        Verdict::Rearmed
    });
    assert_eq!(rest, [2, 3]);
    assert_eq!(report.rearmed, 2);
    assert!(g.is_valid(units[2]) && g.is_valid(units[3]));
    assert_eq!(g.pending_fires(), 0);
}

#[test]
fn batch_fires_each_unit_once_with_all_causes() {
    let mut g: Graph<usize> = Graph::new();
    let module = g.track(Kind::Dict, 1);
    // 10 units, unit i depends on keys i*50 .. i*50+50 (one site per key).
    let units: Vec<UnitId> = (0..10)
        .map(|i| {
            let deps = (0..50).map(|k| Dep::key(module, (i * 50 + k) as u64).at(k as u32));
            g.register(deps, i).unwrap()
        })
        .collect();
    g.begin_batch();
    for key in 0..500u64 {
        let r = g
            .notify(module, Aspect::Key(key), "dict.ADDED", &mut invalidate)
            .unwrap();
        assert!(r.deferred);
    }
    assert!(
        units.iter().all(|&u| !g.is_valid(u)),
        "pending in the batch"
    );
    let mut fires = Vec::new();
    let report = g
        .end_batch(&mut |_, f: Fire<'_, usize>| {
            fires.push((*f.payload, f.causes().len(), f.sites().len()));
            Verdict::Invalidate
        })
        .unwrap();
    assert_eq!(report.fired, 10);
    fires.sort();
    assert_eq!(fires, (0..10).map(|i| (i, 50, 50)).collect::<Vec<_>>());
    assert_eq!(g.end_batch(&mut invalidate), Err(Error::NoBatch));
}

#[test]
fn nested_batches_deliver_at_the_outermost_end() {
    let mut g: Graph<()> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let u = g.register([Dep::key(d, 1)], ()).unwrap();
    g.begin_batch();
    g.begin_batch();
    g.notify_deferred(d, Aspect::Key(1), "m").unwrap();
    assert!(g.end_batch(&mut invalidate).unwrap().deferred);
    assert!(g.in_batch());
    assert_eq!(g.end_batch(&mut invalidate).unwrap().invalidated, 1);
    assert!(!g.is_valid(u));
}

#[test]
fn patched_and_rearmed() {
    let mut g: Graph<()> = Graph::new();
    let globals = g.track(Kind::Dict, 1);
    let u = g
        .register(
            [
                Dep::key(globals, 1).at(10),
                Dep::key(globals, 2).at(20),
                Dep::key(globals, 3).at(30),
            ],
            (),
        )
        .unwrap();
    let mut sites = Vec::new();
    g.notify(globals, Aspect::Key(2), "m", &mut |_, f: Fire<'_, ()>| {
        sites = f.sites();
        Verdict::Patched
    })
    .unwrap();
    assert_eq!(sites, [20]);
    assert!(g.is_valid(u));
    assert_eq!(g.dependencies(u).unwrap().len(), 2);
    // The patched site no longer fires.
    let r = g
        .notify(globals, Aspect::Key(2), "m", &mut invalidate)
        .unwrap();
    assert_eq!(r.fired, 0);
    // Re-armed: the edge stays and fires again next time.
    for _ in 0..2 {
        let r = g
            .notify(globals, Aspect::Key(1), "m", &mut |_, _| Verdict::Rearmed)
            .unwrap();
        assert_eq!(r.rearmed, 1);
    }
    let s = g.stats();
    assert_eq!((s.patched, s.rearmed, s.invalidated), (1, 2, 0));
}

#[test]
fn storm_marks_key_unstable_then_reset() {
    let mut g: Graph<()> = Graph::with_config(Config {
        storm_threshold: 3,
        ..Config::default()
    });
    let globals = g.track(Kind::Dict, 1);
    for i in 0..3 {
        assert!(g.is_stable(globals, Aspect::Key(1)).unwrap(), "round {i}");
        g.register([Dep::key(globals, 1)], ()).unwrap();
        g.notify(globals, Aspect::Key(1), "m", &mut invalidate)
            .unwrap();
    }
    assert!(!g.is_stable(globals, Aspect::Key(1)).unwrap());
    assert_eq!(
        g.register([Dep::key(globals, 1)], ()).unwrap_err().error,
        Error::Unstable {
            object: globals,
            aspect: Aspect::Key(1)
        }
    );
    // Other keys and the whole object are unaffected.
    assert!(g.is_stable(globals, Aspect::Key(2)).unwrap());
    g.register([Dep::key(globals, 2)], ()).unwrap();
    // Quiet events and re-armed fires do not count.
    g.reset_stability(globals, Aspect::Key(1)).unwrap();
    assert!(g.is_stable(globals, Aspect::Key(1)).unwrap());
}

#[test]
fn storm_counting_every_event_refuses_a_key_nothing_ever_depended_on() {
    let config = |storm_counts| Config {
        storm_threshold: 3,
        storm_counts,
        ..Config::default()
    };
    let mut effective: Graph<()> = Graph::with_config(config(StormCount::Effective));
    let mut every: Graph<()> = Graph::with_config(config(StormCount::Every));
    for g in [&mut effective, &mut every] {
        let globals = g.track(Kind::Dict, 1);
        let other = g.register([Dep::key(globals, 2)], ()).unwrap();
        // Three writes to key 1 while nothing depends on it, one to key 2.
        for _ in 0..3 {
            let r = g
                .notify(globals, Aspect::Key(1), "m", &mut invalidate)
                .unwrap();
            assert_eq!(r.fired, 0);
        }
        g.notify(globals, Aspect::Key(2), "m", &mut invalidate)
            .unwrap();
        assert!(!g.is_valid(other));
        let counted = g.config().storm_counts == StormCount::Every;
        assert_eq!(g.is_stable(globals, Aspect::Key(1)).unwrap(), !counted);
        assert_eq!(g.register([Dep::key(globals, 1)], ()).is_err(), counted);
        // Key 2 took one event in both modes; the object took no whole-object one.
        assert!(g.is_stable(globals, Aspect::Key(2)).unwrap());
        assert!(g.is_stable(globals, Aspect::Whole).unwrap());
        g.reset_stability(globals, Aspect::Key(1)).unwrap();
        assert!(g.is_stable(globals, Aspect::Key(1)).unwrap());
        g.register([Dep::key(globals, 1)], ()).unwrap();
    }
    // Whole-object events count toward the object; re-armed fires count too.
    let mut g: Graph<()> = Graph::with_config(config(StormCount::Every));
    let d = g.track(Kind::Dict, 7);
    g.register([Dep::whole(d)], ()).unwrap();
    for _ in 0..3 {
        let r = g
            .notify(d, Aspect::Whole, "cleared", &mut |_, _| Verdict::Rearmed)
            .unwrap();
        assert_eq!(r.rearmed, 1);
    }
    assert!(!g.is_stable(d, Aspect::Whole).unwrap());
    assert!(
        !g.is_stable(d, Aspect::Key(5)).unwrap(),
        "an unstable object refuses its keys"
    );
    assert_eq!(g.stats().live_cells, 1, "whole-object counts take no cell");
}

#[test]
fn ticket_accepts_unchanged_and_rejects_changed() {
    let mut g: Graph<()> = Graph::new();
    let a = g.track(Kind::Dict, 1);
    let b = g.track(Kind::Dict, 2);
    let t = g.ticket();
    // An event on an object the unit does not depend on is fine.
    g.notify(b, Aspect::Key(1), "m", &mut invalidate).unwrap();
    g.register_with_ticket(&t, [Dep::key(a, 1)], ()).unwrap();
    // Conservative by object: another key of `a` changing rejects.
    let t = g.ticket();
    g.notify(a, Aspect::Key(99), "m", &mut invalidate).unwrap();
    let err = g
        .register_with_ticket(&t, [Dep::key(a, 1)], ())
        .unwrap_err();
    assert_eq!(err.error, Error::StaleTicket { object: a });
    // Tracked after the ticket: its earlier changes were never reported, so refused.
    let t = g.ticket();
    let late = g.track(Kind::Dict, 9);
    let err = g
        .register_with_ticket(&t, [Dep::whole(late)], ())
        .unwrap_err();
    assert_eq!(err.error, Error::StaleTicket { object: late });
    let t = g.ticket();
    g.register_with_ticket(&t, [Dep::whole(late)], ()).unwrap();
    // Destroyed in between: the object is gone.
    let t = g.ticket();
    g.destroy(b, &mut invalidate).unwrap();
    let err = g.register_with_ticket(&t, [Dep::whole(b)], ()).unwrap_err();
    assert_eq!(err.error, Error::StaleObject(b));
}

#[test]
fn watch_hook_reports_first_and_last_dependent_but_not_dead_objects() {
    let log: Arc<Mutex<Vec<WatchChange>>> = Arc::default();
    let mut g: Graph<()> = Graph::new();
    let sink = log.clone();
    g.set_watch_hook(move |c| sink.lock().unwrap().push(c));
    let d = g.track(Kind::Dict, 0xd);
    let f = g.track(Kind::Function, 0xf);
    let u1 = g
        .register([Dep::key(d, 1), Dep::attr(f, Attr::Code)], ())
        .unwrap();
    let u2 = g.register([Dep::key(d, 2)], ()).unwrap();
    let got = |log: &Arc<Mutex<Vec<WatchChange>>>| {
        log.lock()
            .unwrap()
            .drain(..)
            .map(|c| (c.handle, c.watched))
            .collect::<Vec<_>>()
    };
    assert_eq!(got(&log), [(0xd, true), (0xf, true)]);
    g.unregister(u1).unwrap();
    assert_eq!(got(&log), [(0xf, false)], "d still has u2");
    assert!(g.is_watched(d).unwrap() && !g.is_watched(f).unwrap());
    g.destroy(d, &mut invalidate).unwrap();
    assert!(!g.is_valid(u2));
    assert_eq!(got(&log), [], "no unwatch request for a dead object");
}

#[test]
fn causes_carry_labels_names_versions_and_prefilter_counts() {
    let mut g: Graph<()> = Graph::new();
    let builtins = g.track(Kind::Dict, 1);
    g.register([Dep::key(builtins, 42).named("len")], ())
        .unwrap();
    for k in 1000..1100 {
        g.notify(builtins, Aspect::Key(k), "dict.ADDED", &mut invalidate)
            .unwrap();
    }
    let s = g.stats();
    assert_eq!(s.events, 100);
    assert_eq!(s.quiet_events, 100);
    assert!(
        s.prefilter_rejects >= 95,
        "rejects: {}",
        s.prefilter_rejects
    );
    let mut cause = None;
    g.notify(
        builtins,
        Aspect::Key(42),
        "dict.MODIFIED",
        &mut |_, f: Fire<'_, ()>| {
            cause = Some(f.hits[0].cause.clone());
            Verdict::Invalidate
        },
    )
    .unwrap();
    let cause = cause.unwrap();
    assert_eq!(cause.label, "dict.MODIFIED");
    assert_eq!(cause.name.as_deref(), Some("len"));
    assert_eq!(cause.kind, Kind::Dict);
    assert_eq!(cause.version, 101);
    assert!(!cause.destroyed);
    let s = g.stats();
    assert_eq!((s.live_units, s.live_edges, s.invalidated), (0, 0, 1));
    assert!(s.bytes > 0);
}

#[test]
fn attributes_do_not_collide_with_keys_or_each_other() {
    let mut g: Graph<u8> = Graph::new();
    let f = g.track(Kind::Function, 1);
    let on_code = g.register([Dep::attr(f, Attr::Code)], 1).unwrap();
    let on_defaults = g.register([Dep::attr(f, Attr::Defaults)], 2).unwrap();
    let on_whole = g.register([Dep::whole(f)], 3).unwrap();
    let mut fired = Vec::new();
    g.notify(
        f,
        Aspect::Attr(Attr::KwDefaults),
        "func.MODIFY_KWDEFAULTS",
        &mut |_, x: Fire<'_, u8>| {
            fired.push(*x.payload);
            Verdict::Rearmed
        },
    )
    .unwrap();
    assert_eq!(fired, [3]);
    fired.clear();
    g.notify(
        f,
        Aspect::Attr(Attr::Code),
        "func.MODIFY_CODE",
        &mut |_, x: Fire<'_, u8>| {
            fired.push(*x.payload);
            Verdict::Invalidate
        },
    )
    .unwrap();
    fired.sort();
    assert_eq!(fired, [1, 3]);
    assert!(g.is_valid(on_defaults) && !g.is_valid(on_code) && !g.is_valid(on_whole));
}

#[test]
fn large_dependent_sets_switch_to_roaring_and_back() {
    let mut g: Graph<u32> = Graph::new();
    let builtins = g.track(Kind::Dict, 1);
    let units: Vec<UnitId> = (0..5000)
        .map(|i| g.register([Dep::key(builtins, 7)], i).unwrap())
        .collect();
    for u in &units[..4000] {
        g.unregister(*u).unwrap();
    }
    let r = g
        .notify(builtins, Aspect::Key(7), "m", &mut invalidate)
        .unwrap();
    assert_eq!(r.invalidated, 1000);
    assert!(!g.is_watched(builtins).unwrap());
}

#[test]
fn accessors_and_deferred_variants() {
    let mut g: Graph<Vec<u8>> = Graph::with_config(Config {
        storm_threshold: 0,
        ..Config::default()
    });
    assert_eq!(g.config().storm_threshold, 0);
    let t = g.track(Kind::Custom(7), 0xfeed);
    assert!(g.contains_object(t));
    assert_eq!(g.kind(t), Ok(Kind::Custom(7)));
    assert_eq!(g.handle(t), Ok(0xfeed));
    assert_eq!(g.version(t), Ok(0));
    assert_eq!(g.is_watched(t), Ok(false));
    let u = g.register([Dep::whole(t)], vec![1]).unwrap();
    g.payload_mut(u).unwrap().push(2);
    assert_eq!(g.payload(u).unwrap(), &[1, 2]);
    assert_eq!(g.dependents(t, Aspect::Key(3)), Ok(vec![u]));

    // Deferred events mark units pending until delivered.
    g.notify_deferred(t, Aspect::Key(3), "custom.CHANGED")
        .unwrap();
    assert!(!g.is_valid(u));
    assert_eq!(g.pending_fires(), 1);
    assert_eq!(g.stats().pending_units, 1);
    let r = g.deliver(&mut |_, _| Verdict::Rearmed);
    assert_eq!((r.fired, r.rearmed, r.deferred), (1, 1, false));
    assert!(g.is_valid(u));

    // A deferred destroy: the ID is dead at once, the fire comes on delivery, and the
    // verdict is overridden because the fire is terminal.
    g.destroy_deferred(t).unwrap();
    assert!(!g.contains_object(t));
    assert_eq!(g.kind(t), Err(Error::StaleObject(t)));
    assert_eq!(g.handle(t), Err(Error::StaleObject(t)));
    assert_eq!(g.is_watched(t), Err(Error::StaleObject(t)));
    assert_eq!(g.dependents(t, Aspect::Whole), Err(Error::StaleObject(t)));
    assert_eq!(g.is_stable(t, Aspect::Whole), Err(Error::StaleObject(t)));
    assert_eq!(
        g.reset_stability(t, Aspect::Whole),
        Err(Error::StaleObject(t))
    );
    let mut terminal = false;
    let r = g.deliver(&mut |_, f: Fire<'_, Vec<u8>>| {
        terminal = f.is_terminal();
        Verdict::Rearmed
    });
    assert!(terminal);
    assert_eq!(r.invalidated, 1);
    assert_eq!(g.payload_mut(u), Err(Error::StaleUnit(u)));
    assert_eq!(g.dependencies(u), Err(Error::StaleUnit(u)));
    let s = g.stats();
    assert_eq!((s.live_objects, s.live_cells, s.live_units), (0, 0, 0));
}

#[test]
fn storm_policy_disabled_with_zero_threshold_and_whole_object_storms() {
    let mut g: Graph<()> = Graph::with_config(Config {
        storm_threshold: 0,
        ..Config::default()
    });
    let d = g.track(Kind::Dict, 1);
    for _ in 0..50 {
        g.register([Dep::key(d, 1)], ()).unwrap();
        g.notify(d, Aspect::Key(1), "m", &mut invalidate).unwrap();
    }
    assert!(g.is_stable(d, Aspect::Key(1)).unwrap());

    let mut g: Graph<()> = Graph::with_config(Config {
        storm_threshold: 2,
        ..Config::default()
    });
    let d = g.track(Kind::Dict, 1);
    for _ in 0..2 {
        g.register([Dep::key(d, 1)], ()).unwrap();
        g.notify(d, Aspect::Whole, "dict.CLEARED", &mut invalidate)
            .unwrap();
    }
    // Whole-object storms make the whole object unstable, keys included.
    assert!(!g.is_stable(d, Aspect::Whole).unwrap());
    assert!(!g.is_stable(d, Aspect::Key(5)).unwrap());
    let err = g.register([Dep::key(d, 5)], ()).unwrap_err();
    assert_eq!(
        err.error,
        Error::Unstable {
            object: d,
            aspect: Aspect::Whole
        }
    );
    g.reset_stability(d, Aspect::Whole).unwrap();
    g.register([Dep::key(d, 5)], ()).unwrap();
}

// ----- the end-of-wave settle ------------------------------------------------------
//
// A wave does not remove its fired units from the cells it hit one by one; it drops
// them all when it is done. These tests pin what a handler sees in between.

fn slot(u: UnitId) -> u32 {
    use slotmap::Key;
    u.data().as_ffi() as u32
}

#[test]
fn a_slot_reused_inside_a_wave_is_not_hit_through_the_cell_that_listed_it() {
    let mut g: Graph<&str> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let other = g.track(Kind::Dict, 2);
    let first = g.register([Dep::key(d, 1)], "first").unwrap();
    let second = g.register([Dep::key(d, 1)], "second").unwrap();
    let mut newcomer = None;
    let mut chained_fires = 0;
    g.notify(d, Aspect::Key(1), "m", &mut |g: &mut Graph<&str>, fire| {
        if *fire.payload == "second" {
            // `first` is dead by now; its slot is free and the hit cell still lists it.
            let v = g.register([Dep::key(other, 9)], "newcomer").unwrap();
            assert_eq!(slot(v), slot(first), "the test needs the slot reused");
            assert_eq!(g.dependents(d, Aspect::Key(1)).unwrap(), [second]);
            g.notify_deferred(d, Aspect::Key(1), "again").unwrap();
            assert!(g.is_valid(v), "no fire was queued for the newcomer");
            newcomer = Some(v);
        } else if *fire.payload == "newcomer" {
            chained_fires += 1;
        }
        Verdict::Invalidate
    })
    .unwrap();
    let v = newcomer.expect("second fired");
    assert_eq!(chained_fires, 0, "the newcomer does not depend on (d, 1)");
    assert!(g.is_valid(v));
    assert_eq!(g.dependents(d, Aspect::Key(1)).unwrap(), []);
    assert!(!g.would_fire(d, Aspect::Key(1)).unwrap());
    assert!(!g.is_watched(d).unwrap());
    let r = g
        .notify(other, Aspect::Key(9), "m", &mut invalidate)
        .unwrap();
    assert_eq!(r.fired, 1, "the newcomer still fires on its own dependency");
}

#[test]
fn units_recompiled_onto_the_hit_cell_inside_the_wave_survive_it() {
    let mut g: Graph<u32> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    for i in 0..300u32 {
        // Past the roaring threshold, so the settle crosses representations.
        g.register([Dep::key(d, 1), Dep::key(d, 1000 + u64::from(i))], i)
            .unwrap();
    }
    let mut recompiled = Vec::new();
    let r = g
        .notify(d, Aspect::Key(1), "m", &mut |g: &mut Graph<u32>, fire| {
            if *fire.payload < 1000 {
                let p = *fire.payload + 1000;
                recompiled.push(g.register([Dep::key(d, 1)], p).unwrap());
            }
            Verdict::Invalidate
        })
        .unwrap();
    assert_eq!(r.fired, 300, "each old unit once; the recompiled ones wait");
    recompiled.sort();
    assert_eq!(g.dependents(d, Aspect::Key(1)).unwrap(), recompiled);
    assert!(recompiled.iter().all(|&u| g.is_valid(u)));
    assert_eq!(g.stats().live_units, 300);
    let r = g.notify(d, Aspect::Key(1), "m", &mut invalidate).unwrap();
    assert_eq!(r.fired, 300);
    assert!(!g.is_watched(d).unwrap());
    assert_eq!(g.stats().live_edges, 0);
}

#[test]
fn a_wave_that_fires_many_units_of_a_shared_large_cell_leaves_exactly_the_others() {
    // 600 units depend on `builtins["len"]` (key 1, a set past the roaring threshold)
    // and on one of two globals (keys 2 and 3). Writing key 2 fires the even half, which
    // must leave key 1 as they die.
    let mut g: Graph<u32> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let units: Vec<UnitId> = (0..600u32)
        .map(|i| {
            let global = 2 + u64::from(i % 2);
            g.register([Dep::key(d, 1), Dep::key(d, global)], i)
                .unwrap()
        })
        .collect();
    let (even, odd): (Vec<UnitId>, Vec<UnitId>) = units
        .iter()
        .partition(|&&u| g.payload(u).unwrap().is_multiple_of(2));
    let mut mid_wave = None;
    let mut replacement = None;
    let r = g
        .notify(d, Aspect::Key(2), "m", &mut |g: &mut Graph<u32>, fire| {
            if *fire.payload == 298 {
                // Units fired so far are dead; a query on key 1 sees only the units
                // that still depend on it.
                mid_wave = Some(g.dependents(d, Aspect::Key(1)).unwrap());
            }
            if *fire.payload == 598 {
                // Recompiled into the slot a fired unit freed, onto the shared cell: it
                // must survive the wave, and the dead unit must not.
                let v = g.register([Dep::key(d, 1)], 9999).unwrap();
                assert!(
                    even.iter().any(|&u| u != fire.unit && slot(u) == slot(v)),
                    "the test needs a fired unit's slot reused"
                );
                replacement = Some(v);
            }
            Verdict::Invalidate
        })
        .unwrap();
    assert_eq!(r.fired, 300);
    let replacement = replacement.expect("unit 598 fired");
    let mid_wave = mid_wave.expect("unit 298 fired");
    let expected_mid: Vec<UnitId> = {
        // Unit 298 is the 150th even unit: the 149 before it are dead, it is not yet.
        let mut v: Vec<UnitId> = odd.iter().chain(&even[149..]).copied().collect();
        v.sort();
        v
    };
    assert_eq!(mid_wave, expected_mid);
    let mut survivors = odd.clone();
    survivors.push(replacement);
    survivors.sort();
    assert_eq!(g.dependents(d, Aspect::Key(1)).unwrap(), survivors);
    assert_eq!(g.stats().live_edges, 300 * 2 + 1);
    // Key 1 fires exactly the survivors, once each.
    let mut fired = Vec::new();
    g.notify(d, Aspect::Key(1), "m", &mut |_: &mut Graph<u32>, fire| {
        fired.push(fire.unit);
        Verdict::Invalidate
    })
    .unwrap();
    fired.sort();
    assert_eq!(fired, survivors);
    assert!(!g.is_watched(d).unwrap());
    assert_eq!(g.stats().live_edges, 0);
}

#[test]
fn queries_inside_a_handler_see_only_units_still_depending() {
    let mut g: Graph<u32> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let units: Vec<UnitId> = (0..3)
        .map(|i| g.register([Dep::key(d, 1)], i).unwrap())
        .collect();
    let mut seen = Vec::new();
    g.notify(d, Aspect::Key(1), "m", &mut |g: &mut Graph<u32>, fire| {
        seen.push((
            g.dependents(d, Aspect::Key(1)).unwrap(),
            g.would_fire(d, Aspect::Key(1)).unwrap(),
            g.is_watched(d).unwrap(),
        ));
        // The first unit is patched (its edge goes), the others invalidated.
        if *fire.payload == 0 {
            Verdict::Patched
        } else {
            Verdict::Invalidate
        }
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            (units.clone(), true, true),
            (units[1..].to_vec(), true, true),
            (units[2..].to_vec(), true, true),
        ]
    );
    assert!(!g.would_fire(d, Aspect::Key(1)).unwrap());
    assert!(!g.is_watched(d).unwrap());
    assert!(g.is_valid(units[0]), "patched, still live");
    assert_eq!(g.dependencies(units[0]).unwrap(), []);
}

// ----- cell handles ----------------------------------------------------------------------

#[test]
fn cell_handles_register_like_dependencies() {
    let mut g: Graph<u32> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let h = g.cell_handle(d, Aspect::Key(7)).unwrap();
    assert_eq!(
        g.cell_handle(d, Aspect::Key(7)).unwrap(),
        h,
        "one cell per key"
    );
    let whole = g.cell_handle(d, Aspect::Whole).unwrap();
    let a = g.register_cells([(h, 2), (whole, 5)], 1).unwrap();
    let b = g.register([Dep::key(d, 7).at(2)], 2).unwrap();
    let mut deps = g.dependencies(a).unwrap();
    deps.sort();
    assert_eq!(
        deps,
        [
            depwatch::Dependency {
                object: d,
                aspect: Aspect::Whole,
                site: 5
            },
            depwatch::Dependency {
                object: d,
                aspect: Aspect::Key(7),
                site: 2
            },
        ]
    );
    let r = g.notify(d, Aspect::Key(7), "m", &mut invalidate).unwrap();
    assert_eq!(r.fired, 2);
    assert!(!g.is_valid(a) && !g.is_valid(b));
    assert_eq!(
        g.register_cells([], 3).unwrap_err().error,
        Error::NoDependencies
    );
}

#[test]
fn a_handle_to_a_reclaimed_cell_is_stale_forever() {
    let mut g: Graph<u32> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let h = g.cell_handle(d, Aspect::Key(7)).unwrap();
    g.register_cells([(h, 0)], 1).unwrap();
    g.destroy(d, &mut invalidate).unwrap();
    assert_eq!(g.cell_handle(d, Aspect::Key(7)), Err(Error::StaleObject(d)));
    let refused = g.register_cells([(h, 0)], 2).unwrap_err();
    assert_eq!((refused.error, refused.payload), (Error::StaleCell(h), 2));
    // The freed cell slot is reused by the next cell; the old handle still does not
    // reach it.
    let e = g.track(Kind::Dict, 2);
    let fresh = g.cell_handle(e, Aspect::Key(9)).unwrap();
    assert_ne!(fresh, h);
    assert_eq!(
        g.register_cells([(h, 0)], 3).unwrap_err().error,
        Error::StaleCell(h)
    );
    let u = g.register_cells([(fresh, 0)], 4).unwrap();
    assert_eq!(g.dependents(e, Aspect::Key(9)).unwrap(), [u]);
}

#[test]
fn handles_obey_the_storm_policy_and_tickets() {
    let mut g: Graph<u32> = Graph::with_config(Config {
        storm_threshold: 2,
        ..Config::default()
    });
    let d = g.track(Kind::Dict, 1);
    let h = g.cell_handle(d, Aspect::Key(7)).unwrap();
    let ticket = g.ticket();
    g.notify(d, Aspect::Key(8), "m", &mut invalidate).unwrap();
    assert_eq!(
        g.register_cells_with_ticket(&ticket, [(h, 0)], 1)
            .unwrap_err()
            .error,
        Error::StaleTicket { object: d }
    );
    for _ in 0..2 {
        g.register_cells([(h, 0)], 1).unwrap();
        g.notify(d, Aspect::Key(7), "m", &mut invalidate).unwrap();
    }
    assert_eq!(
        g.register_cells([(h, 0)], 1).unwrap_err().error,
        Error::Unstable {
            object: d,
            aspect: Aspect::Key(7)
        }
    );
}
