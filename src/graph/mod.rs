//! The dependency graph: objects, cells, units, events and their delivery.
//!
//! # Structure
//!
//! * An **object** record ([`ObjectId`]) holds the version counter, the storm counter,
//!   the cell for whole-object dependencies, and a keyed index: a blocked bloom
//!   prefilter in front of a `hashbrown` map from aspect to cell.
//! * A **cell** is one watched (object, aspect) pair, interned. It holds the set of
//!   units that depend on it ([`UnitSet`]) and the key's storm counter, in one cache
//!   line.
//! * A **unit** ([`UnitId`]) holds its payload and its forward edges, `(cell, site)`
//!   pairs sorted by cell, 8 bytes each. A cell's set holds the unit's slot index
//!   (4 bytes), so one edge costs about 12 bytes forward and reverse.
//! * An **event** snapshots the units it hits into a *wave* (the causes, the hit cells,
//!   and the hit units by full generational ID). Delivery walks the wave outside any
//!   borrow of the graph, so a handler gets `&mut Graph` and may call back in. A fired
//!   unit is unlinked from its other cells at once; the cells the wave hit drop their
//!   fired units in one pass each when the wave is done (`settle`).
//!
//! # Files
//!
//! This file holds the types, construction, objects, the storm policy and stats;
//! `registration.rs` registers and queries units; `events.rs` records events and
//! delivers waves; `cells.rs` finds, links and reclaims cells.

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

/// Which events count toward the storm policy ([`Config::storm_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StormCount {
    /// Only events that invalidated or patched a unit. A key written in a loop while
    /// nothing depends on it stays stable, so each hot key can cost up to
    /// `storm_threshold` invalidations before it is refused. Re-armed fires do not
    /// count.
    #[default]
    Effective,
    /// Every event recorded on a live object ([`Graph::notify`],
    /// [`Graph::notify_deferred`], inside a batch or a handler too), whether or not
    /// anything depended on it, as PyPy's module dicts count writes to a global: a key
    /// written `storm_threshold` times is unstable even if no unit ever depended on
    /// it, so a hot global is refused before code is compiled against it. A keyed event
    /// counts toward its key only, a whole-object event toward the object; re-armed
    /// fires count like any other. An adapter event that records nothing (a dict
    /// store of the same object) does not count. The counter of a key nothing
    /// depends on takes a cell of its own (about 64 bytes), kept until the object is
    /// destroyed or [`Graph::reset_stability`] clears it; and every keyed event on an
    /// object costs a cell lookup, which the key prefilter otherwise skips.
    /// Destroy events never count.
    Every,
}

/// Tuning knobs for a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How many counted events ([`Config::storm_counts`]) an object (for whole-object
    /// events) or a key or attribute (for keyed events) may take before it is marked
    /// unstable. CPython uses 6 for globals. 0 disables the policy.
    pub storm_threshold: u32,
    /// Which events count toward `storm_threshold`: by default, only those that
    /// invalidated or patched something.
    pub storm_counts: StormCount,
    /// How many times an ID slot may be reused before it is retired for good. The
    /// default keeps slotmap's 32-bit version from ever wrapping. Lower it only to test
    /// retirement.
    pub max_slot_reuse: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            storm_threshold: 6,
            storm_counts: StormCount::Effective,
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

/// A handle to one watched (object, aspect) pair: its cell. A VM that compiles many
/// units against the same key (every function that loads `len` from one module's
/// globals, say) resolves the handle once and registers with it, skipping the
/// object's key lookup for each unit: the way JavaScriptCore keeps `WatchpointSet`
/// pointers in its structures and Cinder shares one global cache per name.
///
/// A handle is generational. It stays valid while its cell has dependents or storm
/// state; an empty cell may be reclaimed, and a handle to a reclaimed cell is refused
/// with [`Error::StaleCell`], never confused with a newer cell. The VM then asks for a
/// new one. Like the IDs, a handle carries no graph tag: keep it with its graph.
///
/// ```
/// use depwatch::{Aspect, Error, Graph, Kind};
/// let mut g: Graph<&str> = Graph::new();
/// let globals = g.track(Kind::Dict, 0x1000);
/// let len = g.cell_handle(globals, Aspect::Key(0x6c656e)).unwrap();
/// let a = g.register_cells([(len, 0)], "f").unwrap();
/// let b = g.register_cells([(len, 3)], "g").unwrap();
/// assert_eq!(g.dependents(globals, Aspect::Key(0x6c656e)).unwrap(), [a, b]);
/// g.destroy(globals, &mut |_, _| depwatch::Verdict::Invalidate).unwrap();
/// let refused = g.register_cells([(len, 0)], "h").unwrap_err();
/// assert_eq!(refused.error, Error::StaleCell(len));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CellHandle {
    index: u32,
    generation: u32,
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
    /// It lost its last dependent and the hook has not been told yet. The report goes
    /// out at the next flush outside a delivery; by then the object may have died (no
    /// report at all) or gained a dependent again (the VM never stopped watching it).
    unwatch_pending: bool,
}

impl ObjectRecord {
    /// The hook's report that `object` (this record) gained its first dependent or lost
    /// its last.
    fn watch_change(&self, object: ObjectId, watched: bool) -> WatchChange {
        WatchChange {
            object,
            kind: self.kind,
            handle: self.handle,
            watched,
        }
    }
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

/// One cell a wave hit, named so that it cannot alias: the cell slot and its
/// generation when the event was recorded, and the index of the cause that hit it. A
/// cell freed and reused while the wave waits (in an open batch) has a newer
/// generation, and the entry is dropped when delivery starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CellCause {
    cell: u32,
    generation: u32,
    cause: u32,
}

/// Events whose fires are delivered together: one event, or one batch.
#[derive(Default)]
struct Wave {
    causes: Vec<Cause>,
    /// Whether each cause has invalidated or patched something (storm accounting).
    effective: Vec<bool>,
    /// The hit cells, sorted by cell once sealed.
    cell_causes: Vec<CellCause>,
    /// Hit units, with duplicates; sorted once sealed.
    units: Vec<UnitId>,
    /// Units registered while this wave was an open batch with `n` causes recorded,
    /// as (unit, n): they were compiled after those events, so only causes `n..` can
    /// fire them. Sorted once sealed; almost always absent, so it is boxed: a wave is
    /// moved in and out of the queue on every event, and at more than 128 bytes the
    /// move becomes a `memcpy` call (217 instructions per event, callgrind).
    #[allow(clippy::box_collection)] // boxed for size, as said above
    late: Option<Box<Vec<(UnitId, u32)>>>,
    /// The graph's count of freed cells when the wave's first event was recorded: if
    /// it has not moved by delivery, no hit cell can have been freed and reused.
    frees_at_first: u64,
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
            late: None,
            frees_at_first: 0,
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
        self.late = None;
        self.cursor = 0;
        self.sealed = false;
    }

    fn seal(&mut self) {
        if !self.sealed {
            self.cell_causes.sort_unstable();
            self.units.sort_unstable();
            if let Some(late) = self.late.as_mut() {
                late.sort_unstable();
            }
            self.sealed = true;
        }
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

/// The run of `items` (sorted by `cell_of`) whose cell is `c`.
fn cell_run<T>(items: &[T], cell_of: impl Fn(&T) -> u32, c: u32) -> &[T] {
    let start = items.partition_point(|t| cell_of(t) < c);
    let len = items[start..]
        .iter()
        .take_while(|t| cell_of(t) == c)
        .count();
    &items[start..start + len]
}

/// The distinct cells of `edges` (sorted by cell), in order.
fn distinct_cells(edges: &[Edge]) -> impl Iterator<Item = u32> + '_ {
    edges
        .chunk_by(|a, b| a.cell == b.cell)
        .map(|run| run[0].cell)
}

/// Whether `edges` (sorted by cell) has an edge to cell `c`.
fn has_edge_to(edges: &[Edge], c: u32) -> bool {
    !cell_run(edges, |e| e.cell, c).is_empty()
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
    /// Per cell slot, bumped each time the slot's cell is freed, for [`CellHandle`]s. A
    /// slot whose generation reaches `u32::MAX` is never reused.
    cell_gens: Vec<u32>,
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
    spare_wave_cells: Vec<u32>,
    /// Live cells with no dependents. They are kept so a unit registered again finds
    /// its cells in place, and swept in bulk (see `maybe_sweep`).
    empty_cells: usize,
    /// Empty cells the last sweep had to keep (storm state).
    sweep_kept: usize,
    /// Cells freed so far, for `Wave::frees_at_first`.
    cells_freed: u64,
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
            cell_gens: Vec::new(),
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
            spare_wave_cells: Vec::with_capacity(BUFFER),
            empty_cells: 0,
            sweep_kept: 0,
            cells_freed: 0,
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Sets the hook told when an object gains its first dependent or loses its last,
    /// so the VM can keep a one-bit "watched" flag in its own object header. Set it
    /// before the first registration: it hears of changes from then on, and nothing is
    /// recorded for reports while no hook is set.
    ///
    /// The hook gets no access to the graph. It is told:
    ///
    /// * `watched: true` when an object gains its first dependent, before the
    ///   registering call returns, also when a handler registers. The VM can set its
    ///   flag before anything else can change the object.
    /// * `watched: false` when an object loses its last dependent, at the end of the
    ///   graph call that caused it. If that call delivers events, the report waits for
    ///   the whole delivery to end, and it is dropped if the object was destroyed or
    ///   gained a dependent again meanwhile.
    ///
    /// So a destroyed object is never reported at all once it is dead (its handle may
    /// already point at freed memory), and each report flips the VM's flag: the
    /// reports for one object alternate, starting with `watched: true`.
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
            unwatch_pending: false,
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
}

mod cells;
mod events;
mod registration;

#[cfg(test)]
mod tests;
