//! Events: recording them, waves, delivery, verdicts, and the end-of-wave settle.

use super::*;

impl<P> Graph<P> {
    /// Records an event on (`object`, `aspect`) and delivers the resulting fires to
    /// `handler`, one call per hit unit: each live unit with an edge the event hits,
    /// as the units stood when the event was recorded. A unit registered later (from a
    /// handler, or while a batch is open) is not fired by this event.
    ///
    /// `label` says what happened (for example `"dict.MODIFIED"`) and is passed back in
    /// every [`Cause`]. Called from inside a handler, or while a batch is open, the event
    /// is recorded at once (version bumped, hit units snapshotted and marked pending) but
    /// its fires are queued: the outer delivery or `end_batch` delivers them, and the
    /// returned report says `deferred`.
    ///
    /// # Panics in the handler
    ///
    /// If the handler panics, the unit being fired is invalidated (its payload dropped),
    /// the remaining fires stay queued, and the panic resumes. The queued fires are
    /// delivered by the next [`Graph::deliver`], `notify`, `destroy` or `end_batch`.
    #[inline]
    pub fn notify(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if !self.record(object, aspect, label, false)? && self.queue.is_empty() {
            // Nothing hit and nothing queued: skip the delivery loop.
            return Ok(Report {
                deferred: self.delivering || self.batch_depth > 0,
                ..Report::default()
            });
        }
        Ok(self.deliver(handler))
    }

    /// Records an event and queues its fires without delivering them. The fires go out
    /// with the next [`Graph::deliver`] (or `notify`, `destroy`, `end_batch`). Meant for
    /// handlers and for VMs that deliver at their own safe points; the hit units report
    /// [`Graph::is_valid`] false until then.
    pub fn notify_deferred(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
    ) -> Result<(), Error> {
        self.record(object, aspect, label, false).map(drop)
    }

    /// Destroys an object: every dependent unit is fired and invalidated, whatever the
    /// handler answers, and the ID is retired. Afterwards every call with this ID gives
    /// [`Error::StaleObject`].
    pub fn destroy(
        &mut self,
        object: ObjectId,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        self.destroy_deferred(object)?;
        Ok(self.deliver(handler))
    }

    /// [`Graph::destroy`] with the fires queued, as [`Graph::notify_deferred`].
    pub fn destroy_deferred(&mut self, object: ObjectId) -> Result<(), Error> {
        self.record(object, Aspect::Whole, "destroyed", true)?;
        let Some(rec) = self.objects.get_mut(object) else {
            return Ok(());
        };
        rec.dead = true;
        // Free the cells nothing waits on; the rest drain as their units are invalidated.
        let mut cells: Vec<u32> = Vec::new();
        if rec.whole != NO_CELL {
            cells.push(rec.whole);
        }
        if let Some(k) = &rec.keyed {
            cells.extend(k.cells.values().copied());
        }
        for c in cells {
            self.maybe_free_cell(c);
        }
        self.maybe_remove_dead(object);
        Ok(())
    }

    /// Opens a batch: events are recorded at once but their fires are held until the
    /// matching [`Graph::end_batch`], which fires each hit unit once with all its causes.
    /// Batches nest; only the outermost `end_batch` delivers.
    ///
    /// A unit registered while the batch is open sees only the events recorded after
    /// its registration: it was compiled against the values those earlier events
    /// wrote. A unit unregistered while the batch is open is not fired, and a cell
    /// reclaimed meanwhile (its units gone, then [`Graph::reset_stability`]) passes
    /// nothing to a cell that takes its slot.
    ///
    /// ```
    /// use depwatch::{Aspect, Dep, Graph, Kind, Verdict};
    /// let mut g: Graph<&str> = Graph::new();
    /// let d = g.track(Kind::Dict, 1);
    /// g.register([Dep::key(d, 1)], "old").unwrap();
    /// g.begin_batch();
    /// g.notify(d, Aspect::Key(1), "first", &mut |_, _| Verdict::Invalidate).unwrap();
    /// g.register([Dep::key(d, 1)], "compiled meanwhile").unwrap();
    /// g.notify(d, Aspect::Key(1), "second", &mut |_, _| Verdict::Invalidate).unwrap();
    /// let mut seen = Vec::new();
    /// g.end_batch(&mut |_, fire| {
    ///     let causes: Vec<_> = fire.causes().iter().map(|c| c.label).collect();
    ///     seen.push((*fire.payload, causes));
    ///     Verdict::Invalidate
    /// })
    /// .unwrap();
    /// assert_eq!(seen, [("old", vec!["first", "second"]), ("compiled meanwhile", vec!["second"])]);
    /// ```
    pub fn begin_batch(&mut self) {
        self.batch_depth += 1;
    }

    /// Closes a batch and delivers its fires (unless nested in another batch or called
    /// from inside a handler, in which case they are queued). Gives [`Error::NoBatch`]
    /// if no batch is open.
    pub fn end_batch(
        &mut self,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Result<Report, Error> {
        if self.batch_depth == 0 {
            return Err(Error::NoBatch);
        }
        self.batch_depth -= 1;
        if self.batch_depth > 0 {
            return Ok(Report {
                deferred: true,
                ..Report::default()
            });
        }
        if let Some(wave) = self.batch.take() {
            self.queue.push_back(wave);
        }
        Ok(self.deliver(handler))
    }

    /// Whether a batch is open.
    pub fn in_batch(&self) -> bool {
        self.batch_depth > 0
    }

    /// Delivers every queued fire. Inside a handler this does nothing and reports
    /// `deferred`: the outer delivery is already draining the queue.
    // Kept out of line so that `notify`, inlined into the VM's write barrier, stays a
    // few instructions when nothing depends on the event.
    #[inline(never)]
    pub fn deliver(
        &mut self,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
    ) -> Report {
        if self.delivering {
            return Report {
                deferred: true,
                ..Report::default()
            };
        }
        if self.batch_depth > 0 && self.queue.is_empty() {
            return Report {
                deferred: true,
                ..Report::default()
            };
        }
        self.delivering = true;
        let mut report = Report::default();
        while let Some(mut wave) = self.queue.pop_front() {
            self.deliver_wave(&mut wave, handler, &mut report);
            if self.spare_waves.len() < 4 {
                wave.clear();
                self.spare_waves.push(wave);
            }
        }
        self.delivering = false;
        // Fires of a batch still open are held for its `end_batch`.
        report.deferred = self.batch.is_some();
        self.flush_watch_changes();
        report
    }

    /// Units with a fire queued and not yet delivered (after a handler panic, inside a
    /// batch, or from `notify_deferred`).
    pub fn pending_fires(&self) -> usize {
        self.units.iter().filter(|(_, r)| r.pending > 0).count()
    }

    /// Records an event. Returns whether it hit anything (and was queued).
    #[inline(always)]
    pub(super) fn record(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
        destroyed: bool,
    ) -> Result<bool, Error> {
        let rec = match self.objects.get_mut(object) {
            Some(r) if !r.dead => r,
            _ => return Err(Error::StaleObject(object)),
        };
        self.epoch += 1;
        rec.version += 1;
        rec.changed_at = self.epoch;
        self.counters.events += 1;
        // Fast path for the common case, an event nobody depends on: at most two cells to
        // look at for a keyed or attribute event, and no allocation.
        let has_dependents = |c: u32| cell_has_dependents(&self.cells, c);
        // For a keyed or attribute event: the key's cell, found once here and handed to
        // the slow path (`NO_CELL` if the key has none).
        let mut key_cell = NO_CELL;
        let quiet = match (aspect, &rec.keyed) {
            (Aspect::Whole, None) => !has_dependents(rec.whole),
            (Aspect::Whole, Some(_)) => false,
            (_, None) => !has_dependents(rec.whole),
            (Aspect::Key(h), Some(_)) if !rec.filter.may_contain(h) => {
                self.counters.prefilter_rejects += 1;
                !has_dependents(rec.whole)
            }
            (_, Some(k)) => {
                key_cell = k.cells.get(&aspect).copied().unwrap_or(NO_CELL);
                !has_dependents(rec.whole) && !has_dependents(key_cell)
            }
        };
        if quiet {
            self.counters.quiet_events += 1;
            if self.config.storm_counts == StormCount::Every {
                self.count_every_event(object, aspect, destroyed);
            }
            return Ok(false);
        }
        let hit = self.record_hits(object, aspect, label, destroyed, key_cell)?;
        if self.config.storm_counts == StormCount::Every {
            // After the snapshot: a cell made here for the count has no dependents.
            self.count_every_event(object, aspect, destroyed);
        }
        Ok(hit)
    }

    /// [`StormCount::Every`]: the event counts toward the storm policy as it is
    /// recorded (`bump_storm` skips a destroy). Out of line, so the default mode's
    /// quiet path stays short.
    #[cold]
    #[inline(never)]
    fn count_every_event(&mut self, object: ObjectId, aspect: Aspect, destroyed: bool) {
        self.bump_storm(object, aspect, destroyed);
    }

    /// The slow path of [`Graph::record`]: something depends on this event. `key_cell`
    /// is the key's cell as `record` found it (`NO_CELL` for none, and for a
    /// whole-object event).
    #[inline(never)]
    pub(super) fn record_hits(
        &mut self,
        object: ObjectId,
        aspect: Aspect,
        label: &'static str,
        destroyed: bool,
        key_cell: u32,
    ) -> Result<bool, Error> {
        let Some(rec) = self.objects.get(object) else {
            return Err(Error::StaleObject(object));
        };
        let mut hit = std::mem::take(&mut self.scratch_cells);
        hit.clear();
        if aspect == Aspect::Whole {
            self.hit_cells(rec, aspect, &mut hit);
        } else {
            hit.extend([rec.whole, key_cell].into_iter().filter(|&c| c != NO_CELL));
        }
        hit.retain(|&c| self.has_live_dependents(c));
        if hit.is_empty() {
            self.counters.quiet_events += 1;
            self.scratch_cells = hit;
            return Ok(false);
        }
        let name = match key_cell {
            NO_CELL => None,
            _ if self.names.is_empty() => None,
            c => self.names.get(&c).cloned(),
        };
        let cause = Cause {
            object,
            kind: rec.kind,
            aspect,
            label,
            name,
            version: rec.version,
            epoch: self.epoch,
            destroyed,
        };
        let mut wave = match self.batch_depth {
            0 => self.spare_waves.pop().unwrap_or_default(),
            _ => match self.batch.take() {
                Some(w) => w,
                None => self.spare_waves.pop().unwrap_or_default(),
            },
        };
        let ci = wave.causes.len() as u32;
        if ci == 0 {
            wave.frees_at_first = self.cells_freed;
        }
        wave.causes.push(cause);
        wave.effective.push(false);
        // Inside a handler, a cell the current wave hit may still list units it fired
        // (until the wave is settled), and a new unit may have reused one's slot.
        let exact = !self.unsettled.is_empty();
        for &c in &hit {
            wave.cell_causes.push(CellCause {
                cell: c,
                generation: self.cell_gens[c as usize],
                cause: ci,
            });
            let cell = self.cells[c as usize].as_ref();
            if let Some(cell) = cell {
                let units = &mut self.units;
                let keys = &self.unit_keys;
                cell.dependents.for_each(|u| {
                    let id = keys[u as usize];
                    if let Some(r) = units.get_mut(id)
                        && (!exact || has_edge_to(&r.edges, c))
                    {
                        r.pending += 1;
                        wave.units.push(id);
                    }
                });
            }
        }
        wave.sealed = false;
        if self.batch_depth == 0 {
            self.queue.push_back(wave);
        } else {
            self.batch = Some(wave);
        }
        self.scratch_cells = hit;
        Ok(true)
    }

    pub(super) fn deliver_wave(
        &mut self,
        wave: &mut Wave,
        handler: &mut impl FnMut(&mut Graph<P>, Fire<'_, P>) -> Verdict,
        report: &mut Report,
    ) {
        wave.seal();
        // A cell freed while the wave waited (in an open batch) may have been reused
        // for another (object, aspect): its generation tells, and its entries go. No
        // unit of the wave can still depend on the freed cell, since a cell is freed
        // only once its set is empty.
        if self.cells_freed != wave.frees_at_first {
            let (cells, gens) = (&self.cells, &self.cell_gens);
            wave.cell_causes.retain(|h| {
                cells[h.cell as usize].is_some() && gens[h.cell as usize] == h.generation
            });
        }
        // Every unit in a hit cell is in this wave. The cells are settled in one pass
        // each when the wave is done, instead of one removal per fired unit.
        let mut wave_cells = std::mem::take(&mut self.spare_wave_cells);
        wave_cells.clear();
        let mut prev = NO_CELL;
        for h in &wave.cell_causes {
            if h.cell != prev {
                wave_cells.push(h.cell);
                prev = h.cell;
            }
        }
        self.unsettled.extend_from_slice(&wave_cells);
        let (causes, cell_causes) = (&wave.causes, &wave.cell_causes);
        let mut hits: Vec<Hit<'_>> = recycle(std::mem::take(&mut self.spare_hits));
        let mut hit_cells = std::mem::take(&mut self.spare_hit_cells);
        let mut hit_causes = std::mem::take(&mut self.spare_hit_causes);
        while wave.cursor < wave.units.len() {
            let unit = wave.units[wave.cursor];
            let run = wave.units[wave.cursor..]
                .iter()
                .take_while(|&&u| u == unit)
                .count();
            wave.cursor += run;
            let Some(rec) = self.units.get_mut(unit) else {
                continue;
            };
            rec.pending = rec.pending.saturating_sub(run as u32);
            // A unit registered while the batch was open sees only the later causes.
            let first_cause = match &wave.late {
                None => 0,
                Some(late) => late_start(late, unit),
            };
            hits.clear();
            hit_cells.clear();
            hit_causes.clear();
            // The unit's edges on the wave's hit cells, in edge order. Edges are sorted
            // by cell, so when the wave hit fewer cells than the unit has edges (the
            // usual case: one event, one or two cells), each hit cell's edges are found
            // by binary search instead of testing every edge.
            let edges = &rec.edges[..];
            let mut add = |cell: u32, run: &[Edge]| {
                let by = cell_run(cell_causes, |h| h.cell, cell);
                let by = match first_cause {
                    0 => by,
                    n => {
                        let from = by.partition_point(|h| h.cause < n);
                        &by[from..]
                    }
                };
                let Some(c) = self.cells[cell as usize]
                    .as_ref()
                    .filter(|_| !by.is_empty())
                else {
                    return;
                };
                for e in run {
                    for &CellCause { cause: ci, .. } in by {
                        hits.push(Hit {
                            dependency: Dependency {
                                object: c.object,
                                aspect: c.aspect,
                                site: e.site,
                            },
                            cause: &causes[ci as usize],
                        });
                        hit_causes.push(ci);
                    }
                }
                hit_cells.push(cell);
            };
            if wave_cells.len() < edges.len() {
                for &cell in &wave_cells {
                    let run = cell_run(edges, |e| e.cell, cell);
                    if !run.is_empty() {
                        add(cell, run);
                    }
                }
            } else {
                for run in edges.chunk_by(|a, b| a.cell == b.cell) {
                    add(run[0].cell, run);
                }
            }
            if hits.is_empty() {
                // Its hit edges were patched away by an earlier fire: nothing depends now.
                continue;
            }
            let Some(mut payload) = rec.payload.take() else {
                continue;
            };
            let terminal = hits.iter().any(|h| h.cause.destroyed);
            self.firing = Some(unit);
            self.counters.fires += 1;
            report.fired += 1;
            let answer = panic::catch_unwind(AssertUnwindSafe(|| {
                handler(
                    self,
                    Fire {
                        unit,
                        payload: &mut payload,
                        hits: &hits,
                    },
                )
            }));
            self.firing = None;
            let (verdict, panic) = match answer {
                Ok(_) if terminal => (Verdict::Invalidate, None),
                Ok(v) => (v, None),
                // A panicking handler: the unit counts as invalidated (the VM may have
                // half-torn it down), the rest of the wave stays queued, and the panic
                // goes on once the graph is consistent.
                Err(p) => (Verdict::Invalidate, Some(p)),
            };
            match verdict {
                Verdict::Invalidate => report.invalidated += 1,
                Verdict::Patched => report.patched += 1,
                Verdict::Rearmed => report.rearmed += 1,
            }
            if verdict != Verdict::Rearmed
                && self.config.storm_threshold > 0
                && self.config.storm_counts == StormCount::Effective
            {
                hit_causes.sort_unstable();
                hit_causes.dedup();
                // Storm counters are bumped before unlinking, so a key cell emptied by
                // this very invalidation keeps its count.
                for &ci in &hit_causes {
                    if !wave.effective[ci as usize] {
                        wave.effective[ci as usize] = true;
                        let c = &wave.causes[ci as usize];
                        self.bump_storm(c.object, c.aspect, c.destroyed);
                    }
                }
            }
            self.apply(unit, payload, verdict, &hit_cells);
            if let Some(panic) = panic {
                self.resume_panic(wave, panic);
            }
        }
        self.settle();
        self.spare_wave_cells = wave_cells;
        self.spare_hits = recycle(hits);
        self.spare_hit_cells = hit_cells;
        self.spare_hit_causes = hit_causes;
    }

    /// After a handler panicked and its unit was applied: settles, puts the rest of the
    /// wave back at the front of the queue, and resumes the panic. Out of line, so the
    /// delivery loop's code stays small.
    #[cold]
    #[inline(never)]
    fn resume_panic(&mut self, wave: &mut Wave, panic: Box<dyn std::any::Any + Send>) -> ! {
        self.settle();
        self.queue.push_front(std::mem::take(wave));
        self.delivering = false;
        self.flush_watch_changes();
        panic::resume_unwind(panic)
    }

    /// Drops from every unsettled cell the units that no longer depend on it: dead
    /// units, and units whose edges to it were patched away. It only removes what
    /// unlinking would have removed. But it also empties the list of unsettled cells,
    /// so it runs only when a wave is done (or a handler panics), never in the middle:
    /// the wave's later fires leave their units in those cells too, and nothing would
    /// settle them. Until then, code that reads a hit cell from inside a handler checks
    /// each entry (`has_live_dependents`, `record_hits`, `dependents`); a unit
    /// registered into a reused slot that finds its slot already listed simply takes
    /// the entry over, and the settle keeps it.
    pub(super) fn settle(&mut self) {
        if self.unsettled.is_empty() {
            return;
        }
        let mut cells = std::mem::take(&mut self.unsettled);
        cells.sort_unstable();
        cells.dedup();
        for &c in &cells {
            let (units, keys) = (&self.units, &self.unit_keys);
            let Some(cell) = self.cells[c as usize].as_mut() else {
                continue;
            };
            if cell.dependents.is_empty() {
                continue;
            }
            cell.dependents.retain(|slot| {
                units
                    .get(keys[slot as usize])
                    .is_some_and(|r| has_edge_to(&r.edges, c))
            });
            if cell.dependents.is_empty() {
                self.cell_emptied(c);
            }
        }
        cells.clear();
        self.unsettled = cells;
    }

    pub(super) fn apply(&mut self, unit: UnitId, payload: P, verdict: Verdict, hit_cells: &[u32]) {
        let idx = slot_index(unit);
        match verdict {
            Verdict::Invalidate => {
                self.counters.invalidated += 1;
                if let Some(rec) = self.units.remove(unit) {
                    // The hit cells are settled when the wave is done.
                    self.unlink_all_except(idx, &rec.edges, hit_cells);
                }
                drop(payload);
            }
            Verdict::Patched => self.keep_unhit_edges(unit, payload, hit_cells),
            Verdict::Rearmed => {
                self.counters.rearmed += 1;
                if let Some(rec) = self.units.get_mut(unit) {
                    rec.payload = Some(payload);
                }
            }
        }
    }

    /// The [`Verdict::Patched`] arm of `apply`: the unit keeps its payload and its edges
    /// to cells the wave did not hit. Out of line: invalidation is the common answer.
    #[inline(never)]
    fn keep_unhit_edges(&mut self, unit: UnitId, payload: P, hit_cells: &[u32]) {
        self.counters.patched += 1;
        let Some(rec) = self.units.get_mut(unit) else {
            return;
        };
        rec.payload = Some(payload);
        // In place: the edge list shrinks with one `realloc`, instead of a new list
        // grown edge by edge and the old one freed.
        let mut edges = std::mem::take(&mut rec.edges).into_vec();
        let before = edges.len();
        edges.retain(|e| hit_cells.binary_search(&e.cell).is_err());
        self.live_edges -= before - edges.len();
        // The hit cells, the only ones losing this unit, are settled when the
        // wave is done.
        rec.edges = edges.into_boxed_slice();
    }
}

/// The first cause index that can fire `unit`, from a sealed wave's `late` list: 0 for
/// a unit registered before the wave's first event.
#[cold]
#[inline(never)]
fn late_start(late: &[(UnitId, u32)], unit: UnitId) -> u32 {
    match late.binary_search_by_key(&unit, |&(u, _)| u) {
        Ok(i) => late[i].1,
        Err(_) => 0,
    }
}

/// Whether cell `c` exists and has a dependent; `NO_CELL` has none. A function, not a
/// closure in `record`: the closure was compiled out of line, a call on every quiet
/// event.
#[inline(always)]
fn cell_has_dependents(cells: &[Option<Cell>], c: u32) -> bool {
    matches!(cells.get(c as usize), Some(Some(cell)) if !cell.dependents.is_empty())
}
