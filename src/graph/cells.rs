//! Cells: finding and creating them, linking units in and out, and reclaiming the
//! empty ones.

use super::*;

impl<P> Graph<P> {
    pub(super) fn cell(&self, c: u32) -> &Cell {
        // Cells referenced by live edges, object records and waves are never freed while
        // referenced (see `maybe_free_cell`), so this lookup always succeeds.
        match self.cells.get(c as usize) {
            Some(Some(cell)) => cell,
            _ => unreachable!("cell {c} referenced after it was freed"),
        }
    }

    /// Whether cell `c` has a dependent. Exact even inside a handler, where a cell the
    /// wave hit may still list the units it fired until the wave is settled.
    pub(super) fn has_live_dependents(&self, c: u32) -> bool {
        let Some(Some(cell)) = self.cells.get(c as usize) else {
            return false;
        };
        if cell.dependents.is_empty() {
            return false;
        }
        if self.unsettled.is_empty() {
            return true;
        }
        // A wave fires units in increasing order, so one not yet fired, if any, is
        // found first from the top: O(1) per call however many the wave has fired.
        cell.dependents.any_from_top(|u| {
            self.units
                .get(self.unit_keys[u as usize])
                .is_some_and(|r| has_edge_to(&r.edges, c))
        })
    }

    pub(super) fn has_room_for_cells(&self, n: usize) -> bool {
        self.free_cells.len() + (NO_CELL as usize - self.cells.len()) >= n
    }

    pub(super) fn find_cell(&self, rec: &ObjectRecord, aspect: Aspect) -> Option<u32> {
        match aspect {
            Aspect::Whole => (rec.whole != NO_CELL).then_some(rec.whole),
            _ => rec.keyed.as_ref()?.cells.get(&aspect).copied(),
        }
    }

    /// Cells an event on `aspect` hits: the whole-object cell, plus the keyed cell
    /// (after the prefilter) or, for a whole-object event, every keyed cell. Returns
    /// whether the prefilter rejected the key.
    pub(super) fn hit_cells(&self, rec: &ObjectRecord, aspect: Aspect, out: &mut Vec<u32>) -> bool {
        if rec.whole != NO_CELL {
            out.push(rec.whole);
        }
        let Some(k) = &rec.keyed else { return false };
        match aspect {
            Aspect::Whole => out.extend(k.cells.values().copied()),
            Aspect::Key(h) => {
                if k.keys == 0 {
                    return false;
                }
                if !rec.filter.may_contain(h) {
                    return true;
                }
                out.extend(k.cells.get(&aspect).copied());
            }
            Aspect::Attr(_) => out.extend(k.cells.get(&aspect).copied()),
        }
        false
    }

    /// The cell for (`object`, `aspect`), created if absent, with one hash probe. The
    /// object must be live and there must be room for one more cell (both checked by
    /// the callers).
    pub(super) fn cell_for(&mut self, object: ObjectId, aspect: Aspect) -> u32 {
        let Some(rec) = self.objects.get_mut(object) else {
            unreachable!("cell_for on a checked object")
        };
        let (cells, free_cells, cell_gens) =
            (&mut self.cells, &mut self.free_cells, &mut self.cell_gens);
        let mut create = || {
            let cell = Cell {
                dependents: UnitSet::default(),
                object,
                aspect,
                fires: 0,
                unstable: false,
            };
            match free_cells.pop() {
                Some(c) => {
                    cells[c as usize] = Some(cell);
                    c
                }
                None => {
                    cells.push(Some(cell));
                    cell_gens.push(0);
                    (cells.len() - 1) as u32
                }
            }
        };
        let c = match aspect {
            Aspect::Whole if rec.whole != NO_CELL => return rec.whole,
            Aspect::Whole => {
                rec.whole = create();
                rec.whole
            }
            _ => {
                let k = rec.keyed.get_or_insert_with(Default::default);
                let c = match k.cells.entry(aspect) {
                    hashbrown::hash_map::Entry::Occupied(e) => return *e.get(),
                    hashbrown::hash_map::Entry::Vacant(e) => *e.insert(create()),
                };
                if let Aspect::Key(h) = aspect {
                    k.keys += 1;
                    if rec.filter.insert(h) {
                        k.rebuild_filter(&mut rec.filter);
                    }
                }
                c
            }
        };
        self.empty_cells += 1;
        c
    }

    /// Frees a cell nothing needs: no dependents and no storm state (or a dead object).
    pub(super) fn maybe_free_cell(&mut self, c: u32) {
        let Some(cell) = self.cells[c as usize].as_ref() else {
            return;
        };
        if !cell.dependents.is_empty() {
            return;
        }
        let (object, aspect) = (cell.object, cell.aspect);
        let rec = self.objects.get_mut(object);
        let dead = rec.as_ref().is_none_or(|r| r.dead);
        if !dead && (cell.fires > 0 || cell.unstable) {
            return;
        }
        if let Some(rec) = rec {
            match aspect {
                Aspect::Whole => rec.whole = NO_CELL,
                _ => {
                    if let Some(k) = rec.keyed.as_mut() {
                        k.cells.remove(&aspect);
                        if matches!(aspect, Aspect::Key(_)) {
                            k.keys -= 1;
                            if rec.filter.is_sparse(k.keys) {
                                k.rebuild_filter(&mut rec.filter);
                            }
                        }
                        if k.cells.is_empty() {
                            rec.keyed = None;
                            rec.filter = KeyFilter::default();
                        }
                    }
                }
            }
        }
        self.cells[c as usize] = None;
        self.cells_freed += 1;
        if !self.names.is_empty() {
            self.names.remove(&c);
        }
        // Handles to the freed cell go stale; a slot whose generation is worn out is
        // never reused, so no handle can alias a later cell.
        let generation = &mut self.cell_gens[c as usize];
        *generation += 1;
        if *generation < u32::MAX {
            self.free_cells.push(c);
        }
        self.empty_cells -= 1;
        if dead {
            self.maybe_remove_dead(object);
        }
    }

    pub(super) fn maybe_remove_dead(&mut self, object: ObjectId) {
        if let Some(rec) = self.objects.get(object)
            && rec.dead
            && rec.whole == NO_CELL
            && rec.keyed.is_none()
        {
            self.objects.remove(object);
        }
    }

    /// Adds unit slot `idx` to cell `c`. The object record is touched only when the
    /// cell gains its first dependent.
    pub(super) fn link(&mut self, idx: u32, c: u32) {
        let Some(cell) = self.cells[c as usize].as_mut() else {
            return;
        };
        let was_empty = cell.dependents.is_empty();
        if !cell.dependents.insert(idx) || !was_empty {
            return;
        }
        self.empty_cells -= 1;
        let object = cell.object;
        let hooked = self.watch_hook.is_some();
        if let Some(rec) = self.objects.get_mut(object) {
            rec.watched_cells += 1;
            if rec.watched_cells == 1 && hooked {
                if rec.unwatch_pending {
                    // The VM was never told it lost its dependents: it still watches.
                    rec.unwatch_pending = false;
                } else {
                    self.watch_changes.push(rec.watch_change(object, true));
                }
            }
        }
    }

    /// Removes unit slot `idx` from cell `c`. The object record is touched only when the
    /// cell loses its last dependent.
    pub(super) fn unlink(&mut self, idx: u32, c: u32) {
        let Some(cell) = self.cells[c as usize].as_mut() else {
            return;
        };
        if !cell.dependents.remove(idx) || !cell.dependents.is_empty() {
            return;
        }
        self.cell_emptied(c);
    }

    /// Bookkeeping for cell `c`, which just lost its last dependent.
    pub(super) fn cell_emptied(&mut self, c: u32) {
        let Some(cell) = self.cells[c as usize].as_ref() else {
            return;
        };
        self.empty_cells += 1;
        let object = cell.object;
        let mut dead = true;
        let hooked = self.watch_hook.is_some();
        if let Some(rec) = self.objects.get_mut(object) {
            dead = rec.dead;
            rec.watched_cells -= 1;
            if rec.watched_cells == 0 && !rec.dead && !rec.unwatch_pending && hooked {
                rec.unwatch_pending = true;
                self.watch_changes.push(rec.watch_change(object, false));
            }
        }
        if dead {
            // A dead object's cells go as soon as they drain.
            self.maybe_free_cell(c);
        } else {
            self.maybe_sweep();
        }
    }

    /// Frees empty cells in bulk once they outnumber half the live ones (and at least
    /// 1024 beyond what the last sweep had to keep). Invalidation and re-registration
    /// then touch no hash map in the common case, and memory stays O(live cells):
    /// amortized O(1) per unlink.
    pub(super) fn maybe_sweep(&mut self) {
        let live = self.cells.len() - self.free_cells.len();
        if self.empty_cells <= self.sweep_kept + (live / 2).max(1024) {
            return;
        }
        for c in 0..self.cells.len() as u32 {
            self.maybe_free_cell(c);
        }
        self.sweep_kept = self.empty_cells;
    }

    pub(super) fn unlink_all(&mut self, idx: u32, edges: &[Edge]) {
        self.unlink_all_except(idx, edges, &[]);
    }

    /// Unlinks every edge except those to the cells in `skip` (sorted), which are
    /// unsettled and drop the unit when settled.
    pub(super) fn unlink_all_except(&mut self, idx: u32, edges: &[Edge], skip: &[u32]) {
        self.live_edges -= edges.len();
        for c in distinct_cells(edges) {
            if skip.binary_search(&c).is_err() {
                self.unlink(idx, c);
            }
        }
    }

    /// Tells the watch hook what changed. A gained first dependent is reported at
    /// once. A lost last dependent is reported only outside a delivery, and only if
    /// the object is still live and still has no dependent (see
    /// [`Graph::set_watch_hook`]); during a delivery it stays queued.
    pub(super) fn flush_watch_changes(&mut self) {
        if self.watch_changes.is_empty() {
            return;
        }
        // The hook gets no graph access, so it cannot push more changes meanwhile.
        let mut changes = std::mem::take(&mut self.watch_changes);
        let (objects, hook) = (&mut self.objects, &mut self.watch_hook);
        // A gained first dependent is queued only by a registration, which flushes
        // before it returns: its object is live.
        let mut report = |c: &WatchChange| {
            if let Some(hook) = hook.as_mut() {
                hook(*c);
            }
        };
        if self.delivering {
            changes.retain(|c| {
                if c.watched {
                    report(c);
                }
                !c.watched
            });
        } else {
            for c in &changes {
                if c.watched {
                    report(c);
                } else if let Some(r) = objects.get_mut(c.object).filter(|r| !r.dead) {
                    let lost = r.unwatch_pending && r.watched_cells == 0;
                    r.unwatch_pending = false;
                    if lost {
                        report(c);
                    }
                }
            }
            changes.clear();
        }
        self.watch_changes = changes;
    }
}
