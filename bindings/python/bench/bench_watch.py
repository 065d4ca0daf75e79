"""Timings of what depwatch adds to CPython, all in one run.

    python bench/bench_watch.py

1. `d[k] = v` on an unwatched dict;
2. on a dict watched by a watcher that does nothing (CPython's own cost of calling a
   watcher: the floor), and on a dict watched by depwatch whose key has no
   dependents (the key prefilter rejects it). These three are timed in alternation,
   21 rounds; medians, and the median of the per-round ratios to the unwatched time;
3. on a watched key with one dependent, re-registered after each fire;
4. creating and dropping a function before and after depwatch tracks one function
   (function watchers see every function; untracked ones are skipped by the prefilter);
5. a class attribute write to an attribute no unit depends on, while a unit depends
   on another attribute of the class (the event, the re-check and the re-arm), against
   the same write to a class nobody watches;
6. `depwatch.cached` against `functools.lru_cache` alone (which never notices a
   change) and against `lru_cache` behind a manual version check (what a user would
   write to notice one), on a hit and on a miss after `cache_clear()`. Timed in
   alternation, 21 rounds; medians, and the median of the per-round ratios.
"""

import functools
import itertools
import time
import timeit

import depwatch

N = 200_000
registry = depwatch.Registry()


def best(stmt, setup="pass", number=N, glob=None):
    t = timeit.Timer(stmt, setup, globals=glob).repeat(7, number)
    return min(t) / number * 1e9


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def writes_side_by_side(rounds=21):
    """Median ns per `d[k] = v` on an unwatched dict, a no-op-watched dict and a
    depwatch-watched dict (key with no dependents), and the median per-round ratios
    of the last two to the first."""
    unwatched = {"k": 0, "hot": 0}
    floor = {"k": 0, "hot": 0}
    watched = {"k": 0, "hot": 0}
    depwatch._native._noop_watch(floor)
    keep = registry.unit([(watched, "hot")])  # watched dict; key "k" has no dependents
    # Two values in turn: CPython sends no event when the same object is stored.
    stmt = "d['k'] = a; d['k'] = b"
    timers = [
        timeit.Timer(stmt, globals={"d": d, "a": object(), "b": object()})
        for d in (unwatched, floor, watched)
    ]
    times = [[], [], []]
    for _ in range(rounds):
        for i, t in enumerate(timers):
            times[i].append(t.timeit(N) / N / 2 * 1e9)
    assert keep.valid
    ratios = [median([x / u for x, u in zip(times[i], times[0])]) for i in (1, 2)]
    return [median(t) for t in times], ratios


def function_churn():
    """ns to create and drop a function, before and after depwatch tracks one function
    (function watchers see every function in the interpreter)."""
    def churn(n):
        for i in range(n):
            f = lambda: i  # noqa: E731
    timer = timeit.Timer(lambda: churn(N))
    before = min(timer.repeat(7, 1)) / N * 1e9
    def tracked():
        pass
    keep = registry.unit([(tracked, "__code__")])
    after = min(timer.repeat(7, 1)) / N * 1e9
    assert keep.valid
    return before, after


def class_write_rearm(rounds=51, n=400):
    """Median ns per class attribute write, on a class nobody watches and on a class
    with a unit depending on another attribute (each write is an event; reading
    `u.valid` re-checks and re-arms the unit). Each round uses fresh classes: CPython
    3.13 gives a class at most 1000 version tags, and each write and re-arm uses one."""

    def run(C, u):
        start = time.perf_counter_ns()
        for i in range(n):
            C.b = i
            u.valid
        return (time.perf_counter_ns() - start) / n

    anchor = registry.unit([{}])  # a unit to read `valid` from in the quiet loop
    times = [[], []]
    for _ in range(rounds):
        quiet = type("Quiet", (), {"a": 1})
        watched = type("Watched", (), {"a": 1})
        unit = registry.unit([(watched, "a")])
        times[0].append(run(quiet, anchor))
        times[1].append(run(watched, unit))
        assert unit.valid
        unit.unregister()
    return median(times[0]), median(times[1])


def memo_side_by_side(rounds=21):
    """`depwatch.cached`, `functools.lru_cache` alone and `lru_cache` behind a manual
    version check, all memoizing the same function of a global: median ns per hit and
    per miss after `cache_clear()`, and the median per-round ratios to `cached`."""
    g = {"RATE": 3, "BASE": 1}
    exec("def price(q):\n    return q * RATE + BASE\n", g)
    price = g["price"]
    cached = depwatch.cached(price, maxsize=None)
    lru = functools.lru_cache(maxsize=None)(price)
    version = [0]  # the user must bump this wherever RATE or BASE changes
    seen = [0]
    inner = functools.lru_cache(maxsize=None)(price)

    def checked(q):
        if seen[0] != version[0]:
            inner.cache_clear()
            seen[0] = version[0]
        return inner(q)

    variants = {"depwatch.cached": cached, "lru_cache alone": lru, "lru_cache + version check": checked}
    for f in variants.values():
        assert f(3) == 10
    clears = {"depwatch.cached": cached.cache_clear, "lru_cache alone": lru.cache_clear,
              "lru_cache + version check": inner.cache_clear}
    out = {}
    rows = [
        ("memo hit", 200_000, "f(3)"),
        ("memo miss, a new argument", 5_000, "f(i())"),
        ("memo miss after cache_clear()", 5_000, "c(); f(3)"),
    ]
    for label, number, stmt in rows:
        timers = {
            name: timeit.Timer(stmt, globals={"f": f, "c": clears[name], "i": itertools.count(10).__next__})
            for name, f in variants.items()
        }
        times = {name: [] for name in variants}
        for _ in range(rounds):
            for name, t in timers.items():
                times[name].append(t.timeit(number) / number * 1e9)
        base = times["depwatch.cached"]
        ratios = [None] + [median([x / b for x, b in zip(times[name], base)]) for name in list(variants)[1:]]
        out[label] = ({name: median(ts) for name, ts in times.items()}, ratios)
    assert cached.cache_info().refused == 0
    return out


def main():
    t_churn, t_churn_tracked = function_churn()
    (t_unwatched, t_floor, t_quiet), (r_floor, r_quiet) = writes_side_by_side()

    # A watched key with one dependent, re-registered after each fire. The storm
    # policy refuses a key after 6 fires, so rotate over 1000 dicts, 5 fires each.
    pool = [{"hot": 0} for _ in range(1000)]
    units = [registry.unit([(d, "hot")]) for d in pool]
    samples = []
    for _ in range(7):
        start = time.perf_counter_ns()
        for d in pool:
            d["hot"] += 1
        for d in pool:
            registry.unit([(d, "hot")])
        samples.append((time.perf_counter_ns() - start) / len(pool))
        if all(not u.valid for u in units):
            units = []
        if samples and len(samples) >= 5:
            break
    t_fire = min(samples)

    t_class = class_write_rearm()
    memo = memo_side_by_side()

    print(f"d[k] = v, unwatched dict:                  {t_unwatched:7.1f} ns")
    print(f"d[k] = v, watched by a no-op watcher:      {t_floor:7.1f} ns  ({r_floor:.2f}x unwatched: CPython's floor)")
    print(f"d[k] = v, watched dict, key no dependents: {t_quiet:7.1f} ns  ({r_quiet:.2f}x unwatched)")
    print(f"watched key with a dependent, fire + re-register: {t_fire:7.1f} ns")
    print(f"create and drop a function: {t_churn:6.1f} ns; with one function tracked: {t_churn_tracked:6.1f} ns")
    print(f"class attribute write, nobody watching: {t_class[0]:6.1f} ns; "
          f"with a unit on another attribute (event, re-check, re-arm): {t_class[1]:6.1f} ns")
    for label, (times, ratios) in memo.items():
        print(f"{label}: " + ", ".join(
            f"{name} {t:6.1f} ns" + (f" ({r:.2f}x cached)" if r is not None else "")
            for (name, t), r in zip(times.items(), ratios)))
    return t_unwatched, t_floor, t_quiet, t_fire, (t_churn, t_churn_tracked), t_class, memo


if __name__ == "__main__":
    main()
