//! The function adapter: `PyFunction_WatchEvent`s in, graph events out.

use crate::{Aspect, Attr, Dep, Error, Fire, Graph, Kind, ObjectId, Report, Verdict};

use super::handles::{AdapterStats, Handle, HandleMap, Values};

/// A function event, one for one with CPython's `PyFunction_WatchEvent`, plus the
/// attributes CPython does not watch but bumps `func_version` for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionEvent {
    /// `PyFunction_EVENT_CREATE`. Tracked only if the adapter was built with
    /// [`FunctionAdapter::tracking_creates`]; otherwise counted and ignored (functions
    /// are tracked lazily, when a unit first depends on one).
    Create,
    /// `PyFunction_EVENT_DESTROY`: dependents are invalidated and the handle retired.
    Destroy,
    /// `PyFunction_EVENT_MODIFY_CODE`: `f.__code__ = ...`.
    ModifyCode(Values),
    /// `PyFunction_EVENT_MODIFY_DEFAULTS`: `f.__defaults__ = ...`.
    ModifyDefaults(Values),
    /// `PyFunction_EVENT_MODIFY_KWDEFAULTS`: `f.__kwdefaults__ = ...`.
    ModifyKwDefaults(Values),
    /// `f.__closure__` changed (not a CPython watcher event; for VMs that report it).
    ModifyClosure(Values),
    /// `f.__globals__` changed (likewise).
    ModifyGlobals(Values),
    /// `f.__annotations__` changed (likewise).
    ModifyAnnotations(Values),
}

impl FunctionEvent {
    /// The event for CPython's `PyFunction_WatchEvent` number `event` (`CREATE` = 0,
    /// `DESTROY` = 1, `MODIFY_CODE` = 2, `MODIFY_DEFAULTS` = 3, `MODIFY_KWDEFAULTS` = 4).
    /// An unknown number gives `None`.
    pub fn from_cpython(event: i32, values: Values) -> Option<FunctionEvent> {
        Some(match event {
            0 => FunctionEvent::Create,
            1 => FunctionEvent::Destroy,
            2 => FunctionEvent::ModifyCode(values),
            3 => FunctionEvent::ModifyDefaults(values),
            4 => FunctionEvent::ModifyKwDefaults(values),
            _ => return None,
        })
    }

    /// The attribute a modification is about.
    pub fn attr(self) -> Option<Attr> {
        Some(match self {
            FunctionEvent::ModifyCode(_) => Attr::Code,
            FunctionEvent::ModifyDefaults(_) => Attr::Defaults,
            FunctionEvent::ModifyKwDefaults(_) => Attr::KwDefaults,
            FunctionEvent::ModifyClosure(_) => Attr::Closure,
            FunctionEvent::ModifyGlobals(_) => Attr::Globals,
            FunctionEvent::ModifyAnnotations(_) => Attr::Annotations,
            FunctionEvent::Create | FunctionEvent::Destroy => return None,
        })
    }

    /// The label passed to the graph, as CPython names the event.
    pub fn label(self) -> &'static str {
        match self {
            FunctionEvent::Create => "func.CREATE",
            FunctionEvent::Destroy => "func.DESTROY",
            FunctionEvent::ModifyCode(_) => "func.MODIFY_CODE",
            FunctionEvent::ModifyDefaults(_) => "func.MODIFY_DEFAULTS",
            FunctionEvent::ModifyKwDefaults(_) => "func.MODIFY_KWDEFAULTS",
            FunctionEvent::ModifyClosure(_) => "func.MODIFY_CLOSURE",
            FunctionEvent::ModifyGlobals(_) => "func.MODIFY_GLOBALS",
            FunctionEvent::ModifyAnnotations(_) => "func.MODIFY_ANNOTATIONS",
        }
    }

    fn values(self) -> Values {
        match self {
            FunctionEvent::ModifyCode(v)
            | FunctionEvent::ModifyDefaults(v)
            | FunctionEvent::ModifyKwDefaults(v)
            | FunctionEvent::ModifyClosure(v)
            | FunctionEvent::ModifyGlobals(v)
            | FunctionEvent::ModifyAnnotations(v) => v,
            FunctionEvent::Create | FunctionEvent::Destroy => Values::UNKNOWN,
        }
    }
}

/// Maps function handles to IDs and function events to graph events.
///
/// CPython's function watcher sees *every* function in the interpreter. The adapter
/// filters to tracked ones with one hash lookup.
///
/// ```
/// use depwatch::adapters::{FunctionAdapter, FunctionEvent, Values};
/// use depwatch::{Attr, Graph, Verdict};
/// let mut graph: Graph<&str> = Graph::new();
/// let mut funcs = FunctionAdapter::new();
/// let f = 0xf00;
/// let inlined = graph.register_with(|g| [funcs.attr(g, f, Attr::Code)], "g inlines f").unwrap();
/// let by_defaults = graph.register_with(|g| [funcs.attr(g, f, Attr::Defaults)], "h").unwrap();
/// let event = FunctionEvent::ModifyCode(Values::new(0xc0de, 0xc0de2));
/// funcs.on_event(&mut graph, f, event, &mut |_, _| Verdict::Invalidate).unwrap();
/// assert!(!graph.is_valid(inlined) && graph.is_valid(by_defaults));
/// ```
#[derive(Debug)]
pub struct FunctionAdapter {
    handles: HandleMap,
    track_creates: bool,
}

impl Default for FunctionAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl FunctionAdapter {
    /// An adapter that tracks functions lazily, when a unit first depends on one.
    pub fn new() -> Self {
        Self {
            handles: HandleMap::new(Kind::Function),
            track_creates: false,
        }
    }

    /// An adapter that tracks every function from its `CREATE` event on.
    pub fn tracking_creates() -> Self {
        Self {
            track_creates: true,
            ..Self::new()
        }
    }

    /// The ID for the function at `handle`, tracking it on first use.
    pub fn track<P>(&mut self, graph: &mut Graph<P>, handle: Handle) -> ObjectId {
        self.handles.track(graph, handle)
    }

    /// The ID for `handle`, if tracked.
    pub fn get(&self, handle: Handle) -> Option<ObjectId> {
        self.handles.get(handle)
    }

    /// Every handle tracked now (until its function's death event), in no order. A VM
    /// that filters this kind's events on its side rebuilds its filter from these.
    pub fn tracked_handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.handles.handles()
    }

    /// A dependency on one attribute of the function at `handle` (tracking it).
    pub fn attr<P>(&mut self, graph: &mut Graph<P>, handle: Handle, attr: Attr) -> Dep {
        Dep::attr(self.track(graph, handle), attr)
    }

    /// Applies one function event and delivers the fires to `handler`.
    pub fn on_event<P>(
        &mut self,
        graph: &mut Graph<P>,
        handle: Handle,
        event: FunctionEvent,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if event == FunctionEvent::Create {
            return Ok(self.handles.created(graph, handle, self.track_creates));
        }
        let Some(id) = self.handles.event(handle) else {
            return Ok(Report::default());
        };
        match event.attr() {
            None => self.handles.destroy(graph, handle, id, handler),
            Some(_) if event.values().is_same() => {
                self.handles.stats.same_value += 1;
                Ok(Report::default())
            }
            Some(attr) => graph.notify(id, Aspect::Attr(attr), event.label(), handler),
        }
    }

    /// Counters.
    pub fn stats(&self) -> AdapterStats {
        self.handles.stats
    }
}
