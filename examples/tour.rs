//! A tour of depwatch's core: each scenario prints what happens, in plain words, and
//! asserts it. Run with `cargo run --release --example tour`.

use depwatch::{Aspect, Attr, Dep, Error, Fire, Graph, Kind, Verdict};

/// A stand-in for compiled code: a name.
type Code = &'static str;

/// The VM's key hash. Any 64-bit hash will do; this one is FNV-1a.
fn key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn heading(title: &str) {
    println!("\n== {title}");
}

fn invalidate_and_log<'a>(
    log: &'a mut Vec<String>,
) -> impl FnMut(&mut Graph<Code>, Fire<'_, Code>) -> Verdict + 'a {
    move |_, fire| {
        let cause = fire.hits[0].cause;
        let why = cause.name.as_deref().unwrap_or("*");
        println!(
            "   invalidate {:<12} because {} on {:?} {why} (sites {:?})",
            fire.payload,
            cause.label,
            cause.kind,
            fire.sites()
        );
        log.push(fire.payload.to_string());
        Verdict::Invalidate
    }
}

fn global_rebind(g: &mut Graph<Code>) {
    heading("global rebind: only the units that loaded the name die");
    let globals = g.track(Kind::Dict, 0x1000);
    let uses_x = g
        .register([Dep::key(globals, key("x")).named("x")], "uses_x")
        .unwrap();
    let uses_y = g
        .register([Dep::key(globals, key("y")).named("y")], "uses_y")
        .unwrap();
    let before = g.stats();
    let mut log = Vec::new();
    for other in ["a", "b", "c"] {
        g.notify(
            globals,
            Aspect::Key(key(other)),
            "dict.ADDED",
            &mut invalidate_and_log(&mut log),
        )
        .unwrap();
    }
    let quiet = g.stats().quiet_events - before.quiet_events;
    println!("   3 writes to other globals: {quiet} quiet events, nothing fired");
    g.notify(
        globals,
        Aspect::Key(key("x")),
        "dict.MODIFIED",
        &mut invalidate_and_log(&mut log),
    )
    .unwrap();
    assert_eq!(
        (quiet, log.as_slice()),
        (3, ["uses_x".to_string()].as_slice())
    );
    assert!(!g.is_valid(uses_x) && g.is_valid(uses_y));
}

fn builtins_shadowing(g: &mut Graph<Code>) {
    heading("builtins shadowing: `len` depends on builtins[len] and on globals lacking len");
    let globals = g.track(Kind::Dict, 0x2000);
    let builtins = g.track(Kind::Dict, 0x3000);
    let deps = || {
        [
            Dep::key(globals, key("len")).named("len").at(0),
            Dep::key(builtins, key("len")).named("len").at(0),
        ]
    };
    let f = g.register(deps(), "calls_len").unwrap();
    let mut log = Vec::new();
    g.notify(
        globals,
        Aspect::Key(key("len")),
        "dict.ADDED",
        &mut invalidate_and_log(&mut log),
    )
    .unwrap();
    assert!(!g.is_valid(f));
    let f2 = g.register(deps(), "calls_len'").unwrap();
    g.notify(
        builtins,
        Aspect::Key(key("len")),
        "dict.MODIFIED",
        &mut invalidate_and_log(&mut log),
    )
    .unwrap();
    assert!(!g.is_valid(f2));
    assert_eq!(log, ["calls_len", "calls_len'"]);
}

fn patch_vs_discard(g: &mut Graph<Code>) {
    heading("patch instead of discard: one load site is patched, the unit lives on");
    let globals = g.track(Kind::Dict, 0x4000);
    let deps = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(site, n)| Dep::key(globals, key(n)).named(*n).at(site as u32));
    let u = g.register(deps, "three_loads").unwrap();
    let mut patched = Vec::new();
    g.notify(
        globals,
        Aspect::Key(key("b")),
        "dict.MODIFIED",
        &mut |_, fire: Fire<'_, Code>| {
            patched = fire.sites();
            println!("   patch site {:?} of {} to a deopt", patched, fire.payload);
            Verdict::Patched
        },
    )
    .unwrap();
    println!(
        "   still valid: {}, still watching {} loads",
        g.is_valid(u),
        g.dependencies(u).unwrap().len()
    );
    assert_eq!(patched, [1]);
    assert!(g.is_valid(u));
    assert_eq!(g.dependencies(u).unwrap().len(), 2);
}

fn code_swap(g: &mut Graph<Code>) {
    heading("code swap: f.__code__ = h.__code__ invalidates the unit that inlined f");
    let f = g.track(Kind::Function, 0x5000);
    let g_unit = g
        .register([Dep::attr(f, Attr::Code)], "g_inlines_f")
        .unwrap();
    let other = g
        .register([Dep::attr(f, Attr::Defaults)], "uses_f_defaults")
        .unwrap();
    let mut log = Vec::new();
    g.notify(
        f,
        Aspect::Attr(Attr::Code),
        "func.MODIFY_CODE",
        &mut invalidate_and_log(&mut log),
    )
    .unwrap();
    assert!(!g.is_valid(g_unit) && g.is_valid(other));
}

fn batch_import(g: &mut Graph<Code>) {
    heading("batch: a module import sets 500 globals; each unit fires once");
    let module = g.track(Kind::Dict, 0x6000);
    for i in 0..5 {
        let deps = (0..100).map(|k| Dep::key(module, key(&format!("g{}", i * 100 + k))));
        g.register(deps, ["u0", "u1", "u2", "u3", "u4"][i]).unwrap();
    }
    g.begin_batch();
    for k in 0..500 {
        g.notify_deferred(module, Aspect::Key(key(&format!("g{k}"))), "dict.ADDED")
            .unwrap();
    }
    let mut fires = Vec::new();
    g.end_batch(&mut |_, fire: Fire<'_, Code>| {
        fires.push((fire.payload.to_string(), fire.causes().len()));
        Verdict::Invalidate
    })
    .unwrap();
    for (u, n) in &fires {
        println!("   {u} fired once with {n} causes");
    }
    assert_eq!(fires.len(), 5);
    assert!(fires.iter().all(|(_, n)| *n == 100));
}

fn compile_race(g: &mut Graph<Code>) {
    heading("compile race: a global changes while the JIT compiles; registration is refused");
    let globals = g.track(Kind::Dict, 0x7000);
    let ticket = g.ticket();
    g.notify(
        globals,
        Aspect::Key(key("x")),
        "dict.MODIFIED",
        &mut |_, _| Verdict::Invalidate,
    )
    .unwrap();
    let err = g
        .register_with_ticket(&ticket, [Dep::key(globals, key("x"))], "stale")
        .unwrap_err();
    println!("   refused: {}", err.error);
    assert_eq!(err.error, Error::StaleTicket { object: globals });
    let ticket = g.ticket();
    g.register_with_ticket(&ticket, [Dep::key(globals, key("x"))], "recompiled")
        .unwrap();
    println!("   recompiled under a fresh ticket: accepted");
}

fn storm(g: &mut Graph<Code>) {
    heading("storm: a counter global changes in a hot loop; the JIT stops depending on it");
    let globals = g.track(Kind::Dict, 0x8000);
    let counter = key("counter");
    let mut invalidations = 0;
    for _ in 0..1000 {
        if g.register([Dep::key(globals, counter)], "loop_body")
            .is_ok()
        {
            // (a real JIT would now run the compiled code)
        }
        let r = g
            .notify(
                globals,
                Aspect::Key(counter),
                "dict.MODIFIED",
                &mut |_, _| Verdict::Invalidate,
            )
            .unwrap();
        invalidations += r.invalidated;
    }
    println!(
        "   1000 writes, {invalidations} invalidations; stable now: {}",
        g.is_stable(globals, Aspect::Key(counter)).unwrap()
    );
    assert_eq!(invalidations, g.config().storm_threshold as usize);
}

fn object_death(g: &mut Graph<Code>) {
    heading("object death: a dict dies and a new one appears at the same address");
    let old = g.track(Kind::Dict, 0x9000);
    let u = g
        .register([Dep::key(old, key("k"))], "on_old_dict")
        .unwrap();
    let mut log = Vec::new();
    g.destroy(old, &mut invalidate_and_log(&mut log)).unwrap();
    let new = g.track(Kind::Dict, 0x9000);
    println!(
        "   old id {old:?}, new id {new:?}: distinct; old id now gives: {}",
        g.version(old).unwrap_err()
    );
    assert!(!g.is_valid(u));
    assert_ne!(old, new);
}

fn main() {
    let mut g: Graph<Code> = Graph::new();
    global_rebind(&mut g);
    builtins_shadowing(&mut g);
    patch_vs_discard(&mut g);
    code_swap(&mut g);
    batch_import(&mut g);
    compile_race(&mut g);
    storm(&mut g);
    object_death(&mut g);
    let s = g.stats();
    println!("\n== summary");
    println!(
        "   events {:>6}   quiet {:>6}   prefilter rejects {:>4}",
        s.events, s.quiet_events, s.prefilter_rejects
    );
    println!(
        "   fired  {:>6}   invalidated {:>2}   patched {:>3}   rearmed {:>3}",
        s.fires, s.invalidated, s.patched, s.rearmed
    );
    println!(
        "   live units {}, edges {}, cells {}, ~{} bytes",
        s.live_units, s.live_edges, s.live_cells, s.bytes
    );
    println!("\nall scenarios passed");
}
