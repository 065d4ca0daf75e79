//! The boundary: the graph shell and its state, entering a call (magic word, watch-hook
//! and handler reentrancy), statuses and the thread's last error, pointer arguments,
//! ID scrambling, and label interning.
//!
//! # How a call reaches the graph
//!
//! A `dw_graph *` points at a [`dw_graph`] shell: a magic word and a pointer to the
//! [`State`]. The shell is never freed: `dw_graph_free` frees the state, writes
//! `MAGIC_FREED`, and keeps the shell in a process-wide list, so a freed graph passed
//! again is always caught (16 bytes per freed graph, kept until exit).
//!
//! The state's fields are reached through raw field pointers, never through a
//! reference to the whole state, so that a handler's reentrant call and the outer call
//! never hold overlapping references:
//!
//! * the core graph: an outer call takes `&mut` to it from the state; while a handler
//!   runs, `Flags::active` holds the `&mut Graph` the core handed the handler (as a
//!   raw pointer), and a reentrant call uses that one, a reborrow of the outer;
//! * the side state (adapters, tables, buffers): borrowed only in short scopes in which
//!   no C code can run but the watch hook, and the hook cannot call in;
//! * the flags: atomics, shared with the watch hook.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_void};
use std::hash::{BuildHasher, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dw::adapters::{
    CodeAdapter, DictAdapter, FunctionAdapter, TypeAdapter, WatchRequest, WatchRequests,
};
use dw::{
    Aspect, Attr, CellHandle, Config, Error, Graph, Kind, ObjectId, Rejected, StormCount, Ticket,
    UnitId,
};
use slotmap::{Key, KeyData};

use crate::rings::{DedupRing, Ring};
use crate::*;

/// The core graph as the C ABI instantiates it.
///
/// cbindgen:ignore
pub(crate) type Core = Graph<dw_payload>;

const MAGIC_LIVE: u64 = 0x6477_6772_6170_6821; // "dwgraph!"
const MAGIC_FREED: u64 = 0x6477_6672_6565_6421; // "dwfreed!"

/// Cell handles C can hold at once per graph (see `dw_cell_handle`).
pub(crate) const CELL_TABLE: usize = 1 << 16;
/// Tickets C can hold at once per graph (see `dw_take_ticket`).
pub(crate) const TICKET_TABLE: usize = 256;

/// An opaque depwatch graph. Create it with [`dw_graph_new`], free it with
/// [`dw_graph_free`].
pub struct dw_graph {
    magic: AtomicU64,
    state: *mut State,
}

/// Freed shells, kept so that they stay allocated, and reachable for leak checkers, for
/// the life of the process. Never dereferenced from here.
static TOMBSTONES: Mutex<Vec<AtomicPtr<dw_graph>>> = Mutex::new(Vec::new());

pub(crate) struct Flags {
    /// The watch hook is running: every call is refused.
    pub(crate) in_hook: AtomicBool,
    /// While a handler runs: the graph the core handed it.
    pub(crate) active: AtomicPtr<Core>,
}

/// Per-graph keys that scramble the IDs C sees.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Salts {
    object: u64,
    unit: u64,
    cell: u64,
    ticket: u64,
}

impl Salts {
    fn random() -> Self {
        let mut seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let mut next = || {
            // splitmix64
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            object: next(),
            unit: next(),
            cell: next(),
            ticket: next(),
        }
    }

    pub(crate) fn object(&self, id: ObjectId) -> dw_object {
        id.data().as_ffi() ^ self.object
    }

    pub(crate) fn object_id(&self, raw: dw_object) -> ObjectId {
        KeyData::from_ffi(raw ^ self.object).into()
    }

    pub(crate) fn unit(&self, id: UnitId) -> dw_unit {
        id.data().as_ffi() ^ self.unit
    }

    pub(crate) fn unit_id(&self, raw: dw_unit) -> UnitId {
        KeyData::from_ffi(raw ^ self.unit).into()
    }
}

/// Everything but the core graph.
pub(crate) struct Side {
    pub(crate) dicts: DictAdapter,
    pub(crate) funcs: FunctionAdapter,
    pub(crate) codes: CodeAdapter,
    pub(crate) types: TypeAdapter,
    /// Fed by the watch hook and by type re-arms, if `DW_CONFIG_WATCH_REQUESTS`.
    pub(crate) requests: Option<WatchRequests>,
    /// Requests drained from `requests` but not yet handed to C. They keep their
    /// `ObjectId`, so those whose object died meanwhile are dropped when handed out.
    pub(crate) pending_requests: VecDeque<WatchRequest>,
    cells: DedupRing<CellHandle>,
    tickets: Ring<Ticket>,
    labels: Labels,
    /// Every unit registered through C, some dead; compacted as it grows.
    units: Vec<UnitId>,
    compact_at: usize,
    /// Delivery's buffers, taken for one fire and put back.
    pub(crate) causes_buf: Vec<dw_cause>,
    pub(crate) hits_buf: Vec<dw_hit>,
    /// Which core cause each entry of `causes_buf` came from (by address).
    pub(crate) cause_keys: Vec<usize>,
    /// Registration's dependency buffer.
    pub(crate) deps_buf: Vec<dw::Dep>,
}

pub(crate) struct State {
    core: Core,
    side: Side,
    flags: Arc<Flags>,
    salts: Salts,
    config: dw_config,
}

/// One call's view of the graph.
pub(crate) struct Ctx<'a> {
    pub(crate) core: &'a mut Core,
    side: *mut Side,
    pub(crate) flags: &'a Arc<Flags>,
    pub(crate) salts: Salts,
    pub(crate) config: dw_config,
    pub(crate) shell: *mut dw_graph,
    /// Made from inside a handler.
    pub(crate) reentrant: bool,
}

impl Ctx<'_> {
    /// The side state. The borrow holds all of `self`, so no core call (and so no C
    /// callback) can run while it lives.
    pub(crate) fn side(&mut self) -> &mut Side {
        // SAFETY: `side` points at the live state's side field (the state outlives the
        // call: it is freed only by `dw_graph_free`, which is refused while a handler
        // runs). The only other code that borrows the side is a reentrant call from a
        // handler or the delivery trampoline, and neither can run while this borrow
        // lives: it holds `self`, so no core call can be made meanwhile.
        unsafe { &mut *self.side }
    }

    /// The core and the side together, for calls that cannot run a handler: the only C
    /// code such a call can run is the watch hook, which cannot call in.
    pub(crate) fn split(&mut self) -> (&mut Core, &mut Side) {
        // SAFETY: as in `side`; the caller passes the core only to calls that deliver
        // nothing to a handler (the adapters' recording phase, queries, registration).
        let side = unsafe { &mut *self.side };
        (self.core, side)
    }

    /// The raw side pointer, for the delivery trampoline, which borrows it only around
    /// (never across) the handler call.
    pub(crate) fn side_ptr(&self) -> *mut Side {
        self.side
    }

    pub(crate) fn object(&self, raw: dw_object) -> ObjectId {
        self.salts.object_id(raw)
    }

    pub(crate) fn unit(&self, raw: dw_unit) -> UnitId {
        self.salts.unit_id(raw)
    }

    /// Records a unit registered through C and returns its C ID.
    pub(crate) fn registered(&mut self, unit: UnitId) -> dw_unit {
        let (core, side) = self.split();
        side.units.push(unit);
        if side.units.len() >= side.compact_at {
            side.units
                .retain(|&u| !matches!(core.payload(u), Err(Error::StaleUnit(_))));
            side.compact_at = (2 * side.units.len()).max(64);
        }
        self.salts.unit(unit)
    }

    /// Takes the list of units registered through C (some dead), for `dw_unregister_all`.
    pub(crate) fn take_units(&mut self) -> Vec<UnitId> {
        std::mem::take(&mut self.side().units)
    }

    /// Puts back units that survived `dw_unregister_all`, after any registered meanwhile.
    pub(crate) fn put_back_units(&mut self, survivors: Vec<UnitId>) {
        self.side().units.extend(survivors);
    }

    pub(crate) fn cell_serial(&mut self, h: CellHandle) -> dw_cell {
        let salt = self.salts.cell;
        self.side().cells.insert(h) ^ salt
    }

    pub(crate) fn cell_handle(&mut self, raw: dw_cell) -> Result<CellHandle, Failure> {
        let salt = self.salts.cell;
        self.side().cells.get(raw ^ salt).ok_or_else(|| {
            Failure::new(
                DW_ERR_STALE_CELL,
                format!(
                    "cell handle {raw:#x} is stale: its cell was reclaimed, it was forgotten \
                     (more than {CELL_TABLE} newer handles), or it belongs to another graph"
                ),
            )
        })
    }

    pub(crate) fn ticket_serial(&mut self, t: Ticket) -> dw_ticket {
        let salt = self.salts.ticket;
        self.side().tickets.insert(t).0 ^ salt
    }

    pub(crate) fn ticket(&mut self, raw: dw_ticket) -> Result<Ticket, Failure> {
        let serial = raw ^ self.salts.ticket;
        let tickets = &self.side().tickets;
        match tickets.get(serial) {
            Some(t) => Ok(t),
            None if tickets.issued(serial) => Err(Failure::new(
                DW_ERR_STALE_TICKET,
                format!(
                    "ticket {raw:#x} expired: more than {TICKET_TABLE} newer tickets were taken; \
                     recompile"
                ),
            )),
            None => Err(Failure::new(
                DW_ERR_FOREIGN_TICKET,
                format!("ticket {raw:#x} was not taken from this graph"),
            )),
        }
    }

    /// The `&'static str` the core gets for a C label (NULL: the empty label): found by
    /// pointer among the recently seen labels, or read and interned.
    ///
    /// # Safety
    ///
    /// `label` is NULL or a NUL-terminated string.
    #[inline]
    pub(crate) unsafe fn label(&mut self, label: *const c_char) -> Result<&'static str, Failure> {
        if label.is_null() {
            return Ok("");
        }
        let labels = &mut self.side().labels;
        if let Some(s) = labels.recent(label as usize) {
            return Ok(s);
        }
        // SAFETY: the caller's contract: a non-NULL label is NUL-terminated and readable.
        let bytes = unsafe { CStr::from_ptr(label) }.to_bytes();
        labels.intern_c(label as usize, bytes)
    }
}

// ----- labels -----------------------------------------------------------------------

/// Process-wide interned labels: the `&'static str` handed to the core (followed in
/// memory by a NUL) and the same bytes as a C string. A plain list, searched only when
/// a graph meets a label for the first time: VMs use a few dozen labels. (A hash map's
/// table is referenced from inside, which leak checkers report as possibly lost.)
type Interned = (&'static str, &'static CStr);

static INTERNED: Mutex<Vec<Interned>> = Mutex::new(Vec::new());

/// Interns `bytes` (no NUL inside) for the life of the process.
fn intern(bytes: &[u8]) -> Result<Interned, Failure> {
    let mut list = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&i) = list.iter().find(|(s, _)| s.as_bytes() == bytes) {
        return Ok(i);
    }
    let s = std::str::from_utf8(bytes)
        .map_err(|_| Failure::new(DW_ERR_INVALID_ARGUMENT, "a label is not UTF-8".into()))?;
    let c: &'static CStr = Box::leak(
        CString::new(s)
            .map_err(|_| Failure::new(DW_ERR_INVALID_ARGUMENT, "a label has a NUL".into()))?
            .into_boxed_c_str(),
    );
    // The same bytes, checked as UTF-8 above.
    let text = std::str::from_utf8(c.to_bytes()).unwrap_or_default();
    list.push((text, c));
    Ok((text, c))
}

/// A graph's label caches, in front of the process-wide interner.
#[derive(Default)]
struct Labels {
    /// Recently seen C label pointers and their interned text.
    recent: Vec<(usize, Interned)>,
    next: usize,
    /// (pointer, length) of a label the core reports → its C string. A list: a graph
    /// meets a few dozen labels, and a linear scan of them beats hashing the key.
    to_c: Vec<((usize, usize), &'static CStr)>,
}

const RECENT_LABELS: usize = 16;

impl Labels {
    /// The text of a recently seen label pointer. Labels are string literals in
    /// practice, so a pointer seen before is trusted to hold the same text: a quiet
    /// event then pays a few compares, not a `strlen` (design/DECISIONS.md §9).
    #[inline]
    fn recent(&self, addr: usize) -> Option<&'static str> {
        self.recent
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, (s, _))| *s)
    }

    fn intern_c(&mut self, addr: usize, bytes: &[u8]) -> Result<&'static str, Failure> {
        let interned = intern(bytes)?;
        if self.recent.len() < RECENT_LABELS {
            self.recent.push((addr, interned));
        } else {
            self.recent[self.next] = (addr, interned);
            self.next = (self.next + 1) % RECENT_LABELS;
        }
        let key = (interned.0.as_ptr() as usize, interned.0.len());
        if !self.to_c.iter().any(|(k, _)| *k == key) {
            self.to_c.push((key, interned.1));
        }
        Ok(interned.0)
    }

    /// The C string for a label the core reports.
    fn c_string(&mut self, label: &'static str) -> *const c_char {
        let key = (label.as_ptr() as usize, label.len());
        if let Some((_, c)) = self.to_c.iter().find(|(k, _)| *k == key) {
            return c.as_ptr();
        }
        match intern(label.as_bytes()) {
            Ok((_, c)) => {
                self.to_c.push((key, c));
                c.as_ptr()
            }
            // Labels from the core are literals without NUL; this is unreachable, but an
            // empty label is the harmless answer.
            Err(_) => c"".as_ptr(),
        }
    }
}

impl Side {
    pub(crate) fn c_label(&mut self, label: &'static str) -> *const c_char {
        self.labels.c_string(label)
    }
}

// ----- statuses and the last error ---------------------------------------------------

/// A refused call: its status and message.
#[derive(Debug)]
pub(crate) struct Failure {
    status: dw_status,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: dw_status, message: String) -> Self {
        Self { status, message }
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> dw_status {
        self.status
    }

    pub(crate) fn null(what: &str) -> Self {
        Self::new(DW_ERR_NULL_POINTER, format!("{what} is NULL"))
    }

    pub(crate) fn unknown(what: &str, value: i64) -> Self {
        Self::new(DW_ERR_UNKNOWN_ENUM, format!("unknown {what} {value}"))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::StaleObject(_) => DW_ERR_STALE_OBJECT,
            Error::StaleUnit(_) => DW_ERR_STALE_UNIT,
            Error::NoDependencies => DW_ERR_NO_DEPENDENCIES,
            Error::Unstable { .. } => DW_ERR_UNSTABLE,
            Error::StaleTicket { .. } => DW_ERR_STALE_TICKET,
            Error::ForeignTicket => DW_ERR_FOREIGN_TICKET,
            Error::UnitFiring(_) => DW_ERR_UNIT_FIRING,
            Error::StaleCell(_) => DW_ERR_STALE_CELL,
            Error::NoBatch => DW_ERR_NO_BATCH,
            Error::Full => DW_ERR_FULL,
            // `Error` may grow; a new refusal is still a refusal.
            #[allow(unreachable_patterns)]
            _ => DW_ERR_INVALID_ARGUMENT,
        };
        Self::new(status, e.to_string())
    }
}

impl<P> From<Rejected<P>> for Failure {
    fn from(r: Rejected<P>) -> Self {
        r.error.into()
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // During thread exit the slot may be gone; the message is then dropped.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// The calling thread's last error message, as a C string valid until the thread's
/// next failing call.
pub(crate) fn last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// Runs one entry point: catches panics, turns failures into statuses and messages.
pub(crate) fn status_of(f: impl FnOnce() -> Result<(), Failure>) -> dw_status {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => DW_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            set_last_error(&format!("depwatch panicked: {what}"));
            DW_ERR_PANIC
        }
    }
}

// ----- entering a graph --------------------------------------------------------------

/// Checks a graph pointer: not NULL, not freed.
///
/// # Safety
///
/// `g` is NULL or a pointer returned by `dw_graph_new` (freed or not).
unsafe fn shell<'a>(g: *mut dw_graph) -> Result<&'a dw_graph, Failure> {
    if g.is_null() {
        return Err(Failure::null("the graph"));
    }
    // SAFETY: a non-NULL `g` came from `dw_graph_new`, whose shells are never freed
    // (a freed graph's shell is kept as a tombstone), so it is readable; it is only
    // ever accessed through shared references (the magic word is atomic).
    let shell = unsafe { &*g };
    match shell.magic.load(Ordering::Relaxed) {
        MAGIC_LIVE => Ok(shell),
        MAGIC_FREED => Err(Failure::new(
            DW_ERR_FREED_GRAPH,
            "the graph was freed by dw_graph_free".into(),
        )),
        _ => Err(Failure::new(
            DW_ERR_FREED_GRAPH,
            "the pointer is not a depwatch graph (bad magic word)".into(),
        )),
    }
}

/// Runs `f` on the graph `g`: an outer call, or a reentrant one from a handler.
///
/// # Safety
///
/// `g` is NULL or a pointer returned by `dw_graph_new`, and no other thread is using
/// the graph.
pub(crate) unsafe fn with_graph(
    g: *mut dw_graph,
    f: impl FnOnce(&mut Ctx<'_>) -> Result<(), Failure>,
) -> dw_status {
    status_of(|| {
        // SAFETY: the caller's contract.
        let shell = unsafe { shell(g) }?;
        let state = shell.state;
        // SAFETY: the magic word is live, so `state` is the live state; the flags field
        // is only ever borrowed shared.
        let flags: &Arc<Flags> = unsafe { &*ptr::addr_of!((*state).flags) };
        if flags.in_hook.load(Ordering::Relaxed) {
            return Err(Failure::new(
                DW_ERR_REENTRANT,
                "the watch hook may not call into the graph".into(),
            ));
        }
        let active = flags.active.load(Ordering::Relaxed);
        let reentrant = !active.is_null();
        // SAFETY: inside a handler, `active` is the `&mut Graph` the core handed the
        // handler (a reborrow of the outer call's), unused by the core until the
        // handler returns. Outside one, no other reference to the core exists: calls
        // are serialized (the caller's contract), and the watch hook holds none.
        let core: &mut Core = unsafe {
            if reentrant {
                &mut *active
            } else {
                &mut *ptr::addr_of_mut!((*state).core)
            }
        };
        let mut ctx = Ctx {
            core,
            // SAFETY: a field pointer of the live state; no reference is made here.
            side: unsafe { ptr::addr_of_mut!((*state).side) },
            flags,
            // SAFETY: plain `Copy` fields, written once at creation.
            salts: unsafe { *ptr::addr_of!((*state).salts) },
            // SAFETY: as above.
            config: unsafe { *ptr::addr_of!((*state).config) },
            shell: g,
            reentrant,
        };
        f(&mut ctx)
    })
}

pub(crate) fn config_of(c: &dw_config) -> Result<Config, Failure> {
    let known = DW_CONFIG_WATCH_REQUESTS
        | DW_CONFIG_TRACK_FUNCTION_CREATES
        | DW_CONFIG_TRACK_CODE_CREATES
        | DW_CONFIG_STORM_COUNTS_EVERY_EVENT;
    if c.flags & !known != 0 {
        return Err(Failure::unknown(
            "config flag bits",
            i64::from(c.flags & !known),
        ));
    }
    let storm_counts = if c.flags & DW_CONFIG_STORM_COUNTS_EVERY_EVENT != 0 {
        StormCount::Every
    } else {
        StormCount::Effective
    };
    Ok(Config {
        storm_threshold: c.storm_threshold,
        storm_counts,
        max_slot_reuse: c.max_slot_reuse,
    })
}

/// A new graph shell and state.
pub(crate) fn new_graph(config: dw_config) -> Result<*mut dw_graph, Failure> {
    let core_config = config_of(&config)?;
    let requests = (config.flags & DW_CONFIG_WATCH_REQUESTS != 0).then(WatchRequests::default);
    let flags = Arc::new(Flags {
        in_hook: AtomicBool::new(false),
        active: AtomicPtr::new(ptr::null_mut()),
    });
    let salts = Salts::random();
    let mut core: Core = Graph::with_config(core_config);
    install_hook(
        &mut core,
        None,
        ptr::null_mut(),
        flags.clone(),
        requests.clone(),
        salts,
    );
    let side = Side {
        dicts: DictAdapter::new(),
        funcs: if config.flags & DW_CONFIG_TRACK_FUNCTION_CREATES != 0 {
            FunctionAdapter::tracking_creates()
        } else {
            FunctionAdapter::new()
        },
        codes: if config.flags & DW_CONFIG_TRACK_CODE_CREATES != 0 {
            CodeAdapter::tracking_creates()
        } else {
            CodeAdapter::new()
        },
        types: TypeAdapter::new(),
        requests,
        pending_requests: VecDeque::new(),
        cells: DedupRing::new(CELL_TABLE),
        tickets: Ring::new(TICKET_TABLE),
        labels: Labels::default(),
        units: Vec::new(),
        compact_at: 64,
        causes_buf: Vec::new(),
        hits_buf: Vec::new(),
        cause_keys: Vec::new(),
        deps_buf: Vec::new(),
    };
    let state = Box::into_raw(Box::new(State {
        core,
        side,
        flags,
        salts,
        config,
    }));
    Ok(Box::into_raw(Box::new(dw_graph {
        magic: AtomicU64::new(MAGIC_LIVE),
        state,
    })))
}

/// (Re)installs the core's watch hook: it calls the C hook, if any, and feeds the watch
/// requests, if kept.
pub(crate) fn install_hook(
    core: &mut Core,
    hook: dw_watch_hook,
    ctx: *mut c_void,
    flags: Arc<Flags>,
    requests: Option<WatchRequests>,
    salts: Salts,
) {
    // An atomic only to carry the pointer into a `Send` closure; the graph is used by
    // one thread at a time.
    let ctx = AtomicPtr::new(ctx);
    core.set_watch_hook(move |c| {
        if let Some(r) = &requests {
            r.push(dw::adapters::WatchRequest {
                object: c.object,
                kind: c.kind,
                handle: c.handle,
                action: if c.watched {
                    dw::adapters::WatchAction::Watch
                } else {
                    dw::adapters::WatchAction::Unwatch
                },
            });
        }
        let Some(hook) = hook else { return };
        let change = dw_watch_change {
            object: salts.object(c.object),
            kind: kind_to_c(c.kind),
            handle: c.handle,
            watched: c.watched,
        };
        flags.in_hook.store(true, Ordering::Relaxed);
        // SAFETY: `hook` and `ctx` were given together to `dw_set_watch_hook`, whose
        // contract is that the hook may be called with that context until it is
        // replaced or the graph is freed; `change` lives across the call. The hook
        // cannot reach the graph: every call is refused while `in_hook` is set.
        unsafe { hook(ctx.load(Ordering::Relaxed), &change) };
        flags.in_hook.store(false, Ordering::Relaxed);
    });
}

/// Frees a graph.
///
/// # Safety
///
/// As [`with_graph`].
pub(crate) unsafe fn free_graph(g: *mut dw_graph) -> dw_status {
    status_of(|| {
        // SAFETY: the caller's contract.
        let shell = unsafe { shell(g) }?;
        let state = shell.state;
        // SAFETY: the magic word is live, so the state is; flags are borrowed shared.
        let flags: &Arc<Flags> = unsafe { &*ptr::addr_of!((*state).flags) };
        if flags.in_hook.load(Ordering::Relaxed) || !flags.active.load(Ordering::Relaxed).is_null()
        {
            return Err(Failure::new(
                DW_ERR_REENTRANT,
                "a graph cannot be freed from inside its handler or watch hook".into(),
            ));
        }
        shell.magic.store(MAGIC_FREED, Ordering::Relaxed);
        // SAFETY: the state was made by `Box::into_raw` in `new_graph` and is freed only
        // here, once: the magic word now says freed, so no later call reaches it, and
        // no call is running on it (no handler or hook is active, and calls are
        // serialized by the caller's contract).
        drop(unsafe { Box::from_raw(state) });
        TOMBSTONES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(AtomicPtr::new(g));
        Ok(())
    })
}

// ----- pointer arguments -------------------------------------------------------------

/// Writes an out-parameter.
///
/// # Safety
///
/// `p` is NULL or valid for writing a `T`.
pub(crate) unsafe fn put<T>(p: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and valid for writes by the caller's contract. `write` does not
    // drop the old contents (C memory may be uninitialized).
    unsafe { p.write(value) };
    Ok(())
}

/// Writes an optional out-parameter (NULL: not wanted).
///
/// # Safety
///
/// As [`put`].
pub(crate) unsafe fn put_opt<T>(p: *mut T, value: T) {
    if !p.is_null() {
        // SAFETY: non-NULL, and valid for writes by the caller's contract.
        unsafe { p.write(value) };
    }
}

/// Reads an optional argument by pointer (NULL: `None`).
///
/// # Safety
///
/// `p` is NULL or valid for reading a `T`.
pub(crate) unsafe fn get_opt<T: Copy>(p: *const T) -> Option<T> {
    // SAFETY: the caller's contract; NULL is handled.
    (!p.is_null()).then(|| unsafe { p.read_unaligned() })
}

/// An array argument: (pointer, length). NULL with length 0 is the empty array.
///
/// # Safety
///
/// `p` is NULL or points at `n` initialized, aligned `T`s that stay unchanged during
/// the call.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::new(
            DW_ERR_NULL_POINTER,
            format!("{what} is NULL with length {n}"),
        ));
    }
    // SAFETY: non-NULL with `n` elements, by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// An output array: (pointer, capacity). NULL with capacity 0 asks only for the count.
///
/// # Safety
///
/// `p` is NULL or valid for writing `cap` `T`s.
pub(crate) unsafe fn fill<T: Copy>(
    p: *mut T,
    cap: usize,
    items: &[T],
    n_out: *mut usize,
    what: &str,
) -> Result<(), Failure> {
    if cap > 0 && p.is_null() {
        return Err(Failure::new(
            DW_ERR_NULL_POINTER,
            format!("{what} is NULL with capacity {cap}"),
        ));
    }
    // SAFETY: the caller's contract for `n_out`.
    unsafe { put(n_out, items.len(), "the count out-parameter") }?;
    if items.len() > cap {
        return Err(Failure::new(
            DW_ERR_BUFFER_TOO_SMALL,
            format!("{what} holds {cap}, {} needed", items.len()),
        ));
    }
    if !items.is_empty() {
        // SAFETY: `p` is non-NULL (cap >= len > 0) and valid for `cap >= len` writes;
        // `items` is Rust memory, so the two cannot overlap.
        unsafe { ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    }
    Ok(())
}

/// An optional NUL-terminated UTF-8 string argument.
///
/// # Safety
///
/// `p` is NULL or NUL-terminated and readable.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map(Some)
        .map_err(|_| Failure::new(DW_ERR_INVALID_ARGUMENT, format!("{what} is not UTF-8")))
}

// ----- enums -------------------------------------------------------------------------

pub(crate) fn kind_of(k: dw_kind) -> Result<Kind, Failure> {
    Ok(match k {
        DW_KIND_DICT => Kind::Dict,
        DW_KIND_FUNCTION => Kind::Function,
        DW_KIND_CODE => Kind::Code,
        DW_KIND_TYPE => Kind::Type,
        k if (DW_KIND_CUSTOM_BASE..=DW_KIND_CUSTOM_BASE + 0xffff).contains(&k) => {
            Kind::Custom((k - DW_KIND_CUSTOM_BASE) as u16)
        }
        k => return Err(Failure::unknown("kind", i64::from(k))),
    })
}

pub(crate) fn kind_to_c(k: Kind) -> dw_kind {
    match k {
        Kind::Dict => DW_KIND_DICT,
        Kind::Function => DW_KIND_FUNCTION,
        Kind::Code => DW_KIND_CODE,
        Kind::Type => DW_KIND_TYPE,
        Kind::Custom(n) => DW_KIND_CUSTOM_BASE + u32::from(n),
    }
}

pub(crate) fn attr_of(a: dw_attr) -> Result<Attr, Failure> {
    Ok(match a {
        DW_ATTR_CODE => Attr::Code,
        DW_ATTR_DEFAULTS => Attr::Defaults,
        DW_ATTR_KWDEFAULTS => Attr::KwDefaults,
        DW_ATTR_CLOSURE => Attr::Closure,
        DW_ATTR_GLOBALS => Attr::Globals,
        DW_ATTR_ANNOTATIONS => Attr::Annotations,
        DW_ATTR_INSTRUMENTATION => Attr::Instrumentation,
        a if (DW_ATTR_OTHER_BASE..=DW_ATTR_OTHER_BASE + 0xffff).contains(&a) => {
            Attr::Other((a - DW_ATTR_OTHER_BASE) as u16)
        }
        a => return Err(Failure::unknown("attribute", i64::from(a))),
    })
}

fn attr_to_c(a: Attr) -> dw_attr {
    match a {
        Attr::Code => DW_ATTR_CODE,
        Attr::Defaults => DW_ATTR_DEFAULTS,
        Attr::KwDefaults => DW_ATTR_KWDEFAULTS,
        Attr::Closure => DW_ATTR_CLOSURE,
        Attr::Globals => DW_ATTR_GLOBALS,
        Attr::Annotations => DW_ATTR_ANNOTATIONS,
        Attr::Instrumentation => DW_ATTR_INSTRUMENTATION,
        Attr::Other(n) => DW_ATTR_OTHER_BASE + u32::from(n),
    }
}

#[inline]
pub(crate) fn aspect_of(a: &dw_aspect) -> Result<Aspect, Failure> {
    Ok(match a.kind {
        DW_ASPECT_WHOLE => Aspect::Whole,
        DW_ASPECT_KEY => Aspect::Key(a.key),
        DW_ASPECT_ATTR => Aspect::Attr(attr_of(a.attr)?),
        k => return Err(Failure::unknown("aspect kind", i64::from(k))),
    })
}

pub(crate) fn aspect_to_c(a: Aspect) -> dw_aspect {
    match a {
        Aspect::Whole => dw_aspect {
            kind: DW_ASPECT_WHOLE,
            attr: 0,
            key: 0,
        },
        Aspect::Key(key) => dw_aspect {
            kind: DW_ASPECT_KEY,
            attr: 0,
            key,
        },
        Aspect::Attr(a) => dw_aspect {
            kind: DW_ASPECT_ATTR,
            attr: attr_to_c(a),
            key: 0,
        },
    }
}
