//! Errors.

use crate::{Aspect, CellHandle, ObjectId, UnitId};

/// Everything the graph can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No live object of this graph has this ID: it was destroyed, or it was never
    /// handed out by this graph. IDs never alias, so a destroyed object's ID gives this
    /// forever after, never confused with a newer object.
    ///
    /// IDs carry no graph tag: an ID from another graph gives this only if no live
    /// object of this graph has the same ID. Otherwise it names that object (see
    /// [`ObjectId`]).
    #[error("object {0:?} is not live in this graph: it was destroyed, or never tracked here")]
    StaleObject(ObjectId),
    /// No live unit of this graph has this ID: it was invalidated or unregistered, or
    /// it was never handed out by this graph. As for [`Error::StaleObject`], an ID from
    /// another graph is not told apart from this graph's own.
    #[error(
        "unit {0:?} is not live in this graph: it was invalidated or unregistered, or never registered here"
    )]
    StaleUnit(UnitId),
    /// A unit must depend on at least one thing; a unit with no dependencies could never
    /// be invalidated, which is almost certainly a compiler bug.
    #[error("a unit needs at least one dependency")]
    NoDependencies,
    /// The storm policy marked this object or key unstable: it changed too often for
    /// speculation on it to pay. Compile without the assumption, or reset the mark with
    /// [`Graph::reset_stability`](crate::Graph::reset_stability).
    #[error("{object:?} {aspect:?} is unstable: it changed too often to depend on")]
    Unstable {
        /// The object.
        object: ObjectId,
        /// The aspect that is unstable ([`Aspect::Whole`] when the whole object is).
        aspect: Aspect,
    },
    /// Something the unit depends on changed after its compile ticket was taken, so the
    /// compiled code may have read a stale value. Recompile.
    #[error("{object:?} changed after the compile ticket was taken; the unit may be stale")]
    StaleTicket {
        /// The first dependency object found to have changed.
        object: ObjectId,
    },
    /// The ticket was taken from a different graph.
    #[error("the compile ticket belongs to another graph")]
    ForeignTicket,
    /// The unit is being fired right now; answer with a [`Verdict`](crate::Verdict) from
    /// the handler instead.
    #[error("unit {0:?} is being fired; answer from the handler instead")]
    UnitFiring(UnitId),
    /// The cell handle's cell was reclaimed (it had no dependents and no storm state,
    /// or its object was destroyed). Ask for a new handle with
    /// [`Graph::cell_handle`](crate::Graph::cell_handle).
    #[error("cell handle {0:?} is stale: its cell was reclaimed")]
    StaleCell(CellHandle),
    /// `end_batch` was called with no batch open.
    #[error("no batch is open")]
    NoBatch,
    /// More than `u32::MAX - 1` cells are live at once.
    #[error("the graph is full: too many live (object, aspect) cells")]
    Full,
}

/// A registration that was refused, with the payload handed back so the VM can free it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Rejected<P> {
    /// Why the registration was refused.
    #[source]
    pub error: Error,
    /// The payload that was not registered.
    pub payload: P,
}
