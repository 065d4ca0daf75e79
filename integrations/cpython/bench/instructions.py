"""Instructions executed per iteration of pyperformance programs, stock against
patched, under callgrind: a side-by-side measure that a noisy machine cannot move.

    instructions.py STOCK_PYTHON PATCHED_PYTHON [PROGRAM ...]

The pythons are the bench venvs' interpreters (they have pyperformance and sympy).
For each program and build it runs the program's benchmark function once and twice
in two processes under `valgrind --tool=callgrind` and takes the difference of the
two totals, so import and start-up cancel out. PYTHONHASHSEED is fixed, so that a
build runs the same program the same way each time (string hashes order sets and
dicts, and so the work). The four runs of a program go two at a time. Prints a
Markdown table; the ratio is patched over stock. Needs valgrind. About 2 to 10
minutes per program.
"""
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from programs import ENTRY, script

DRIVER = """
import importlib.util, sys
path, entry, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = importlib.util.spec_from_file_location("bm", path)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
for _ in range(n):
    eval(entry, m.__dict__)
"""


def instructions(py, name, n):
    with tempfile.TemporaryDirectory() as tmp:
        driver = os.path.join(tmp, "driver.py")
        with open(driver, "w") as f:
            f.write(DRIVER)
        cmd = ["valgrind", "--tool=callgrind", "--cache-sim=no",
               f"--callgrind-out-file={tmp}/out", py, driver, script(py, name), ENTRY[name],
               str(n)]
        run = subprocess.run(cmd, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONHASHSEED="0"))
        if run.returncode != 0:
            sys.exit(f"{name} on {py} failed:\n{run.stderr[-2000:]}")
        found = re.search(r"Collected : (\d+)", run.stderr)
        return int(found.group(1))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    stock, patched = sys.argv[1], sys.argv[2]
    names = sys.argv[3:] or list(ENTRY)
    print("| program | stock, instructions per iteration | patched | patched / stock |")
    print("|---|---|---|---|")
    for name in names:
        with ThreadPoolExecutor(2) as pool:
            runs = {(py, n): pool.submit(instructions, py, name, n)
                    for py in (stock, patched) for n in (1, 2)}
            per = [runs[py, 2].result() - runs[py, 1].result() for py in (stock, patched)]
        print(f"| {name} | {per[0]:,} | {per[1]:,} | {per[1] / per[0]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
