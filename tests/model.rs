//! Differential test of [`depwatch::Graph`] against a naive reference model.
//!
//! The model keeps units in a `Vec` with `HashSet` dependencies and answers every event
//! by scanning all of them. After every operation the test asserts that both agree on:
//! which units are valid, every fire (unit, dependency edge, cause), every error, object
//! versions, storm stability, and the live edge count.
//!
//! Cases: `DEPWATCH_MODEL_CASES` (default 2000), each of up to 200 operations.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use depwatch::{
    Aspect, Attr, Config, Dep, Dependency, Error, Fire, Graph, Kind, ObjectId, Site, Ticket,
    UnitId, Verdict,
};
use proptest::prelude::*;

const ASPECTS: [Aspect; 7] = [
    Aspect::Whole,
    Aspect::Key(1),
    Aspect::Key(2),
    Aspect::Key(3),
    Aspect::Key(u64::MAX),
    Aspect::Attr(Attr::Code),
    Aspect::Attr(Attr::Defaults),
];

/// How a unit's handler answers; fixed per unit at registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Invalidate,
    Patch,
    Rearm,
}

impl Policy {
    fn verdict(self) -> Verdict {
        match self {
            Policy::Invalidate => Verdict::Invalidate,
            Policy::Patch => Verdict::Patched,
            Policy::Rearm => Verdict::Rearmed,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Track,
    Destroy(usize),
    Register {
        deps: Vec<(usize, usize, Site)>,
        policy: Policy,
        ticket: Option<usize>,
        /// Through cell handles (`register_cells`) rather than dependencies.
        by_handle: bool,
    },
    TakeTicket,
    Unregister(usize),
    Notify(usize, usize),
    /// A handler panics on the first fire; then the queue is delivered normally.
    NotifyPanicking(usize, usize),
    /// The handler of the first fire raises a second event (reentrantly).
    NotifyChained(usize, usize, usize, usize),
    /// Every handler registers a replacement unit from inside the wave (a VM
    /// recompiling), often into a slot the wave just freed and onto a cell it hit.
    NotifyRecompiling(usize, usize, Vec<(usize, usize, Site)>),
    Batch(Vec<(bool, usize, usize)>),
    ResetStability(usize, usize),
}

/// The operation mix: how often objects are tracked and units registered, and at most
/// how many dependencies a unit has.
#[derive(Clone, Copy)]
struct Mix {
    track: u32,
    register: u32,
    max_deps: usize,
}

/// Many objects, units of a few dependencies: most cells hold a handful of units.
const SPREAD: Mix = Mix {
    track: 3,
    register: 5,
    max_deps: 5,
};

/// Few objects and many units of up to 12 dependencies: cells grow past the inline set
/// onto the heap, and waves fire many units that share their other cells.
const CROWDED: Mix = Mix {
    track: 1,
    register: 14,
    max_deps: 13,
};

fn op(mix: Mix) -> impl Strategy<Value = Op> {
    let obj = 0usize..64;
    let aspect = 0usize..ASPECTS.len();
    prop_oneof![
        mix.track => Just(Op::Track),
        1 => obj.clone().prop_map(Op::Destroy),
        mix.register => (
            prop::collection::vec((obj.clone(), aspect.clone(), 0u32..3), 0..mix.max_deps),
            prop_oneof![Just(Policy::Invalidate), Just(Policy::Patch), Just(Policy::Rearm)],
            prop::option::weighted(0.3, 0usize..8),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(deps, policy, ticket, by_handle)| Op::Register {
                deps,
                policy,
                ticket,
                by_handle
            }),
        1 => Just(Op::TakeTicket),
        1 => (0usize..64).prop_map(Op::Unregister),
        6 => (obj.clone(), aspect.clone()).prop_map(|(o, a)| Op::Notify(o, a)),
        1 => (obj.clone(), aspect.clone()).prop_map(|(o, a)| Op::NotifyPanicking(o, a)),
        1 => (obj.clone(), aspect.clone(), obj.clone(), aspect.clone())
            .prop_map(|(o, a, p, b)| Op::NotifyChained(o, a, p, b)),
        2 => (
            obj.clone(),
            aspect.clone(),
            prop::collection::vec((obj.clone(), aspect.clone(), 0u32..3), 1..4),
        )
            .prop_map(|(o, a, deps)| Op::NotifyRecompiling(o, a, deps)),
        1 => prop::collection::vec((prop::bool::weighted(0.1), obj.clone(), aspect.clone()), 0..6)
            .prop_map(Op::Batch),
        1 => (obj, aspect).prop_map(|(o, a)| Op::ResetStability(o, a)),
    ]
}

/// A fire as both sides report it: the unit and its sorted (edge, cause) hits.
type CauseKey = (ObjectId, Aspect, &'static str, bool);
type FireRecord = (UnitId, Vec<(Dependency, CauseKey)>);

#[derive(Debug)]
struct MObject {
    id: ObjectId,
    alive: bool,
    version: u64,
    changed_at: u64,
    fires: u32,
    unstable: bool,
    key_fires: HashMap<Aspect, u32>,
}

#[derive(Debug)]
struct MUnit {
    id: UnitId,
    deps: HashSet<(ObjectId, Aspect, Site)>,
    policy: Policy,
    alive: bool,
}

struct Model {
    threshold: u32,
    epoch: u64,
    objects: Vec<MObject>,
    units: Vec<MUnit>,
}

impl Model {
    fn obj(&self, id: ObjectId) -> Option<&MObject> {
        self.objects.iter().find(|o| o.id == id)
    }

    fn obj_mut(&mut self, id: ObjectId) -> &mut MObject {
        self.objects.iter_mut().find(|o| o.id == id).unwrap()
    }

    fn key_unstable(&self, o: &MObject, a: Aspect) -> bool {
        self.threshold > 0 && o.key_fires.get(&a).is_some_and(|&f| f >= self.threshold)
    }

    fn check_register(
        &self,
        deps: &[(ObjectId, Aspect, Site)],
        ticket: Option<u64>,
    ) -> Result<(), Error> {
        if deps.is_empty() {
            return Err(Error::NoDependencies);
        }
        for &(o, a, _) in deps {
            let Some(m) = self.obj(o).filter(|m| m.alive) else {
                return Err(Error::StaleObject(o));
            };
            if m.unstable {
                return Err(Error::Unstable {
                    object: o,
                    aspect: Aspect::Whole,
                });
            }
            if a != Aspect::Whole && self.key_unstable(m, a) {
                return Err(Error::Unstable {
                    object: o,
                    aspect: a,
                });
            }
            if ticket.is_some_and(|t| m.changed_at > t) {
                return Err(Error::StaleTicket { object: o });
            }
        }
        Ok(())
    }

    /// Records an event (version, epoch) and returns its cause, or the error.
    fn record(&mut self, o: ObjectId, a: Aspect, destroyed: bool) -> Result<CauseKey, Error> {
        let alive = self.obj(o).is_some_and(|m| m.alive);
        if !alive {
            return Err(Error::StaleObject(o));
        }
        self.epoch += 1;
        let epoch = self.epoch;
        let m = self.obj_mut(o);
        m.version += 1;
        m.changed_at = epoch;
        if destroyed {
            m.alive = false;
        }
        let label = if destroyed { "destroyed" } else { label_of(a) };
        Ok((o, a, label, destroyed))
    }

    /// Delivers one wave of causes: each live unit hit fires once with all its hits.
    /// `panic_first`: the first fire (in unit ID order) counts as a panic → invalidate.
    fn deliver(&mut self, causes: &[CauseKey], panic_first: bool) -> Vec<FireRecord> {
        let mut order: Vec<usize> = (0..self.units.len())
            .filter(|&i| self.units[i].alive)
            .collect();
        order.sort_by_key(|&i| self.units[i].id);
        let mut fires = Vec::new();
        let mut effective: BTreeSet<usize> = BTreeSet::new();
        let mut first = true;
        for i in order {
            let mut hits: Vec<(Dependency, CauseKey)> = Vec::new();
            let mut hit_causes = BTreeSet::new();
            for &(o, a, s) in &self.units[i].deps {
                for (ci, c) in causes.iter().enumerate() {
                    if c.0 == o && c.1.hits(a) {
                        hits.push((
                            Dependency {
                                object: o,
                                aspect: a,
                                site: s,
                            },
                            *c,
                        ));
                        hit_causes.insert(ci);
                    }
                }
            }
            if hits.is_empty() {
                continue;
            }
            hits.sort_by_key(|(d, c)| (*d, c.1 == Aspect::Whole, c.2));
            fires.push((self.units[i].id, hits.clone()));
            let terminal = hits.iter().any(|(_, c)| c.3);
            let verdict = if terminal || (panic_first && first) {
                Verdict::Invalidate
            } else {
                self.units[i].policy.verdict()
            };
            first = false;
            match verdict {
                Verdict::Invalidate => self.units[i].alive = false,
                Verdict::Patched => {
                    let hit_deps: HashSet<(ObjectId, Aspect)> =
                        hits.iter().map(|(d, _)| (d.object, d.aspect)).collect();
                    self.units[i]
                        .deps
                        .retain(|&(o, a, _)| !hit_deps.contains(&(o, a)));
                }
                Verdict::Rearmed => {}
            }
            if verdict != Verdict::Rearmed {
                effective.extend(hit_causes);
            }
        }
        for ci in effective {
            let (o, a, _, destroyed) = causes[ci];
            if destroyed || self.threshold == 0 || !self.obj(o).unwrap().alive {
                continue;
            }
            let t = self.threshold;
            let m = self.obj_mut(o);
            if a == Aspect::Whole {
                m.fires += 1;
                m.unstable |= m.fires >= t;
            } else {
                *m.key_fires.entry(a).or_default() += 1;
            }
        }
        fires
    }
}

fn label_of(a: Aspect) -> &'static str {
    match a {
        Aspect::Whole => "whole",
        Aspect::Key(_) => "key",
        Aspect::Attr(_) => "attr",
    }
}

fn record_fire(fires: &mut Vec<FireRecord>, fire: &Fire<'_, Policy>) {
    let mut hits: Vec<(Dependency, CauseKey)> = fire
        .hits
        .iter()
        .map(|h| {
            (
                h.dependency,
                (
                    h.cause.object,
                    h.cause.aspect,
                    h.cause.label,
                    h.cause.destroyed,
                ),
            )
        })
        .collect();
    hits.sort_by_key(|(d, c)| (*d, c.1 == Aspect::Whole, c.2));
    fires.push((fire.unit, hits));
}

fn answer(
    fires: &mut Vec<FireRecord>,
) -> impl FnMut(&mut Graph<Policy>, Fire<'_, Policy>) -> Verdict + '_ {
    move |_g, fire| {
        record_fire(fires, &fire);
        fire.payload.verdict()
    }
}

fn sorted(mut v: Vec<FireRecord>) -> Vec<FireRecord> {
    v.sort_by_key(|(u, _)| *u);
    v
}

fn run(threshold: u32, max_reuse: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut g: Graph<Policy> = Graph::with_config(Config {
        storm_threshold: threshold,
        max_slot_reuse: max_reuse,
    });
    let mut m = Model {
        threshold,
        epoch: 0,
        objects: Vec::new(),
        units: Vec::new(),
    };
    let mut tickets: Vec<(Ticket, u64)> = Vec::new();
    let mut seen_objects: HashSet<ObjectId> = HashSet::new();
    let mut seen_units: HashSet<UnitId> = HashSet::new();
    let pick = |m: &Model, i: usize| m.objects.get(i % m.objects.len().max(1)).map(|o| o.id);

    for op in ops {
        match op {
            Op::Track => {
                let id = g.track(Kind::Dict, m.objects.len() as u64);
                m.epoch += 1; // tracking counts as a change for tickets
                prop_assert!(seen_objects.insert(id), "object ID {id:?} handed out twice");
                m.objects.push(MObject {
                    id,
                    alive: true,
                    version: 0,
                    changed_at: m.epoch,
                    fires: 0,
                    unstable: false,
                    key_fires: HashMap::new(),
                });
            }
            Op::Destroy(o) => {
                let Some(o) = pick(&m, o) else { continue };
                let mut fires = Vec::new();
                let got = g.destroy(o, &mut answer(&mut fires));
                match m.record(o, Aspect::Whole, true) {
                    Ok(c) => {
                        let report = got.expect("destroy of a live object");
                        let want = m.deliver(&[c], false);
                        prop_assert_eq!(report.invalidated, want.len());
                        prop_assert_eq!(sorted(fires), want);
                    }
                    Err(e) => prop_assert_eq!(got, Err(e)),
                }
            }
            Op::Register {
                deps,
                policy,
                ticket,
                by_handle,
            } => {
                if m.objects.is_empty() {
                    continue;
                }
                let deps: Vec<(ObjectId, Aspect, Site)> = deps
                    .into_iter()
                    .map(|(o, a, s)| (pick(&m, o).unwrap(), ASPECTS[a], s))
                    .collect();
                let ticket = ticket.and_then(|t| tickets.get(t % tickets.len().max(1)).copied());
                let want = m.check_register(&deps, ticket.map(|t| t.1));
                let got = if by_handle {
                    // Resolve every handle first; a dead object has none, and the model
                    // must refuse the registration too.
                    let handles: Result<Vec<_>, Error> = deps
                        .iter()
                        .map(|&(o, a, s)| g.cell_handle(o, a).map(|h| (h, s)))
                        .collect();
                    match handles {
                        Ok(h) => match ticket {
                            Some((t, _)) => g.register_cells_with_ticket(&t, h, policy),
                            None => g.register_cells(h, policy),
                        },
                        Err(e) => {
                            let dead = |x: &ObjectId| m.obj(*x).is_some_and(|mo| !mo.alive);
                            prop_assert!(matches!(e, Error::StaleObject(x) if dead(&x)));
                            prop_assert!(want.is_err(), "a dead dependency, yet {want:?}");
                            continue;
                        }
                    }
                } else {
                    let dep_list = deps.iter().map(|&(o, a, s)| Dep::new(o, a).at(s));
                    match ticket {
                        Some((t, _)) => g.register_with_ticket(&t, dep_list, policy),
                        None => g.register(dep_list, policy),
                    }
                };
                match (got, want) {
                    (Ok(id), Ok(())) => {
                        prop_assert!(seen_units.insert(id), "unit ID {id:?} handed out twice");
                        m.units.push(MUnit {
                            id,
                            deps: deps.into_iter().collect(),
                            policy,
                            alive: true,
                        });
                    }
                    (Err(r), Err(e)) => {
                        prop_assert_eq!(r.error, e);
                        prop_assert_eq!(r.payload, policy, "payload handed back");
                    }
                    (got, want) => prop_assert!(
                        false,
                        "register: got {:?}, want {:?}",
                        got.map_err(|r| r.error),
                        want
                    ),
                }
            }
            Op::TakeTicket => tickets.push((g.ticket(), m.epoch)),
            Op::Unregister(u) => {
                let n = m.units.len().max(1);
                let Some(mu) = m.units.get_mut(u % n) else {
                    continue;
                };
                let got = g.unregister(mu.id);
                if mu.alive {
                    prop_assert_eq!(got, Ok(mu.policy));
                    mu.alive = false;
                } else {
                    prop_assert_eq!(got, Err(Error::StaleUnit(mu.id)));
                }
            }
            Op::Notify(o, a) => {
                let Some(o) = pick(&m, o) else { continue };
                let a = ASPECTS[a];
                let mut fires = Vec::new();
                let got = g.notify(o, a, label_of(a), &mut answer(&mut fires));
                match m.record(o, a, false) {
                    Ok(c) => {
                        let report = got.expect("notify on a live object");
                        let want = m.deliver(&[c], false);
                        prop_assert_eq!(report.fired, want.len());
                        prop_assert_eq!(sorted(fires), want);
                    }
                    Err(e) => prop_assert_eq!(got, Err(e)),
                }
            }
            Op::NotifyRecompiling(o, a, deps) => {
                let Some(o) = pick(&m, o) else { continue };
                let a = ASPECTS[a];
                // The replacement depends on the event's own key first, then the rest.
                let mut deps: Vec<(ObjectId, Aspect, Site)> = deps
                    .into_iter()
                    .map(|(p, b, s)| (pick(&m, p).unwrap(), ASPECTS[b], s))
                    .collect();
                deps[0].0 = o;
                deps[0].1 = a;
                let mut fires = Vec::new();
                let mut registered: Vec<UnitId> = Vec::new();
                let mut refused: Vec<Error> = Vec::new();
                let got = g.notify(
                    o,
                    a,
                    label_of(a),
                    &mut |g: &mut Graph<Policy>, fire: Fire<'_, Policy>| {
                        record_fire(&mut fires, &fire);
                        let list = deps.iter().map(|&(p, b, s)| Dep::new(p, b).at(s));
                        match g.register(list, Policy::Invalidate) {
                            Ok(id) => registered.push(id),
                            Err(r) => refused.push(r.error),
                        }
                        fire.payload.verdict()
                    },
                );
                match m.record(o, a, false) {
                    Ok(c) => {
                        got.expect("notify on a live object");
                        let want = m.deliver(&[c], false);
                        prop_assert_eq!(sorted(fires.clone()), want);
                        prop_assert_eq!(registered.len() + refused.len(), fires.len());
                        // A dead object refuses; otherwise only the storm policy, which
                        // moves during the wave, may.
                        for e in &refused {
                            let dead = |x: &ObjectId| m.obj(*x).is_some_and(|mo| !mo.alive);
                            prop_assert!(
                                matches!(e, Error::Unstable { .. })
                                    || matches!(e, Error::StaleObject(x) if dead(x)),
                                "refused: {e:?}"
                            );
                        }
                        // Replacements joined after the wave's snapshot: none fired.
                        for id in registered {
                            prop_assert!(seen_units.insert(id), "unit ID {id:?} handed out twice");
                            prop_assert!(g.is_valid(id));
                            m.units.push(MUnit {
                                id,
                                deps: deps.iter().copied().collect(),
                                policy: Policy::Invalidate,
                                alive: true,
                            });
                        }
                    }
                    Err(e) => prop_assert_eq!(got, Err(e)),
                }
            }
            Op::NotifyPanicking(o, a) => {
                let Some(o) = pick(&m, o) else { continue };
                let a = ASPECTS[a];
                let mut fires = Vec::new();
                let got = catch_unwind(AssertUnwindSafe(|| {
                    g.notify(o, a, label_of(a), &mut |_g, fire: Fire<'_, Policy>| {
                        record_fire(&mut fires, &fire);
                        panic!("handler panic (expected by the model test)");
                    })
                }));
                let panicked = got.is_err();
                // Deliver what the panic left queued.
                let report = g.deliver(&mut answer(&mut fires));
                prop_assert!(!report.deferred);
                prop_assert_eq!(g.pending_fires(), 0);
                match m.record(o, a, false) {
                    Ok(c) => {
                        let want = m.deliver(&[c], true);
                        prop_assert_eq!(panicked, !want.is_empty());
                        prop_assert_eq!(sorted(fires), want);
                    }
                    Err(e) => {
                        prop_assert!(!panicked);
                        prop_assert_eq!(got.unwrap(), Err(e));
                    }
                }
            }
            Op::NotifyChained(o, a, p, b) => {
                let (Some(o), Some(p)) = (pick(&m, o), pick(&m, p)) else {
                    continue;
                };
                let (a, b) = (ASPECTS[a], ASPECTS[b]);
                let mut fires = Vec::new();
                let mut chained = false;
                let mut chained_result = Ok(());
                let got = g.notify(
                    o,
                    a,
                    label_of(a),
                    &mut |g: &mut Graph<Policy>, fire: Fire<'_, Policy>| {
                        record_fire(&mut fires, &fire);
                        if !chained {
                            chained = true;
                            chained_result = g.notify_deferred(p, b, label_of(b));
                            // Delivery from inside a handler is deferred to the outer loop.
                            assert!(g.deliver(&mut |_, _| Verdict::Invalidate).deferred);
                        }
                        fire.payload.verdict()
                    },
                );
                match m.record(o, a, false) {
                    Ok(c) => {
                        got.expect("notify on a live object");
                        let mut want = m.deliver(&[c], false);
                        prop_assert_eq!(chained, !want.is_empty());
                        if chained {
                            let c2 = m.record(p, b, false);
                            prop_assert_eq!(chained_result, c2.clone().map(|_| ()));
                            if let Ok(c2) = c2 {
                                want.extend(sorted(m.deliver(&[c2], false)));
                            }
                        }
                        // Stable sorts keep a unit's first-wave fire before its chained one.
                        prop_assert_eq!(sorted(fires), sorted(want));
                    }
                    Err(e) => prop_assert_eq!(got, Err(e)),
                }
            }
            Op::Batch(events) => {
                if m.objects.is_empty() {
                    continue;
                }
                let mut fires = Vec::new();
                g.begin_batch();
                let mut causes = Vec::new();
                for (destroy, o, a) in events {
                    let o = pick(&m, o).unwrap();
                    let a = if destroy { Aspect::Whole } else { ASPECTS[a] };
                    let got = if destroy {
                        g.destroy(o, &mut answer(&mut fires)).map(|r| r.deferred)
                    } else {
                        g.notify(o, a, label_of(a), &mut answer(&mut fires))
                            .map(|r| r.deferred)
                    };
                    match m.record(o, a, destroy) {
                        Ok(c) => {
                            prop_assert_eq!(got, Ok(true), "fires are held in a batch");
                            causes.push(c);
                        }
                        Err(e) => prop_assert_eq!(got, Err(e)),
                    }
                    prop_assert!(fires.is_empty());
                }
                g.end_batch(&mut answer(&mut fires)).expect("batch open");
                prop_assert_eq!(g.end_batch(&mut answer(&mut fires)), Err(Error::NoBatch));
                let want = m.deliver(&causes, false);
                prop_assert_eq!(sorted(fires), want);
            }
            Op::ResetStability(o, a) => {
                let Some(o) = pick(&m, o) else { continue };
                let a = ASPECTS[a];
                let got = g.reset_stability(o, a);
                if m.obj(o).unwrap().alive {
                    prop_assert_eq!(got, Ok(()));
                    let mo = m.obj_mut(o);
                    if a == Aspect::Whole {
                        mo.fires = 0;
                        mo.unstable = false;
                    } else {
                        mo.key_fires.remove(&a);
                    }
                } else {
                    prop_assert_eq!(got, Err(Error::StaleObject(o)));
                }
            }
        }
        check(&g, &m)?;
    }
    Ok(())
}

/// The invariants compared after every operation.
fn check(g: &Graph<Policy>, m: &Model) -> Result<(), TestCaseError> {
    let mut edges = 0;
    for u in &m.units {
        prop_assert_eq!(g.is_valid(u.id), u.alive, "validity of {:?}", u.id);
        if u.alive {
            edges += u.deps.len();
            let mut want: Vec<Dependency> = u
                .deps
                .iter()
                .map(|&(object, aspect, site)| Dependency {
                    object,
                    aspect,
                    site,
                })
                .collect();
            want.sort_by_key(|d| (d.object, d.site));
            let mut got = g.dependencies(u.id).unwrap();
            got.sort_by_key(|d| (d.object, d.site));
            let got: HashSet<Dependency> = got.into_iter().collect();
            let want: HashSet<Dependency> = want.into_iter().collect();
            prop_assert_eq!(got, want);
        } else {
            prop_assert_eq!(g.payload(u.id), Err(Error::StaleUnit(u.id)));
        }
    }
    let stats = g.stats();
    prop_assert_eq!(stats.live_units, m.units.iter().filter(|u| u.alive).count());
    prop_assert_eq!(stats.live_edges, edges);
    prop_assert_eq!(stats.pending_units, 0);
    for o in &m.objects {
        if o.alive {
            prop_assert_eq!(g.version(o.id), Ok(o.version));
            for a in ASPECTS {
                let stable = !o.unstable && (a == Aspect::Whole || !m.key_unstable(o, a));
                prop_assert_eq!(
                    g.is_stable(o.id, a),
                    Ok(stable),
                    "stability of {:?} {:?}",
                    o.id,
                    a
                );
                let mut want: Vec<UnitId> = m
                    .units
                    .iter()
                    .filter(|u| u.alive && u.deps.iter().any(|&(d, da, _)| d == o.id && a.hits(da)))
                    .map(|u| u.id)
                    .collect();
                want.sort();
                prop_assert_eq!(g.would_fire(o.id, a), Ok(!want.is_empty()));
                prop_assert_eq!(g.dependents(o.id, a), Ok(want));
            }
            let watched = m
                .units
                .iter()
                .any(|u| u.alive && u.deps.iter().any(|d| d.0 == o.id));
            prop_assert_eq!(g.is_watched(o.id), Ok(watched));
        } else {
            prop_assert_eq!(g.version(o.id), Err(Error::StaleObject(o.id)));
            prop_assert_eq!(
                g.would_fire(o.id, Aspect::Whole),
                Err(Error::StaleObject(o.id))
            );
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("DEPWATCH_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn graph_matches_model(
        threshold in prop_oneof![Just(0u32), Just(2), Just(3), Just(6)],
        max_reuse in prop_oneof![Just(1u32), Just(2), Just(depwatch::DEFAULT_MAX_SLOT_REUSE)],
        ops in prop::collection::vec(op(SPREAD), 1..200),
    ) {
        run(threshold, max_reuse, ops)?;
    }

    /// Large cells: waves that fire many units sharing heap-held sets (vectors and
    /// roaring bitmaps), with recompiles into the slots they free.
    #[test]
    fn graph_matches_model_with_crowded_cells(
        threshold in prop_oneof![Just(0u32), Just(6)],
        max_reuse in prop_oneof![Just(1u32), Just(depwatch::DEFAULT_MAX_SLOT_REUSE)],
        ops in prop::collection::vec(op(CROWDED), 1..300),
    ) {
        run(threshold, max_reuse, ops)?;
    }
}
