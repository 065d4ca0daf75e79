//! What the VM's handler is told when units fire, and what it answers.

use std::sync::Arc;

use crate::{Aspect, Dependency, Kind, ObjectId, Site, UnitId};

/// Why a unit fired: one event on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// The object the event was on.
    pub object: ObjectId,
    /// Its kind.
    pub kind: Kind,
    /// The aspect the event was on ([`Aspect::Whole`] for whole-object events).
    pub aspect: Aspect,
    /// The label the VM passed with the event, such as `"dict.MODIFIED"`.
    pub label: &'static str,
    /// The key's name, if a dependency on it was registered with one.
    pub name: Option<Arc<str>>,
    /// The object's version after the event.
    pub version: u64,
    /// The graph's event counter at this event. It orders events across objects:
    /// a cause with a smaller `epoch` happened first.
    pub epoch: u64,
    /// Whether the event destroyed the object. A unit hit by a destruction is always
    /// invalidated, whatever the handler answers.
    pub destroyed: bool,
}

/// One dependency edge of a fired unit, and the cause that hit it.
#[derive(Clone, Copy, Debug)]
pub struct Hit<'a> {
    /// The edge that was hit.
    pub dependency: Dependency,
    /// The event that hit it.
    pub cause: &'a Cause,
}

/// One unit firing: the handler sees this and answers with a [`Verdict`].
///
/// In a batch, a unit fires once and `hits` holds every (edge, cause) pair.
#[derive(Debug)]
pub struct Fire<'a, P> {
    /// The unit.
    pub unit: UnitId,
    /// Its payload, for example a pointer to the compiled code.
    pub payload: &'a mut P,
    /// Every edge of the unit that the event (or batch) hit, with its cause, ordered by
    /// edge. An edge hit by two causes of one batch appears twice.
    pub hits: &'a [Hit<'a>],
}

impl<P> Fire<'_, P> {
    /// The distinct sites that were hit, in increasing order.
    pub fn sites(&self) -> Vec<Site> {
        let mut sites: Vec<Site> = self.hits.iter().map(|h| h.dependency.site).collect();
        sites.sort_unstable();
        sites.dedup();
        sites
    }

    /// The distinct causes, in the order the events happened.
    pub fn causes(&self) -> Vec<&Cause> {
        let mut causes: Vec<&Cause> = Vec::new();
        for h in self.hits {
            if !causes.iter().any(|c| std::ptr::eq(*c, h.cause)) {
                causes.push(h.cause);
            }
        }
        causes.sort_by_key(|c| c.epoch);
        causes
    }

    /// Whether any cause destroyed an object; the unit is then invalidated regardless of
    /// the verdict.
    pub fn is_terminal(&self) -> bool {
        self.hits.iter().any(|h| h.cause.destroyed)
    }
}

/// The handler's answer for one fired unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The unit is dead: it is removed with all its edges, and its payload is dropped.
    Invalidate,
    /// The VM patched the hit sites (for example to a deopt jump). The unit stays valid,
    /// and only the hit edges are removed.
    Patched,
    /// The VM re-checked and the assumption still holds (the same value was stored
    /// again). Every edge stays.
    Rearmed,
}

/// What one delivery did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Units the handler was called for.
    pub fired: usize,
    /// Units invalidated.
    pub invalidated: usize,
    /// Units patched.
    pub patched: usize,
    /// Units re-armed.
    pub rearmed: usize,
    /// Whether fires were left queued: the call was made inside a handler or an open
    /// batch, and the outer delivery (or `end_batch`) will deliver them.
    pub deferred: bool,
}
