"""``depwatch.specialize`` on real functions: same results as the original, before and
after every kind of mutation."""

import builtins

import depwatch

SRC = '''
SCALE = 3
def helper(v):
    return v + 1
def compute(x, y=2):
    return helper(x) * SCALE + len(str(y)) + y
'''


def fresh():
    ns = {}
    exec(SRC, ns)
    return ns


def test_folds_globals_and_builtins_and_stays_correct():
    ns = fresh()
    plain = ns["compute"]
    fast = depwatch.specialize(plain)
    ns["compute_fast"] = fast
    for x in range(5):
        assert fast(x) == plain(x)
    assert fast.unit is not None and fast.unit.valid
    # Rebind a folded global: the copy is dropped, results follow.
    ns["SCALE"] = 10
    assert not fast.unit.valid
    assert [fast(x) for x in range(5)] == [plain(x) for x in range(5)]
    # Replace a global function.
    ns["helper"] = lambda v: v * 100
    assert [fast(x) for x in range(5)] == [plain(x) for x in range(5)]
    # Shadow a builtin, then remove the shadow.
    ns["len"] = lambda s: 1000
    assert fast(1) == plain(1)
    del ns["len"]
    assert fast(1) == plain(1)
    # Defaults and code.
    plain.__defaults__ = (5,)
    assert fast(1) == plain(1)
    other = fresh()["helper"]
    plain.__code__ = (lambda x, y=2: x - y).__code__
    assert fast(9) == plain(9) == 9 - 5
    assert other(1) == 2


def test_specialized_copy_really_folds():
    ns = fresh()
    fast = depwatch.specialize(ns["compute"])
    fast(1)
    import dis

    ops = [i.opname for i in dis.get_instructions(fast._fast)]
    assert "LOAD_GLOBAL" not in ops, ops


def test_storm_stops_respecializing():
    ns = fresh()
    fast = depwatch.specialize(ns["compute"])
    for i in range(20):
        assert fast(i) == ns["compute"](i)
        ns["SCALE"] = i  # a hot global
    assert fast.disabled
    assert fast.specializations <= 7
    assert fast(3) == ns["compute"](3)


def test_methods():
    class K:
        factor = 2

        @depwatch.specialize
        def times(self, x):
            return x * len("ab")

    assert K().times(4) == 8
    builtins_len = builtins.len
    assert builtins_len("ab") == 2
