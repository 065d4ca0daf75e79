//! The type adapter: type-watcher events in, graph events out, fanned out to
//! subclasses.
//!
//! # CPython's once-per-version-tag aggregation
//!
//! CPython calls a type watcher only while the type has a valid version tag, and a
//! modification clears the tag. Two changes with no attribute lookup in between
//! therefore give **one** event, and until something assigns a new tag (a lookup
//! through the type cache, or `PyType_Watch`), further changes are **silent**. For
//! depwatch that means:
//!
//! * Aggregated changes are harmless: the one event already fires every dependent of
//!   the type (or of the attribute, if the VM knows it).
//! * A dependency registered while the tag is cleared would miss the next change. So
//!   after every delivered type event the adapter queues a [`WatchAction::Rearm`]
//!   request for each hit type that still has dependents (the units answered
//!   `Patched` or `Rearmed`), and the first dependency on a type queues
//!   [`WatchAction::Watch`]. The VM answers both by calling `PyType_Watch`, which
//!   assigns a fresh version tag. A VM that drains [`WatchRequests`] after each event
//!   never misses a change.
//! * CPython also calls a watched subclass's watcher when a base changes. The adapter
//!   fans a base's event out to tracked subclasses itself (a VM may report only the
//!   base), so with CPython a subclass's units can be hit twice: once through the
//!   base's event and once by its own. A unit invalidated by the first is not fired
//!   again; only re-armed units see both.

use hashbrown::{HashMap, HashSet};

use crate::{Aspect, Dep, Error, Fire, Graph, Kind, ObjectId, Report, Verdict};

use super::handles::{AdapterStats, Handle, HandleMap};
use super::watch::{WatchAction, WatchRequest, WatchRequests};

/// Maps type handles to IDs, keeps the class hierarchy, and fans type events out to
/// subclasses.
///
/// ```
/// use depwatch::adapters::TypeAdapter;
/// use depwatch::{Graph, Verdict};
/// let mut graph: Graph<&str> = Graph::new();
/// let mut types = TypeAdapter::new();
/// let (c, d, method) = (0xc, 0xd, 0x6d6574686f64);
/// types.set_bases(d, &[c]); // class D(C)
/// // A method cache on D: `method` was found on C through D's MRO.
/// let cache = graph.register_with(|g| [types.attr(g, d, method)], "D.method cache").unwrap();
/// types.on_modified(&mut graph, c, Some(method), &mut |_, _| Verdict::Invalidate).unwrap();
/// assert!(!graph.is_valid(cache));
/// ```
#[derive(Debug)]
pub struct TypeAdapter {
    handles: HandleMap,
    /// type → its direct bases.
    bases: HashMap<Handle, Vec<Handle>>,
    /// type → its direct subclasses.
    subclasses: HashMap<Handle, HashSet<Handle>>,
    requests: Option<WatchRequests>,
}

impl Default for TypeAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeAdapter {
    /// An adapter with no types and no re-arm requests.
    pub fn new() -> Self {
        Self {
            handles: HandleMap::new(Kind::Type),
            bases: HashMap::new(),
            subclasses: HashMap::new(),
            requests: None,
        }
    }

    /// An adapter that queues [`WatchAction::Rearm`] requests into `requests` (see the
    /// module docs on CPython's version-tag aggregation).
    pub fn with_requests(requests: WatchRequests) -> Self {
        Self {
            requests: Some(requests),
            ..Self::new()
        }
    }

    /// The ID for the type at `handle`, tracking it on first use.
    pub fn track<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> ObjectId {
        self.handles.track(graph, handle)
    }

    /// The ID for `handle`, if tracked.
    pub fn get(&self, handle: Handle) -> Option<ObjectId> {
        self.handles.get(handle)
    }

    /// A dependency on one attribute (by the VM's hash of its name) of the type at
    /// `handle`, as found through that type's MRO.
    pub fn attr<P>(&mut self, graph: &mut Graph<P>, handle: Handle, name: u64) -> Dep {
        Dep::key(self.track(graph, handle), name)
    }

    /// A dependency on the whole type at `handle`.
    pub fn whole<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> Dep {
        Dep::whole(self.track(graph, handle))
    }

    /// Records the direct bases of `ty` (its `__bases__`), replacing earlier ones.
    /// Changes to any transitive base fan out to `ty`. Order does not matter for
    /// invalidation: every class in the MRO can shadow or provide an attribute.
    pub fn set_bases(&mut self, ty: Handle, bases: &[Handle]) {
        self.unlink_bases(ty);
        for &b in bases.iter().filter(|&&b| b != ty) {
            self.subclasses.entry(b).or_default().insert(ty);
        }
        self.bases.insert(ty, bases.to_vec());
    }

    fn unlink_bases(&mut self, ty: Handle) {
        for b in self.bases.remove(&ty).unwrap_or_default() {
            if let Some(subs) = self.subclasses.get_mut(&b) {
                subs.remove(&ty);
                if subs.is_empty() {
                    self.subclasses.remove(&b);
                }
            }
        }
    }

    /// `ty` and every transitive subclass, each once, breadth first, each type's
    /// direct subclasses in handle order. Cycles in bad input are cut.
    pub fn with_subclasses(&self, ty: Handle) -> Vec<Handle> {
        let mut seen: HashSet<Handle> = HashSet::from_iter([ty]);
        let mut order = vec![ty];
        let mut i = 0;
        let mut children = Vec::new();
        while let Some(&t) = order.get(i) {
            i += 1;
            children.clear();
            children.extend(self.subclasses.get(&t).into_iter().flatten().copied());
            children.sort_unstable();
            for &s in &children {
                if seen.insert(s) {
                    order.push(s);
                }
            }
        }
        order
    }

    /// The type at `ty` was modified. `attr` is the hash of the attribute name if the
    /// VM knows it (CPython does not say; then it is a whole-type event). The event is
    /// applied to `ty` and to every tracked transitive subclass in one batch, so a unit
    /// depending on several of them fires once.
    pub fn on_modified<P>(
        &mut self,
        graph: &mut Graph<P>,
        ty: Handle,
        attr: Option<u64>,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if self.handles.event(ty).is_none() && !self.subclasses.contains_key(&ty) {
            return Ok(Report::default());
        }
        let aspect = attr.map_or(Aspect::Whole, Aspect::Key);
        let targets: Vec<(Handle, ObjectId)> = self
            .with_subclasses(ty)
            .into_iter()
            .filter_map(|t| Some((t, self.handles.get(t)?)))
            .collect();
        graph.begin_batch();
        let recorded = targets
            .iter()
            .try_for_each(|&(_, id)| graph.notify_deferred(id, aspect, "type.MODIFIED"));
        // Close the batch even if a target was stale, so the graph is never left in one.
        let report = graph.end_batch(handler)?;
        recorded?;
        if let Some(requests) = &self.requests {
            for &(handle, id) in &targets {
                if graph.is_watched(id) == Ok(true) {
                    requests.push(WatchRequest {
                        object: id,
                        kind: Kind::Type,
                        handle,
                        action: WatchAction::Rearm,
                    });
                }
            }
        }
        Ok(report)
    }

    /// The type at `ty` is being deallocated: dependents are invalidated, the handle is
    /// retired, and the type leaves the hierarchy.
    pub fn on_deallocated<P>(
        &mut self,
        graph: &mut Graph<P>,
        ty: Handle,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        self.unlink_bases(ty);
        self.subclasses.remove(&ty);
        let Some(id) = self.handles.event(ty) else {
            return Ok(Report::default());
        };
        self.handles.destroy(graph, ty, id, handler)
    }

    /// Counters.
    pub fn stats(&self) -> AdapterStats {
        self.handles.stats
    }
}
