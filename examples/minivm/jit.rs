//! The specializing tier, built on depwatch.
//!
//! A hot function is compiled into a copy of its bytecode, the same length, in which:
//!
//! * `LoadGlobal x` becomes `GuardedGlobal(value)` and depends on (globals, x), and for
//!   a builtin also on (builtins, x), which together cover the builtin's absence from
//!   globals;
//! * `LoadAttr a` right after a folded class becomes `GuardedAttr(value)`, found
//!   through the MRO, and depends on (class, a) (the type adapter fans a base's
//!   changes out to its subclasses);
//! * `Call` of a folded small function becomes `InlinedCall`, with the callee's code
//!   and defaults snapshotted, and depends on (callee, `__code__`) and
//!   (callee, `__defaults__`);
//! * the whole unit depends on (function, `__code__`) at the entry site.
//!
//! When depwatch fires:
//!
//! * a global rebinding is answered **Patched**: the hit sites, and every site that
//!   was specialized on their values, are reverted to the generic instruction in
//!   place, and the unit stays valid;
//! * anything else (class attribute, `__code__`, defaults) is answered **Invalidate**:
//!   the unit is marked dead, a frame running it continues in the generic code at the
//!   same `pc` (every specialized instruction has the generic one's stack effect), and
//!   the function is recompiled once it is hot again.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use depwatch::adapters::{DictAdapter, FunctionAdapter, TypeAdapter};
use depwatch::{Aspect, Attr, Error, Fire, Graph, Kind, Verdict};

use crate::minivm::code::{Code, Function, Instr, Value};

/// The VM handles of the module globals and builtins dicts.
pub const GLOBALS: u64 = 1;
pub const BUILTINS: u64 = 2;
/// The site tag of the unit's dependency on its own function's `__code__`.
pub const ENTRY_SITE: u32 = u32::MAX;
/// Callees longer than this are not inlined.
const INLINE_MAX: usize = 24;

/// The VM's hash of a name.
pub fn key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A compiled unit: depwatch's payload.
pub struct Specialized {
    pub generic: Rc<Code>,
    pub instrs: RefCell<Vec<Instr>>,
    pub dead: Cell<bool>,
    /// (site, site specialized on its value).
    feeds: Vec<(usize, usize)>,
}

impl Specialized {
    /// Reverts `site`, and every site specialized on its value, to generic code.
    fn revert(&self, site: usize) {
        let mut instrs = self.instrs.borrow_mut();
        let mut todo = vec![site];
        while let Some(s) = todo.pop() {
            if let Some(generic) = self.generic.instrs.get(s) {
                instrs[s] = generic.clone();
            }
            todo.extend(
                self.feeds
                    .iter()
                    .filter(|(from, _)| *from == s)
                    .map(|(_, to)| *to),
            );
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    pub compiled: u64,
    pub invalidated: u64,
    pub patched: u64,
    /// Frames that switched to generic code mid-run.
    pub deopts: u64,
    /// Compiles refused by depwatch (stale ticket or unstable dependency).
    pub refused: u64,
    pub folded: u64,
    pub inlined: u64,
}

pub struct Jit {
    pub graph: Graph<Rc<Specialized>>,
    pub dicts: DictAdapter,
    pub funcs: FunctionAdapter,
    pub types: TypeAdapter,
    pub stats: JitStats,
}

/// The handler the VM passes with every event.
pub fn handler(
    stats: &mut JitStats,
) -> impl FnMut(&mut Graph<Rc<Specialized>>, Fire<'_, Rc<Specialized>>) -> Verdict + '_ {
    move |_, fire| {
        let sites = fire.sites();
        let spec = fire.payload;
        let rebind_only = fire.hits.iter().all(|h| {
            h.cause.kind == Kind::Dict
                && matches!(h.cause.aspect, Aspect::Key(_))
                && h.dependency.site != ENTRY_SITE
        });
        if rebind_only {
            for site in sites {
                spec.revert(site as usize);
            }
            stats.patched += 1;
            Verdict::Patched
        } else {
            spec.dead.set(true);
            stats.invalidated += 1;
            Verdict::Invalidate
        }
    }
}

/// Instructions that push one value and pop nothing.
fn simple_push(i: &Instr) -> bool {
    matches!(
        i,
        Instr::Const(_) | Instr::LoadFast(_) | Instr::LoadGlobal(_)
    )
}

impl Jit {
    pub fn new() -> Self {
        Self {
            graph: Graph::new(),
            dicts: DictAdapter::new(),
            funcs: FunctionAdapter::new(),
            types: TypeAdapter::new(),
            stats: JitStats::default(),
        }
    }

    fn stable(&self, dict: u64, name: &str) -> bool {
        self.dicts.get(dict).is_none_or(|id| {
            self.graph
                .is_stable(id, Aspect::Key(key(name)))
                .unwrap_or(false)
        })
    }

    /// Compiles `f`, or gives `None` if depwatch refuses the unit. A compile that
    /// first tracks an object is refused by its ticket (depwatch cannot vouch for an
    /// object's past before it was tracked), so a refused compile is retried once.
    pub fn specialize(
        &mut self,
        f: &Function,
        globals: &HashMap<Rc<str>, Value>,
        builtins: &HashMap<Rc<str>, Value>,
    ) -> Option<Rc<Specialized>> {
        (0..2)
            .find_map(|_| self.try_specialize(f, globals, builtins).ok())
            .flatten()
    }

    /// One compile attempt: `Err` if the ticket went stale.
    fn try_specialize(
        &mut self,
        f: &Function,
        globals: &HashMap<Rc<str>, Value>,
        builtins: &HashMap<Rc<str>, Value>,
    ) -> Result<Option<Rc<Specialized>>, ()> {
        // The compile ticket: anything read below that changes before registration
        // makes depwatch refuse the unit.
        let ticket = self.graph.ticket();
        let code = f.code.borrow().clone();
        let mut instrs = code.instrs.clone();
        let mut deps = vec![
            self.funcs
                .attr(&mut self.graph, f.handle, Attr::Code)
                .at(ENTRY_SITE),
        ];
        let mut feeds = Vec::new();
        // Counted only if depwatch accepts the unit.
        let (mut folded_here, mut inlined_here) = (0, 0);
        let mut folded: HashMap<usize, Value> = HashMap::new();
        for (pc, instr) in code.instrs.iter().enumerate() {
            let site = pc as u32;
            match instr {
                Instr::LoadGlobal(name) => {
                    // The storm policy: a name that keeps changing is loaded generically.
                    if !self.stable(GLOBALS, name) || !self.stable(BUILTINS, name) {
                        continue;
                    }
                    let value = match (globals.get(name), builtins.get(name)) {
                        (Some(v), _) => v.clone(),
                        (None, Some(v)) => {
                            deps.push(
                                self.dicts
                                    .key(&mut self.graph, BUILTINS, key(name))
                                    .named(&**name)
                                    .at(site),
                            );
                            v.clone()
                        }
                        (None, None) => continue,
                    };
                    deps.push(
                        self.dicts
                            .key(&mut self.graph, GLOBALS, key(name))
                            .named(&**name)
                            .at(site),
                    );
                    instrs[pc] = Instr::GuardedGlobal(value.clone());
                    folded.insert(pc, value);
                    folded_here += 1;
                }
                Instr::LoadAttr(attr) if pc > 0 => {
                    let Some(Value::Class(class)) = folded.get(&(pc - 1)) else {
                        continue;
                    };
                    let Some(value) = class.lookup(attr) else {
                        continue;
                    };
                    deps.push(
                        self.types
                            .attr(&mut self.graph, class.handle, key(attr))
                            .named(&**attr)
                            .at(site),
                    );
                    instrs[pc] = Instr::GuardedAttr(value.clone());
                    feeds.push((pc - 1, pc));
                    folded.insert(pc, value);
                }
                Instr::Call(argc) if pc > *argc => {
                    let callee_pc = pc - argc - 1;
                    let Some(Value::Func(callee)) = folded.get(&callee_pc) else {
                        continue;
                    };
                    if callee.handle == f.handle
                        || !code.instrs[callee_pc + 1..pc].iter().all(simple_push)
                    {
                        continue;
                    }
                    let callee_code = callee.code.borrow().clone();
                    let defaults = callee.defaults.borrow().clone();
                    let arity_ok = *argc <= callee_code.params.len()
                        && argc + defaults.len() >= callee_code.params.len();
                    if callee_code.instrs.len() > INLINE_MAX || !arity_ok {
                        continue;
                    }
                    deps.push(
                        self.funcs
                            .attr(&mut self.graph, callee.handle, Attr::Code)
                            .at(site),
                    );
                    deps.push(
                        self.funcs
                            .attr(&mut self.graph, callee.handle, Attr::Defaults)
                            .at(site),
                    );
                    instrs[pc] = Instr::InlinedCall {
                        code: callee_code,
                        defaults,
                        argc: *argc,
                    };
                    feeds.push((callee_pc, pc));
                    inlined_here += 1;
                }
                _ => {}
            }
        }
        let spec = Rc::new(Specialized {
            generic: code,
            instrs: RefCell::new(instrs),
            dead: Cell::new(false),
            feeds,
        });
        match self.graph.register_with_ticket(&ticket, deps, spec.clone()) {
            Ok(_) => {
                self.stats.compiled += 1;
                self.stats.folded += folded_here;
                self.stats.inlined += inlined_here;
                Ok(Some(spec))
            }
            Err(rejected) => {
                self.stats.refused += 1;
                match rejected.error {
                    Error::StaleTicket { .. } => Err(()),
                    _ => Ok(None),
                }
            }
        }
    }
}
