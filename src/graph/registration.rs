//! Registering and unregistering units, and the queries on them.

use super::*;

impl<P> Graph<P> {
    /// Registers a unit with its dependencies.
    ///
    /// Duplicate (object, aspect, site) triples are collapsed into one edge. Fails,
    /// handing the payload back, if there are no dependencies, if a dependency's object
    /// is not live, or if the storm policy marked a dependency unstable. Costs
    /// O(dependencies).
    pub fn register(
        &mut self,
        deps: impl IntoIterator<Item = Dep>,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        self.register_inner(deps, payload, None)
    }

    /// Registers a unit whose dependencies are built with access to the graph, as the
    /// [adapters](crate::adapters) need when they track objects on first use.
    ///
    /// ```
    /// use depwatch::adapters::DictAdapter;
    /// use depwatch::Graph;
    /// let mut graph: Graph<&str> = Graph::new();
    /// let mut dicts = DictAdapter::new();
    /// let unit = graph
    ///     .register_with(|g| [dicts.key(g, 0x1000, 42), dicts.key(g, 0x2000, 42)], "calls len")
    ///     .unwrap();
    /// assert_eq!(graph.dependencies(unit).unwrap().len(), 2);
    /// ```
    pub fn register_with<D: IntoIterator<Item = Dep>>(
        &mut self,
        build: impl FnOnce(&mut Self) -> D,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        let deps: Vec<Dep> = build(self).into_iter().collect();
        self.register(deps, payload)
    }

    /// Takes a compile ticket. See [`Ticket`].
    pub fn ticket(&self) -> Ticket {
        Ticket {
            graph: self.uid,
            epoch: self.epoch,
        }
    }

    /// Registers a unit compiled under `ticket`: fails with [`Error::StaleTicket`] if any
    /// object it depends on had an event after the ticket was taken.
    ///
    /// ```
    /// use depwatch::{Dep, Error, Graph, Kind, Verdict};
    /// let mut g: Graph<&str> = Graph::new();
    /// let globals = g.track(Kind::Dict, 0);
    /// let ticket = g.ticket();
    /// // ... the compiler reads globals["x"] ... and meanwhile the program writes it:
    /// g.notify(globals, depwatch::Aspect::Key(7), "dict.MODIFIED", &mut |_, _| Verdict::Invalidate)
    ///     .unwrap();
    /// let err = g.register_with_ticket(&ticket, [Dep::key(globals, 7)], "code").unwrap_err();
    /// assert_eq!(err.error, Error::StaleTicket { object: globals });
    /// ```
    pub fn register_with_ticket(
        &mut self,
        ticket: &Ticket,
        deps: impl IntoIterator<Item = Dep>,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        self.register_inner(deps, payload, Some(ticket))
    }

    /// Checks one dependency without changing anything (live, stable, unchanged since
    /// the ticket) and returns its cell if it has one, else `NO_CELL`.
    pub(super) fn check_dep(&self, dep: &Dep, ticket: Option<&Ticket>) -> Result<u32, Error> {
        let rec = self.object(dep.object)?;
        let cell = self.find_cell(rec, dep.aspect);
        check_acceptable(dep.object, rec, dep.aspect, ticket, || {
            cell.is_some_and(|c| self.cell(c).unstable)
        })?;
        Ok(cell.unwrap_or(NO_CELL))
    }

    /// Registration in two passes. The first only reads: it checks every dependency and
    /// finds the cells that exist, so a rejected unit changes nothing, and the lookups of
    /// different dependencies (independent cache misses) overlap in the CPU. The second
    /// creates the missing cells and links; it reuses what the first found, so each
    /// existing cell is probed once.
    pub(super) fn register_inner(
        &mut self,
        deps: impl IntoIterator<Item = Dep>,
        payload: P,
        ticket: Option<&Ticket>,
    ) -> Result<UnitId, Rejected<P>> {
        let mut deps_buf = std::mem::take(&mut self.scratch_deps);
        deps_buf.clear();
        deps_buf.extend(deps);
        let mut edges = std::mem::take(&mut self.scratch_edges);
        edges.clear();
        let check = |edges: &mut Vec<Edge>| -> Result<(), Error> {
            if deps_buf.is_empty() {
                return Err(Error::NoDependencies);
            }
            if ticket.is_some_and(|t| t.graph != self.uid) {
                return Err(Error::ForeignTicket);
            }
            if !self.has_room_for_cells(deps_buf.len()) {
                return Err(Error::Full);
            }
            for d in &deps_buf {
                let cell = self.check_dep(d, ticket)?;
                edges.push(Edge { cell, site: d.site });
            }
            Ok(())
        };
        if let Err(error) = check(&mut edges) {
            deps_buf.clear();
            self.scratch_deps = deps_buf;
            self.scratch_edges = edges;
            return Err(Rejected { error, payload });
        }
        // Everything is checked: from here on nothing fails.
        for (e, d) in edges.iter_mut().zip(deps_buf.drain(..)) {
            if e.cell == NO_CELL {
                e.cell = self.cell_for(d.object, d.aspect);
            }
            if let Some(name) = d.name {
                self.names.entry(e.cell).or_insert(name);
            }
        }
        self.scratch_deps = deps_buf;
        Ok(self.insert_unit(edges, payload))
    }

    /// Inserts a unit with checked edges (on live cells) and links it; hands the edge
    /// buffer back to the scratch slot.
    fn insert_unit(&mut self, mut edges: Vec<Edge>, payload: P) -> UnitId {
        if !edges.is_sorted() {
            edges.sort_unstable();
        }
        edges.dedup();
        let unit = self.units.insert(UnitRecord {
            payload: Some(payload),
            edges: Box::from(&edges[..]),
            pending: 0,
        });
        let idx = slot_index(unit);
        if self.unit_keys.len() <= idx as usize {
            self.unit_keys.resize(idx as usize + 1, UnitId::default());
        }
        self.unit_keys[idx as usize] = unit;
        // Compiled after the open batch's events so far: it must not see them.
        if let Some(batch) = self.batch.as_mut()
            && !batch.causes.is_empty()
        {
            let late = batch.late.get_or_insert_default();
            late.push((unit, batch.causes.len() as u32));
        }
        for c in distinct_cells(&edges) {
            self.link(idx, c);
        }
        self.live_edges += edges.len();
        self.scratch_edges = edges;
        self.flush_watch_changes();
        unit
    }

    /// The handle of the cell for (`object`, `aspect`), created if absent. See
    /// [`CellHandle`].
    pub fn cell_handle(&mut self, object: ObjectId, aspect: Aspect) -> Result<CellHandle, Error> {
        self.object(object)?;
        if !self.has_room_for_cells(1) {
            return Err(Error::Full);
        }
        let index = self.cell_for(object, aspect);
        Ok(CellHandle {
            index,
            generation: self.cell_gens[index as usize],
        })
    }

    /// Registers a unit whose dependencies are given as cell handles, each with its
    /// site: [`Graph::register`] without the per-dependency key lookup. Refuses, handing
    /// the payload back, as `register` does, and with [`Error::StaleCell`] for a handle
    /// whose cell was reclaimed.
    pub fn register_cells(
        &mut self,
        cells: impl IntoIterator<Item = (CellHandle, Site)>,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        self.register_cells_inner(cells, payload, None)
    }

    /// [`Graph::register_cells`] under a compile ticket, as
    /// [`Graph::register_with_ticket`].
    pub fn register_cells_with_ticket(
        &mut self,
        ticket: &Ticket,
        cells: impl IntoIterator<Item = (CellHandle, Site)>,
        payload: P,
    ) -> Result<UnitId, Rejected<P>> {
        self.register_cells_inner(cells, payload, Some(ticket))
    }

    /// Checks one handle as `check_dep` checks a dependency, in the same order.
    fn check_cell(&self, h: CellHandle, ticket: Option<&Ticket>) -> Result<u32, Error> {
        let cell = match self.cells.get(h.index as usize) {
            Some(Some(cell)) if self.cell_gens[h.index as usize] == h.generation => cell,
            _ => return Err(Error::StaleCell(h)),
        };
        let rec = self.object(cell.object)?;
        check_acceptable(cell.object, rec, cell.aspect, ticket, || cell.unstable)?;
        Ok(h.index)
    }

    fn register_cells_inner(
        &mut self,
        cells: impl IntoIterator<Item = (CellHandle, Site)>,
        payload: P,
        ticket: Option<&Ticket>,
    ) -> Result<UnitId, Rejected<P>> {
        let mut edges = std::mem::take(&mut self.scratch_edges);
        edges.clear();
        let check = || -> Result<(), Error> {
            // The same refusals, in the same order, as `register`.
            let mut cells = cells.into_iter().peekable();
            if cells.peek().is_none() {
                return Err(Error::NoDependencies);
            }
            if ticket.is_some_and(|t| t.graph != self.uid) {
                return Err(Error::ForeignTicket);
            }
            for (h, site) in cells {
                let cell = self.check_cell(h, ticket)?;
                edges.push(Edge { cell, site });
            }
            Ok(())
        };
        if let Err(error) = check() {
            self.scratch_edges = edges;
            return Err(Rejected { error, payload });
        }
        Ok(self.insert_unit(edges, payload))
    }

    /// Unregisters a live unit and returns its payload. Unregistering twice gives
    /// [`Error::StaleUnit`]; unregistering the unit being fired gives
    /// [`Error::UnitFiring`]. A queued fire for the unit is dropped.
    pub fn unregister(&mut self, unit: UnitId) -> Result<P, Error> {
        if self.firing == Some(unit) {
            return Err(Error::UnitFiring(unit));
        }
        let rec = self.units.remove(unit).ok_or(Error::StaleUnit(unit))?;
        self.unlink_all(slot_index(unit), &rec.edges);
        self.flush_watch_changes();
        rec.payload.ok_or(Error::UnitFiring(unit))
    }

    /// Whether the unit is live and has no fire queued for it.
    pub fn is_valid(&self, unit: UnitId) -> bool {
        self.units.get(unit).is_some_and(|r| r.pending == 0)
    }

    /// The unit's payload.
    pub fn payload(&self, unit: UnitId) -> Result<&P, Error> {
        let rec = self.units.get(unit).ok_or(Error::StaleUnit(unit))?;
        rec.payload.as_ref().ok_or(Error::UnitFiring(unit))
    }

    /// The unit's payload, mutably.
    pub fn payload_mut(&mut self, unit: UnitId) -> Result<&mut P, Error> {
        let rec = self.units.get_mut(unit).ok_or(Error::StaleUnit(unit))?;
        rec.payload.as_mut().ok_or(Error::UnitFiring(unit))
    }

    /// The unit's live dependencies, sorted by [`Dependency`]'s order and deduplicated.
    pub fn dependencies(&self, unit: UnitId) -> Result<Vec<Dependency>, Error> {
        let rec = self.units.get(unit).ok_or(Error::StaleUnit(unit))?;
        // Edges are sorted by internal cell number; the caller gets the public order.
        let mut deps: Vec<Dependency> = rec
            .edges
            .iter()
            .map(|e| {
                let c = self.cell(e.cell);
                Dependency {
                    object: c.object,
                    aspect: c.aspect,
                    site: e.site,
                }
            })
            .collect();
        deps.sort_unstable();
        Ok(deps)
    }

    /// Whether an event on (`object`, `aspect`) would fire any unit now. A query only,
    /// as cheap as a quiet event: a VM can use it to skip work (such as reading the old
    /// value of a dict entry) that only matters when something depends on the change.
    ///
    /// ```
    /// use depwatch::{Aspect, Dep, Graph, Kind};
    /// let mut g: Graph<()> = Graph::new();
    /// let d = g.track(Kind::Dict, 1);
    /// g.register([Dep::key(d, 7)], ()).unwrap();
    /// assert!(g.would_fire(d, Aspect::Key(7)).unwrap());
    /// assert!(!g.would_fire(d, Aspect::Key(8)).unwrap());
    /// assert!(g.would_fire(d, Aspect::Whole).unwrap());
    /// ```
    pub fn would_fire(&self, object: ObjectId, aspect: Aspect) -> Result<bool, Error> {
        let rec = self.object(object)?;
        let has = |c: u32| self.has_live_dependents(c);
        if rec.whole != NO_CELL && has(rec.whole) {
            return Ok(true);
        }
        let Some(k) = &rec.keyed else {
            return Ok(false);
        };
        Ok(match aspect {
            Aspect::Whole => k.cells.values().any(|&c| has(c)),
            Aspect::Key(h) if !rec.filter.may_contain(h) => false,
            _ => k.cells.get(&aspect).is_some_and(|&c| has(c)),
        })
    }

    /// The live units an event on (`object`, `aspect`) would hit now, in ID order. A
    /// query only: nothing is recorded.
    pub fn dependents(&self, object: ObjectId, aspect: Aspect) -> Result<Vec<UnitId>, Error> {
        let rec = self.object(object)?;
        let mut hit = Vec::new();
        self.hit_cells(rec, aspect, &mut hit);
        let mut units = Vec::new();
        for c in hit {
            self.cell(c).dependents.for_each(|u| {
                let id = self.unit_keys[u as usize];
                // Inside a handler, a hit cell may still list units the wave has fired.
                if self.units.get(id).is_some_and(|r| has_edge_to(&r.edges, c)) {
                    units.push(id);
                }
            });
        }
        units.sort_unstable();
        units.dedup();
        Ok(units)
    }
}

/// The refusals a dependency on a live object can meet, in order: the object unstable,
/// its (`aspect`) cell unstable, a change since the ticket.
///
/// `cell_unstable` is asked only once the object passed. Computing it first (it reads
/// the cell) made `register/8` 1.6x slower, though the same loads happen either way
/// (design/DECISIONS.md §7).
fn check_acceptable(
    object: ObjectId,
    rec: &ObjectRecord,
    aspect: Aspect,
    ticket: Option<&Ticket>,
    cell_unstable: impl FnOnce() -> bool,
) -> Result<(), Error> {
    if rec.unstable {
        return Err(Error::Unstable {
            object,
            aspect: Aspect::Whole,
        });
    }
    if cell_unstable() {
        return Err(Error::Unstable { object, aspect });
    }
    if ticket.is_some_and(|t| rec.changed_at > t.epoch) {
        return Err(Error::StaleTicket { object });
    }
    Ok(())
}
