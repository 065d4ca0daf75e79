//! The engines compared by the benchmarks, behind one trait so every workload runs
//! unchanged on each.
//!
//! * [`DepwatchEngine`]: this crate.
//! * [`CallbackEngine`]: per-object callback lists, one boxed callback per dependent
//!   unit and (object, key), as CPython's watchers plus per-subsystem maps, JSC
//!   watchpoint sets and Truffle assumptions are used. With eager cleanup (an
//!   invalidated unit is removed from every other list it is on) or lazy (a dead flag,
//!   checked when the callback runs).
//! * [`BloomScanEngine`]: CPython tier-2's scheme: a 256-bit bloom filter per unit with
//!   k = 6 over its dependency objects; each event on a watched object scans every live
//!   unit and invalidates each bloom hit, without re-checking.
//! * [`ReferenceEngine`]: the naive exact semantics of `FORMAT.md`, for the correctness
//!   gate.

use std::cell::Cell;
use std::rc::Rc;

use hashbrown::{HashMap, HashSet};

use depwatch::prefilter::mix;
use depwatch::{Aspect, Config, Dep, Graph, Kind, ObjectId, UnitId, Verdict};

/// What every engine does with trace events. Object and unit ids are the VM's (here,
/// the trace's); engines map them to their own structures.
pub trait Engine {
    /// The engine's name, as `--engine` spells it.
    fn name(&self) -> &'static str;
    /// An object is first seen (`O`). Engines may track it lazily.
    fn object(&mut self, obj: u64, kind: Kind);
    /// A unit is registered (`U`). Every object in `deps` was seen and is alive.
    fn register(&mut self, unit: u64, deps: &[(u64, Aspect)]);
    /// A unit is dropped without being invalidated (`X`). It may already be dead.
    fn drop_unit(&mut self, unit: u64);
    /// A mutation (`M`): append every unit it invalidates to `out`.
    fn mutate(&mut self, obj: u64, aspect: Aspect, label: &'static str, out: &mut Vec<u64>);
    /// An object dies (`D`): append every unit invalidated to `out`.
    fn destroy(&mut self, obj: u64, out: &mut Vec<u64>);
    /// A mutation answered by patching instead of invalidating: every live unit that
    /// depends on (`obj`, `aspect`) is appended to `out` once and stays live, and only
    /// its dependencies that this event hit are removed (a JIT that rewrites one load
    /// into a deopt, and keeps the rest of the unit). Returns `false`, doing nothing,
    /// if the engine cannot patch: CPython's bloom scan only ever invalidates whole
    /// executors.
    fn patch(&mut self, obj: u64, aspect: Aspect, out: &mut Vec<u64>) -> bool {
        let _ = (obj, aspect, out);
        false
    }
    /// Several mutations at once (a module import setting many globals). Engines
    /// without batching apply them one by one.
    fn mutate_batch(&mut self, events: &[(u64, Aspect)], out: &mut Vec<u64>) {
        for &(obj, aspect) in events {
            self.mutate(obj, aspect, "dict.ADDED", out);
        }
    }
    /// Live units.
    fn live_units(&self) -> usize;
}

/// The engine names, in report order.
pub const ENGINES: [&str; 4] = ["depwatch", "callbacks", "callbacks-lazy", "bloom-scan"];

/// A fresh engine by name (`"reference"` included).
pub fn engine(name: &str) -> Option<Box<dyn Engine>> {
    Some(match name {
        "depwatch" => Box::new(DepwatchEngine::new()),
        "callbacks" => Box::new(CallbackEngine::new(false)),
        "callbacks-lazy" => Box::new(CallbackEngine::new(true)),
        "bloom-scan" => Box::new(BloomScanEngine::new()),
        "reference" => Box::new(ReferenceEngine::default()),
        _ => return None,
    })
}

// ----- depwatch ------------------------------------------------------------------------

/// depwatch's graph, with objects tracked lazily (when a unit first depends on them).
/// The storm policy is off: exact replay accepts every registration. Objects are
/// tracked as [`Kind::Custom`]`(0)`: the `O` line's kind never changes what is
/// invalidated, and remembering it for every object seen would cost a map insert per
/// `O` line that the other engines do not pay (a real VM knows the kind when it tracks).
pub struct DepwatchEngine {
    graph: Graph<u64>,
    ids: HashMap<u64, ObjectId>,
    units: HashMap<u64, UnitId>,
}

impl DepwatchEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self {
            graph: Graph::with_config(Config {
                storm_threshold: 0,
                ..Config::default()
            }),
            ids: HashMap::new(),
            units: HashMap::new(),
        }
    }

    /// The graph, for statistics.
    pub fn graph(&self) -> &Graph<u64> {
        &self.graph
    }

    /// Drops the trace-id entries of the units invalidated into `out[from..]`.
    #[inline]
    fn forget(&mut self, out: &[u64], from: usize) {
        for u in &out[from..] {
            self.units.remove(u);
        }
    }
}

impl Default for DepwatchEngine {
    fn default() -> Self {
        Self::new()
    }
}

fn collect(
    out: &mut Vec<u64>,
) -> impl FnMut(&mut Graph<u64>, depwatch::Fire<'_, u64>) -> Verdict + '_ {
    |_, fire| {
        out.push(*fire.payload);
        Verdict::Invalidate
    }
}

impl Engine for DepwatchEngine {
    fn name(&self) -> &'static str {
        "depwatch"
    }

    fn object(&mut self, _obj: u64, _kind: Kind) {}

    fn register(&mut self, unit: u64, deps: &[(u64, Aspect)]) {
        let (graph, ids) = (&mut self.graph, &mut self.ids);
        let deps = deps.iter().map(|&(obj, aspect)| {
            let id = *ids
                .entry(obj)
                .or_insert_with(|| graph.track(Kind::Custom(0), obj));
            Dep::new(id, aspect)
        });
        let deps: Vec<Dep> = deps.collect();
        if let Ok(id) = self.graph.register(deps, unit) {
            self.units.insert(unit, id);
        }
    }

    fn drop_unit(&mut self, unit: u64) {
        if let Some(id) = self.units.remove(&unit) {
            let _ = self.graph.unregister(id);
        }
    }

    fn mutate(&mut self, obj: u64, aspect: Aspect, label: &'static str, out: &mut Vec<u64>) {
        if let Some(&id) = self.ids.get(&obj) {
            let from = out.len();
            let _ = self.graph.notify(id, aspect, label, &mut collect(out));
            self.forget(out, from);
        }
    }

    fn destroy(&mut self, obj: u64, out: &mut Vec<u64>) {
        if let Some(id) = self.ids.remove(&obj) {
            let from = out.len();
            let _ = self.graph.destroy(id, &mut collect(out));
            self.forget(out, from);
        }
    }

    fn patch(&mut self, obj: u64, aspect: Aspect, out: &mut Vec<u64>) -> bool {
        if let Some(&id) = self.ids.get(&obj) {
            let _ = self.graph.notify(id, aspect, "patch", &mut |_, fire| {
                out.push(*fire.payload);
                Verdict::Patched
            });
        }
        true
    }

    fn mutate_batch(&mut self, events: &[(u64, Aspect)], out: &mut Vec<u64>) {
        let from = out.len();
        self.graph.begin_batch();
        for &(obj, aspect) in events {
            if let Some(&id) = self.ids.get(&obj) {
                let _ = self.graph.notify_deferred(id, aspect, "dict.ADDED");
            }
        }
        let _ = self.graph.end_batch(&mut collect(out));
        self.forget(out, from);
    }

    fn live_units(&self) -> usize {
        self.graph.stats().live_units
    }
}

// ----- per-object callbacks ----------------------------------------------------------

/// A dependent's callback. The flag says whether the unit is patched (it survives,
/// minus this dependency) rather than invalidated.
type Callback = Box<dyn FnMut(&mut Vec<u64>, bool)>;

#[derive(Default)]
struct Watchers {
    whole: Vec<(u64, Callback)>,
    /// Key and attribute lists.
    keys: HashMap<Aspect, Vec<(u64, Callback)>>,
}

/// A unit's (object, aspect) registrations, and the dead flag its callbacks share.
type Registration = (Vec<(u64, Aspect)>, Rc<Cell<bool>>);

/// Per-object callback lists.
pub struct CallbackEngine {
    lazy: bool,
    objects: HashMap<u64, Watchers>,
    /// unit → its registrations and its dead flag.
    units: HashMap<u64, Registration>,
    live: usize,
}

impl CallbackEngine {
    /// `lazy`: dead flags instead of eager removal.
    pub fn new(lazy: bool) -> Self {
        Self {
            lazy,
            objects: HashMap::new(),
            units: HashMap::new(),
            live: 0,
        }
    }

    fn list(&mut self, obj: u64, aspect: Aspect) -> &mut Vec<(u64, Callback)> {
        let w = self.objects.entry(obj).or_default();
        match aspect {
            Aspect::Whole => &mut w.whole,
            keyed => w.keys.entry(keyed).or_default(),
        }
    }

    /// Eager cleanup: remove every callback of `unit` from every list it is on.
    fn unlink(&mut self, unit: u64) {
        let Some((regs, _)) = self.units.remove(&unit) else {
            return;
        };
        for (obj, aspect) in regs {
            if let Some(w) = self.objects.get_mut(&obj) {
                let list = match aspect {
                    Aspect::Whole => Some(&mut w.whole),
                    keyed => w.keys.get_mut(&keyed),
                };
                if let Some(list) = list {
                    list.retain(|(u, _)| *u != unit);
                }
            }
        }
    }

    /// Runs the callbacks an event on (`obj`, `aspect`) hits (`None`: every list of
    /// `obj`), then cleans up eagerly unless lazy.
    #[inline]
    fn fire(&mut self, obj: u64, aspect: Option<Aspect>, out: &mut Vec<u64>) {
        let from = out.len();
        if let Some(w) = self.objects.get_mut(&obj) {
            for (_, cb) in w.whole.iter_mut() {
                cb(out, false);
            }
            match aspect {
                Some(keyed) => {
                    if let Some(list) = w.keys.get_mut(&keyed) {
                        list.iter_mut().for_each(|(_, cb)| cb(out, false));
                    }
                }
                None => w
                    .keys
                    .values_mut()
                    .flatten()
                    .for_each(|(_, cb)| cb(out, false)),
            }
        }
        self.live -= out.len() - from;
        if !self.lazy {
            for &unit in &out[from..] {
                self.unlink(unit);
            }
        }
    }
}

impl Engine for CallbackEngine {
    fn name(&self) -> &'static str {
        if self.lazy {
            "callbacks-lazy"
        } else {
            "callbacks"
        }
    }

    fn object(&mut self, _obj: u64, _kind: Kind) {}

    fn register(&mut self, unit: u64, deps: &[(u64, Aspect)]) {
        let dead = Rc::new(Cell::new(false));
        for &(obj, aspect) in deps {
            let flag = dead.clone();
            // The callback a subsystem would install: invalidate this unit, once.
            let cb: Callback = Box::new(move |out: &mut Vec<u64>, patch: bool| {
                if !flag.get() {
                    flag.set(!patch);
                    out.push(unit);
                }
            });
            self.list(obj, aspect).push((unit, cb));
        }
        self.units.insert(unit, (deps.to_vec(), dead));
        self.live += 1;
    }

    fn drop_unit(&mut self, unit: u64) {
        let Some((_, dead)) = self.units.get(&unit) else {
            return;
        };
        if dead.get() {
            return;
        }
        dead.set(true);
        self.live -= 1;
        if !self.lazy {
            self.unlink(unit);
        }
    }

    fn mutate(&mut self, obj: u64, aspect: Aspect, _label: &'static str, out: &mut Vec<u64>) {
        let aspect = (aspect != Aspect::Whole).then_some(aspect);
        self.fire(obj, aspect, out);
    }

    fn destroy(&mut self, obj: u64, out: &mut Vec<u64>) {
        self.fire(obj, None, out);
        // The object's lists die with it.
        self.objects.remove(&obj);
    }

    /// The hit lists are taken and their callbacks run once, as a watchpoint set is
    /// cleared when it fires; each patched unit also forgets those registrations, so
    /// eager cleanup does not search for them later.
    fn patch(&mut self, obj: u64, aspect: Aspect, out: &mut Vec<u64>) -> bool {
        let from = out.len();
        let Some(w) = self.objects.get_mut(&obj) else {
            return true;
        };
        let mut fired = std::mem::take(&mut w.whole);
        match aspect {
            Aspect::Whole => fired.extend(w.keys.drain().flat_map(|(_, list)| list)),
            keyed => fired.extend(w.keys.remove(&keyed).into_iter().flatten()),
        }
        for (_, cb) in fired.iter_mut() {
            cb(out, true);
        }
        // A unit with several hit dependencies is patched once.
        out[from..].sort_unstable();
        let mut seen = from;
        for i in from..out.len() {
            if i == from || out[i] != out[seen - 1] {
                out[seen] = out[i];
                seen += 1;
            }
        }
        out.truncate(seen);
        for unit in &out[from..] {
            if let Some((regs, _)) = self.units.get_mut(unit) {
                regs.retain(|&(o, a)| o != obj || !aspect.hits(a));
            }
        }
        true
    }

    fn live_units(&self) -> usize {
        self.live
    }
}

// ----- CPython tier-2 bloom scan -------------------------------------------------------

struct Executor {
    unit: u64,
    bloom: [u64; 4],
    objects: Vec<u64>,
    live: bool,
}

/// CPython 3.13's executor invalidation: a 256-bit, k = 6 bloom filter per unit; every
/// event on a watched object scans every live unit.
pub struct BloomScanEngine {
    executors: Vec<Executor>,
    index: HashMap<u64, usize>,
    free: Vec<usize>,
    /// How many live units depend on each object: the "watched" bit of CPython's dicts.
    watched: HashMap<u64, u32>,
    live: usize,
}

/// The six bloom bits of an object (CPython hashes the object's address).
fn bloom_bits(obj: u64) -> [u64; 4] {
    let mut bits = [0u64; 4];
    let mut h = mix(obj);
    for i in 0..6 {
        let bit = (h & 0xff) as usize;
        bits[bit / 64] |= 1 << (bit % 64);
        h = if i % 2 == 1 { mix(h) } else { h >> 8 };
    }
    bits
}

impl BloomScanEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self {
            executors: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
            watched: HashMap::new(),
            live: 0,
        }
    }

    fn kill(&mut self, i: usize) {
        let e = &mut self.executors[i];
        e.live = false;
        self.live -= 1;
        for obj in std::mem::take(&mut e.objects) {
            if let Some(n) = self.watched.get_mut(&obj) {
                *n -= 1;
                if *n == 0 {
                    self.watched.remove(&obj);
                }
            }
        }
        self.index.remove(&e.unit);
        self.free.push(i);
    }

    fn scan(&mut self, obj: u64, out: &mut Vec<u64>) {
        if !self.watched.contains_key(&obj) {
            return;
        }
        let bits = bloom_bits(obj);
        for i in 0..self.executors.len() {
            let e = &self.executors[i];
            if e.live && (0..4).all(|w| e.bloom[w] & bits[w] == bits[w]) {
                out.push(e.unit);
                self.kill(i);
            }
        }
    }
}

impl Default for BloomScanEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine for BloomScanEngine {
    fn name(&self) -> &'static str {
        "bloom-scan"
    }

    fn object(&mut self, _obj: u64, _kind: Kind) {}

    fn register(&mut self, unit: u64, deps: &[(u64, Aspect)]) {
        let mut bloom = [0u64; 4];
        let mut objects: Vec<u64> = deps.iter().map(|d| d.0).collect();
        objects.sort_unstable();
        objects.dedup();
        for &obj in &objects {
            for (w, b) in bloom_bits(obj).iter().enumerate() {
                bloom[w] |= b;
            }
            *self.watched.entry(obj).or_default() += 1;
        }
        let e = Executor {
            unit,
            bloom,
            objects,
            live: true,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.executors[i] = e;
                i
            }
            None => {
                self.executors.push(e);
                self.executors.len() - 1
            }
        };
        self.index.insert(unit, i);
        self.live += 1;
    }

    fn drop_unit(&mut self, unit: u64) {
        if let Some(&i) = self.index.get(&unit) {
            self.kill(i);
        }
    }

    fn mutate(&mut self, obj: u64, _aspect: Aspect, _label: &'static str, out: &mut Vec<u64>) {
        self.scan(obj, out);
    }

    fn destroy(&mut self, obj: u64, out: &mut Vec<u64>) {
        self.scan(obj, out);
    }

    fn live_units(&self) -> usize {
        self.live
    }
}

// ----- the reference -----------------------------------------------------------------

/// The exact replay semantics of `FORMAT.md`, written as plainly as possible: an
/// object → units index that only grows, and a re-check of every candidate.
#[derive(Default)]
pub struct ReferenceEngine {
    units: HashMap<u64, Vec<(u64, Aspect)>>,
    by_object: HashMap<u64, Vec<u64>>,
}

impl ReferenceEngine {
    fn hit(&mut self, obj: u64, aspect: Aspect, out: &mut Vec<u64>) {
        let mut candidates: Vec<u64> = self.by_object.get(&obj).cloned().unwrap_or_default();
        candidates.sort_unstable();
        candidates.dedup();
        let mut seen = HashSet::new();
        for u in candidates {
            let hit = self
                .units
                .get(&u)
                .is_some_and(|deps| deps.iter().any(|&(o, a)| o == obj && aspect.hits(a)));
            if hit && seen.insert(u) {
                self.units.remove(&u);
                out.push(u);
            }
        }
    }
}

impl Engine for ReferenceEngine {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn object(&mut self, _obj: u64, _kind: Kind) {}

    fn register(&mut self, unit: u64, deps: &[(u64, Aspect)]) {
        for &(obj, _) in deps {
            self.by_object.entry(obj).or_default().push(unit);
        }
        self.units.insert(unit, deps.to_vec());
    }

    fn drop_unit(&mut self, unit: u64) {
        self.units.remove(&unit);
    }

    fn mutate(&mut self, obj: u64, aspect: Aspect, _label: &'static str, out: &mut Vec<u64>) {
        self.hit(obj, aspect, out);
    }

    fn destroy(&mut self, obj: u64, out: &mut Vec<u64>) {
        self.hit(obj, Aspect::Whole, out);
        self.by_object.remove(&obj);
    }

    fn live_units(&self) -> usize {
        self.units.len()
    }
}
