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
use std::sync::{Arc, Mutex};

use depwatch::{
    Aspect, Attr, Config, Dep, Dependency, Error, Fire, Graph, Kind, ObjectId, Site, StormCount,
    Ticket, UnitId, Verdict,
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
    /// An event whose handlers call back into the graph: the handler of the wave's
    /// fire number `i` does the actions of `actions[i]` in order, the list repeating
    /// over the wave's fires (a VM recompiling, then freeing the old code, say). With
    /// `crowded`, the event is a whole-object
    /// event on an object a live unit depends on, so the wave fires several units.
    NotifyReentrant {
        event: (usize, usize),
        crowded: bool,
        actions: Vec<Vec<Action>>,
    },
    Batch(Vec<Step>),
    ResetStability(usize, usize),
    /// Track an object in a second graph, whose IDs overlap this one's.
    TrackOther,
    /// Ask this graph about an ID from the second graph.
    ForeignId(usize),
    /// Register in this graph with a ticket from the second.
    ForeignTicket(usize, usize),
}

/// What one handler does from inside a delivery, besides answering.
#[derive(Clone, Debug)]
enum Action {
    Nothing,
    /// A VM recompiling: registers a unit, often into a slot the wave just freed and,
    /// with `own_key`, onto the cell the event hit.
    Recompile {
        deps: Vec<(usize, usize, Site)>,
        own_key: bool,
    },
    /// Raises another event, queued behind the wave.
    Notify(usize, usize),
    /// Destroys an object: a VM freeing code that held the last reference to a dict,
    /// whose DEALLOCATED event comes at once. With `unwatched`, the first live object
    /// from `object` on that was watched when the delivery began and has lost its last
    /// dependent since (if any): the order of events that once sent `Unwatch` for a
    /// dead dict.
    Destroy {
        object: usize,
        unwatched: bool,
    },
}

/// One call inside an open batch.
#[derive(Clone, Debug)]
enum Step {
    Event {
        destroy: bool,
        object: usize,
        aspect: usize,
    },
    Unregister(usize),
    /// May reclaim an emptied cell, whose slot a later registration then takes.
    Reset(usize, usize),
    Register(Vec<(usize, usize, Site)>, Policy),
    /// Unregisters every unit with an edge on (object, aspect), then resets its
    /// stability: the emptied cell is reclaimed, and the next new cell takes its slot.
    Reclaim(usize, usize),
}

/// The operation mix: how often objects are tracked and units registered, and at most
/// how many dependencies a unit has.
#[derive(Clone, Copy)]
struct Mix {
    track: u32,
    register: u32,
    max_deps: usize,
    /// Weight of events whose handlers call back into the graph.
    reentrant: u32,
}

/// Many objects, units of a few dependencies: most cells hold a handful of units.
const SPREAD: Mix = Mix {
    track: 3,
    register: 5,
    max_deps: 5,
    reentrant: 4,
};

/// Few objects and many units of up to 12 dependencies: cells grow past the inline set
/// onto the heap, and waves fire many units that share their other cells.
const CROWDED: Mix = Mix {
    track: 1,
    register: 14,
    max_deps: 13,
    reentrant: 4,
};

/// Few objects, units of one to three dependencies, and mostly reentrant events: an
/// object often loses its last dependent in the middle of a wave whose later handlers
/// register and destroy.
const REENTRANT: Mix = Mix {
    track: 2,
    register: 8,
    max_deps: 4,
    reentrant: 12,
};

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::Invalidate),
        Just(Policy::Patch),
        Just(Policy::Rearm)
    ]
}

fn step(mix: Mix) -> impl Strategy<Value = Step> {
    let obj = 0usize..64;
    let aspect = 0usize..ASPECTS.len();
    prop_oneof![
        6 => (prop::bool::weighted(0.1), obj.clone(), aspect.clone())
            .prop_map(|(destroy, object, aspect)| Step::Event { destroy, object, aspect }),
        2 => (0usize..64).prop_map(Step::Unregister),
        2 => (obj.clone(), aspect.clone()).prop_map(|(o, a)| Step::Reset(o, a)),
        2 => (obj.clone(), aspect.clone()).prop_map(|(o, a)| Step::Reclaim(o, a)),
        2 => (
            prop::collection::vec((obj, aspect, 0u32..3), 1..mix.max_deps.max(2)),
            policy(),
        )
            .prop_map(|(deps, policy)| Step::Register(deps, policy)),
    ]
}

fn action(mix: Mix) -> impl Strategy<Value = Action> {
    let obj = 0usize..64;
    let aspect = 0usize..ASPECTS.len();
    prop_oneof![
        1 => Just(Action::Nothing),
        3 => (
            prop::collection::vec((obj.clone(), aspect.clone(), 0u32..3), 1..mix.max_deps.max(2)),
            prop::bool::weighted(0.7),
        )
            .prop_map(|(deps, own_key)| Action::Recompile { deps, own_key }),
        1 => (obj.clone(), aspect).prop_map(|(o, a)| Action::Notify(o, a)),
        3 => (obj, prop::bool::weighted(0.7))
            .prop_map(|(object, unwatched)| Action::Destroy { object, unwatched }),
    ]
}

fn op(mix: Mix) -> impl Strategy<Value = Op> {
    let obj = 0usize..64;
    let aspect = 0usize..ASPECTS.len();
    prop_oneof![
        mix.track => Just(Op::Track),
        1 => obj.clone().prop_map(Op::Destroy),
        mix.register => (
            prop::collection::vec((obj.clone(), aspect.clone(), 0u32..3), 0..mix.max_deps),
            policy(),
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
        mix.reentrant => (
            (obj.clone(), aspect.clone()),
            prop::bool::weighted(0.6),
            prop::collection::vec(prop::collection::vec(action(mix), 1..3), 0..6),
        )
            .prop_map(|(event, crowded, actions)| Op::NotifyReentrant {
                event,
                crowded,
                actions
            }),
        2 => prop::collection::vec(step(mix), 0..8).prop_map(Op::Batch),
        1 => (obj.clone(), aspect.clone()).prop_map(|(o, a)| Op::ResetStability(o, a)),
        1 => Just(Op::TrackOther),
        1 => (0usize..64).prop_map(Op::ForeignId),
        1 => (obj, aspect).prop_map(|(o, a)| Op::ForeignTicket(o, a)),
    ]
}

/// A fire as both sides report it: the unit and its sorted (edge, cause) hits.
/// A fire as both sides report it: the unit, its sorted (edge, cause) hits, and its
/// distinct causes in the order the events happened.
type CauseKey = (ObjectId, Aspect, &'static str, bool);
type FireRecord = (UnitId, Vec<(Dependency, CauseKey)>, Vec<CauseKey>);

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
    /// The model epoch at registration: only events recorded later can fire it.
    born: u64,
}

struct Model {
    threshold: u32,
    /// Every event counts toward the storm policy, not only effective ones.
    count_every: bool,
    epoch: u64,
    objects: Vec<MObject>,
    units: Vec<MUnit>,
}

/// Counts one event toward the storm policy of (`m`, `a`).
fn bump(m: &mut MObject, a: Aspect, threshold: u32) {
    if a == Aspect::Whole {
        m.fires += 1;
        m.unstable |= m.fires >= threshold;
    } else {
        *m.key_fires.entry(a).or_default() += 1;
    }
}

/// An event as the model recorded it: its cause and the epoch it happened at.
type Event = (CauseKey, u64);

impl Model {
    fn obj(&self, id: ObjectId) -> Option<&MObject> {
        self.objects.iter().find(|o| o.id == id)
    }

    fn obj_mut(&mut self, id: ObjectId) -> &mut MObject {
        self.objects.iter_mut().find(|o| o.id == id).unwrap()
    }

    fn is_alive(&self, id: ObjectId) -> bool {
        self.obj(id).is_some_and(|o| o.alive)
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

    /// Records an event (version, epoch) and returns it, or the error.
    fn record(&mut self, o: ObjectId, a: Aspect, destroyed: bool) -> Result<Event, Error> {
        if !self.is_alive(o) {
            return Err(Error::StaleObject(o));
        }
        self.epoch += 1;
        let epoch = self.epoch;
        let (t, every) = (self.threshold, self.count_every);
        let m = self.obj_mut(o);
        m.version += 1;
        m.changed_at = epoch;
        if destroyed {
            m.alive = false;
        } else if every && t > 0 {
            bump(m, a, t);
        }
        let label = if destroyed { "destroyed" } else { label_of(a) };
        Ok(((o, a, label, destroyed), epoch))
    }

    /// Delivers one wave of events: each live unit hit by an event recorded after it
    /// was registered fires once with all its hits.
    /// `panic_first`: the first fire (in unit ID order) counts as a panic → invalidate.
    fn deliver(&mut self, events: &[Event], panic_first: bool) -> Vec<FireRecord> {
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
            let born = self.units[i].born;
            for &(o, a, s) in &self.units[i].deps {
                for (ci, &(c, epoch)) in events.iter().enumerate() {
                    if epoch > born && c.0 == o && c.1.hits(a) {
                        let dependency = Dependency {
                            object: o,
                            aspect: a,
                            site: s,
                        };
                        hits.push((dependency, c));
                        hit_causes.insert(ci);
                    }
                }
            }
            if hits.is_empty() {
                continue;
            }
            hits.sort_by_key(|(d, c)| (*d, c.1 == Aspect::Whole, c.2));
            let causes = hit_causes.iter().map(|&ci| events[ci].0).collect();
            fires.push((self.units[i].id, hits.clone(), causes));
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
            let ((o, a, _, destroyed), _) = events[ci];
            if destroyed || self.threshold == 0 || self.count_every || !self.is_alive(o) {
                continue;
            }
            let t = self.threshold;
            bump(self.obj_mut(o), a, t);
        }
        fires
    }

    /// Whether a live unit depends on the object: what the VM's watched flag must say.
    fn watched(&self, o: ObjectId) -> bool {
        self.units
            .iter()
            .any(|u| u.alive && u.deps.iter().any(|d| d.0 == o))
    }
}

fn label_of(a: Aspect) -> &'static str {
    match a {
        Aspect::Whole => "whole",
        Aspect::Key(_) => "key",
        Aspect::Attr(_) => "attr",
    }
}

fn cause_key(c: &depwatch::Cause) -> CauseKey {
    (c.object, c.aspect, c.label, c.destroyed)
}

fn record_fire(fires: &mut Vec<FireRecord>, fire: &Fire<'_, Policy>) {
    let mut hits: Vec<(Dependency, CauseKey)> = fire
        .hits
        .iter()
        .map(|h| (h.dependency, cause_key(h.cause)))
        .collect();
    hits.sort_by_key(|(d, c)| (*d, c.1 == Aspect::Whole, c.2));
    let causes = fire.causes().into_iter().map(cause_key).collect();
    fires.push((fire.unit, hits, causes));
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
    v.sort_by_key(|(u, _, _)| *u);
    v
}

/// The watch hook's reports, as a VM would queue them.
type WatchLog = Arc<Mutex<Vec<(ObjectId, bool)>>>;

/// The VM's side of the watch hook: which objects it watches, from the reports alone.
#[derive(Default)]
struct VmWatch {
    watching: HashSet<ObjectId>,
}

impl VmWatch {
    /// Applies the reports queued since the last call, as a VM draining its queue after
    /// a graph call.
    ///
    /// * An `Unwatch` is reported at the end of the graph call, so its object is live
    ///   now. A `Watch` is reported when the first dependent is registered, and a later
    ///   handler of the same delivery may have destroyed the object since.
    /// * The reports for live objects (what `WatchRequests::drain_live` keeps) flip the
    ///   VM's flag each time, and afterwards the VM watches exactly the live objects
    ///   that have dependents.
    fn drain(&mut self, log: &WatchLog, m: &Model) -> Result<(), TestCaseError> {
        for (o, watched) in std::mem::take(&mut *log.lock().unwrap()) {
            if !m.is_alive(o) {
                prop_assert!(watched, "an Unwatch for the dead object {o:?}");
                continue;
            }
            if watched {
                prop_assert!(self.watching.insert(o), "Watch twice for {o:?}");
            } else {
                prop_assert!(self.watching.remove(&o), "Unwatch without Watch for {o:?}");
            }
        }
        self.watching.retain(|&o| m.is_alive(o));
        for o in &m.objects {
            let want = o.alive && m.watched(o.id);
            prop_assert_eq!(
                self.watching.contains(&o.id),
                want,
                "the VM's watched flag of {:?}",
                o.id
            );
        }
        Ok(())
    }

    /// Whether the reports so far (not yet drained) leave `o` watched.
    fn would_watch(&self, log: &WatchLog, o: ObjectId) -> bool {
        let last = log.lock().unwrap().iter().rev().find(|r| r.0 == o).copied();
        last.map_or(self.watching.contains(&o), |r| r.1)
    }
}

/// Everything one model run carries besides the graph and the model.
struct Run {
    tickets: Vec<(Ticket, u64)>,
    seen_objects: HashSet<ObjectId>,
    seen_units: HashSet<UnitId>,
    log: WatchLog,
    vm: VmWatch,
    /// The second graph and the objects tracked in it.
    other: Graph<Policy>,
    other_objects: Vec<ObjectId>,
}

fn pick(m: &Model, i: usize) -> Option<ObjectId> {
    m.objects.get(i % m.objects.len().max(1)).map(|o| o.id)
}

fn resolve(m: &Model, deps: Vec<(usize, usize, Site)>) -> Vec<(ObjectId, Aspect, Site)> {
    deps.into_iter()
        .map(|(o, a, s)| (pick(m, o).unwrap(), ASPECTS[a], s))
        .collect()
}

/// One registration, checked against the model (which records the unit if accepted).
fn register(
    g: &mut Graph<Policy>,
    m: &mut Model,
    r: &mut Run,
    deps: Vec<(ObjectId, Aspect, Site)>,
    policy: Policy,
    ticket: Option<(Ticket, u64)>,
    by_handle: bool,
) -> Result<(), TestCaseError> {
    let want = m.check_register(&deps, ticket.map(|t| t.1));
    let got = if by_handle {
        // Resolve every handle first; a dead object has none, and the model must refuse
        // the registration too.
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
                return Ok(());
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
            prop_assert!(r.seen_units.insert(id), "unit ID {id:?} handed out twice");
            m.units.push(MUnit {
                id,
                deps: deps.into_iter().collect(),
                policy,
                alive: true,
                born: m.epoch,
            });
        }
        (Err(rej), Err(e)) => {
            prop_assert_eq!(rej.error, e);
            prop_assert_eq!(rej.payload, policy, "payload handed back");
        }
        (got, want) => prop_assert!(
            false,
            "register: got {:?}, want {:?}",
            got.map_err(|r| r.error),
            want
        ),
    }
    Ok(())
}

fn unregister(g: &mut Graph<Policy>, m: &mut Model, u: usize) -> Result<(), TestCaseError> {
    let n = m.units.len().max(1);
    let Some(mu) = m.units.get_mut(u % n) else {
        return Ok(());
    };
    let got = g.unregister(mu.id);
    if mu.alive {
        prop_assert_eq!(got, Ok(mu.policy));
        mu.alive = false;
    } else {
        prop_assert_eq!(got, Err(Error::StaleUnit(mu.id)));
    }
    Ok(())
}

fn reset(
    g: &mut Graph<Policy>,
    m: &mut Model,
    o: ObjectId,
    a: Aspect,
) -> Result<(), TestCaseError> {
    let got = g.reset_stability(o, a);
    if m.is_alive(o) {
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
    Ok(())
}

fn run(
    (threshold, storm_counts): (u32, StormCount),
    max_reuse: u32,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let config = Config {
        storm_threshold: threshold,
        storm_counts,
        max_slot_reuse: max_reuse,
    };
    let mut g: Graph<Policy> = Graph::with_config(config);
    let mut m = Model {
        threshold,
        count_every: storm_counts == StormCount::Every,
        epoch: 0,
        objects: Vec::new(),
        units: Vec::new(),
    };
    let mut r = Run {
        tickets: Vec::new(),
        seen_objects: HashSet::new(),
        seen_units: HashSet::new(),
        log: WatchLog::default(),
        vm: VmWatch::default(),
        other: Graph::with_config(config),
        other_objects: Vec::new(),
    };
    let sink = r.log.clone();
    g.set_watch_hook(move |c| sink.lock().unwrap().push((c.object, c.watched)));

    for op in ops {
        match op {
            Op::Track => {
                let id = g.track(Kind::Dict, m.objects.len() as u64);
                m.epoch += 1; // tracking counts as a change for tickets
                prop_assert!(
                    r.seen_objects.insert(id),
                    "object ID {id:?} handed out twice"
                );
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
                let deps = resolve(&m, deps);
                let n = r.tickets.len().max(1);
                let ticket = ticket.and_then(|t| r.tickets.get(t % n).copied());
                register(&mut g, &mut m, &mut r, deps, policy, ticket, by_handle)?;
            }
            Op::TakeTicket => r.tickets.push((g.ticket(), m.epoch)),
            Op::Unregister(u) => unregister(&mut g, &mut m, u)?,
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
            Op::NotifyReentrant {
                event: (oi, a),
                crowded,
                actions,
            } => {
                let Some(mut o) = pick(&m, oi) else { continue };
                let mut a = ASPECTS[a];
                let live: Vec<&MUnit> = m.units.iter().filter(|u| u.alive).collect();
                // A unit patched off all its edges has no dependency left to aim at.
                let aim = (!live.is_empty())
                    .then(|| live[oi % live.len()].deps.iter().map(|d| d.0).min())
                    .flatten();
                if let Some(target) = aim.filter(|_| crowded) {
                    (o, a) = (target, Aspect::Whole);
                }
                // The model's wave first: it tells how many fires the actions run in.
                let c = match m.record(o, a, false) {
                    Ok(c) => c,
                    Err(e) => {
                        let got = g.notify(o, a, label_of(a), &mut |_, _| Verdict::Invalidate);
                        prop_assert_eq!(got, Err(e));
                        continue;
                    }
                };
                let want = m.deliver(&[c], false);
                let n = want.len();
                // The list is repeated over the wave's fires, and flattened: action `j`
                // runs in fire `fire_of[j]`.
                let (mut fire_of, mut flat) = (Vec::new(), Vec::new());
                for i in (0..n).filter(|_| !actions.is_empty()) {
                    for act in &actions[i % actions.len()] {
                        fire_of.push(i);
                        flat.push(act.clone());
                    }
                }
                let actions = flat;
                // Resolved before the call: objects destroyed by earlier actions stay
                // in the list, and the graph must refuse them.
                let recompiles: Vec<Vec<(ObjectId, Aspect, Site)>> = actions
                    .iter()
                    .map(|act| match act {
                        Action::Recompile { deps, own_key } => {
                            let mut deps = resolve(&m, deps.clone());
                            if *own_key {
                                (deps[0].0, deps[0].1) = (o, a);
                            }
                            deps
                        }
                        _ => Vec::new(),
                    })
                    .collect();
                let picked: Vec<Option<ObjectId>> = actions
                    .iter()
                    .map(|act| match act {
                        Action::Notify(p, _) | Action::Destroy { object: p, .. } => pick(&m, *p),
                        _ => None,
                    })
                    .collect();
                let live_objects: Vec<ObjectId> =
                    m.objects.iter().filter(|x| x.alive).map(|x| x.id).collect();
                let mut destroyed: Vec<Option<ObjectId>> = vec![None; actions.len()];
                let mut fires = Vec::new();
                let mut outcomes: Vec<Result<Option<UnitId>, Error>> = Vec::new();
                let mut unwatched_after_register = Vec::new();
                let (mut count, mut next) = (0, 0);
                let (log, vm) = (&r.log, &r.vm);
                let got = g.notify(
                    o,
                    a,
                    label_of(a),
                    &mut |g: &mut Graph<Policy>, fire: Fire<'_, Policy>| {
                        record_fire(&mut fires, &fire);
                        let fire_no = count;
                        count += 1;
                        while next < actions.len() && fire_of[next] == fire_no {
                            let i = next;
                            next += 1;
                            let outcome = match &actions[i] {
                                Action::Nothing => Ok(None),
                                Action::Recompile { .. } => {
                                    let deps = &recompiles[i];
                                    let list = deps.iter().map(|&(p, b, s)| Dep::new(p, b).at(s));
                                    match g.register(list, Policy::Invalidate) {
                                        Ok(id) => {
                                            // The VM was told to watch every object the new
                                            // unit depends on before `register` returned.
                                            unwatched_after_register.extend(
                                                deps.iter()
                                                    .map(|d| d.0)
                                                    .filter(|&d| !vm.would_watch(log, d)),
                                            );
                                            Ok(Some(id))
                                        }
                                        Err(r) => Err(r.error),
                                    }
                                }
                                Action::Notify(_, b) => {
                                    let b = ASPECTS[*b];
                                    let p = picked[i].unwrap();
                                    g.notify_deferred(p, b, label_of(b)).map(|()| None)
                                }
                                Action::Destroy { unwatched, .. } => {
                                    let mut p = picked[i].unwrap();
                                    if *unwatched {
                                        // Watched when the delivery began, unwatched now.
                                        let live = live_objects.iter().cycle();
                                        let from = live_objects.iter().position(|&x| x == p);
                                        p = live
                                            .skip(from.unwrap_or(0))
                                            .take(live_objects.len())
                                            .copied()
                                            .find(|&x| {
                                                vm.watching.contains(&x)
                                                    && g.is_watched(x) == Ok(false)
                                            })
                                            .unwrap_or(p);
                                    }
                                    destroyed[i] = Some(p);
                                    g.destroy(p, &mut |_, _| Verdict::Invalidate).map(|r| {
                                        assert!(r.deferred, "delivery from a handler is deferred");
                                        None
                                    })
                                }
                            };
                            outcomes.push(outcome);
                        }
                        fire.payload.verdict()
                    },
                );
                got.expect("notify on a live object");
                prop_assert_eq!(unwatched_after_register, Vec::<ObjectId>::new());
                prop_assert!(
                    fires.len() >= n,
                    "the first wave fired {} of {}",
                    fires.len(),
                    n
                );
                let later = fires.split_off(n);
                prop_assert_eq!(sorted(fires), want);
                // Now the actions, in the order they ran, on the model; events they
                // raised are delivered after the wave, one wave each, in order.
                let mut queued = Vec::new();
                for (i, (act, outcome)) in actions.iter().zip(outcomes).enumerate() {
                    match act {
                        Action::Nothing => prop_assert_eq!(outcome, Ok(None)),
                        Action::Recompile { .. } => match outcome {
                            Ok(Some(id)) => {
                                prop_assert!(r.seen_units.insert(id), "unit {id:?} twice");
                                m.units.push(MUnit {
                                    id,
                                    deps: recompiles[i].iter().copied().collect(),
                                    policy: Policy::Invalidate,
                                    alive: true,
                                    born: m.epoch,
                                });
                            }
                            // The storm policy moves during the wave, so the model (which
                            // counts the whole wave) cannot say exactly when it refuses,
                            // nor which dependency a refusal names first.
                            Err(Error::Unstable { .. }) => {}
                            Err(Error::StaleObject(x)) => prop_assert!(
                                !m.is_alive(x) && recompiles[i].iter().any(|d| d.0 == x),
                                "refused for {x:?}, which is live or not a dependency"
                            ),
                            Err(e) => prop_assert!(false, "refused: {e:?}"),
                            Ok(None) => prop_assert!(false, "registered nothing"),
                        },
                        Action::Notify(_, b) => {
                            let b = ASPECTS[*b];
                            let c = m.record(picked[i].unwrap(), b, false);
                            prop_assert_eq!(outcome, c.clone().map(|_| None));
                            queued.extend(c);
                        }
                        Action::Destroy { .. } => {
                            let c = m.record(destroyed[i].unwrap(), Aspect::Whole, true);
                            prop_assert_eq!(outcome, c.clone().map(|_| None));
                            queued.extend(c);
                        }
                    }
                }
                let mut want_later = Vec::new();
                for c in queued {
                    want_later.extend(sorted(m.deliver(&[c], false)));
                }
                prop_assert_eq!(later, want_later);
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
            Op::Batch(steps) => {
                if m.objects.is_empty() {
                    continue;
                }
                let mut fires = Vec::new();
                g.begin_batch();
                let mut events = Vec::new();
                for step in steps {
                    match step {
                        Step::Event {
                            destroy,
                            object,
                            aspect,
                        } => {
                            let o = pick(&m, object).unwrap();
                            let a = if destroy {
                                Aspect::Whole
                            } else {
                                ASPECTS[aspect]
                            };
                            let got = if destroy {
                                g.destroy(o, &mut answer(&mut fires)).map(|r| r.deferred)
                            } else {
                                g.notify(o, a, label_of(a), &mut answer(&mut fires))
                                    .map(|r| r.deferred)
                            };
                            match m.record(o, a, destroy) {
                                Ok(c) => {
                                    prop_assert_eq!(got, Ok(true), "fires are held in a batch");
                                    events.push(c);
                                }
                                Err(e) => prop_assert_eq!(got, Err(e)),
                            }
                        }
                        Step::Unregister(u) => unregister(&mut g, &mut m, u)?,
                        Step::Reset(o, a) => {
                            let o = pick(&m, o).unwrap();
                            reset(&mut g, &mut m, o, ASPECTS[a])?;
                        }
                        Step::Reclaim(o, a) => {
                            let (o, a) = (pick(&m, o).unwrap(), ASPECTS[a]);
                            let on_cell: Vec<usize> = (0..m.units.len())
                                .filter(|&i| {
                                    m.units[i].alive
                                        && m.units[i].deps.iter().any(|d| (d.0, d.1) == (o, a))
                                })
                                .collect();
                            for i in on_cell {
                                unregister(&mut g, &mut m, i)?;
                            }
                            reset(&mut g, &mut m, o, a)?;
                        }
                        Step::Register(deps, policy) => {
                            let deps = resolve(&m, deps);
                            register(&mut g, &mut m, &mut r, deps, policy, None, false)?;
                        }
                    }
                    prop_assert!(fires.is_empty());
                    r.vm.drain(&r.log, &m)?;
                }
                g.end_batch(&mut answer(&mut fires)).expect("batch open");
                prop_assert_eq!(g.end_batch(&mut answer(&mut fires)), Err(Error::NoBatch));
                let want = m.deliver(&events, false);
                prop_assert_eq!(sorted(fires), want);
            }
            Op::ResetStability(o, a) => {
                let Some(o) = pick(&m, o) else { continue };
                reset(&mut g, &mut m, o, ASPECTS[a])?;
            }
            Op::TrackOther => {
                let id = r.other.track(Kind::Function, r.other_objects.len() as u64);
                r.other_objects.push(id);
            }
            Op::ForeignId(i) => {
                let Some(&id) = r.other_objects.get(i % r.other_objects.len().max(1)) else {
                    continue;
                };
                // No graph tag: the ID names this graph's object with the same ID, if
                // one is live, and is stale otherwise.
                match m.obj(id).filter(|o| o.alive) {
                    Some(o) => {
                        prop_assert_eq!(g.version(id), Ok(o.version));
                        prop_assert_eq!(g.kind(id), Ok(Kind::Dict));
                    }
                    None => {
                        prop_assert_eq!(g.version(id), Err(Error::StaleObject(id)));
                        prop_assert_eq!(g.kind(id), Err(Error::StaleObject(id)));
                    }
                }
            }
            Op::ForeignTicket(o, a) => {
                let Some(o) = pick(&m, o) else { continue };
                let t = r.other.ticket();
                let refused = g
                    .register_with_ticket(&t, [Dep::new(o, ASPECTS[a])], Policy::Rearm)
                    .unwrap_err();
                prop_assert_eq!(refused.error, Error::ForeignTicket);
            }
        }
        r.vm.drain(&r.log, &m)?;
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
            want.sort();
            prop_assert_eq!(g.dependencies(u.id).unwrap(), want, "in Dependency order");
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
            prop_assert_eq!(g.is_watched(o.id), Ok(m.watched(o.id)));
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

/// A storm threshold, with either way of counting toward it.
fn storm(threshold: impl Strategy<Value = u32>) -> impl Strategy<Value = (u32, StormCount)> {
    (
        threshold,
        prop_oneof![Just(StormCount::Effective), Just(StormCount::Every)],
    )
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
        threshold in storm(prop_oneof![Just(0u32), Just(2), Just(3), Just(6)]),
        max_reuse in prop_oneof![Just(1u32), Just(2), Just(depwatch::DEFAULT_MAX_SLOT_REUSE)],
        ops in prop::collection::vec(op(SPREAD), 1..200),
    ) {
        run(threshold, max_reuse, ops)?;
    }

    /// Deliveries whose handlers register, notify and destroy while objects lose
    /// their last dependents.
    #[test]
    fn graph_matches_model_with_reentrant_handlers(
        threshold in storm(prop_oneof![Just(0u32), Just(3)]),
        max_reuse in prop_oneof![Just(1u32), Just(depwatch::DEFAULT_MAX_SLOT_REUSE)],
        ops in prop::collection::vec(op(REENTRANT), 1..200),
    ) {
        run(threshold, max_reuse, ops)?;
    }

    /// Large cells: waves that fire many units sharing heap-held sets (vectors and
    /// roaring bitmaps), with recompiles into the slots they free.
    #[test]
    fn graph_matches_model_with_crowded_cells(
        threshold in storm(prop_oneof![Just(0u32), Just(6)]),
        max_reuse in prop_oneof![Just(1u32), Just(depwatch::DEFAULT_MAX_SLOT_REUSE)],
        ops in prop::collection::vec(op(CROWDED), 1..300),
    ) {
        run(threshold, max_reuse, ops)?;
    }
}
