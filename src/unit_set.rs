//! The set of units that depend on one cell: a sorted inline vector while small, a
//! [`RoaringBitmap`] once large.
//!
//! The switch point is measured (`cargo bench --bench structures -- unit_set`, recorded
//! in `design/DECISIONS.md`): below it a sorted `Vec<u32>` is smaller (4 bytes per unit
//! against roaring's per-container overhead) and faster to search, insert and remove;
//! above it, the vector's O(n) shifting on insert and remove loses to roaring.

use roaring::RoaringBitmap;

/// Above this many units a set becomes a roaring bitmap.
pub(crate) const PROMOTE_AT: usize = 1024;
/// Below this many units a roaring set turns back into a vector (hysteresis, so a set
/// hovering at the threshold does not flip on every insert).
pub(crate) const DEMOTE_AT: usize = PROMOTE_AT / 4;

/// A set of unit slot indices.
#[derive(Clone, Debug)]
pub(crate) enum UnitSet {
    /// Sorted, deduplicated.
    Small(Vec<u32>),
    /// Large sets.
    Large(Box<RoaringBitmap>),
}

impl Default for UnitSet {
    fn default() -> Self {
        UnitSet::Small(Vec::new())
    }
}

impl UnitSet {
    /// Inserts `unit`; returns whether it was absent.
    pub(crate) fn insert(&mut self, unit: u32) -> bool {
        match self {
            UnitSet::Small(v) => {
                // Newly registered units usually have the highest index seen: try the end.
                if v.last().is_none_or(|&last| last < unit) {
                    v.push(unit);
                } else {
                    match v.binary_search(&unit) {
                        Ok(_) => return false,
                        Err(at) => v.insert(at, unit),
                    }
                }
                if v.len() > PROMOTE_AT {
                    let bitmap = RoaringBitmap::from_sorted_iter(v.iter().copied())
                        .expect("a UnitSet vector is sorted and deduplicated");
                    *self = UnitSet::Large(Box::new(bitmap));
                }
                true
            }
            UnitSet::Large(b) => b.insert(unit),
        }
    }

    /// Removes `unit`; returns whether it was present.
    pub(crate) fn remove(&mut self, unit: u32) -> bool {
        match self {
            UnitSet::Small(v) => match v.binary_search(&unit) {
                Ok(at) => {
                    v.remove(at);
                    if v.is_empty() {
                        // Release the buffer: empty cells are common after invalidation.
                        *v = Vec::new();
                    }
                    true
                }
                Err(_) => false,
            },
            UnitSet::Large(b) => {
                let removed = b.remove(unit);
                if removed && (b.len() as usize) < DEMOTE_AT {
                    *self = UnitSet::Small(b.iter().collect());
                }
                removed
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, unit: u32) -> bool {
        match self {
            UnitSet::Small(v) => v.binary_search(&unit).is_ok(),
            UnitSet::Large(b) => b.contains(unit),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            UnitSet::Small(v) => v.is_empty(),
            UnitSet::Large(b) => b.is_empty(),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            UnitSet::Small(v) => v.len(),
            UnitSet::Large(b) => b.len() as usize,
        }
    }

    /// Calls `f` for every unit, in increasing order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        match self {
            UnitSet::Small(v) => v.iter().for_each(|&u| f(u)),
            UnitSet::Large(b) => b.iter().for_each(f),
        }
    }

    /// Heap bytes held by this set.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            UnitSet::Small(v) => v.capacity() * 4,
            UnitSet::Large(b) => std::mem::size_of::<RoaringBitmap>() + b.serialized_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Differential test against `BTreeSet`, with sizes that cross both thresholds.
        #[test]
        fn matches_btreeset(ops in prop::collection::vec((any::<bool>(), 0u32..3000), 0..6000)) {
            let mut set = UnitSet::default();
            let mut model = BTreeSet::new();
            for (insert, unit) in ops {
                if insert {
                    prop_assert_eq!(set.insert(unit), model.insert(unit));
                } else {
                    prop_assert_eq!(set.remove(unit), model.remove(&unit));
                }
                prop_assert_eq!(set.len(), model.len());
            }
            let mut got = Vec::new();
            set.for_each(|u| got.push(u));
            prop_assert_eq!(got, model.iter().copied().collect::<Vec<_>>());
            for u in 0..3000 {
                prop_assert_eq!(set.contains(u), model.contains(&u));
            }
        }
    }

    #[test]
    fn promotes_and_demotes() {
        let mut set = UnitSet::default();
        for u in 0..=PROMOTE_AT as u32 {
            set.insert(u * 3);
        }
        assert!(matches!(set, UnitSet::Large(_)));
        for u in 0..=PROMOTE_AT as u32 {
            set.remove(u * 3);
        }
        assert!(matches!(set, UnitSet::Small(_)));
        assert!(set.is_empty());
        assert_eq!(set.heap_bytes(), 0);
    }
}
