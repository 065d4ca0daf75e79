//! The invalidation scenarios. Each one drives depwatch through the adapters as a VM
//! would, prints what happens in plain words, asserts it, and returns an [`Outcome`].
//!
//! Used by `examples/<scenario>.rs` (one runnable file per scenario), by
//! `examples/tour.rs`, and by `tests/examples.rs`, so CI runs every assertion.

pub mod batch_import;
pub mod builtins_shadowing;
pub mod class_attr_mutation;
pub mod code_swap_inlining;
pub mod compile_race;
pub mod defaults_change;
pub mod global_rebind;
pub mod object_death;
pub mod patch_vs_discard;
pub mod shared_cells;
pub mod storm;

use depwatch::adapters::{CodeAdapter, DictAdapter, FunctionAdapter, TypeAdapter, WatchRequests};
use depwatch::{Fire, Graph, ObjectId, Verdict};

/// The payload of a compiled unit in these scenarios: its name.
pub type Code = &'static str;

/// A VM's view of depwatch: one graph, one adapter per kind.
pub struct Jit {
    pub graph: Graph<Code>,
    pub dicts: DictAdapter,
    pub funcs: FunctionAdapter,
    pub codes: CodeAdapter,
    pub types: TypeAdapter,
    pub requests: WatchRequests,
}

impl Jit {
    pub fn new() -> Self {
        let mut graph = Graph::new();
        let requests = WatchRequests::install(&mut graph);
        let types = TypeAdapter::with_requests(requests.clone());
        Self {
            graph,
            dicts: DictAdapter::new(),
            funcs: FunctionAdapter::new(),
            codes: CodeAdapter::new(),
            types,
            requests,
        }
    }

    /// What happened, for the summary table.
    pub fn outcome(&self, name: &'static str) -> Outcome {
        let s = self.graph.stats();
        let untracked = self.dicts.stats().untracked
            + self.funcs.stats().untracked
            + self.codes.stats().untracked
            + self.types.stats().untracked;
        Outcome {
            name,
            events: s.events + untracked,
            fired: s.fires,
            invalidated: s.invalidated,
            patched: s.patched,
            quiet: s.quiet_events + untracked,
        }
    }
}

/// What the summary's columns count, printed under the tour's table and after a
/// scenario run alone.
pub const LEGEND: [&str; 3] = [
    "events: object changes the VM reported; quiet: those that fired no unit",
    "fired: units fired (a unit fires once per event, or once per batch, with every cause)",
    "invalidated, patched: how the fired units answered",
];

/// The per-scenario line of the tour's summary table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub name: &'static str,
    pub events: u64,
    pub fired: u64,
    pub invalidated: u64,
    pub patched: u64,
    pub quiet: u64,
}

/// A scenario: its name, what it shows, and the function that runs it.
pub type Scenario = (&'static str, &'static str, fn() -> Outcome);

/// Every scenario, in tour order.
pub fn all() -> [Scenario; 11] {
    [
        (
            "global_rebind",
            "rebinding a global kills exactly the units that loaded it",
            global_rebind::run,
        ),
        (
            "builtins_shadowing",
            "a global `len` shadows the builtin; replacing builtins.len also counts",
            builtins_shadowing::run,
        ),
        (
            "code_swap_inlining",
            "f.__code__ = h.__code__ kills g, which inlined f, and resets f",
            code_swap_inlining::run,
        ),
        (
            "defaults_change",
            "MODIFY_DEFAULTS hits a unit specialized on __defaults__; MODIFY_KWDEFAULTS does not",
            defaults_change::run,
        ),
        (
            "class_attr_mutation",
            "C.method = ... fires caches on C and D(C); other attributes fire nothing",
            class_attr_mutation::run,
        ),
        (
            "object_death",
            "a dict dies and a new one takes its address; nothing aliases",
            object_death::run,
        ),
        (
            "patch_vs_discard",
            "one of three load sites is patched, Cinder-style; the unit lives on",
            patch_vs_discard::run,
        ),
        (
            "batch_import",
            "an import sets 500 globals in one batch; each unit fires once",
            batch_import::run,
        ),
        (
            "compile_race",
            "a dependency changes mid-compile; registration is refused; the JIT recompiles",
            compile_race::run,
        ),
        (
            "storm",
            "a hot counter global stops being speculated on; invalidations stay bounded",
            storm::run,
        ),
        (
            "shared_cells",
            "8 units share one cached cell handle for `len`; a dead module's handle is refused",
            shared_cells::run,
        ),
    ]
}

impl Outcome {
    /// The outcome in words, for a scenario run on its own.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} ({} quiet); {} fired: {} invalidated, {} patched",
            self.name,
            plural(self.events, "event"),
            self.quiet,
            plural(self.fired, "unit"),
            self.invalidated,
            self.patched
        )
    }
}

/// Ends a scenario run on its own: what happened, and what the counts mean.
pub fn print_outcome(outcome: &Outcome) {
    println!("{}", outcome.describe());
    for line in LEGEND {
        println!("  {line}");
    }
}

/// `n` and `noun`, with the noun's plural (an `s`) unless `n` is 1: `plural(1, "unit")`
/// is `"1 unit"`, `plural(3, "unit")` is `"3 units"`.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {noun}{s}")
}

/// An object ID as the tour explains it: the slot of depwatch's ID table and the
/// slot's generation, which changes each time the slot is reused, so that an old ID
/// never equals a new one.
pub fn describe_id(id: ObjectId) -> String {
    use slotmap::Key as _;
    let bits = id.data().as_ffi();
    format!("slot {}, generation {}", bits as u32, bits >> 32)
}

/// The VM's hash of a key or attribute name (FNV-1a; any 64-bit hash works).
pub fn key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A handler that prints each fire, logs the unit's name, and answers `verdict`.
pub fn answer(
    log: &mut Vec<Code>,
    verdict: Verdict,
) -> impl FnMut(&mut Graph<Code>, Fire<'_, Code>) -> Verdict + '_ {
    move |_, fire| {
        let causes: Vec<String> = fire
            .causes()
            .iter()
            .map(|c| match &c.name {
                Some(n) => format!("{} {n}", c.label),
                None => c.label.to_string(),
            })
            .collect();
        let what = match verdict {
            Verdict::Invalidate => "invalidated",
            Verdict::Patched => "patched",
            Verdict::Rearmed => "re-armed",
        };
        let shown = if causes.len() > 3 {
            plural(causes.len() as u64, "cause")
        } else {
            causes.join(", ")
        };
        println!(
            "   {:<22} {what:<11} sites {:?} <- {shown}",
            fire.payload,
            fire.sites()
        );
        log.push(*fire.payload);
        verdict
    }
}

/// `answer(log, Verdict::Invalidate)`.
pub fn invalidate(
    log: &mut Vec<Code>,
) -> impl FnMut(&mut Graph<Code>, Fire<'_, Code>) -> Verdict + '_ {
    answer(log, Verdict::Invalidate)
}
