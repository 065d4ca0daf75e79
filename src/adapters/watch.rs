//! Watch requests: when the VM should set or clear the "watched" bit on its objects.

use std::sync::{Arc, Mutex, PoisonError};

use crate::{Graph, Kind, ObjectId};

use super::Handle;

/// What the VM should do to one of its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchAction {
    /// The object gained its first dependent: `PyDict_Watch` / `PyType_Watch`.
    Watch,
    /// The object lost its last dependent: `PyDict_Unwatch` / `PyType_Unwatch`.
    Unwatch,
    /// A type event was delivered and the type still has dependents. CPython fires a
    /// type watcher once per version tag, so call `PyType_Watch` again (which assigns
    /// a fresh tag) or the next change to the type is silent.
    Rearm,
}

/// One request to the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    /// The object, so that a request for an object destroyed since it was queued can be
    /// told apart (see [`WatchRequests::drain_live`]).
    pub object: ObjectId,
    /// The object's kind.
    pub kind: Kind,
    /// The VM's handle for it.
    pub handle: Handle,
    /// What to do.
    pub action: WatchAction,
}

/// A queue of [`WatchRequest`]s, fed by the graph's watch hook and by
/// [`TypeAdapter`](super::TypeAdapter)'s re-arm requests. The VM drains it after each
/// graph or adapter call and applies the requests to its objects.
///
/// Every request is queued for a live object. But the queue is drained later than
/// that: a handler may register a unit on a dict (a `Watch` is queued) and a later
/// handler of the same delivery may free the code that held the dict's last reference
/// (the dict dies). [`WatchRequests::drain_live`] drops the requests for objects that
/// died since they were queued, so the VM never touches a freed object; prefer it to
/// [`WatchRequests::drain`].
///
/// ```
/// use depwatch::adapters::{DictAdapter, WatchAction, WatchRequests};
/// use depwatch::{Dep, Graph};
/// let mut graph: Graph<()> = Graph::new();
/// let requests = WatchRequests::install(&mut graph);
/// let mut dicts = DictAdapter::new();
/// let globals = dicts.track(&mut graph, 0x7f00);
/// graph.register([Dep::key(globals, 1)], ()).unwrap();
/// let r = requests.drain_live(&graph);
/// assert_eq!((r[0].handle, r[0].action), (0x7f00, WatchAction::Watch));
/// ```
#[derive(Clone, Debug, Default)]
pub struct WatchRequests {
    queue: Arc<Mutex<Vec<WatchRequest>>>,
}

impl WatchRequests {
    /// A queue fed by `graph`'s watch hook (replacing any hook already set).
    pub fn install<P>(graph: &mut Graph<P>) -> Self {
        let requests = Self::default();
        let sink = requests.clone();
        graph.set_watch_hook(move |c| {
            sink.push(WatchRequest {
                object: c.object,
                kind: c.kind,
                handle: c.handle,
                action: if c.watched {
                    WatchAction::Watch
                } else {
                    WatchAction::Unwatch
                },
            })
        });
        requests
    }

    /// Adds a request.
    pub fn push(&self, request: WatchRequest) {
        // A poisoned lock only means a pusher panicked mid-push of a plain Vec; the
        // data is still a valid Vec, so keep going.
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    /// Takes every queued request, oldest first, including requests for objects that
    /// were destroyed after they were queued (whose handles may be freed memory by
    /// now). See [`WatchRequests::drain_live`].
    pub fn drain(&self) -> Vec<WatchRequest> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Takes every queued request, oldest first, and drops those whose object is no
    /// longer live in `graph`: it was destroyed after the request was queued. IDs never
    /// alias, so a request for a dead object is never confused with a new object at
    /// the same handle. What remains is safe to apply, in order.
    ///
    /// ```
    /// use depwatch::adapters::{DictAdapter, WatchRequests};
    /// use depwatch::{Dep, Graph, Verdict};
    /// let mut graph: Graph<()> = Graph::new();
    /// let requests = WatchRequests::install(&mut graph);
    /// let mut dicts = DictAdapter::new();
    /// let d = dicts.track(&mut graph, 0x7f00);
    /// graph.register([Dep::key(d, 1)], ()).unwrap(); // queues Watch
    /// graph.destroy(d, &mut |_, _| Verdict::Invalidate).unwrap(); // before the drain
    /// assert!(requests.drain_live(&graph).is_empty());
    /// ```
    pub fn drain_live<P>(&self, graph: &Graph<P>) -> Vec<WatchRequest> {
        let mut requests = self.drain();
        requests.retain(|r| graph.contains_object(r.object));
        requests
    }
}
