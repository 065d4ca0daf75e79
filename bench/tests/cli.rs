//! The `depwatch` command's contract.

use std::process::Command;

fn depwatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_depwatch"))
        .args(args)
        .output()
        .expect("run depwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TRACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/test_functools.trace.gz"
);

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 3;
    let rest = &line[start..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn replay_all_engines_as_json() {
    let (code, out, err) = depwatch(&[
        "replay",
        TRACE,
        "--engine",
        "all",
        "--json",
        "--budget-ms",
        "20",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    for line in &lines {
        for f in [
            "engine",
            "trace",
            "events",
            "units",
            "edges",
            "invalidations",
            "met",
            "spurious",
            "missed",
            "ns_per_event",
            "loop_ns_per_event",
            "peak_bytes",
        ] {
            field(line, f);
        }
        // The replay loop's own time, measured once per trace, is in every object.
        assert_eq!(
            field(line, "loop_ns_per_event"),
            field(lines[0], "loop_ns_per_event")
        );
        assert!(field(line, "loop_ns_per_event").parse::<f64>().unwrap() > 0.0);
        // Every engine meets all 23 required invalidations, the bloom scan included.
        assert_eq!(field(line, "met"), "23", "{line}");
        assert_eq!(field(line, "trace"), "\"test_functools\"");
        assert_eq!(field(line, "events"), "23711");
        assert_eq!(field(line, "edges"), "1544");
        assert_eq!(field(line, "missed"), "0");
        assert!(field(line, "ns_per_event").parse::<f64>().unwrap() > 0.0);
        assert!(field(line, "peak_bytes").parse::<u64>().unwrap() > 0);
        let exact = !line.contains("bloom-scan");
        if exact {
            assert_eq!(field(line, "invalidations"), "23", "{line}");
            assert_eq!(field(line, "spurious"), "0", "{line}");
        }
    }
}

#[test]
fn replay_text_output_ends_with_ratios() {
    let (code, out, _) = depwatch(&["replay", TRACE, "--engine", "all", "--budget-ms", "10"]);
    assert_eq!(code, 0);
    assert!(out.contains("23 invalidations (23 by M, 0 by D)"), "{out}");
    assert!(out.contains("callbacks / depwatch:"), "{out}");
    // The replay loop's own time is printed, and the ratios net of it. (How it compares
    // with the engines' times is a benchmark's business, not a test's.)
    let floor: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("loop only"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no loop-only row: {out}"));
    assert!(floor > 0.0, "{out}");
    assert!(
        out.contains("x net of the replay loop") || out.contains("not measurable"),
        "{out}"
    );
    // The legend says what the columns mean, and that an early kill is met.
    for word in [
        "met:",
        "spurious:",
        "missed:",
        "an early kill counts as met",
    ] {
        assert!(out.contains(word), "no {word:?} in {out}");
    }
    // The table's "met" column: the bloom scan meets all 23 while it invalidates more.
    let bloom = out.lines().find(|l| l.starts_with("bloom-scan")).unwrap();
    let cols: Vec<&str> = bloom.split_whitespace().collect();
    assert_eq!(cols[4], "23", "{bloom}");
    assert!(cols[3].parse::<usize>().unwrap() > 23, "{bloom}");
    for line in out.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }
}

#[test]
fn help_goes_to_stdout_with_status_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["replay", "--help"],
        &["replay", TRACE, "-h"],
        &["bench", "--help"],
    ] {
        let (code, out, err) = depwatch(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.starts_with("usage: depwatch"), "{args:?}: {out}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let (_, out, _) = depwatch(&["replay", "--help"]);
    for option in ["--engine", "--json", "--budget-ms", "Exit status"] {
        assert!(out.contains(option), "{option}: {out}");
    }
    let (_, out, _) = depwatch(&["bench", "--help"]);
    assert!(out.contains("--quick"), "{out}");
    // With no command, or a wrong one, the usage goes to stderr with status 2.
    for args in [&[][..], &["frobnicate"], &["bench", "--slow"]] {
        let (code, out, err) = depwatch(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            out.is_empty() && err.contains("usage: depwatch"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let (code, _, err) = depwatch(&["replay", "/no/such/file.trace.gz"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/no/such/file.trace.gz") && err.contains("No such file"),
        "{err}"
    );
    // A missing file says where the real traces live, and which one a clone has.
    assert!(
        err.contains("../shared/traces/") && err.contains("bench/tests/data/"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("depwatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.trace");
    std::fs::write(
        &bad,
        "# depwatch-trace v1 bad\nO 1 dict\nU 1 1:x\nM 1 x dict.NOPE\n",
    )
    .unwrap();
    let (code, _, err) = depwatch(&["replay", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("line 4"), "{err}");

    let (code, _, err) = depwatch(&["replay", TRACE, "--engine", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown engine"), "{err}");
    let (code, _, _) = depwatch(&["frobnicate"]);
    assert_eq!(code, 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_stdout_ends_quietly_like_sigpipe() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_depwatch"))
        .args(["replay", TRACE, "--engine", "all", "--budget-ms", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run depwatch");
    // The reader goes away before the first line is written (parsing the trace alone
    // takes milliseconds), as with `depwatch replay ... | head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "no panic, no message: {err}");
}

/// Runs `depwatch replay` on a trace made of `body` after the header, and checks that
/// it is refused with exit status 2, naming `line` and what is wrong, before any table.
fn refused(test: &str, body: &str, line: usize, message: &str) {
    let dir = std::env::temp_dir().join(format!("depwatch-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.trace");
    std::fs::write(&path, format!("# depwatch-trace v1 {test}\n{body}")).unwrap();
    let (code, out, err) = depwatch(&["replay", path.to_str().unwrap(), "--engine", "all"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 2, "{test}: {err}");
    assert!(out.is_empty(), "{test}: no table for a bad trace: {out}");
    let want = format!("line {line}: {message}");
    assert!(err.contains(&want), "{test}: expected {want:?} in {err:?}");
}

#[test]
fn a_mutation_of_an_undeclared_object_is_refused() {
    refused(
        "m-undeclared",
        "O 1 dict\nU 1 1:x\nM 2 x dict.ADDED\n",
        4,
        "an M line on an object with no O line",
    );
}

#[test]
fn a_dependency_on_an_undeclared_object_is_refused() {
    refused(
        "u-undeclared",
        "O 1 dict\nU 1 1:x 3:y\n",
        3,
        "a U dependency on an object with no O line",
    );
}

#[test]
fn a_mutation_after_the_objects_death_is_refused() {
    refused(
        "m-after-d",
        "O 1 dict\nU 1 1:x\nD 1\nM 1 x dict.MODIFIED\n",
        5,
        "an M line on an object after its D line",
    );
}

#[test]
fn a_drop_before_its_unit_is_refused() {
    refused(
        "x-before-u",
        "O 1 dict\nX 1\nU 1 1:x\n",
        3,
        "an X line before the unit's U line",
    );
}

#[test]
fn a_duplicate_unit_is_refused() {
    refused(
        "duplicate-u",
        "O 1 dict\nU 1 1:x\nU 2 1:y\nU 1 1:z\n",
        5,
        "a second U line for a unit",
    );
}

#[test]
fn a_keyed_dict_event_on_the_whole_object_is_refused() {
    refused(
        "added-star",
        "O 1 dict\nU 1 1:x\nM 1 * dict.ADDED\n",
        4,
        "a keyed dict event with aspect `*`",
    );
}
