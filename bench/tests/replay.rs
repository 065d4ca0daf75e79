//! Trace replay against the exact results `FORMAT.md` requires, for every engine.
//!
//! `tests/data/test_functools.trace.gz` is an unmodified copy of a shared trace, so
//! this always runs; the other shared traces are replayed too when
//! `DEPWATCH_TRACES` (default: `shared/traces` beside the repository) holds them.

use std::path::{Path, PathBuf};

use depwatch_bench::driver::{Replay, check};
use depwatch_bench::engines::ENGINES;
use depwatch_bench::trace::Trace;

/// The "Expected results (exact replay)" table of `FORMAT.md`:
/// (file, O, U, M, D, X, edges, M that hit, by M, by D, live at end).
/// (file, O, U, M, D, X, edges, M that hit, by M, by D, live at end)
type Row = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

const EXPECTED: [Row; 7] = [
    (
        "test_argparse.trace.gz",
        40513,
        412,
        25757,
        28666,
        10,
        2295,
        1,
        2,
        0,
        400,
    ),
    (
        "variants/test_argparse.typeattr-modattr.trace.gz",
        40513,
        412,
        25757,
        28666,
        10,
        2472,
        12,
        14,
        0,
        388,
    ),
    (
        "test_functools.trace.gz",
        13734,
        274,
        5589,
        4104,
        10,
        1544,
        2,
        23,
        0,
        241,
    ),
    (
        "test_importlib.trace.gz",
        74994,
        901,
        31256,
        43914,
        118,
        4909,
        29,
        47,
        37,
        780,
    ),
    (
        "test_json.trace.gz",
        14671,
        258,
        4127,
        7876,
        0,
        1636,
        0,
        0,
        0,
        258,
    ),
    (
        "test_typing.trace.gz",
        24911,
        390,
        6876,
        12187,
        10,
        2629,
        6,
        18,
        0,
        362,
    ),
    (
        "variants/test_typing.typeattr-modattr.trace.gz",
        24911,
        390,
        6876,
        12187,
        10,
        2792,
        7,
        20,
        0,
        360,
    ),
];

fn load(path: &Path) -> Trace {
    Trace::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_exact(file: &str, trace: &Trace) {
    let row = EXPECTED.iter().find(|r| r.0 == file).unwrap();
    for name in ENGINES {
        let (r, agreement): (Replay, _) = check(name, trace).unwrap();
        assert_eq!(
            agreement.missed, 0,
            "{name} missed an invalidation on {file}"
        );
        let counts = (r.objects, r.units, r.mutations, r.deaths, r.drops, r.edges);
        assert_eq!(
            counts,
            (row.1, row.2, row.3, row.4, row.5, row.6),
            "{name} on {file}: line counts"
        );
        if name == "bloom-scan" {
            assert!(r.invalidations() >= row.8 + row.9, "{name} on {file}");
            continue;
        }
        assert_eq!(
            agreement.spurious, 0,
            "{name} on {file}: spurious invalidations"
        );
        let got = (
            r.mutations_that_hit,
            r.invalidated_by_mutation,
            r.invalidated_by_death,
            r.live_at_end,
        );
        assert_eq!(
            got,
            (row.7, row.8, row.9, row.10),
            "{name} on {file}: invalidations"
        );
    }
}

#[test]
fn in_repo_trace_replays_exactly_on_every_engine() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test_functools.trace.gz");
    let trace = load(&path);
    assert_eq!(trace.name, "test_functools");
    assert_exact("test_functools.trace.gz", &trace);
}

#[test]
fn shared_traces_replay_exactly_on_every_engine() {
    let dir: PathBuf = std::env::var_os("DEPWATCH_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"));
    let present: Vec<_> = EXPECTED.iter().filter(|r| dir.join(r.0).exists()).collect();
    if present.is_empty() {
        eprintln!(
            "no shared traces under {}: only the in-repo trace was replayed",
            dir.display()
        );
        return;
    }
    for row in present {
        assert_exact(row.0, &load(&dir.join(row.0)));
    }
}

#[test]
fn malformed_traces_fail_with_line_numbers() {
    let err =
        Trace::read("# depwatch-trace v1 t\nO 1 dict\nU 1 1:*\nM 1 key dict.BOGUS\n".as_bytes())
            .unwrap_err();
    assert!(
        err.to_string().starts_with("line 4: unknown event"),
        "{err}"
    );
    let err = Trace::read("O 1 dict\n".as_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("line 1:"), "{err}");
}
