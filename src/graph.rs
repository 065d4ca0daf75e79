//! The dependency graph: objects, cells, units, events and their delivery.
//!
//! # Structure
//!
//! * An **object** record ([`ObjectId`]) holds the version counter, the storm counter,
//!   the cell for whole-object dependencies, and a keyed index: a blocked bloom
//!   prefilter in front of a `hashbrown` map from aspect to cell.
//! * A **cell** is one watched (object, aspect) pair, interned. It holds the set of
//!   units that depend on it ([`UnitSet`]), the key's name, and the key's storm counter.
//! * A **unit** ([`UnitId`]) holds its payload and its forward edges, `(cell, site)`
//!   pairs sorted by cell, 8 bytes each. A cell's set holds the unit's slot index
//!   (4 bytes), so one edge costs about 12 bytes forward and reverse.
//! * An **event** snapshots the units it hits into a *wave* (the causes, the hit cells,
//!   and the hit units by full generational ID). Delivery walks the wave outside any
//!   borrow of the graph, so a handler gets `&mut Graph` and may call back in. A fired
//!   unit is unlinked from its other cells at once; the cells the wave hit drop their
//!   fired units in one pass each when the wave is done (`settle`).

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;

use crate::fire::{Cause, Fire, Hit, Report, Verdict};
use crate::id::{Arena, DEFAULT_MAX_SLOT_REUSE, slot_index};
use crate::prefilter::KeyFilter;
use crate::stats::{Counters, Stats};
use crate::unit_set::UnitSet;
use crate::{Aspect, Dep, Dependency, Error, Kind, ObjectId, Rejected, Site, UnitId};

/// Tuning knobs for a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How many events that invalidated or patched something an object (for
    /// whole-object events) or a key or attribute (for keyed events) may take before it
    /// is marked unstable. CPython uses 6 for globals. 0 disables the policy.
    pub storm_threshold: u32,
    /// How many times an ID slot may be reused before it is retired for good. The
    /// default keeps slotmap's 32-bit version from ever wrapping. Lower it only to test
    /// retirement.
    pub max_slot_reuse: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            storm_threshold: 6,
            max_slot_reuse: DEFAULT_MAX_SLOT_REUSE,
        }
    }
}

/// A compile ticket: taken before a compiler reads the objects it will depend on, and
/// checked when the finished unit is registered with
/// [`Graph::register_with_ticket`].
///
/// The check is per **object**: registration is refused if any event touched any
/// object the unit depends on since the ticket was taken, even an event on a different
/// key of that object. That is conservative (a write to an unrelated global during a
/// compile forces a recompile) and never accepts a stale unit.
///
/// An object **tracked after** the ticket was taken is refused too: the graph was not
/// told about its changes before it was tracked, so it cannot vouch for them. A VM
/// that tracks objects lazily retries once; the object is tracked by then. (A VM that
/// reports events only for watched objects must watch an object from the moment it is
/// tracked, or tickets cannot see its changes.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    graph: u64,
    epoch: u64,
}

/// A change in whether an object has dependents, for the VM's one-bit "watched" flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchChange {
    /// The object.
    pub object: ObjectId,
    /// Its kind.
    pub kind: Kind,
    /// The VM's handle for it, as given to [`Graph::track`].
    pub handle: u64,
    /// `true`: the object gained its first dependent. `false`: it lost its last.
    pub watched: bool,
}

const NO_CELL: u32 = u32::MAX;

/// Initial capacity of the event path's buffers (about 2 KiB in all).
const BUFFER: usize = 16;

struct ObjectRecord {
    kind: Kind,
    handle: u64,
    version: u64,
    /// The graph epoch of the last event on this object, for compile tickets.
    changed_at: u64,
    whole: u32,
    /// Prefilter over the keys of `keyed`; kept here, not in `KeyIndex`, so a quiet
    /// keyed event follows one pointer, not two.
    filter: KeyFilter,
    keyed: Option<Box<KeyIndex>>,
    /// Cells of this object that have at least one dependent.
    watched_cells: u32,
    /// Storm counter for whole-object events.
    fires: u32,
    unstable: bool,
    /// Destroyed; kept only until its cells drain.
    dead: bool,
}

#[derive(Default)]
struct KeyIndex {
    cells: HashMap<Aspect, u32>,
    /// How many entries of `cells` are `Aspect::Key`.
    keys: usize,
}

impl KeyIndex {
    fn rebuild_filter(&self, filter: &mut KeyFilter) {
        let keys: Vec<u64> = self
            .cells
            .keys()
            .filter_map(|a| match a {
                Aspect::Key(h) => Some(*h),
                _ => None,
            })
            .collect();
        filter.rebuild(keys.into_iter());
    }
}

/// One cache line: registration, invalidation and unlinking each touch a cell at
/// random, so a cell that straddles two lines costs two misses. Key names, which
/// only reasons read, live in `Graph::names`.
#[repr(align(64))]
struct Cell {
    dependents: UnitSet,
    object: ObjectId,
    aspect: Aspect,
    /// Storm counter for keyed events.
    fires: u32,
    unstable: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    cell: u32,
    site: Site,
}

struct UnitRecord<P> {
    /// `None` only while the unit is being fired.
    payload: Option<P>,
    /// Sorted by (cell, site), deduplicated.
    edges: Box<[Edge]>,
    /// Queued wave entries not yet delivered.
    pending: u32,
}

/// Events whose fires are delivered together: one event, or one batch.
#[derive(Default)]
struct Wave {
    causes: Vec<Cause>,
    /// Whether each cause has invalidated or patched something (storm accounting).
    effective: Vec<bool>,
    /// (cell, cause index), sorted by cell once sealed.
    cell_causes: Vec<(u32, u32)>,
    /// Hit units, with duplicates; sorted once sealed.
    units: Vec<UnitId>,
    cursor: usize,
    sealed: bool,
}

impl Wave {
    fn with_capacity(n: usize) -> Self {
        Self {
            causes: Vec::with_capacity(n),
            effective: Vec::with_capacity(n),
            cell_causes: Vec::with_capacity(n),
            units: Vec::with_capacity(n),
            cursor: 0,
            sealed: false,
        }
    }

    /// Empties the wave, keeping its buffers.
    fn clear(&mut self) {
        self.causes.clear();
        self.effective.clear();
        self.cell_causes.clear();
        self.units.clear();
        self.cursor = 0;
        self.sealed = false;
    }

    fn seal(&mut self) {
        if !self.sealed {
            self.cell_causes.sort_unstable();
            self.units.sort_unstable();
            self.sealed = true;
        }
    }

    fn causes_of(&self, cell: u32) -> impl Iterator<Item = u32> + '_ {
        let start = self.cell_causes.partition_point(|&(c, _)| c < cell);
        self.cell_causes[start..]
            .iter()
            .take_while(move |&&(c, _)| c == cell)
            .map(|&(_, cause)| cause)
    }
}

/// Empties a vector of hits and hands back its allocation with another lifetime, so
/// the hit buffer outlives the wave whose causes its hits borrowed. Safe code: the
/// vector is empty, and collecting a vector's `into_iter` into a vector of an element
/// of the same size and alignment reuses the allocation.
fn recycle<'a, 'b>(mut hits: Vec<Hit<'a>>) -> Vec<Hit<'b>> {
    hits.clear();
    hits.into_iter().map(|_| unreachable!("emptied")).collect()
}

/// Whether `edges` (sorted by cell) has an edge to cell `c`.
fn has_edge_to(edges: &[Edge], c: u32) -> bool {
    let i = edges.partition_point(|e| e.cell < c);
    edges.get(i).is_some_and(|e| e.cell == c)
}

static NEXT_GRAPH: AtomicU64 = AtomicU64::new(1);

/// The dependency graph, generic over a per-unit payload `P` (for example a pointer to
/// compiled code).
///
/// See the [crate documentation](crate) for the model and a worked example.
pub struct Graph<P> {
    config: Config,
    uid: u64,
    epoch: u64,
    objects: Arena<ObjectId, ObjectRecord>,
    cells: Vec<Option<Cell>>,
    free_cells: Vec<u32>,
    units: Arena<UnitId, UnitRecord<P>>,
    /// Slot index → the unit key living there (valid while that unit is live).
    unit_keys: Vec<UnitId>,
    live_edges: usize,
    queue: VecDeque<Wave>,
    batch: Option<Wave>,
    batch_depth: u32,
    delivering: bool,
    firing: Option<UnitId>,
    watch_hook: Option<Box<dyn FnMut(WatchChange) + Send>>,
    watch_changes: Vec<WatchChange>,
    scratch_cells: Vec<u32>,
    /// Registration's edge buffer, kept so a registration allocates only its edge list.
    scratch_edges: Vec<Edge>,
    /// Cells hit by the wave being delivered. Their fired units are not removed one by
    /// one; `settle` drops them all in one pass per cell.
    unsettled: Vec<u32>,
    /// Key names given with [`Dep::named`], by cell, for reasons.
    names: HashMap<u32, Arc<str>>,
    /// Registration's dependency buffer.
    scratch_deps: Vec<Dep>,
    /// Delivered waves, cleared, kept for reuse so an event allocates nothing.
    spare_waves: Vec<Wave>,
    /// Delivery's per-unit buffers, kept for reuse.
    spare_hits: Vec<Hit<'static>>,
    spare_hit_cells: Vec<u32>,
    spare_hit_causes: Vec<u32>,
    /// Live cells with no dependents. They are kept so a unit registered again finds
    /// its cells in place, and swept in bulk (see `maybe_sweep`).
    empty_cells: usize,
    /// Empty cells the last sweep had to keep (storm state).
    sweep_kept: usize,
    counters: Counters,
}

impl<P> Default for Graph<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> std::fmt::Debug for Graph<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<P> Graph<P> {
    /// An empty graph with the default [`Config`].
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// An empty graph.
    pub fn with_config(config: Config) -> Self {
        Self {
            config,
            uid: NEXT_GRAPH.fetch_add(1, Ordering::Relaxed),
            epoch: 0,
            objects: Arena::new(config.max_slot_reuse),
            cells: Vec::new(),
            free_cells: Vec::new(),
            units: Arena::new(config.max_slot_reuse),
            unit_keys: Vec::new(),
            live_edges: 0,
            // The event path's buffers are allocated here, small, so that the first
            // invalidation in a VM's life does not pay for first-time allocations.
            queue: VecDeque::with_capacity(4),
            batch: None,
            batch_depth: 0,
            delivering: false,
            firing: None,
            watch_hook: None,
            watch_changes: Vec::new(),
            scratch_cells: Vec::with_capacity(BUFFER),
            scratch_edges: Vec::with_capacity(BUFFER),
            unsettled: Vec::with_capacity(BUFFER),
            names: HashMap::new(),
            scratch_deps: Vec::with_capacity(BUFFER),
            spare_waves: vec![Wave::with_capacity(BUFFER)],
            spare_hits: Vec::with_capacity(BUFFER),
            spare_hit_cells: Vec::with_capacity(BUFFER),
            spare_hit_causes: Vec::with_capacity(BUFFER),
            empty_cells: 0,
            sweep_kept: 0,
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Sets the hook told when an object gains its first dependent or loses its last,
    /// so the VM can keep a one-bit "watched" flag in its own object header.
    ///
    /// The hook runs at the end of the graph call that caused the change and gets no
    /// access to the graph. A destroyed object is never reported as unwatched: its
    /// handle may already point at freed memory.
    ///
    /// ```
    /// use depwatch::{Dep, Graph, Kind};
    /// use std::sync::{Arc, Mutex};
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let mut g: Graph<()> = Graph::new();
    /// let sink = log.clone();
    /// g.set_watch_hook(move |c| sink.lock().unwrap().push((c.handle, c.watched)));
    /// let d = g.track(Kind::Dict, 0xd1c7);
    /// let u = g.register([Dep::key(d, 1)], ()).unwrap();
    /// g.unregister(u).unwrap();
    /// assert_eq!(*log.lock().unwrap(), [(0xd1c7, true), (0xd1c7, false)]);
    /// ```
    pub fn set_watch_hook(&mut self, hook: impl FnMut(WatchChange) + Send + 'static) {
        self.watch_hook = Some(Box::new(hook));
    }

    // ----- objects -------------------------------------------------------------------

    /// Starts tracking an object. `handle` is the VM's own name for it (an address, say);
    /// the graph only hands it back in [`WatchChange`]s and [`Graph::handle`].
    pub fn track(&mut self, kind: Kind, handle: u64) -> ObjectId {
        // Tracking counts as a change for compile tickets: a ticket taken before the
        // object was tracked cannot vouch for what happened to it before then.
        self.epoch += 1;
        self.objects.insert(ObjectRecord {
            kind,
            handle,
            version: 0,
            changed_at: self.epoch,
            whole: NO_CELL,
            filter: KeyFilter::default(),
            keyed: None,
            watched_cells: 0,
            fires: 0,
            unstable: false,
            dead: false,
        })
    }

    fn object(&self, object: ObjectId) -> Result<&ObjectRecord, Error> {
        self.objects
            .get(object)
            .filter(|r| !r.dead)
            .ok_or(Error::StaleObject(object))
    }

    /// Whether the object is live.
    pub fn contains_object(&self, object: ObjectId) -> bool {
        self.object(object).is_ok()
    }

    /// The object's kind.
    pub fn kind(&self, object: ObjectId) -> Result<Kind, Error> {
        self.object(object).map(|r| r.kind)
    }

    /// The VM handle given to [`Graph::track`].
    pub fn handle(&self, object: ObjectId) -> Result<u64, Error> {
        self.object(object).map(|r| r.handle)
    }

    /// The object's version: bumped by every event on it. Cheap enough for an inline
    /// cache guard: one slot lookup.
    pub fn version(&self, object: ObjectId) -> Result<u64, Error> {
        self.object(object).map(|r| r.version)
    }

    /// Whether the object has at least one dependent unit.
    ///
    /// Asked from inside a handler, an object whose last dependents the current event
    /// is invalidating still reports `true` until the event's fires are all delivered
    /// (the [watch hook](Graph::set_watch_hook) is told then). It never reports `false`
    /// while a unit depends on the object.
    pub fn is_watched(&self, object: ObjectId) -> Result<bool, Error> {
        self.object(object).map(|r| r.watched_cells > 0)
    }

    // ----- units ---------------------------------------------------------------------

    /// Registers a unit with its dependencies.
    ///
    /// Duplicate (object, aspect, site) triples are collapsed into one edge. Fails,
    /// handing the payload back, if there are no dependencies, if a dependency's object
    /// is not live, or if the storm policy marked a dependency unstable. Costs
    /// O(dependencies).
    pub fn register(
        &mut self,
        deps: impl IntoIterator<Item = Dep>,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        self.register_inner(deps, payload, None)
    }

    /// Registers a unit whose dependencies are built with access to the graph, as the
    /// [adapters](crate::adapters) need when they track objects on first use.
    ///
    /// ```
    /// use depwatch::adapters::DictAdapter;
    /// use depwatch::Graph;
    /// let mut graph: Graph<&str> = Graph::new();
    /// let mut dicts = DictAdapter::new();
    /// let unit = graph
    ///     .register_with(|g| [dicts.key(g, 0x1000, 42), dicts.key(g, 0x2000, 42)], "calls len")
    ///     .unwrap();
    /// assert_eq!(graph.dependencies(unit).unwrap().len(), 2);
    /// ```
    pub fn register_with<D: IntoIterator<Item = Dep>>(
        &mut self,
        build: impl FnOnce(&mut Self) -> D,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        let deps: Vec<Dep> = build(self).into_iter().collect();
        self.register(deps, payload)
    }

    /// Takes a compile ticket. See [`Ticket`].
    pub fn ticket(&self) -> Ticket {
        Ticket {
            graph: self.uid,
            epoch: self.epoch,
        }
    }

    /// Registers a unit compiled under `ticket`: fails with [`Error::StaleTicket`] if any
    /// object it depends on had an event after the ticket was taken.
    ///
    /// ```
    /// use depwatch::{Dep, Error, Graph, Kind, Verdict};
    /// let mut g: Graph<&str> = Graph::new();
    /// let globals = g.track(Kind::Dict, 0);
    /// let ticket = g.ticket();
    /// // ... the compiler reads globals["x"] ... and meanwhile the program writes it:
    /// g.notify(globals, depwatch::Aspect::Key(7), "dict.MODIFIED", &mut |_, _| Verdict::Invalidate)
    ///     .unwrap();
    /// let err = g.register_with_ticket(&ticket, [Dep::key(globals, 7)], "code").unwrap_err();
    /// assert_eq!(err.error, Error::StaleTicket { object: globals });
    /// ```
    pub fn register_with_ticket(
        &mut self,
        ticket: &Ticket,
        deps: impl IntoIterator<Item = Dep>,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        self.register_inner(deps, payload, Some(ticket))
    }

    /// Checks one dependency without changing anything (live, stable, unchanged since
    /// the ticket) and returns its cell if it has one, else `NO_CELL`.
    fn check_dep(&self, dep: &Dep, ticket: Option<&Ticket>) -> Result<u32, Error> {
        let rec = self.object(dep.object)?;
        if rec.unstable {
            return Err(Error::Unstable {
                object: dep.object,
                aspect: Aspect::Whole,
            });
        }
        let cell = self.find_cell(rec, dep.aspect);
        if let Some(c) = cell
            && self.cell(c).unstable
        {
            return Err(Error::Unstable {
                object: dep.object,
                aspect: dep.aspect,
            });
        }
        if let Some(t) = ticket
            && rec.changed_at > t.epoch
        {
            return Err(Error::StaleTicket { object: dep.object });
        }
        Ok(cell.unwrap_or(NO_CELL))
    }

    /// Registration in two passes. The first only reads: it checks every dependency and
    /// finds the cells that exist, so a rejected unit changes nothing, and the lookups of
    /// different dependencies (independent cache misses) overlap in the CPU. The second
    /// creates the missing cells and links; it reuses what the first found, so each
    /// existing cell is probed once.
    fn register_inner(
        &mut self,
        deps: impl IntoIterator<Item = Dep>,
        payload: P,
        ticket: Option<&Ticket>,
    ) -> Result<UnitId, Rejected<P>> {
        let mut deps_buf = std::mem::take(&mut self.scratch_deps);
        deps_buf.clear();
        deps_buf.extend(deps);
        let mut edges = std::mem::take(&mut self.scratch_edges);
        edges.clear();
        let check = |edges: &mut Vec<Edge>| -> Result<(), Error> {
            if deps_buf.is_empty() {
                return Err(Error::NoDependencies);
            }
            if ticket.is_some_and(|t| t.graph != self.uid) {
                return Err(Error::ForeignTicket);
            }
            if !self.has_room_for_cells(deps_buf.len()) {
                return Err(Error::Full);
            }
            for d in &deps_buf {
                let cell = self.check_dep(d, ticket)?;
                edges.push(Edge { cell, site: d.site });
            }
            Ok(())
        };
        if let Err(error) = check(&mut edges) {
            deps_buf.clear();
            self.scratch_deps = deps_buf;
            self.scratch_edges = edges;
            return Err(Rejected { error, payload });
        }
        // Everything is checked: from here on nothing fails.
        for (e, d) in edges.iter_mut().zip(deps_buf.drain(..)) {
            if e.cell == NO_CELL {
                e.cell = self.cell_for(d.object, d.aspect);
            }
            if let Some(name) = d.name {
                self.names.entry(e.cell).or_insert(name);
            }
        }
        self.scratch_deps = deps_buf;
        if !edges.is_sorted() {
            edges.sort_unstable();
        }
        edges.dedup();
        let unit = self.units.insert(UnitRecord {
            payload: Some(payload),
            edges: Box::from(&edges[..]),
            pending: 0,
        });
        let idx = slot_index(unit);
        if self.unit_keys.len() <= idx as usize {
            self.unit_keys.resize(idx as usize + 1, UnitId::default());
        }
        self.unit_keys[idx as usize] = unit;
        let mut prev = NO_CELL;
        for e in &edges {
            if e.cell != prev {
                self.link(idx, e.cell);
                prev = e.cell;
            }
        }
        self.live_edges += edges.len();
        self.scratch_edges = edges;
        self.flush_watch_changes();
        Ok(unit)
    }

    /// Unregisters a live unit and returns its payload. Unregistering twice gives
    /// [`Error::StaleUnit`]; unregistering the unit being fired gives
    /// [`Error::UnitFiring`]. A queued fire for the unit is dropped.
    pub fn unregister(&mut self, unit: UnitId) -> Result<P, Error> {
        if self.firing == Some(unit) {
            return Err(Error::UnitFiring(unit));
        }
        let rec = self.units.remove(unit).ok_or(Error::StaleUnit(unit))?;
        self.unlink_all(slot_index(unit), &rec.edges);
        self.flush_watch_changes();
        rec.payload.ok_or(Error::UnitFiring(unit))
    }

    /// Whether the unit is live and has no fire queued for it.
    pub fn is_valid(&self, unit: UnitId) -> bool {
        self.units.get(unit).is_some_and(|r| r.pending == 0)
    }

    /// The unit's payload.
    pub fn payload(&self, unit: UnitId) -> Result<&P, Error> {
        let rec = self.units.get(unit).ok_or(Error::StaleUnit(unit))?;
        rec.payload.as_ref().ok_or(Error::UnitFiring(unit))
    }

    /// The unit's payload, mutably.
    pub fn payload_mut(&mut self, unit: UnitId) -> Result<&mut P, Error> {
        let rec = self.units.get_mut(unit).ok_or(Error::StaleUnit(unit))?;
        rec.payload.as_mut().ok_or(Error::UnitFiring(unit))
    }

    /// The unit's live dependencies, sorted and deduplicated.
    pub fn dependencies(&self, unit: UnitId) -> Result<Vec<Dependency>, Error> {
        let rec = self.units.get(unit).ok_or(Error::StaleUnit(unit))?;
        Ok(rec
            .edges
            .iter()
            .map(|e| {
                let c = self.cell(e.cell);
                Dependency {
                    object: c.object,
                    aspect: c.aspect,
                    site: e.site,
                }
            })
            .collect())
    }

    /// Whether an event on (`object`, `aspect`) would fire any unit now. A query only,
    /// as cheap as a quiet event: a VM can use it to skip work (such as reading the old
    /// value of a dict entry) that only matters when something depends on the change.
    ///
    /// ```
    /// use depwatch::{Aspect, Dep, Graph, Kind};
    /// let mut g: Graph<()> = Graph::new();
    /// let d = g.track(Kind::Dict, 1);
    /// g.register([Dep::key(d, 7)], ()).unwrap();
    /// assert!(g.would_fire(d, Aspect::Key(7)).unwrap());
    /// assert!(!g.would_fire(d, Aspect::Key(8)).unwrap());
    /// assert!(g.would_fire(d, Aspect::Whole).unwrap());
    /// ```
    pub fn would_fire(&self, object: ObjectId, aspect: Aspect) -> Result<bool, Error> {
        let rec = self.object(object)?;
        let has = |c: u32| self.has_live_dependents(c);
        if rec.whole != NO_CELL && has(rec.whole) {
            return Ok(true);
        }
        let Some(k) = &rec.keyed else {
            return Ok(false);
        };
        Ok(match aspect {
            Aspect::Whole => k.cells.values().any(|&c| has(c)),
            Aspect::Key(h) if !rec.filter.may_contain(h) => false,
            _ => k.cells.get(&aspect).is_some_and(|&c| has(c)),
        })
    }

    /// The live units an event on (`object`, `aspect`) would hit now, in ID order. A
    /// query only: nothing is recorded.
    pub fn dependents(&self, object: ObjectId, aspect: Aspect) -> Result<Vec<UnitId>, Error> {
        let rec = self.object(object)?;
        let mut hit = Vec::new();
        self.hit_cells(rec, aspect, &mut hit);
        let mut units = Vec::new();
        for c in hit {
            self.cell(c).dependents.for_each(|u| {
                let id = self.unit_keys[u as usize];
                // Inside a handler, a hit cell may still list units the wave has fired.
                if self.units.get(id).is_some_and(|r| has_edge_to(&r.edges, c)) {
                    units.push(id);
                }
            });
        }
        units.sort_unstable();
        units.dedup();
        Ok(units)
    }

    // ----- events --------------------------------------------------------------------

    /// Records an event on (`object`, `aspect`) and delivers the resulting fires to
    /// `handler`, one call per hit unit.
    ///
    /// `label` says what happened (for example `"dict.MODIFIED"`) and is passed back in
    /// every [`Cause`]. Called from inside a handler, or while a batch is open, the event
    /// is recorded at once (version bumped, hit units snapshotted and marked pending) but
    /// its fires are queued: the outer delivery or `end_batch` delivers them, and the
    /// returned report says `deferred`.
    ///
    /// # Panics in the handler
    ///
    /// If the handler panics, the unit being fired is invalidated (its payload dropped),
    /// the remaining fires stay queued, and the panic resumes. The queued fires are
    /// delivered by the next [`Graph::deliver`], `notify`, `destroy` or `end_batch`.
    #[inline]
    pub fn notify(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if !self.record(object, aspect, label, false)? && self.queue.is_empty() {
            // Nothing hit and nothing queued: skip the delivery loop.
            return Ok(Report {
                deferred: self.delivering || self.batch_depth > 0,
                ..Report::default()
            });
        }
        Ok(self.deliver(handler))
    }

    /// Records an event and queues its fires without delivering them. The fires go out
    /// with the next [`Graph::deliver`] (or `notify`, `destroy`, `end_batch`). Meant for
    /// handlers and for VMs that deliver at their own safe points; the hit units report
    /// [`Graph::is_valid`] false until then.
    pub fn notify_deferred(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
    ) -> Result<(), Error> {
        self.record(object, aspect, label, false).map(drop)
    }

    /// Destroys an object: every dependent unit is fired and invalidated, whatever the
    /// handler answers, and the ID is retired. Afterwards every call with this ID gives
    /// [`Error::StaleObject`].
    pub fn destroy(
        &mut self,
        object: ObjectId,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        self.destroy_deferred(object)?;
        Ok(self.deliver(handler))
    }

    /// [`Graph::destroy`] with the fires queued, as [`Graph::notify_deferred`].
    pub fn destroy_deferred(&mut self, object: ObjectId) -> Result<(), Error> {
        self.record(object, Aspect::Whole, "destroyed", true)?;
        let Some(rec) = self.objects.get_mut(object) else {
            return Ok(());
        };
        rec.dead = true;
        // Free the cells nothing waits on; the rest drain as their units are invalidated.
        let mut cells: Vec<u32> = Vec::new();
        if rec.whole != NO_CELL {
            cells.push(rec.whole);
        }
        if let Some(k) = &rec.keyed {
            cells.extend(k.cells.values().copied());
        }
        for c in cells {
            self.maybe_free_cell(c);
        }
        self.maybe_remove_dead(object);
        Ok(())
    }

    /// Opens a batch: events are recorded at once but their fires are held until the
    /// matching [`Graph::end_batch`], which fires each hit unit once with all its causes.
    /// Batches nest; only the outermost `end_batch` delivers.
    pub fn begin_batch(&mut self) {
        self.batch_depth += 1;
    }

    /// Closes a batch and delivers its fires (unless nested in another batch or called
    /// from inside a handler, in which case they are queued). Gives [`Error::NoBatch`]
    /// if no batch is open.
    pub fn end_batch(
        &mut self,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if self.batch_depth == 0 {
            return Err(Error::NoBatch);
        }
        self.batch_depth -= 1;
        if self.batch_depth > 0 {
            return Ok(Report {
                deferred: true,
                ..Report::default()
            });
        }
        if let Some(wave) = self.batch.take() {
            self.queue.push_back(wave);
        }
        Ok(self.deliver(handler))
    }

    /// Whether a batch is open.
    pub fn in_batch(&self) -> bool {
        self.batch_depth > 0
    }

    /// Delivers every queued fire. Inside a handler this does nothing and reports
    /// `deferred`: the outer delivery is already draining the queue.
    // Kept out of line so that `notify`, inlined into the VM's write barrier, stays a
    // few instructions when nothing depends on the event.
    #[inline(never)]
    pub fn deliver(
        &mut self,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Report {
        if self.delivering {
            return Report {
                deferred: true,
                ..Report::default()
            };
        }
        if self.batch_depth > 0 && self.queue.is_empty() {
            return Report {
                deferred: true,
                ..Report::default()
            };
        }
        self.delivering = true;
        let mut report = Report::default();
        while let Some(mut wave) = self.queue.pop_front() {
            self.deliver_wave(&mut wave, handler, &mut report);
            if self.spare_waves.len() < 4 {
                wave.clear();
                self.spare_waves.push(wave);
            }
        }
        self.delivering = false;
        // Fires of a batch still open are held for its `end_batch`.
        report.deferred = self.batch.is_some();
        self.flush_watch_changes();
        report
    }

    /// Units with a fire queued and not yet delivered (after a handler panic, inside a
    /// batch, or from `notify_deferred`).
    pub fn pending_fires(&self) -> usize {
        self.units.iter().filter(|(_, r)| r.pending > 0).count()
    }

    /// Records an event. Returns whether it hit anything (and was queued).
    #[inline(always)]
    fn record(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
        destroyed: bool,
    ) -> Result<bool, Error> {
        let rec = match self.objects.get_mut(object) {
            Some(r) if !r.dead => r,
            _ => return Err(Error::StaleObject(object)),
        };
        self.epoch += 1;
        rec.version += 1;
        rec.changed_at = self.epoch;
        self.counters.events += 1;
        // Fast path for the common case, an event nobody depends on: at most two cells to
        // look at for a keyed or attribute event, and no allocation.
        let cells = &self.cells;
        let has_dependents = |c: u32| matches!(cells.get(c as usize), Some(Some(cell)) if !cell.dependents.is_empty());
        let quiet = match (aspect, &rec.keyed) {
            (Aspect::Whole, None) => !has_dependents(rec.whole),
            (Aspect::Whole, Some(_)) => false,
            (_, None) => !has_dependents(rec.whole),
            (Aspect::Key(h), Some(_)) if !rec.filter.may_contain(h) => {
                self.counters.prefilter_rejects += 1;
                !has_dependents(rec.whole)
            }
            (_, Some(k)) => {
                !has_dependents(rec.whole)
                    && !k.cells.get(&aspect).is_some_and(|&c| has_dependents(c))
            }
        };
        if quiet {
            self.counters.quiet_events += 1;
            return Ok(false);
        }
        self.record_hits(object, aspect, label, destroyed)
    }

    /// The slow path of [`Graph::record`]: something depends on this event.
    #[inline(never)]
    fn record_hits(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
        destroyed: bool,
    ) -> Result<bool, Error> {
        let Some(rec) = self.objects.get(object) else {
            return Err(Error::StaleObject(object));
        };
        let mut hit = std::mem::take(&mut self.scratch_cells);
        hit.clear();
        self.hit_cells(rec, aspect, &mut hit);
        hit.retain(|&c| self.has_live_dependents(c));
        if hit.is_empty() {
            self.counters.quiet_events += 1;
            self.scratch_cells = hit;
            return Ok(false);
        }
        let name = match aspect {
            Aspect::Whole => None,
            _ => self
                .find_cell(rec, aspect)
                .and_then(|c| self.names.get(&c).cloned()),
        };
        let cause = Cause {
            object,
            kind: rec.kind,
            aspect,
            label,
            name,
            version: rec.version,
            destroyed,
        };
        let mut wave = match self.batch_depth {
            0 => self.spare_waves.pop().unwrap_or_default(),
            _ => match self.batch.take() {
                Some(w) => w,
                None => self.spare_waves.pop().unwrap_or_default(),
            },
        };
        let ci = wave.causes.len() as u32;
        wave.causes.push(cause);
        wave.effective.push(false);
        // Inside a handler, a cell the current wave hit may still list units it fired
        // (until the wave is settled), and a new unit may have reused one's slot.
        let exact = !self.unsettled.is_empty();
        for &c in &hit {
            wave.cell_causes.push((c, ci));
            let cell = self.cells[c as usize].as_ref();
            if let Some(cell) = cell {
                let units = &mut self.units;
                let keys = &self.unit_keys;
                cell.dependents.for_each(|u| {
                    let id = keys[u as usize];
                    if let Some(r) = units.get_mut(id)
                        && (!exact || has_edge_to(&r.edges, c))
                    {
                        r.pending += 1;
                        wave.units.push(id);
                    }
                });
            }
        }
        wave.sealed = false;
        if self.batch_depth == 0 {
            self.queue.push_back(wave);
        } else {
            self.batch = Some(wave);
        }
        self.scratch_cells = hit;
        Ok(true)
    }

    fn deliver_wave(
        &mut self,
        wave: &mut Wave,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
        report: &mut Report,
    ) {
        wave.seal();
        // Every unit in a hit cell is in this wave. The cells are settled in one pass
        // each when the wave is done, instead of one removal per fired unit.
        let mut prev = NO_CELL;
        for &(c, _) in &wave.cell_causes {
            if c != prev {
                self.unsettled.push(c);
                prev = c;
            }
        }
        let mut hits: Vec<Hit<'_>> = recycle(std::mem::take(&mut self.spare_hits));
        let mut hit_cells = std::mem::take(&mut self.spare_hit_cells);
        let mut hit_causes = std::mem::take(&mut self.spare_hit_causes);
        while wave.cursor < wave.units.len() {
            let unit = wave.units[wave.cursor];
            let run = wave.units[wave.cursor..]
                .iter()
                .take_while(|&&u| u == unit)
                .count();
            wave.cursor += run;
            let Some(rec) = self.units.get_mut(unit) else {
                continue;
            };
            rec.pending = rec.pending.saturating_sub(run as u32);
            hits.clear();
            hit_cells.clear();
            hit_causes.clear();
            for e in rec.edges.iter() {
                let mut any = false;
                for ci in wave.causes_of(e.cell) {
                    let c = self.cells[e.cell as usize].as_ref();
                    if let Some(c) = c {
                        hits.push(Hit {
                            dependency: Dependency {
                                object: c.object,
                                aspect: c.aspect,
                                site: e.site,
                            },
                            cause: &wave.causes[ci as usize],
                        });
                    }
                    hit_causes.push(ci);
                    any = true;
                }
                if any && hit_cells.last() != Some(&e.cell) {
                    hit_cells.push(e.cell);
                }
            }
            if hits.is_empty() {
                // Its hit edges were patched away by an earlier fire: nothing depends now.
                continue;
            }
            let Some(mut payload) = rec.payload.take() else {
                continue;
            };
            let terminal = hits.iter().any(|h| h.cause.destroyed);
            self.firing = Some(unit);
            self.counters.fires += 1;
            report.fired += 1;
            let answer = panic::catch_unwind(AssertUnwindSafe(|| {
                handler(
                    self,
                    Fire {
                        unit,
                        payload: &mut payload,
                        hits: &hits,
                    },
                )
            }));
            self.firing = None;
            let (verdict, panic) = match answer {
                Ok(_) if terminal => (Verdict::Invalidate, None),
                Ok(v) => (v, None),
                // A panicking handler: the unit counts as invalidated (the VM may have
                // half-torn it down), the rest of the wave stays queued, and the panic
                // goes on once the graph is consistent.
                Err(p) => (Verdict::Invalidate, Some(p)),
            };
            match verdict {
                Verdict::Invalidate => report.invalidated += 1,
                Verdict::Patched => report.patched += 1,
                Verdict::Rearmed => report.rearmed += 1,
            }
            if verdict != Verdict::Rearmed {
                hit_causes.sort_unstable();
                hit_causes.dedup();
                // Storm counters are bumped before unlinking, so a key cell emptied by
                // this very invalidation keeps its count.
                for &ci in &hit_causes {
                    if !wave.effective[ci as usize] {
                        wave.effective[ci as usize] = true;
                        let c = &wave.causes[ci as usize];
                        self.bump_storm(c.object, c.aspect, c.destroyed);
                    }
                }
            }
            self.apply(unit, payload, verdict, &hit_cells);
            if let Some(panic) = panic {
                self.settle();
                self.queue.push_front(std::mem::take(wave));
                self.delivering = false;
                self.flush_watch_changes();
                panic::resume_unwind(panic);
            }
        }
        self.settle();
        self.spare_hits = recycle(hits);
        self.spare_hit_cells = hit_cells;
        self.spare_hit_causes = hit_causes;
    }

    /// Drops from every unsettled cell the units that no longer depend on it: dead
    /// units, and units whose edges to it were patched away. Safe at any time, since it
    /// only removes what unlinking would have removed. It runs when a wave is done (or
    /// a handler panics), never in the middle: more of the wave's units may still be
    /// fired. Until then, code that reads a hit cell from inside a handler checks each
    /// entry (`has_live_dependents`, `record_hits`, `dependents`); a unit registered
    /// into a reused slot that finds its slot already listed simply takes the entry
    /// over, and the settle keeps it.
    fn settle(&mut self) {
        if self.unsettled.is_empty() {
            return;
        }
        let mut cells = std::mem::take(&mut self.unsettled);
        cells.sort_unstable();
        cells.dedup();
        for &c in &cells {
            let (units, keys) = (&self.units, &self.unit_keys);
            let Some(cell) = self.cells[c as usize].as_mut() else {
                continue;
            };
            if cell.dependents.is_empty() {
                continue;
            }
            cell.dependents.retain(|slot| {
                units
                    .get(keys[slot as usize])
                    .is_some_and(|r| has_edge_to(&r.edges, c))
            });
            if cell.dependents.is_empty() {
                self.cell_emptied(c);
            }
        }
        cells.clear();
        self.unsettled = cells;
    }

    fn apply(&mut self, unit: UnitId, payload: P, verdict: Verdict, hit_cells: &[u32]) {
        let idx = slot_index(unit);
        match verdict {
            Verdict::Invalidate => {
                self.counters.invalidated += 1;
                if let Some(rec) = self.units.remove(unit) {
                    // The hit cells are settled when the wave is done.
                    self.unlink_all_except(idx, &rec.edges, hit_cells);
                }
                drop(payload);
            }
            Verdict::Patched => {
                self.counters.patched += 1;
                let Some(rec) = self.units.get_mut(unit) else {
                    return;
                };
                rec.payload = Some(payload);
                let before = rec.edges.len();
                let kept: Box<[Edge]> = rec
                    .edges
                    .iter()
                    .copied()
                    .filter(|e| hit_cells.binary_search(&e.cell).is_err())
                    .collect();
                self.live_edges -= before - kept.len();
                // The hit cells, the only ones losing this unit, are settled when the
                // wave is done.
                rec.edges = kept;
            }
            Verdict::Rearmed => {
                self.counters.rearmed += 1;
                if let Some(rec) = self.units.get_mut(unit) {
                    rec.payload = Some(payload);
                }
            }
        }
    }

    // ----- storm policy --------------------------------------------------------------

    fn bump_storm(&mut self, object: ObjectId, aspect: Aspect, destroyed: bool) {
        let threshold = self.config.storm_threshold;
        if threshold == 0 || destroyed || !self.contains_object(object) {
            return;
        }
        if aspect == Aspect::Whole {
            if let Some(rec) = self.objects.get_mut(object) {
                rec.fires += 1;
                rec.unstable |= rec.fires >= threshold;
            }
        } else if self.has_room_for_cells(1) {
            let c = self.cell_for(object, aspect);
            if let Some(cell) = self.cells[c as usize].as_mut() {
                cell.fires += 1;
                cell.unstable |= cell.fires >= threshold;
            }
            self.maybe_free_cell(c);
        }
    }

    /// Whether a new dependency on (`object`, `aspect`) would be accepted by the storm
    /// policy. For [`Aspect::Whole`] this asks about the object's whole-object events;
    /// for a key or attribute it asks about that key and the object.
    pub fn is_stable(&self, object: ObjectId, aspect: Aspect) -> Result<bool, Error> {
        let rec = self.object(object)?;
        let cell_unstable = self
            .find_cell(rec, aspect)
            .is_some_and(|c| self.cell(c).unstable);
        Ok(!rec.unstable && !cell_unstable)
    }

    /// Clears the storm mark and counter of (`object`, `aspect`): [`Aspect::Whole`]
    /// resets the object's, a key or attribute resets that key's.
    pub fn reset_stability(&mut self, object: ObjectId, aspect: Aspect) -> Result<(), Error> {
        let rec = self.object(object)?;
        if aspect == Aspect::Whole {
            if let Some(rec) = self.objects.get_mut(object) {
                rec.fires = 0;
                rec.unstable = false;
            }
        } else if let Some(c) = self.find_cell(rec, aspect) {
            if let Some(cell) = self.cells[c as usize].as_mut() {
                cell.fires = 0;
                cell.unstable = false;
            }
            self.maybe_free_cell(c);
        }
        Ok(())
    }

    // ----- stats ---------------------------------------------------------------------

    /// Counters and sizes. O(cells) for the byte estimate.
    pub fn stats(&self) -> Stats {
        let c = self.counters;
        let mut bytes = std::mem::size_of::<Self>();
        bytes += self.objects.capacity() * (std::mem::size_of::<ObjectRecord>() + 8);
        bytes += self.units.capacity() * (std::mem::size_of::<UnitRecord<P>>() + 8);
        bytes += self.unit_keys.capacity() * std::mem::size_of::<UnitId>();
        bytes += self.cells.capacity() * std::mem::size_of::<Option<Cell>>();
        bytes += self.free_cells.capacity() * 4;
        bytes += self.names.allocation_size();
        bytes += self.live_edges * std::mem::size_of::<Edge>();
        let mut live_cells = 0;
        for cell in self.cells.iter().flatten() {
            live_cells += 1;
            bytes += cell.dependents.heap_bytes();
        }
        for (_, rec) in self.objects.iter() {
            if let Some(k) = &rec.keyed {
                bytes += std::mem::size_of::<KeyIndex>()
                    + rec.filter.heap_bytes()
                    + k.cells.allocation_size();
            }
        }
        Stats {
            events: c.events,
            quiet_events: c.quiet_events,
            prefilter_rejects: c.prefilter_rejects,
            fires: c.fires,
            invalidated: c.invalidated,
            patched: c.patched,
            rearmed: c.rearmed,
            live_objects: self.objects.len(),
            live_units: self.units.len(),
            live_edges: self.live_edges,
            live_cells,
            retired_slots: self.objects.retired() + self.units.retired(),
            pending_units: self.pending_fires(),
            bytes,
        }
    }

    // ----- cells ---------------------------------------------------------------------

    fn cell(&self, c: u32) -> &Cell {
        // Cells referenced by live edges, object records and waves are never freed while
        // referenced (see `maybe_free_cell`), so this lookup always succeeds.
        match self.cells.get(c as usize) {
            Some(Some(cell)) => cell,
            _ => unreachable!("cell {c} referenced after it was freed"),
        }
    }

    /// Whether cell `c` has a dependent. Exact even inside a handler, where a cell the
    /// wave hit may still list the units it fired until the wave is settled.
    fn has_live_dependents(&self, c: u32) -> bool {
        let Some(Some(cell)) = self.cells.get(c as usize) else {
            return false;
        };
        if cell.dependents.is_empty() {
            return false;
        }
        if self.unsettled.is_empty() {
            return true;
        }
        let mut live = false;
        cell.dependents.for_each(|u| {
            live |= self
                .units
                .get(self.unit_keys[u as usize])
                .is_some_and(|r| has_edge_to(&r.edges, c));
        });
        live
    }

    fn has_room_for_cells(&self, n: usize) -> bool {
        self.free_cells.len() + (NO_CELL as usize - self.cells.len()) >= n
    }

    fn find_cell(&self, rec: &ObjectRecord, aspect: Aspect) -> Option<u32> {
        match aspect {
            Aspect::Whole => (rec.whole != NO_CELL).then_some(rec.whole),
            _ => rec.keyed.as_ref()?.cells.get(&aspect).copied(),
        }
    }

    /// Cells an event on `aspect` hits: the whole-object cell, plus the keyed cell
    /// (after the prefilter) or, for a whole-object event, every keyed cell. Returns
    /// whether the prefilter rejected the key.
    fn hit_cells(&self, rec: &ObjectRecord, aspect: Aspect, out: &mut Vec<u32>) -> bool {
        if rec.whole != NO_CELL {
            out.push(rec.whole);
        }
        let Some(k) = &rec.keyed else { return false };
        match aspect {
            Aspect::Whole => out.extend(k.cells.values().copied()),
            Aspect::Key(h) => {
                if k.keys == 0 {
                    return false;
                }
                if !rec.filter.may_contain(h) {
                    return true;
                }
                out.extend(k.cells.get(&aspect).copied());
            }
            Aspect::Attr(_) => out.extend(k.cells.get(&aspect).copied()),
        }
        false
    }

    /// The cell for (`object`, `aspect`), created if absent, with one hash probe. The
    /// object must be live and there must be room for one more cell (both checked by
    /// the callers).
    fn cell_for(&mut self, object: ObjectId, aspect: Aspect) -> u32 {
        let Some(rec) = self.objects.get_mut(object) else {
            unreachable!("cell_for on a checked object")
        };
        let (cells, free_cells) = (&mut self.cells, &mut self.free_cells);
        let mut create = || {
            let cell = Cell {
                dependents: UnitSet::default(),
                object,
                aspect,
                fires: 0,
                unstable: false,
            };
            match free_cells.pop() {
                Some(c) => {
                    cells[c as usize] = Some(cell);
                    c
                }
                None => {
                    cells.push(Some(cell));
                    (cells.len() - 1) as u32
                }
            }
        };
        let c = match aspect {
            Aspect::Whole if rec.whole != NO_CELL => return rec.whole,
            Aspect::Whole => {
                rec.whole = create();
                rec.whole
            }
            _ => {
                let k = rec.keyed.get_or_insert_with(Default::default);
                let c = match k.cells.entry(aspect) {
                    hashbrown::hash_map::Entry::Occupied(e) => return *e.get(),
                    hashbrown::hash_map::Entry::Vacant(e) => *e.insert(create()),
                };
                if let Aspect::Key(h) = aspect {
                    k.keys += 1;
                    if rec.filter.insert(h) {
                        k.rebuild_filter(&mut rec.filter);
                    }
                }
                c
            }
        };
        self.empty_cells += 1;
        c
    }

    /// Frees a cell nothing needs: no dependents and no storm state (or a dead object).
    fn maybe_free_cell(&mut self, c: u32) {
        let Some(cell) = self.cells[c as usize].as_ref() else {
            return;
        };
        if !cell.dependents.is_empty() {
            return;
        }
        let (object, aspect) = (cell.object, cell.aspect);
        let rec = self.objects.get_mut(object);
        let dead = rec.as_ref().is_none_or(|r| r.dead);
        if !dead && (cell.fires > 0 || cell.unstable) {
            return;
        }
        if let Some(rec) = rec {
            match aspect {
                Aspect::Whole => rec.whole = NO_CELL,
                _ => {
                    if let Some(k) = rec.keyed.as_mut() {
                        k.cells.remove(&aspect);
                        if matches!(aspect, Aspect::Key(_)) {
                            k.keys -= 1;
                            if rec.filter.is_sparse(k.keys) {
                                k.rebuild_filter(&mut rec.filter);
                            }
                        }
                        if k.cells.is_empty() {
                            rec.keyed = None;
                            rec.filter = KeyFilter::default();
                        }
                    }
                }
            }
        }
        self.cells[c as usize] = None;
        if !self.names.is_empty() {
            self.names.remove(&c);
        }
        self.free_cells.push(c);
        self.empty_cells -= 1;
        if dead {
            self.maybe_remove_dead(object);
        }
    }

    fn maybe_remove_dead(&mut self, object: ObjectId) {
        if let Some(rec) = self.objects.get(object)
            && rec.dead
            && rec.whole == NO_CELL
            && rec.keyed.is_none()
        {
            self.objects.remove(object);
        }
    }

    /// Adds unit slot `idx` to cell `c`. The object record is touched only when the
    /// cell gains its first dependent.
    fn link(&mut self, idx: u32, c: u32) {
        let Some(cell) = self.cells[c as usize].as_mut() else {
            return;
        };
        let was_empty = cell.dependents.is_empty();
        if !cell.dependents.insert(idx) || !was_empty {
            return;
        }
        self.empty_cells -= 1;
        let object = cell.object;
        if let Some(rec) = self.objects.get_mut(object) {
            rec.watched_cells += 1;
            if rec.watched_cells == 1 {
                self.watch_changes.push(WatchChange {
                    object,
                    kind: rec.kind,
                    handle: rec.handle,
                    watched: true,
                });
            }
        }
    }

    /// Removes unit slot `idx` from cell `c`. The object record is touched only when the
    /// cell loses its last dependent.
    fn unlink(&mut self, idx: u32, c: u32) {
        let Some(cell) = self.cells[c as usize].as_mut() else {
            return;
        };
        if !cell.dependents.remove(idx) || !cell.dependents.is_empty() {
            return;
        }
        self.cell_emptied(c);
    }

    /// Bookkeeping for cell `c`, which just lost its last dependent.
    fn cell_emptied(&mut self, c: u32) {
        let Some(cell) = self.cells[c as usize].as_ref() else {
            return;
        };
        self.empty_cells += 1;
        let object = cell.object;
        let mut dead = true;
        if let Some(rec) = self.objects.get_mut(object) {
            dead = rec.dead;
            rec.watched_cells -= 1;
            if rec.watched_cells == 0 && !rec.dead {
                self.watch_changes.push(WatchChange {
                    object,
                    kind: rec.kind,
                    handle: rec.handle,
                    watched: false,
                });
            }
        }
        if dead {
            // A dead object's cells go as soon as they drain.
            self.maybe_free_cell(c);
        } else {
            self.maybe_sweep();
        }
    }

    /// Frees empty cells in bulk once they outnumber half the live ones (and at least
    /// 1024 beyond what the last sweep had to keep). Invalidation and re-registration
    /// then touch no hash map in the common case, and memory stays O(live cells):
    /// amortized O(1) per unlink.
    fn maybe_sweep(&mut self) {
        let live = self.cells.len() - self.free_cells.len();
        if self.empty_cells <= self.sweep_kept + (live / 2).max(1024) {
            return;
        }
        for c in 0..self.cells.len() as u32 {
            self.maybe_free_cell(c);
        }
        self.sweep_kept = self.empty_cells;
    }

    fn unlink_all(&mut self, idx: u32, edges: &[Edge]) {
        self.unlink_all_except(idx, edges, &[]);
    }

    /// Unlinks every edge except those to the cells in `skip` (sorted), which are
    /// unsettled and drop the unit when settled.
    fn unlink_all_except(&mut self, idx: u32, edges: &[Edge], skip: &[u32]) {
        self.live_edges -= edges.len();
        let mut prev = NO_CELL;
        for e in edges {
            if e.cell != prev {
                prev = e.cell;
                if skip.binary_search(&e.cell).is_err() {
                    self.unlink(idx, e.cell);
                }
            }
        }
    }

    fn flush_watch_changes(&mut self) {
        if self.watch_changes.is_empty() {
            return;
        }
        // The hook gets no graph access, so it cannot push more changes meanwhile.
        let mut changes = std::mem::take(&mut self.watch_changes);
        if let Some(hook) = self.watch_hook.as_mut() {
            changes.iter().for_each(|c| hook(*c));
        }
        changes.clear();
        self.watch_changes = changes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Option<Cell>>(), 64);
        assert_eq!(std::mem::align_of::<Option<Cell>>(), 64);
    }

    #[test]
    fn recycled_hit_buffers_keep_their_allocation() {
        let cause = Cause {
            object: ObjectId::default(),
            kind: Kind::Dict,
            aspect: Aspect::Whole,
            label: "m",
            name: None,
            version: 1,
            destroyed: false,
        };
        let mut hits = Vec::with_capacity(16);
        hits.push(Hit {
            dependency: Dependency {
                object: ObjectId::default(),
                aspect: Aspect::Whole,
                site: 0,
            },
            cause: &cause,
        });
        let ptr = hits.as_ptr() as usize;
        let kept: Vec<Hit<'static>> = recycle(hits);
        assert!(kept.is_empty());
        assert_eq!(kept.capacity(), 16);
        assert_eq!(kept.as_ptr() as usize, ptr, "same allocation");
    }

    #[test]
    fn names_go_with_their_cells() {
        let mut g: Graph<()> = Graph::new();
        let d = g.track(Kind::Dict, 1);
        let u = g.register([Dep::key(d, 7).named("len")], ()).unwrap();
        assert_eq!(g.names.len(), 1);
        g.unregister(u).unwrap();
        g.destroy(d, &mut |_, _| Verdict::Invalidate).unwrap();
        assert!(g.names.is_empty(), "a freed cell leaves no name behind");
    }
}
