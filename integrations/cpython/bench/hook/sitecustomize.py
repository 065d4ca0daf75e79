"""Loaded at startup by bench.sh's counters passes (PYTHONPATH=bench/hook): turns
on the executor counters' clock (and, with DEPWATCH_SHADOW=1 on the patched build,
the bloom filter shadow scan), and at exit writes this process's counters and its
wall time to $DEPWATCH_COUNTERS_DIR/<pid>.json. Does nothing without that variable."""
import atexit
import json
import os
import sys
import time

_dir = os.environ.get("DEPWATCH_COUNTERS_DIR")
if _dir:
    import _testinternalcapi

    _testinternalcapi.set_executor_timing(True)
    if os.environ.get("DEPWATCH_SHADOW") == "1":
        _testinternalcapi.set_executor_shadow_bloom(True)
    _start = time.perf_counter_ns()

    def _dump():
        counters = _testinternalcapi.get_executor_counters()
        counters["elapsed_ns"] = time.perf_counter_ns() - _start
        counters["argv"] = sys.argv
        with open(os.path.join(_dir, f"{os.getpid()}.json"), "w") as f:
            json.dump(counters, f)

    atexit.register(_dump)
