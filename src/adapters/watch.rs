//! Watch requests: when the VM should set or clear the "watched" bit on its objects.

use std::sync::{Arc, Mutex, PoisonError};

use crate::{Graph, Kind};

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
    /// The object's kind.
    pub kind: Kind,
    /// The VM's handle for it.
    pub handle: Handle,
    /// What to do.
    pub action: WatchAction,
}

/// A queue of [`WatchRequest`]s, fed by the graph's watch hook and by
/// [`TypeAdapter`](super::TypeAdapter)'s re-arm requests. The VM drains it after each
/// batch of graph calls and applies the requests to its objects.
///
/// ```
/// use depwatch::adapters::{DictAdapter, WatchAction, WatchRequests};
/// use depwatch::{Dep, Graph};
/// let mut graph: Graph<()> = Graph::new();
/// let requests = WatchRequests::install(&mut graph);
/// let mut dicts = DictAdapter::new();
/// let globals = dicts.track(&mut graph, 0x7f00);
/// graph.register([Dep::key(globals, 1)], ()).unwrap();
/// let r = requests.drain();
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

    /// Takes every queued request, oldest first.
    pub fn drain(&self) -> Vec<WatchRequest> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
