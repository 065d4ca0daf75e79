//! The dict adapter: `PyDict_WatchEvent`s in, graph events out.

use crate::{Aspect, Dep, Error, Fire, Graph, Kind, ObjectId, Report, Verdict};

use super::handles::{AdapterStats, Handle, HandleMap, Values};

/// A dict event, one for one with CPython's `PyDict_WatchEvent`.
///
/// Keys are given as the VM's 64-bit hash of the key, the same hash it used to register
/// dependencies with [`Dep::key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictEvent {
    /// `PyDict_EVENT_ADDED`: a new key. Fires units that depended on the key's
    /// *absence* (for example a builtin found because the global was missing).
    Added {
        /// The key's hash.
        key: u64,
    },
    /// `PyDict_EVENT_MODIFIED`: an existing key gets a value. CPython fires this even
    /// when the same object is stored again; pass the identities in `values` and the
    /// adapter re-arms instead of invalidating.
    Modified {
        /// The key's hash.
        key: u64,
        /// Old and new value identities, if known.
        values: Values,
    },
    /// `PyDict_EVENT_DELETED`: a key is removed (`del d[k]`, `d.pop(k)`).
    Deleted {
        /// The key's hash.
        key: u64,
    },
    /// `PyDict_EVENT_CLONED`: the whole contents are replaced (`d.update(other)` into
    /// an empty dict). Hits every key.
    Cloned,
    /// `PyDict_EVENT_CLEARED`: `d.clear()`. Hits every key.
    Cleared,
    /// `PyDict_EVENT_DEALLOCATED`: the dict dies. Every dependent is invalidated and the
    /// handle retired, so a new dict at the same address gets a new ID.
    Deallocated,
}

impl DictEvent {
    /// The event for CPython's `PyDict_WatchEvent` number `event` (`ADDED` = 0 …
    /// `DEALLOCATED` = 5). `key` is the VM's hash of the key for the keyed events;
    /// `None` where a keyed event needs one, or an unknown number, gives `None`.
    pub fn from_cpython(event: i32, key: Option<u64>, values: Values) -> Option<DictEvent> {
        Some(match event {
            0 => DictEvent::Added { key: key? },
            1 => DictEvent::Modified { key: key?, values },
            2 => DictEvent::Deleted { key: key? },
            3 => DictEvent::Cloned,
            4 => DictEvent::Cleared,
            5 => DictEvent::Deallocated,
            _ => return None,
        })
    }

    /// The label passed to the graph, as CPython names the event.
    pub fn label(self) -> &'static str {
        match self {
            DictEvent::Added { .. } => "dict.ADDED",
            DictEvent::Modified { .. } => "dict.MODIFIED",
            DictEvent::Deleted { .. } => "dict.DELETED",
            DictEvent::Cloned => "dict.CLONED",
            DictEvent::Cleared => "dict.CLEARED",
            DictEvent::Deallocated => "dict.DEALLOCATED",
        }
    }
}

/// Maps dict handles to IDs and dict events to graph events.
///
/// ```
/// use depwatch::adapters::{DictAdapter, DictEvent};
/// use depwatch::{Graph, Verdict};
/// let mut graph: Graph<&str> = Graph::new();
/// let mut dicts = DictAdapter::new();
/// let (globals, builtins, len) = (0x1000, 0x2000, 0x6c656e);
/// // A unit calling builtin `len`: globals lacks it, builtins has it.
/// let deps = [dicts.key(&mut graph, globals, len), dicts.key(&mut graph, builtins, len)];
/// let unit = graph.register(deps, "calls_len").unwrap();
/// // `len = ...` at module level: the watcher reports ADDED on globals.
/// dicts
///     .on_event(&mut graph, globals, DictEvent::Added { key: len }, &mut |_, _| Verdict::Invalidate)
///     .unwrap();
/// assert!(!graph.is_valid(unit));
/// ```
#[derive(Debug)]
pub struct DictAdapter {
    handles: HandleMap,
}

impl Default for DictAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl DictAdapter {
    /// An adapter tracking no dicts yet.
    pub fn new() -> Self {
        Self {
            handles: HandleMap::new(Kind::Dict),
        }
    }

    /// The ID for the dict at `handle`, tracking it on first use.
    pub fn track<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> ObjectId {
        self.handles.track(graph, handle)
    }

    /// The ID for `handle`, if tracked.
    pub fn get(&self, handle: Handle) -> Option<ObjectId> {
        self.handles.get(handle)
    }

    /// A dependency on one key of the dict at `handle` (tracking it).
    pub fn key<P>(&mut self, graph: &mut Graph<P>, handle: Handle, key: u64) -> Dep {
        Dep::key(self.track(graph, handle), key)
    }

    /// A dependency on the whole dict at `handle` (tracking it).
    pub fn whole<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> Dep {
        Dep::whole(self.track(graph, handle))
    }

    /// Applies one dict event and delivers the fires to `handler`.
    ///
    /// An event for an untracked handle is a no-op (counted). The handle map is updated
    /// before delivery, so a panicking handler still leaves a dead dict's handle
    /// retired.
    pub fn on_event<P>(
        &mut self,
        graph: &mut Graph<P>,
        handle: Handle,
        event: DictEvent,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        let Some(id) = self.handles.event(handle) else {
            return Ok(Report::default());
        };
        let aspect = match event {
            DictEvent::Added { key } | DictEvent::Deleted { key } => Aspect::Key(key),
            DictEvent::Modified { key, values } => {
                if values.is_same() {
                    self.handles.stats.same_value += 1;
                    return Ok(Report::default());
                }
                Aspect::Key(key)
            }
            DictEvent::Cloned | DictEvent::Cleared => Aspect::Whole,
            DictEvent::Deallocated => {
                return self.handles.destroy(graph, handle, id, handler);
            }
        };
        graph.notify(id, aspect, event.label(), handler)
    }

    /// Counters.
    pub fn stats(&self) -> AdapterStats {
        self.handles.stats
    }
}
