//! Generational identifiers for objects and units, and the arena that never lets them alias.
//!
//! Both [`ObjectId`] and [`UnitId`] are [`slotmap`] keys: a slot index plus a 32-bit
//! version. slotmap bumps the version each time a slot is freed or reused and wraps it
//! with `wrapping_add`, so after 2^31 reuses of one slot an old key would match a new
//! occupant ([orlp/slotmap#125](https://github.com/orlp/slotmap/issues/125)). A VM that
//! creates and frees closures for weeks can get there. [`Arena`] closes the hole: when
//! a slot's version reaches its limit, the slot is *retired*. It stays occupied by a
//! tombstone forever, so its version never moves again and no key can alias.

use slotmap::{Key, SlotMap};

slotmap::new_key_type! {
    /// The identity of one watched object (a dict, function, code object, type, or a
    /// kind the VM defines).
    ///
    /// An `ObjectId` is never reused: once the object is destroyed, every operation that
    /// takes this ID returns [`Error::StaleObject`](crate::Error::StaleObject).
    ///
    /// **One graph per ID.** An ID is a slot index and a version, 64 bits, with no
    /// graph tag (so it passes through a C ABI as one word and costs a VM 8 bytes).
    /// Graphs number their slots the same way, so the first object tracked in each of
    /// two graphs has the same ID. A graph takes any ID as its own: an ID from another
    /// graph names this graph's object with the same ID if there is a live one, and
    /// gives `StaleObject` otherwise. A VM with several graphs (one per interpreter,
    /// say) keeps each ID with the graph it came from, as the
    /// [adapters](crate::adapters) do by keeping one handle map per graph. Compile
    /// [tickets](crate::Ticket) do carry their graph, and another graph refuses them
    /// with [`Error::ForeignTicket`](crate::Error::ForeignTicket).
    pub struct ObjectId;

    /// The identity of one registered unit of optimized code.
    ///
    /// Like [`ObjectId`], a `UnitId` is never reused: once the unit is invalidated or
    /// unregistered, operations on it return [`Error::StaleUnit`](crate::Error::StaleUnit).
    /// Like an `ObjectId`, it carries no graph tag: keep it with its graph.
    pub struct UnitId;
}

/// The number of times one slot may be reused before it is retired.
///
/// slotmap's version starts at 1 and grows by 2 per reuse, so this keeps every version
/// below `u32::MAX - 1` and the wrap-around never happens.
pub const DEFAULT_MAX_SLOT_REUSE: u32 = (1 << 31) - 2;

/// The 32-bit slot index of a key. Dense and stable while the key is live.
pub(crate) fn slot_index<K: Key>(key: K) -> u32 {
    key.data().as_ffi() as u32
}

/// The 32-bit version of a key.
pub(crate) fn slot_version<K: Key>(key: K) -> u32 {
    (key.data().as_ffi() >> 32) as u32
}

enum Slot<V> {
    Live(V),
    Retired,
}

/// A [`SlotMap`] whose worn-out slots are retired instead of wrapping.
pub(crate) struct Arena<K: Key, V> {
    slots: SlotMap<K, Slot<V>>,
    /// A key whose version is at least this is retired on removal.
    retire_version: u32,
    live: usize,
    retired: usize,
}

impl<K: Key, V> Arena<K, V> {
    pub(crate) fn new(max_reuse: u32) -> Self {
        let max_reuse = max_reuse.min(DEFAULT_MAX_SLOT_REUSE);
        Self {
            slots: SlotMap::with_key(),
            retire_version: 1 + 2 * max_reuse,
            live: 0,
            retired: 0,
        }
    }

    pub(crate) fn insert(&mut self, value: V) -> K {
        self.live += 1;
        self.slots.insert(Slot::Live(value))
    }

    pub(crate) fn get(&self, key: K) -> Option<&V> {
        match self.slots.get(key) {
            Some(Slot::Live(v)) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut V> {
        match self.slots.get_mut(key) {
            Some(Slot::Live(v)) => Some(v),
            _ => None,
        }
    }

    /// Removes a live value. A slot whose version reached the limit is retired: it keeps
    /// a tombstone and is never handed out again.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let slot = self.slots.get_mut(key)?;
        if matches!(slot, Slot::Retired) {
            return None;
        }
        self.live -= 1;
        if slot_version(key) >= self.retire_version {
            self.retired += 1;
            match std::mem::replace(slot, Slot::Retired) {
                Slot::Live(v) => Some(v),
                Slot::Retired => None,
            }
        } else {
            match self.slots.remove(key) {
                Some(Slot::Live(v)) => Some(v),
                _ => None,
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn retired(&self) -> usize {
        self.retired
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.slots.iter().filter_map(|(k, s)| match s {
            Slot::Live(v) => Some((k, v)),
            Slot::Retired => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_keys_are_rejected() {
        let mut a: Arena<ObjectId, u8> = Arena::new(DEFAULT_MAX_SLOT_REUSE);
        let k = a.insert(1);
        assert_eq!(a.remove(k), Some(1));
        assert_eq!(a.get(k), None);
        assert_eq!(a.remove(k), None);
        let k2 = a.insert(2);
        assert_eq!(
            slot_index(k),
            slot_index(k2),
            "slotmap reuses the freed slot"
        );
        assert_ne!(k, k2);
        assert_eq!(a.get(k), None);
        assert_eq!(a.get(k2), Some(&2));
    }

    #[test]
    fn worn_slot_is_retired_and_never_aliases() {
        let mut a: Arena<ObjectId, u32> = Arena::new(3);
        let mut seen = Vec::new();
        let first = a.insert(0);
        a.remove(first);
        seen.push(first);
        // Reuse the same slot until it retires.
        for i in 1..10 {
            let k = a.insert(i);
            for old in &seen {
                assert_ne!(*old, k, "a key was handed out twice");
                assert_eq!(a.get(*old), None);
            }
            assert_eq!(a.remove(k), Some(i));
            seen.push(k);
        }
        let slot = slot_index(first);
        let on_slot = seen.iter().filter(|k| slot_index(**k) == slot).count();
        assert_eq!(on_slot, 4, "the slot is used 1 + 3 reuses, then retired");
        // 10 keys: two slots used 4 times each (retired), a third used twice.
        assert_eq!(a.retired(), 2);
        assert_eq!(a.len(), 0);
    }

    #[test]
    fn default_limit_stays_below_wrap() {
        let a: Arena<UnitId, ()> = Arena::new(u32::MAX);
        assert!(a.retire_version < u32::MAX - 1);
        assert_eq!(
            a.retire_version % 2,
            1,
            "retire on an occupied (odd) version"
        );
    }
}
