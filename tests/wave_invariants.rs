//! Regression tests for the invariants a wave keeps while a batch is open or a delivery
//! is running: cells freed and reused meanwhile, units registered meanwhile, objects
//! destroyed meanwhile, and the promises the docs make about causes, dependencies and
//! IDs from another graph. Each test is one sequence that broke an invariant once.

use std::sync::{Arc, Mutex};

use depwatch::adapters::{DictAdapter, DictEvent, WatchAction, WatchRequests};
use depwatch::{Aspect, Dep, Dependency, Error, Graph, Kind, ObjectId, Verdict};

type Log = Arc<Mutex<Vec<(ObjectId, bool)>>>;

fn hooked<P>(g: &mut Graph<P>) -> Log {
    let log: Log = Arc::default();
    let sink = log.clone();
    g.set_watch_hook(move |c| sink.lock().unwrap().push((c.object, c.watched)));
    log
}

/// A batch that hit x[1], whose cell is then emptied and reclaimed, must not hand that
/// cause to a unit whose y[9] cell took the freed index; and a `Patched` answer must
/// not drop the sound y[9] edge.
#[test]
fn a_batch_never_hands_a_reclaimed_cells_cause_to_its_new_tenant() {
    let mut g: Graph<&str> = Graph::new();
    let (x, y, z) = (
        g.track(Kind::Dict, 1),
        g.track(Kind::Dict, 2),
        g.track(Kind::Dict, 3),
    );
    let u = g.register([Dep::key(x, 1)], "u").unwrap();
    g.begin_batch();
    g.notify(x, Aspect::Key(1), "x[1] changed", &mut |_, _| {
        Verdict::Invalidate
    })
    .unwrap();
    g.unregister(u).unwrap();
    g.reset_stability(x, Aspect::Key(1)).unwrap();
    let w = g.register([Dep::key(y, 9), Dep::key(z, 5)], "w").unwrap();
    g.notify(z, Aspect::Key(5), "z[5] changed", &mut |_, _| {
        Verdict::Invalidate
    })
    .unwrap();
    let mut seen = Vec::new();
    g.end_batch(&mut |_, fire| {
        for h in fire.hits {
            seen.push((h.dependency, h.cause.label));
        }
        Verdict::Patched
    })
    .unwrap();
    assert_eq!(
        seen,
        [(
            Dependency {
                object: z,
                aspect: Aspect::Key(5),
                site: 0
            },
            "z[5] changed"
        )]
    );
    assert_eq!(g.dependencies(w).unwrap().len(), 1, "y[9] is kept");
    let report = g
        .notify(y, Aspect::Key(9), "y[9] changed", &mut |_, _| {
            Verdict::Invalidate
        })
        .unwrap();
    assert_eq!(report.invalidated, 1);
    assert!(!g.is_valid(w), "the y[9] change reaches w");
}

/// The same with a destruction as the batch's earlier event: the new tenant of the
/// dead object's cell never depended on it and must not get a terminal cause.
#[test]
fn a_batch_never_hands_a_destroyed_objects_cause_to_its_cells_new_tenant() {
    let mut g: Graph<&str> = Graph::new();
    let (x, y, z) = (
        g.track(Kind::Dict, 1),
        g.track(Kind::Dict, 2),
        g.track(Kind::Dict, 3),
    );
    let u = g.register([Dep::key(x, 1)], "u").unwrap();
    g.begin_batch();
    g.destroy_deferred(x).unwrap();
    g.unregister(u).unwrap();
    let w = g.register([Dep::key(y, 9), Dep::key(z, 5)], "w").unwrap();
    g.notify(z, Aspect::Key(5), "z[5] changed", &mut |_, _| {
        Verdict::Invalidate
    })
    .unwrap();
    let mut terminal = Vec::new();
    g.end_batch(&mut |_, fire| {
        terminal.push(fire.is_terminal());
        Verdict::Patched
    })
    .unwrap();
    assert_eq!(terminal, [false]);
    assert!(g.is_valid(w));
    assert_eq!(
        g.dependencies(w).unwrap(),
        [Dependency {
            object: y,
            aspect: Aspect::Key(9),
            site: 0
        }]
    );
}

/// A unit registered inside an open batch, after an event on a key it then depends on,
/// was compiled against the new value: it fires only for the batch's later events.
#[test]
fn a_unit_registered_in_a_batch_sees_only_later_events() {
    let mut g: Graph<&str> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let old = g.register([Dep::key(d, 1)], "old").unwrap();
    g.begin_batch();
    g.notify(d, Aspect::Key(1), "first", &mut |_, _| Verdict::Invalidate)
        .unwrap();
    let fresh = g
        .register([Dep::key(d, 1), Dep::key(d, 2).at(7)], "fresh")
        .unwrap();
    let late = g.register([Dep::key(d, 1)], "late").unwrap();
    g.notify(d, Aspect::Key(2), "second", &mut |_, _| Verdict::Invalidate)
        .unwrap();
    let mut fires = Vec::new();
    g.end_batch(&mut |_, fire| {
        let labels: Vec<_> = fire.causes().iter().map(|c| c.label).collect();
        fires.push((*fire.payload, labels, fire.sites()));
        Verdict::Patched
    })
    .unwrap();
    assert_eq!(
        fires,
        [
            ("old", vec!["first"], vec![0]),
            ("fresh", vec!["second"], vec![7])
        ]
    );
    assert!(g.is_valid(old) && g.is_valid(fresh) && g.is_valid(late));
    assert_eq!(g.dependencies(fresh).unwrap().len(), 1, "d[1] is kept");
    assert_eq!(g.dependents(d, Aspect::Key(1)).unwrap(), [fresh, late]);
}

/// Nested batches and batches opened inside a handler follow the same rule.
#[test]
fn a_unit_registered_in_a_batch_opened_by_a_handler_sees_only_later_events() {
    let mut g: Graph<&str> = Graph::new();
    let d = g.track(Kind::Dict, 1);
    let e = g.track(Kind::Dict, 2);
    g.register([Dep::key(e, 1)], "trigger").unwrap();
    g.register([Dep::key(d, 1)], "old").unwrap();
    let mut fresh = None;
    let mut fires = Vec::new();
    g.notify(e, Aspect::Key(1), "go", &mut |g, fire| {
        if *fire.payload == "trigger" {
            g.begin_batch();
            g.notify_deferred(d, Aspect::Key(1), "first").unwrap();
            fresh = Some(g.register([Dep::key(d, 1)], "fresh").unwrap());
            g.notify_deferred(d, Aspect::Key(1), "second").unwrap();
            assert!(
                g.end_batch(&mut |_, _| Verdict::Invalidate)
                    .unwrap()
                    .deferred
            );
        }
        let labels: Vec<_> = fire.causes().iter().map(|c| c.label).collect();
        fires.push((*fire.payload, labels));
        Verdict::Invalidate
    })
    .unwrap();
    assert_eq!(
        fires,
        [
            ("trigger", vec!["go"]),
            ("old", vec!["first", "second"]),
            ("fresh", vec!["second"])
        ]
    );
}

/// An object that loses its last dependent during a delivery and is destroyed by a later
/// handler of the same delivery is never reported as unwatched.
#[test]
fn an_object_destroyed_later_in_the_delivery_is_never_reported_unwatched() {
    let mut g: Graph<&str> = Graph::new();
    let log = hooked(&mut g);
    let (x, y) = (g.track(Kind::Dict, 1), g.track(Kind::Dict, 2));
    g.register([Dep::key(x, 1), Dep::key(y, 1)], "a").unwrap();
    g.register([Dep::key(x, 1)], "b").unwrap();
    log.lock().unwrap().clear();
    g.notify(x, Aspect::Key(1), "x[1]", &mut |g, fire| {
        if *fire.payload == "b" {
            // `a` was invalidated first: y has lost its last dependent. Freeing b's
            // code drops the last reference to y, which dies at once.
            g.destroy(y, &mut |_, _| Verdict::Invalidate).unwrap();
        }
        Verdict::Invalidate
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), [(x, false)], "y is never unwatched");
}

/// Through the adapters, as CPython drives them: a dict whose last dependent goes
/// during a delivery and whose DEALLOCATED event arrives from a later handler gets no
/// `Unwatch` request.
#[test]
fn watch_requests_never_name_a_dict_that_died_in_the_delivery() {
    let mut g: Graph<&str> = Graph::new();
    let requests = WatchRequests::install(&mut g);
    let mut dicts = DictAdapter::new();
    let (x, y) = (dicts.track(&mut g, 0x100), dicts.track(&mut g, 0x200));
    g.register([Dep::key(x, 1), Dep::key(y, 1)], "a").unwrap();
    g.register([Dep::key(x, 1)], "b").unwrap();
    requests.drain();
    // The adapter is busy inside its own delivery, so the handler destroys y through
    // the graph, as a VM's DEALLOCATED callback running inside the handler would.
    dicts
        .on_event(
            &mut g,
            0x100,
            DictEvent::Modified {
                key: 1,
                values: depwatch::adapters::Values::UNKNOWN,
            },
            &mut |g, fire| {
                if *fire.payload == "b" {
                    g.destroy(y, &mut |_, _| Verdict::Invalidate).unwrap();
                }
                Verdict::Invalidate
            },
        )
        .unwrap();
    let got: Vec<_> = requests
        .drain()
        .into_iter()
        .map(|r| (r.handle, r.action))
        .collect();
    assert_eq!(got, [(0x100, WatchAction::Unwatch)]);
}

/// An object that loses its last dependent in a delivery and regains one later in the
/// same delivery stays watched: no `Unwatch` follows the VM's last `Watch`.
#[test]
fn an_object_that_regains_a_dependent_in_the_delivery_stays_watched() {
    let mut g: Graph<&str> = Graph::new();
    let log = hooked(&mut g);
    let (x, y) = (g.track(Kind::Dict, 1), g.track(Kind::Dict, 2));
    g.register([Dep::key(x, 1), Dep::key(y, 1)], "a").unwrap();
    g.register([Dep::key(x, 1)], "b").unwrap();
    log.lock().unwrap().clear();
    let mut again = None;
    g.notify(x, Aspect::Key(1), "x[1]", &mut |g, fire| {
        if *fire.payload == "b" {
            again = Some(g.register([Dep::key(y, 2)], "recompiled").unwrap());
        }
        Verdict::Invalidate
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), [(x, false)]);
    assert!(g.is_watched(y).unwrap());
    // A later change to y[2] still reaches the recompiled unit.
    g.notify(y, Aspect::Key(2), "y[2]", &mut |_, _| Verdict::Invalidate)
        .unwrap();
    assert!(!g.is_valid(again.unwrap()));
    assert_eq!(*log.lock().unwrap(), [(x, false), (y, false)]);
}

/// A unit registered from a handler on an object nobody watched gets its `Watch` before
/// `register` returns, so the VM can set its flag before anything else runs.
#[test]
fn a_watch_is_reported_before_register_returns_even_inside_a_handler() {
    let mut g: Graph<&str> = Graph::new();
    let log = hooked(&mut g);
    let (x, y) = (g.track(Kind::Dict, 1), g.track(Kind::Dict, 2));
    g.register([Dep::key(x, 1)], "a").unwrap();
    let seen = log.clone();
    g.notify(x, Aspect::Key(1), "x[1]", &mut |g, _| {
        g.register([Dep::key(y, 1)], "new").unwrap();
        assert!(seen.lock().unwrap().contains(&(y, true)));
        Verdict::Invalidate
    })
    .unwrap();
}

/// `Fire::causes` lists causes in the order the events happened, across objects whose
/// versions count separately.
#[test]
fn causes_are_in_event_order_across_objects() {
    let mut g: Graph<&str> = Graph::new();
    let (old, young) = (g.track(Kind::Dict, 1), g.track(Kind::Dict, 2));
    for _ in 0..5 {
        g.notify(old, Aspect::Key(9), "warm", &mut |_, _| Verdict::Invalidate)
            .unwrap();
    }
    g.register([Dep::key(old, 1), Dep::key(young, 1)], "u")
        .unwrap();
    g.begin_batch();
    g.notify(old, Aspect::Key(1), "first", &mut |_, _| {
        Verdict::Invalidate
    })
    .unwrap();
    g.notify(young, Aspect::Key(1), "second", &mut |_, _| {
        Verdict::Invalidate
    })
    .unwrap();
    let mut order = Vec::new();
    g.end_batch(&mut |_, fire| {
        order = fire.causes().iter().map(|c| c.label).collect();
        Verdict::Invalidate
    })
    .unwrap();
    assert_eq!(order, ["first", "second"]);
}

/// `Graph::dependencies` is sorted by `Dependency`'s own order, whatever the internal
/// cell numbering.
#[test]
fn dependencies_are_sorted_by_dependency_order() {
    let mut g: Graph<()> = Graph::new();
    let (a, b) = (g.track(Kind::Dict, 1), g.track(Kind::Dict, 2));
    // Cells are numbered in creation order: b's first.
    g.register([Dep::key(b, 5)], ()).unwrap();
    let u = g
        .register(
            [
                Dep::key(b, 5).at(2),
                Dep::key(a, 9),
                Dep::key(a, 3).at(1),
                Dep::whole(a),
                Dep::key(b, 5).at(2),
            ],
            (),
        )
        .unwrap();
    let deps = g.dependencies(u).unwrap();
    let mut want = deps.clone();
    want.sort();
    want.dedup();
    assert_eq!(deps, want);
    assert_eq!(deps.len(), 4);
    assert_eq!(deps[0].object, a);
}

/// IDs carry no graph tag. An ID from another graph is taken as this graph's: it is
/// refused as stale if no live object of this graph has it, and otherwise names that
/// object. Tickets do carry their graph and are refused.
#[test]
fn an_id_from_another_graph_is_looked_up_as_this_graphs() {
    let mut a: Graph<()> = Graph::new();
    let mut b: Graph<()> = Graph::new();
    let in_a = a.track(Kind::Function, 0xa);
    let other = a.track(Kind::Dict, 0xa2);
    let in_b = b.track(Kind::Dict, 0xb);
    assert_eq!(in_a, in_b, "the first slot of each graph has the same ID");
    assert_eq!(
        b.kind(in_a),
        Ok(Kind::Dict),
        "names b's object in that slot"
    );
    assert_eq!(b.kind(other), Err(Error::StaleObject(other)));
    let t = a.ticket();
    let refused = b
        .register_with_ticket(&t, [Dep::whole(in_b)], ())
        .unwrap_err();
    assert_eq!(refused.error, Error::ForeignTicket);
}

/// The same, with a registration between the loss and the destruction: reports that a
/// call inside the delivery flushes must not include the pending `Unwatch`.
#[test]
fn an_unwatch_is_not_flushed_by_a_registration_inside_the_delivery() {
    let mut g: Graph<&str> = Graph::new();
    let log = hooked(&mut g);
    let (x, y, z) = (
        g.track(Kind::Dict, 1),
        g.track(Kind::Dict, 2),
        g.track(Kind::Dict, 3),
    );
    g.register([Dep::key(x, 1), Dep::key(y, 1)], "a").unwrap();
    g.register([Dep::key(x, 1)], "b").unwrap();
    g.register([Dep::key(x, 1)], "c").unwrap();
    log.lock().unwrap().clear();
    g.notify(x, Aspect::Key(1), "x[1]", &mut |g, fire| {
        match *fire.payload {
            "b" => drop(g.register([Dep::key(z, 1)], "recompiled").unwrap()),
            "c" => drop(g.destroy(y, &mut |_, _| Verdict::Invalidate).unwrap()),
            _ => {}
        }
        Verdict::Invalidate
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), [(z, true), (x, false)]);
}
