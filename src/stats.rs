//! Counters and size estimates.

/// A snapshot of the graph's counters, from [`Graph::stats`](crate::Graph::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events recorded (each `notify` and `destroy`).
    pub events: u64,
    /// Events that hit no dependent at all.
    pub quiet_events: u64,
    /// Keyed events rejected by the key prefilter without a map probe.
    pub prefilter_rejects: u64,
    /// Handler calls.
    pub fires: u64,
    /// Units invalidated.
    pub invalidated: u64,
    /// Units patched.
    pub patched: u64,
    /// Units re-armed.
    pub rearmed: u64,
    /// Live objects (destroyed objects whose dependents are still queued included).
    pub live_objects: usize,
    /// Live units.
    pub live_units: usize,
    /// Live dependency edges (forward).
    pub live_edges: usize,
    /// Live (object, aspect) cells.
    pub live_cells: usize,
    /// Slots retired because their version was worn out.
    pub retired_slots: usize,
    /// Units with a fire queued but not yet delivered.
    pub pending_units: usize,
    /// An estimate of the heap and inline bytes the graph holds.
    pub bytes: usize,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events: u64,
    pub(crate) quiet_events: u64,
    pub(crate) prefilter_rejects: u64,
    pub(crate) fires: u64,
    pub(crate) invalidated: u64,
    pub(crate) patched: u64,
    pub(crate) rearmed: u64,
}
