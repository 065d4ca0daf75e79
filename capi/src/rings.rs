//! Bounded tables that give C a 64-bit word for Rust values that have none.
//!
//! The core's `CellHandle` and `Ticket` are opaque `Copy` values without a bit
//! representation. The C ABI names each one by a serial number: the value is kept in a
//! ring of the most recent `CAP` entries, and a serial that has left the ring is
//! refused (as a stale cell, or an expired ticket), which the core's contract allows:
//! a cell handle can go stale at any time, and a refused ticket only costs a recompile.

use std::collections::HashMap;
use std::hash::Hash;

/// The most recent `cap` values, each named by a serial number (starting at 1). The
/// slots are allocated as serials are handed out, so a graph that holds a few cell
/// handles pays for a few, not for `cap`.
pub(crate) struct Ring<T> {
    slots: Vec<(u64, T)>,
    cap: usize,
    /// The serial the next new value gets.
    next: u64,
}

impl<T: Copy + PartialEq> Ring<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            slots: Vec::new(),
            cap: cap.max(1),
            next: 1,
        }
    }

    fn slot(&self, serial: u64) -> usize {
        (serial.wrapping_sub(1) % self.cap as u64) as usize
    }

    /// Names `value`: reuses the newest serial if it holds an equal value, else takes a
    /// new one, forgetting the oldest once the ring is full. Returns the serial and the
    /// value forgotten, if one was.
    pub(crate) fn insert(&mut self, value: T) -> (u64, Option<T>) {
        if let Some(&(s, v)) = self.slots.get(self.slot(self.next.wrapping_sub(1)))
            && s == self.next - 1
            && v == value
        {
            return (s, None);
        }
        let serial = self.next;
        self.next += 1;
        let i = self.slot(serial);
        if i == self.slots.len() {
            self.slots.push((serial, value));
            return (serial, None);
        }
        let (_, old) = std::mem::replace(&mut self.slots[i], (serial, value));
        (serial, Some(old))
    }

    /// The value named `serial`, if it is still in the ring.
    pub(crate) fn get(&self, serial: u64) -> Option<T> {
        match self.slots.get(self.slot(serial)) {
            Some(&(s, v)) if s == serial && serial != 0 => Some(v),
            _ => None,
        }
    }

    /// Whether `serial` was ever handed out by this ring.
    pub(crate) fn issued(&self, serial: u64) -> bool {
        serial >= 1 && serial < self.next
    }
}

/// A [`Ring`] that hands out one serial per distinct value while it is in the ring.
pub(crate) struct DedupRing<T> {
    ring: Ring<T>,
    serials: HashMap<T, u64>,
}

impl<T: Copy + Eq + Hash> DedupRing<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            ring: Ring::new(cap),
            serials: HashMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> u64 {
        if let Some(&s) = self.serials.get(&value)
            && self.ring.get(s) == Some(value)
        {
            return s;
        }
        let (serial, old) = self.ring.insert(value);
        if let Some(old) = old
            && old != value
        {
            self.serials.remove(&old);
        }
        self.serials.insert(value, serial);
        serial
    }

    pub(crate) fn get(&self, serial: u64) -> Option<T> {
        self.ring.get(serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_forgets_the_oldest_and_dedups_the_newest() {
        let mut r: Ring<u32> = Ring::new(2);
        let (a, _) = r.insert(10);
        assert_eq!(r.insert(10).0, a, "same as the newest: same serial");
        let (b, _) = r.insert(20);
        let (c, old) = r.insert(30);
        assert_eq!(old, Some(10));
        assert_eq!(r.get(a), None);
        assert_eq!((r.get(b), r.get(c)), (Some(20), Some(30)));
        assert!(r.issued(a) && !r.issued(c + 1) && !r.issued(0));
    }

    #[test]
    fn ring_slots_are_allocated_as_serials_are_handed_out() {
        let mut r: Ring<u32> = Ring::new(1000);
        assert_eq!(r.get(1), None);
        for v in 0..5 {
            r.insert(v);
        }
        assert_eq!(r.slots.len(), 5);
        assert_eq!(
            (r.get(1), r.get(5), r.get(6), r.get(0)),
            (Some(0), Some(4), None, None)
        );
    }

    #[test]
    fn dedup_ring_names_each_value_once_and_forgets_evicted_ones() {
        let mut r: DedupRing<u32> = DedupRing::new(2);
        let a = r.insert(1);
        let b = r.insert(2);
        assert_eq!(r.insert(1), a);
        let c = r.insert(3); // evicts 1
        assert_eq!(r.get(a), None);
        let a2 = r.insert(1); // evicts 2
        assert_ne!(a2, a);
        assert_eq!((r.get(b), r.get(c), r.get(a2)), (None, Some(3), Some(1)));
    }
}
