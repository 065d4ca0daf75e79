"""The share of native samples spent on invalidation, from `perf record`.

    perf_share.py PYTHON PROGRAM [REPEAT]

Runs pyperformance's PROGRAM's benchmark function REPEAT times (default 5) in one
process under `perf record -F 999` (no call graphs: CPython is built without frame
pointers) and sums the self samples of the symbols that serve invalidation: the dict
watchers' dispatch, CPython's invalidation functions, and, in the patched build,
depwatch's C ABI and Rust code. Prints one JSON line.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

from programs import ENTRY, script
# Symbols (by prefix or exact name) counted as invalidation work.
PATTERNS = [r"^_PyDict_SendEvent$", r"^globals_watcher_callback$", r"^builtins_dict_watcher$",
            r"^_Py_Executors_", r"^executor_fired$", r"^fired_init$", r"^fired_clear$",
            r"^outlive_death$", r"^lookup_object$", r"^unlink_executor$", r"^executor_clear$",
            r"^_Py_ExecutorDetach$", r"^bloom_filter_may_contain$", r"^dw_", r"depwatch",
            r"^_?ZN8depwatch", r"hashbrown", r"^core::ptr::drop", r"std::panicking"]


def main():
    py, program = sys.argv[1], sys.argv[2]
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    path = script(py, program)
    driver = (f"import runpy\nm = runpy.run_path({path!r})\n"
              f"for _ in range({repeat}):\n    eval({ENTRY[program]!r}, m)\n")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        subprocess.run(["perf", "record", "-q", "-F", "999", "-o", data, "--", py, "-c", driver],
                       check=True, stdout=subprocess.DEVNULL)
        report = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                 "--sort", "sym", "-q"], check=True, capture_output=True,
                                text=True).stdout
    total = 0.0
    hits = {}
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*?)\s*$", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        if any(re.search(p, sym) for p in PATTERNS):
            total += pct
            hits[sym] = pct
    top = dict(sorted(hits.items(), key=lambda kv: -kv[1])[:8])
    print(json.dumps({"program": program, "share_percent": round(total, 3), "top": top}))


if __name__ == "__main__":
    main()
