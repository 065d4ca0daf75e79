"""Stock against patched tier-2 CPython, driven by bench.sh. Needs only python3.

    run.py --stock VENV_PY --patched VENV_PY --out DIR [--rounds R] [--processes P]
           [--only NAME,...] [--skip-timing] [--skip-counters] [--skip-synthetic]
           [--append-timing]

1. Counters: each program once per build (one pyperf worker), with the counters'
   clock on (bench/hook/sitecustomize.py); the patched build a second time with the
   bloom filter shadow scan on, for the spurious counts (its clock is not used).
2. Timing: pyperf runs, interleaved: in each round, every program on stock,
   patched and stock with PYTHON_JIT=0 (tier 1), the order of the builds
   alternating between rounds, into DIR/{stock,patched,tier1}.json, which a timing
   pass starts afresh unless given --append-timing.
3. Synthetic: synthetic.py with N = 1k, 10k, 100k executors on both builds.
4. DIR/summary.md: the tables README.md and design/PERFORMANCE.md quote.
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

from programs import script

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = ["go", "deltablue", "richards", "raytrace", "chaos", "nbody", "float",
            "hexiom", "spectral_norm", "unpack_sequence", "generators", "coroutines",
            "logging", "sympy"]
SYNTHETIC_N = [1000, 10000, 100000]
SUMMED = ["executors_created", "invalidation_events", "executors_invalidated",
          "globals_promoted", "invalidation_ns", "elapsed_ns", "bloom_also", "bloom_only",
          "unstable_refused", "registrations_refused", "invalidated_by_death",
          "quiet_keys_skipped"]
# Read at exit from the process that held the most executors: they describe the
# present, not a period.
AT_EXIT = ["executors_live", "executor_bytes_live", "globals_promoted_live",
           "depwatch_bytes", "depwatch_estimate"]


def counters_pass(py, name, shadow):
    """Runs one pyperf worker of the program and sums the counters of every process."""
    tmp = tempfile.mkdtemp(prefix="dwcounters-")
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "hook"), DEPWATCH_COUNTERS_DIR=tmp,
               DEPWATCH_SHADOW="1" if shadow else "0")
    cmd = [py, script(py, name), "-p", "1", "-n", "3", "-w", "1", "--quiet",
           "--inherit-environ", "PYTHONPATH,DEPWATCH_COUNTERS_DIR,DEPWATCH_SHADOW",
           "-o", os.path.join(tmp, "out.json")]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    total = {k: 0 for k in SUMMED}
    biggest = None
    for path in glob.glob(os.path.join(tmp, "*.json")):
        if path.endswith("out.json"):
            continue
        with open(path) as f:
            c = json.load(f)
        for k in SUMMED:
            total[k] += c.get(k, 0)
        if biggest is None or c["executors_live"] > biggest["executors_live"]:
            biggest = c
    # Memory: the process that held the most executors, at its exit.
    for k in AT_EXIT:
        total[k] = biggest.get(k, 0) if biggest else 0
    shutil.rmtree(tmp)
    return total


def timing_pass(builds, names, out, rounds, processes):
    for r in range(rounds):
        order = builds if r % 2 == 0 else list(reversed(builds))
        for name in names:
            for label, py, env in order:
                print(f"== round {r + 1}/{rounds}: {name} on {label}", flush=True)
                cmd = [py, script(py, name), "-p", str(processes), "-n", "3", "-w", "1",
                       "--quiet", "--append", os.path.join(out, f"{label}.json")]
                if env:
                    cmd += ["--inherit-environ", ",".join(env)]
                subprocess.run(cmd, check=True, env=dict(os.environ, **env))


def load_suite(path):
    with open(path) as f:
        data = json.load(f)
    result = {}
    for bench in data["benchmarks"]:
        name = bench["metadata"].get("name") or data["metadata"]["name"]
        values = [v for run in bench["runs"] for v in run.get("values", [])]
        result[name] = values
    return result


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2


def duration(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} µs"


def synthetic(py, n):
    out = subprocess.run([py, os.path.join(HERE, "synthetic.py"), str(n)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def load_results(path):
    """An earlier pass's results, or none: a pass adds to them and writes them back."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stock", required=True)
    ap.add_argument("--patched", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--only")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-counters", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--append-timing", action="store_true",
                    help="add the timing rounds to the suites already in --out (same builds)")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else PROGRAMS
    os.makedirs(args.out, exist_ok=True)
    cpath = os.path.join(args.out, "counters.json")
    counters = load_results(cpath)
    if not args.skip_counters:
        for name in names:
            print(f"== counters: {name}", flush=True)
            counters[name] = {
                "stock": counters_pass(args.stock, name, False),
                "patched": counters_pass(args.patched, name, False),
                "shadow": counters_pass(args.patched, name, True),
            }
            with open(cpath, "w") as f:
                json.dump(counters, f, indent=1)
    spath = os.path.join(args.out, "synthetic.json")
    synth = load_results(spath)
    if not args.skip_synthetic:
        for n in SYNTHETIC_N:
            print(f"== synthetic: N = {n}", flush=True)
            synth[str(n)] = {"stock": synthetic(args.stock, n),
                             "patched": synthetic(args.patched, n)}
            with open(spath, "w") as f:
                json.dump(synth, f, indent=1)
    if not args.skip_timing:
        builds = [("stock", args.stock, {}), ("patched", args.patched, {}),
                  ("tier1", args.stock, {"PYTHON_JIT": "0"})]
        if not args.append_timing:
            for label, _, _ in builds:
                path = os.path.join(args.out, f"{label}.json")
                if os.path.exists(path):
                    os.remove(path)
        timing_pass(builds, names, args.out, args.rounds, args.processes)
    report(args.out, counters, synth)


def report(out, counters, synth):
    lines = []
    suites = {}
    for label in ("stock", "patched", "tier1"):
        path = os.path.join(out, f"{label}.json")
        if os.path.exists(path):
            suites[label] = load_suite(path)
    if counters:
        lines += ["| program | executors created (stock / patched) | invalidation events "
                  "(patched: to the graph + quiet keys skipped) "
                  "| executors invalidated | spurious (bloom scan on patched's events) "
                  "| globals promoted | globals held by live executors at exit "
                  "| time invalidating, share of run "
                  "| depwatch heap bytes per executor (graph estimate) "
                  "| executor bytes per executor | depwatch / executors |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, c in counters.items():
            s, p, sh = c["stock"], c["patched"], c["shadow"]

            def share(x):
                return f"{100 * x['invalidation_ns'] / max(x['elapsed_ns'], 1):.3f}%"
            live = max(p["executors_live"], 1)
            lines.append(
                f"| {name} | {s['executors_created']} / {p['executors_created']} "
                f"| {s['invalidation_events']} / {p['invalidation_events']} "
                f"+ {p['quiet_keys_skipped']} "
                f"| {s['executors_invalidated']} / {p['executors_invalidated']} "
                f"| {sh['bloom_only']} "
                f"| {s['globals_promoted']} / {p['globals_promoted']} "
                f"| {s['globals_promoted_live']} / {p['globals_promoted_live']} "
                f"| {share(s)} / {share(p)} "
                f"| {p['depwatch_bytes'] / live:.0f} ({p['depwatch_estimate'] / live:.0f}) "
                f"| {p['executor_bytes_live'] / live:.0f} "
                f"| {100 * p['depwatch_bytes'] / max(p['executor_bytes_live'], 1):.0f}% |")
        lines.append("")
    if "stock" in suites and "patched" in suites:
        lines += ["| benchmark | stock (median) | patched | patched / stock | tier 1 "
                  "| tier 1 / stock |", "|---|---|---|---|---|---|"]
        ratios = []
        for name in sorted(suites["stock"]):
            if name not in suites["patched"]:
                continue
            ms, mp = median(suites["stock"][name]), median(suites["patched"][name])
            ratios.append(mp / ms)
            t1 = suites.get("tier1", {}).get(name)
            t1s = f"{duration(median(t1))} | {median(t1) / ms:.3f}" if t1 else "- | -"
            lines.append(f"| {name} | {duration(ms)} | {duration(mp)} "
                         f"| {mp / ms:.3f} | {t1s} |")
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        lines += [f"| geometric mean | | | {geo:.3f} | | |", ""]
    if synth:
        lines += ["| N executors | build | executors invalidated | invalidation events "
                  "| ns per event (clock) | write loop, ms | depwatch bytes per executor "
                  "| executor bytes per executor |", "|---|---|---|---|---|---|---|---|"]
        for n, runs in synth.items():
            for label in ("stock", "patched"):
                r = runs[label]
                live = max(r["executors_live"], 1)
                dw = r.get("depwatch_bytes")
                lines.append(
                    f"| {int(n):,} | {label} | {r['executors_invalidated']} "
                    f"| {r['invalidation_events']} "
                    f"| {r['invalidation_ns'] / max(r['invalidation_events'], 1):.0f} "
                    f"| {r['elapsed_ns'] / 1e6:.1f} "
                    f"| {dw / live:.0f} | {r['executor_bytes_live'] / live:.0f} |"
                    if dw is not None else
                    f"| {int(n):,} | {label} | {r['executors_invalidated']} "
                    f"| {r['invalidation_events']} "
                    f"| {r['invalidation_ns'] / max(r['invalidation_events'], 1):.0f} "
                    f"| {r['elapsed_ns'] / 1e6:.1f} | - "
                    f"| {r['executor_bytes_live'] / live:.0f} |")
        lines.append("")
    text = "\n".join(lines)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
