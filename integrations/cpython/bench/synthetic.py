"""N executors, each in its own module (globals dict), then EVENTS writes to module
globals: half to the global K every executor reads, half to OTHER, which none
reads. Each write to K is followed by a call that re-creates that executor.
Prints one JSON line: the counters of the write loop, with its wall time.

    python synthetic.py N [EVENTS]
"""
import json
import sys
import time

import _testinternalcapi

SOURCE = """
K = 1
OTHER = 0
def f():
    t = 0
    for i in range(40):
        t += K
    return t
"""


def main():
    n = int(sys.argv[1])
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    modules = []
    for i in range(n):
        ns = {"__name__": f"m{i}"}
        exec(SOURCE, ns)  # compiled each time: every f has its own code object
        ns["f"]()
        modules.append(ns)
    created = _testinternalcapi.get_executor_counters()
    _testinternalcapi.reset_executor_counters()
    _testinternalcapi.set_executor_timing(True)
    start = time.perf_counter_ns()
    for e in range(events):
        # Spread the writes: no module is written more than 6 times, so the stock
        # build keeps promoting (its cap is 6 writes per module).
        ns = modules[(e * 7919) % n]
        if e % 2:
            ns["OTHER"] = e
        else:
            ns["K"] = e
            ns["f"]()
    elapsed = time.perf_counter_ns() - start
    _testinternalcapi.set_executor_timing(False)
    c = _testinternalcapi.get_executor_counters()
    c.update(n=n, events=events, elapsed_ns=elapsed,
             executors_before=created["executors_created"])
    print(json.dumps(c))


if __name__ == "__main__":
    main()
