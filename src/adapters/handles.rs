//! The handle → ID map every adapter uses.

use hashbrown::HashMap;

use crate::{Error, Fire, Graph, Kind, ObjectId, Report, Verdict};

/// The VM's own name for an object: an opaque `u64`, such as its address. Handles may
/// be reused after the object dies; IDs never are.
pub type Handle = u64;

/// Identities of the old and new values of a mutation, when the VM can tell them.
///
/// CPython's dict and function watchers run *before* the store, so a VM can read the
/// old value and pass both. When both are known and equal, the store changes nothing
/// any unit could observe, and the adapter re-arms instead of invalidating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Values {
    /// The old value's identity, if known.
    pub old: Option<u64>,
    /// The new value's identity, if known.
    pub new: Option<u64>,
}

impl Values {
    /// Nothing known: the event always counts as a change.
    pub const UNKNOWN: Values = Values {
        old: None,
        new: None,
    };

    /// Both identities known.
    pub fn new(old: u64, new: u64) -> Self {
        Self {
            old: Some(old),
            new: Some(new),
        }
    }

    /// Whether the same object is being stored again.
    pub fn is_same(self) -> bool {
        matches!((self.old, self.new), (Some(a), Some(b)) if a == b)
    }
}

/// Counters every adapter keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdapterStats {
    /// Events received.
    pub events: u64,
    /// Events for handles not tracked: no-ops.
    pub untracked: u64,
    /// Modifications that stored the same object again: re-armed, not fired.
    pub same_value: u64,
    /// Handles currently tracked.
    pub tracked: usize,
    /// Handles retired by a death event.
    pub retired: u64,
    /// Objects created (create events seen).
    pub created: u64,
}

/// Handle → [`ObjectId`] for one kind.
#[derive(Debug)]
pub(crate) struct HandleMap {
    kind: Kind,
    ids: HashMap<Handle, ObjectId>,
    pub(crate) stats: AdapterStats,
}

impl HandleMap {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            kind,
            ids: HashMap::new(),
            stats: AdapterStats::default(),
        }
    }

    /// The ID for `handle`, tracking it on first use. A handle whose ID died without a
    /// death event reaching the adapter (the graph was told directly) gets a new ID.
    pub(crate) fn track<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> ObjectId {
        if let Some(&id) = self.ids.get(&handle)
            && graph.contains_object(id)
        {
            return id;
        }
        let id = graph.track(self.kind, handle);
        self.ids.insert(handle, id);
        self.stats.tracked = self.ids.len();
        id
    }

    pub(crate) fn get(&self, handle: Handle) -> Option<ObjectId> {
        self.ids.get(&handle).copied()
    }

    pub(crate) fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.ids.keys().copied()
    }

    /// Counts an event; returns the tracked ID, or `None` (counted as untracked).
    pub(crate) fn event(&mut self, handle: Handle) -> Option<ObjectId> {
        self.stats.events += 1;
        let id = self.ids.get(&handle).copied();
        if id.is_none() {
            self.stats.untracked += 1;
        }
        id
    }

    /// A create event: counted, and the handle tracked if `track` says so (otherwise
    /// tracking waits for the first dependent).
    pub(crate) fn created<P>(
        &mut self,
        graph: &mut Graph<P>,
        handle: Handle,
        track: bool,
    ) -> Report {
        self.stats.events += 1;
        self.stats.created += 1;
        if track {
            self.track(graph, handle);
        }
        Report::default()
    }

    /// The object at `handle` (tracked as `id`) died: its dependents are invalidated,
    /// and a new object at the same handle will get a new ID. The handle is retired
    /// *before* delivery, so a panicking handler still leaves it retired.
    pub(crate) fn destroy<P>(
        &mut self,
        graph: &mut Graph<P>,
        handle: Handle,
        id: ObjectId,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if self.ids.remove(&handle).is_some() {
            self.stats.retired += 1;
            self.stats.tracked = self.ids.len();
        }
        graph.destroy_deferred(id)?;
        Ok(graph.deliver(handler))
    }
}
