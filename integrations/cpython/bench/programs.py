"""The pyperformance programs the benchmark scripts drive: where a program's source
is in a venv, and how to call its benchmark function once, as pyperformance's runner
does. Shared by run.py, instructions.py and perf_share.py."""
import os
import subprocess

# Each program's benchmark function, called as pyperformance's runner calls it once.
ENTRY = {
    "go": "versus_cpu()",
    "deltablue": "delta_blue(20000)",
    "richards": "Richards().run(1)",
    "raytrace": "bench_raytrace(1, 100, 100, None)",
    "float": "benchmark(100000)",
    "nbody": "bench_nbody(1, 'sun', 20000)",
    "spectral_norm": "bench_spectral_norm(1)",
    "hexiom": "main(1, 25)",
    "sympy": "clear_cache() or bench_expand()",  # as bench_sympy: the cache cleared first
}


def script(py, name):
    """The path of program NAME's run_benchmark.py in the venv of interpreter PY."""
    out = subprocess.run([py, "-c", "import pyperformance, os; print(os.path.dirname("
                          "pyperformance.__file__))"], check=True, capture_output=True,
                         text=True).stdout.strip()
    return os.path.join(out, "data-files", "benchmarks", f"bm_{name}", "run_benchmark.py")
