//! The code adapter: `PyCodeEvent`s in, graph events out.

use crate::{Aspect, Attr, Dep, Error, Fire, Graph, Kind, ObjectId, Report, Verdict};

use super::handles::{AdapterStats, Handle, HandleMap};

/// A code-object event: CPython's `PyCodeEvent`, plus instrumentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeEvent {
    /// `PY_CODE_EVENT_CREATE`. Tracked only with [`CodeAdapter::tracking_creates`].
    Create,
    /// `PY_CODE_EVENT_DESTROY`: units that inlined or were compiled from this code are
    /// invalidated, and the handle retired.
    Destroy,
    /// The code was instrumented (`sys.monitoring` turned on events for it): code
    /// compiled from it no longer matches. Hits dependencies on the whole code object
    /// and on [`Attr::Instrumentation`].
    Instrumented,
}

impl CodeEvent {
    /// The event for CPython's `PyCodeEvent` number `event` (`CREATE` = 0,
    /// `DESTROY` = 1). An unknown number gives `None`.
    pub fn from_cpython(event: i32) -> Option<CodeEvent> {
        match event {
            0 => Some(CodeEvent::Create),
            1 => Some(CodeEvent::Destroy),
            _ => None,
        }
    }

    /// The label passed to the graph.
    pub fn label(self) -> &'static str {
        match self {
            CodeEvent::Create => "code.CREATE",
            CodeEvent::Destroy => "code.DESTROY",
            CodeEvent::Instrumented => "code.INSTRUMENTED",
        }
    }
}

/// Maps code handles to IDs and code events to graph events.
///
/// ```
/// use depwatch::adapters::{CodeAdapter, CodeEvent};
/// use depwatch::{Graph, Verdict};
/// let mut graph: Graph<&str> = Graph::new();
/// let mut codes = CodeAdapter::new();
/// let unit = graph.register_with(|g| [codes.whole(g, 0xc0de)], "g inlined f's code").unwrap();
/// codes.on_event(&mut graph, 0xc0de, CodeEvent::Destroy, &mut |_, _| Verdict::Invalidate).unwrap();
/// assert!(!graph.is_valid(unit));
/// assert_eq!(codes.get(0xc0de), None, "a new code object there gets a new ID");
/// ```
#[derive(Debug)]
pub struct CodeAdapter {
    handles: HandleMap,
    track_creates: bool,
}

impl Default for CodeAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeAdapter {
    /// An adapter that tracks code objects lazily.
    pub fn new() -> Self {
        Self {
            handles: HandleMap::new(Kind::Code),
            track_creates: false,
        }
    }

    /// An adapter that tracks every code object from its `CREATE` event on.
    pub fn tracking_creates() -> Self {
        Self {
            track_creates: true,
            ..Self::new()
        }
    }

    /// The ID for the code object at `handle`, tracking it on first use.
    pub fn track<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> ObjectId {
        self.handles.track(graph, handle)
    }

    /// The ID for `handle`, if tracked.
    pub fn get(&self, handle: Handle) -> Option<ObjectId> {
        self.handles.get(handle)
    }

    /// Every handle tracked now (until its code object's death event), in no order. A VM
    /// that filters this kind's events on its side rebuilds its filter from these.
    pub fn tracked_handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.handles.handles()
    }

    /// A dependency on the whole code object at `handle` (tracking it).
    pub fn whole<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> Dep {
        Dep::whole(self.track(graph, handle))
    }

    /// Applies one code event and delivers the fires to `handler`.
    pub fn on_event<P>(
        &mut self,
        graph: &mut Graph<P>,
        handle: Handle,
        event: CodeEvent,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if event == CodeEvent::Create {
            return Ok(self.handles.created(graph, handle, self.track_creates));
        }
        let Some(id) = self.handles.event(handle) else {
            return Ok(Report::default());
        };
        match event {
            CodeEvent::Instrumented => graph.notify(
                id,
                Aspect::Attr(Attr::Instrumentation),
                event.label(),
                handler,
            ),
            _ => self.handles.destroy(graph, handle, id, handler),
        }
    }

    /// Counters.
    pub fn stats(&self) -> AdapterStats {
        self.handles.stats
    }
}
