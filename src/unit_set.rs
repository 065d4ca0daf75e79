//! The set of units that depend on one cell: a sorted inline vector while small, a
//! roaring bitmap once large.
//!
//! The large form is a [`RoaringBitmap`][roaring] from the `roaring` crate.
//!
//! The switch point is measured (`cargo bench --bench structures -- unit_set`, recorded
//! in [DECISIONS.md]): below it a sorted `Vec<u32>` is smaller (4 bytes per unit
//! against roaring's per-container overhead) and faster to search, insert and remove;
//! above it, the vector's O(n) shifting on insert and remove loses to roaring.
//!
//! [DECISIONS.md]: https://github.com/depwatch/depwatch/blob/main/design/DECISIONS.md
//! [roaring]: https://docs.rs/roaring/0.12/roaring/struct.RoaringBitmap.html

use roaring::RoaringBitmap;

/// Above this many units a set becomes a roaring bitmap.
pub const PROMOTE_AT: usize = 256;
/// Below this many units a roaring set turns back into a vector (hysteresis, so a set
/// hovering at the threshold does not flip on every insert).
pub const DEMOTE_AT: usize = PROMOTE_AT / 4;

/// How many units a set holds inline, with no heap allocation. Most cells have a
/// handful of dependents, and an inline set makes registering and invalidating them
/// allocation-free. 6 `u32`s plus a length fit in the 32 bytes the enum needs anyway.
pub const INLINE: usize = 6;

/// A set of unit slot indices.
///
/// ```
/// use depwatch::unit_set::UnitSet;
/// let mut s = UnitSet::default();
/// assert!(s.insert(3) && !s.insert(3));
/// assert!(s.contains(3) && s.remove(3) && s.is_empty());
/// ```
#[derive(Clone, Debug)]
pub enum UnitSet {
    /// Up to [`INLINE`] units, sorted, in the first `len` items.
    Inline {
        /// How many of `items` are in use.
        len: u8,
        /// The units, sorted.
        items: [u32; INLINE],
    },
    /// Sorted, deduplicated; used up to [`PROMOTE_AT`] units.
    Small(Vec<u32>),
    /// Large sets.
    Large(Box<RoaringBitmap>),
}

impl Default for UnitSet {
    fn default() -> Self {
        UnitSet::Inline {
            len: 0,
            items: [0; INLINE],
        }
    }
}

impl UnitSet {
    /// Inserts `unit`; returns whether it was absent.
    pub fn insert(&mut self, unit: u32) -> bool {
        match self {
            UnitSet::Inline { len, items } => {
                let n = *len as usize;
                let at = match items[..n].binary_search(&unit) {
                    Ok(_) => return false,
                    Err(at) => at,
                };
                if n < INLINE {
                    // A loop, not `copy_within`: for at most 5 items a `memmove` call
                    // costs more than the moves.
                    for i in (at..n).rev() {
                        items[i + 1] = items[i];
                    }
                    items[at] = unit;
                    *len += 1;
                } else {
                    let mut v = Vec::with_capacity(2 * INLINE);
                    v.extend_from_slice(&items[..at]);
                    v.push(unit);
                    v.extend_from_slice(&items[at..]);
                    *self = UnitSet::Small(v);
                }
                true
            }
            _ => self.insert_spilled(unit),
        }
    }

    /// [`UnitSet::insert`] for a set on the heap: out of line, so that the inline
    /// case, which is most cells, stays a few cache lines of code.
    #[inline(never)]
    fn insert_spilled(&mut self, unit: u32) -> bool {
        match self {
            UnitSet::Inline { .. } => unreachable!("only called on a spilled set"),
            UnitSet::Small(v) => {
                if v.len() == v.capacity() {
                    // Grow by half, not double: a cell's set is long-lived, and doubling
                    // left a quarter of every vector empty on average.
                    v.reserve_exact((v.len() / 2).max(4));
                }
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
            UnitSet::Large(b) => large_insert(b, unit),
        }
    }

    /// Removes `unit`; returns whether it was present.
    pub fn remove(&mut self, unit: u32) -> bool {
        match self {
            UnitSet::Inline { len, items } => {
                let n = *len as usize;
                match items[..n].binary_search(&unit) {
                    Ok(at) => {
                        for i in at..n - 1 {
                            items[i] = items[i + 1];
                        }
                        *len -= 1;
                        true
                    }
                    Err(_) => false,
                }
            }
            _ => self.remove_spilled(unit),
        }
    }

    /// [`UnitSet::remove`] for a set on the heap, out of line.
    #[inline(never)]
    fn remove_spilled(&mut self, unit: u32) -> bool {
        match self {
            UnitSet::Inline { .. } => unreachable!("only called on a spilled set"),
            UnitSet::Small(v) => match v.binary_search(&unit) {
                Ok(at) => {
                    v.remove(at);
                    if v.len() <= INLINE / 2 {
                        *self = Self::inline_from(v);
                    }
                    true
                }
                Err(_) => false,
            },
            UnitSet::Large(b) => {
                let removed = large_remove(b, unit);
                if removed && (b.len() as usize) < DEMOTE_AT {
                    *self = UnitSet::Small(b.iter().collect());
                }
                removed
            }
        }
    }

    /// Keeps only the units for which `keep` is true, in one pass; returns how many
    /// were removed. Used to drop every invalidated unit of a cell at once, where one
    /// `remove` per unit would shift the rest of the set each time.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) -> usize {
        match self {
            UnitSet::Inline { len, items } => {
                let before = *len as usize;
                let mut n = 0;
                for i in 0..before {
                    if keep(items[i]) {
                        items[n] = items[i];
                        n += 1;
                    }
                }
                *len = n as u8;
                before - n
            }
            _ => self.retain_spilled(&mut keep),
        }
    }

    /// [`UnitSet::retain`] for a set on the heap, out of line (and taking the predicate
    /// by reference, so there is one copy per predicate type, not two).
    #[inline(never)]
    fn retain_spilled(&mut self, keep: &mut impl FnMut(u32) -> bool) -> usize {
        let before = self.len();
        match self {
            UnitSet::Inline { .. } => unreachable!("only called on a spilled set"),
            UnitSet::Small(v) => {
                v.retain(|&u| keep(u));
                if v.len() <= INLINE / 2 {
                    *self = Self::inline_from(v);
                }
            }
            UnitSet::Large(b) => {
                let kept = large_filter(b, keep);
                *self = if kept.len() <= INLINE / 2 {
                    Self::inline_from(&kept)
                } else if kept.len() < DEMOTE_AT {
                    UnitSet::Small(kept)
                } else {
                    let bitmap = RoaringBitmap::from_sorted_iter(kept)
                        .expect("a roaring bitmap iterates sorted and deduplicated");
                    UnitSet::Large(Box::new(bitmap))
                };
            }
        }
        before - self.len()
    }

    fn inline_from(units: &[u32]) -> Self {
        let mut items = [0; INLINE];
        items[..units.len()].copy_from_slice(units);
        UnitSet::Inline {
            len: units.len() as u8,
            items,
        }
    }

    /// Whether `unit` is in the set.
    pub fn contains(&self, unit: u32) -> bool {
        match self {
            UnitSet::Inline { len, items } => items[..*len as usize].binary_search(&unit).is_ok(),
            UnitSet::Small(v) => v.binary_search(&unit).is_ok(),
            UnitSet::Large(b) => b.contains(unit),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        match self {
            UnitSet::Inline { len, .. } => *len == 0,
            UnitSet::Small(v) => v.is_empty(),
            UnitSet::Large(b) => b.is_empty(),
        }
    }

    /// The number of units.
    pub fn len(&self) -> usize {
        match self {
            UnitSet::Inline { len, .. } => *len as usize,
            UnitSet::Small(v) => v.len(),
            UnitSet::Large(b) => b.len() as usize,
        }
    }

    /// Whether `f` holds for some unit, trying them in decreasing order and stopping at
    /// the first. (Inside a wave, fired units are the lowest; this finds a unit not yet
    /// fired first.)
    pub fn any_from_top(&self, mut f: impl FnMut(u32) -> bool) -> bool {
        match self {
            UnitSet::Inline { len, items } => items[..*len as usize].iter().rev().any(|&u| f(u)),
            UnitSet::Small(v) => v.iter().rev().any(|&u| f(u)),
            UnitSet::Large(b) => large_any_from_top(b, &mut f),
        }
    }

    /// Calls `f` for every unit, in increasing order.
    pub fn for_each(&self, mut f: impl FnMut(u32)) {
        match self {
            UnitSet::Inline { len, items } => items[..*len as usize].iter().for_each(|&u| f(u)),
            UnitSet::Small(v) => v.iter().for_each(|&u| f(u)),
            UnitSet::Large(b) => large_for_each(b, &mut f),
        }
    }

    /// Heap bytes held by this set.
    pub fn heap_bytes(&self) -> usize {
        match self {
            UnitSet::Inline { .. } => 0,
            UnitSet::Small(v) => v.capacity() * 4,
            UnitSet::Large(b) => std::mem::size_of::<RoaringBitmap>() + b.serialized_size(),
        }
    }
}

// The roaring arms, out of line and cold: a set only becomes a bitmap above
// `PROMOTE_AT` units, and keeping roaring's code out of the common paths keeps the
// event path's code small, which is what a rare (so cold) invalidation pays for.

#[cold]
#[inline(never)]
fn large_insert(b: &mut RoaringBitmap, unit: u32) -> bool {
    b.insert(unit)
}

#[cold]
#[inline(never)]
fn large_remove(b: &mut RoaringBitmap, unit: u32) -> bool {
    b.remove(unit)
}

#[cold]
#[inline(never)]
fn large_filter(b: &RoaringBitmap, keep: &mut impl FnMut(u32) -> bool) -> Vec<u32> {
    b.iter().filter(|&u| keep(u)).collect()
}

#[cold]
#[inline(never)]
fn large_any_from_top(b: &RoaringBitmap, f: &mut impl FnMut(u32) -> bool) -> bool {
    b.iter().rev().any(f)
}

#[cold]
#[inline(never)]
fn large_for_each(b: &RoaringBitmap, f: &mut impl FnMut(u32)) {
    b.iter().for_each(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Differential test against `BTreeSet`, with sizes that cross both thresholds.
        #[test]
        fn matches_btreeset(ops in prop::collection::vec((0u8..100, 0u32..3000), 0..6000)) {
            let mut set = UnitSet::default();
            let mut model = BTreeSet::new();
            for (op, unit) in ops {
                if op < 55 {
                    prop_assert_eq!(set.insert(unit), model.insert(unit));
                } else if op < 99 {
                    prop_assert_eq!(set.remove(unit), model.remove(&unit));
                } else {
                    // Keep the units in a residue class: removes about (m-1)/m of them.
                    let m = 1 + unit % 7;
                    let before = model.len();
                    model.retain(|u| u % m == 0);
                    prop_assert_eq!(set.retain(|u| u % m == 0), before - model.len());
                }
                prop_assert_eq!(set.len(), model.len());
            }
            let mut got = Vec::new();
            set.for_each(|u| got.push(u));
            prop_assert_eq!(got, model.iter().copied().collect::<Vec<_>>());
            let mut seen = Vec::new();
            let found = set.any_from_top(|u| {
                seen.push(u);
                u % 5 == 0
            });
            prop_assert_eq!(found, model.iter().any(|u| u % 5 == 0));
            let want: Vec<u32> = match model.iter().rev().position(|u| u % 5 == 0) {
                Some(i) => model.iter().rev().take(i + 1).copied().collect(),
                None => model.iter().rev().copied().collect(),
            };
            prop_assert_eq!(seen, want, "from the top, stopping at the first match");
            for u in 0..3000 {
                prop_assert_eq!(set.contains(u), model.contains(&u));
            }
        }
    }

    #[test]
    fn small_sets_stay_inline_and_enum_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<UnitSet>(), 32);
        let mut set = UnitSet::default();
        for u in [5, 1, 3, 2, 4, 0] {
            set.insert(u);
        }
        assert!(matches!(set, UnitSet::Inline { len: 6, .. }));
        set.insert(9);
        assert!(matches!(set, UnitSet::Small(_)));
        assert!(set.heap_bytes() > 0);
    }

    #[test]
    fn small_sets_grow_by_half_not_double() {
        let mut set = UnitSet::default();
        for u in 0..100 {
            set.insert(u);
        }
        // Growing by half from 12 stops at 135 slots for 100 units; doubling, at 192.
        assert!(set.heap_bytes() <= 4 * 150, "{} bytes", set.heap_bytes());
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
        assert!(matches!(set, UnitSet::Inline { .. }));
        assert!(set.is_empty());
        assert_eq!(set.heap_bytes(), 0);
    }
}
