"""``depwatch.cached``: the cases that made ``specialize`` return stale values, and what
a memoizer must get right. A result is never used after something it was computed from
changed, and a result computed while something changed is never stored."""

import builtins
import sys
import threading
import time
import types

import pytest

import depwatch


def define(src, ns=None, **names):
    """Runs `src` in a fresh module-like namespace and returns it."""
    ns = {"__name__": "mod"} if ns is None else ns
    ns.update(names)
    exec(src, ns)
    return ns


# ----- the cases that broke `specialize` ----------------------------------------------------


def test_the_function_writes_a_global_it_reads():
    ns = define(
        """
total = 0
def add_all(n):
    global total
    for i in range(n):
        total = total + i
    return total
"""
    )
    add_all = depwatch.cached(ns["add_all"])
    assert add_all(10) == 45
    assert add_all(10) == 90, "a result computed while `total` changed is not stored"
    assert ns["total"] == 90
    info = add_all.cache_info()
    assert info.currsize == 0 and info.refused == 2


def test_a_callee_rebinds_a_global_halfway_through_a_loop():
    ns = define(
        """
K = 3
def bump():
    global K
    K = 4
def f(n):
    out = []
    for i in range(n):
        out.append(K)
        if i == 1:
            bump()
    return out
"""
    )
    f = depwatch.cached(ns["f"])
    assert f(4) == [3, 3, 4, 4]
    ns["K"] = 3
    assert f(4) == [3, 3, 4, 4]
    assert f.cache_info().currsize == 0


def test_lazy_initialisation():
    ns = define(
        """
_c = None
def get():
    global _c
    if _c is None:
        _c = [1, 2, 3]
    return _c
"""
    )
    get = depwatch.cached(ns["get"])
    first = get()
    assert first == [1, 2, 3]
    assert get() is first, "now it only reads: cached"
    assert get.cache_info().currsize == 1
    ns["_c"] = None
    second = get()
    assert second == [1, 2, 3] and second is not first


def test_a_generator_function_is_refused():
    def gen():
        yield 1

    async def coro():
        return 1

    for f in (gen, coro):
        with pytest.raises(TypeError, match="generator or coroutine"):
            depwatch.cached(f)


def test_another_thread_sets_a_global_while_the_call_runs():
    ns = define(
        """
STOP = False
def spin():
    n = 0
    while not STOP:
        n += 1
    return "stopped"
"""
    )
    spin = depwatch.cached(ns["spin"])

    def stop():
        time.sleep(0.05)
        ns["STOP"] = True

    t = threading.Thread(target=stop)
    t.start()
    assert spin() == "stopped"  # the loop reads the global each time
    t.join()
    assert spin.cache_info().refused == 1, "STOP changed during the call"
    assert spin() == "stopped"
    assert spin.cache_info().currsize == 1


def test_the_builtins_are_the_functions_own():
    own = {"len": lambda s: 100}
    ns = define("def f(s):\n    return len(s)\n", {"__name__": "mod", "__builtins__": own})
    f = ns["f"]
    assert f.__builtins__ is own
    ns["__builtins__"] = builtins  # CPython keeps the function's own builtins
    cf = depwatch.cached(f)
    assert cf("ab") == 100
    own["len"] = lambda s: 200
    assert cf("ab") == 200
    real = builtins.len
    try:
        builtins.len = lambda s: 300  # not the function's builtins: the result stays
        assert cf("ab") == 200
    finally:
        builtins.len = real
    assert cf.cache_info().hits == 1


def test_globals_that_are_a_dict_subclass_are_refused():
    class Globals(dict):
        def __getitem__(self, k):
            return 7

    g = Globals(__builtins__=builtins)
    f = types.FunctionType(compile("x", "<s>", "eval"), g)
    with pytest.raises(TypeError, match="Globals, not a dict"):
        depwatch.cached(f)


def test_the_decorator_calls_no_user_visible_builtin():
    ns = define("def f(n):\n    return sum(range(n))\n")
    saved = {n: getattr(builtins, n) for n in ("len", "isinstance", "type", "tuple", "sorted", "iter", "next", "id")}
    try:
        for n in saved:
            setattr(builtins, n, 5)
        cf = depwatch.cached(ns["f"])
        assert cf(4) == 6
        assert cf(4) == 6
    finally:
        for n, v in saved.items():
            setattr(builtins, n, v)
    assert cf.cache_info().hits == 1


# ----- what the results depend on -----------------------------------------------------------


def test_globals_and_builtins():
    ns = define("SCALE = 3\ndef f(x):\n    return x * SCALE + len(str(x))\n")
    calls = []
    plain = ns["f"]

    def counted(x):
        calls.append(x)
        return plain(x)

    f = depwatch.cached(counted, uses=[plain])
    assert [f(1), f(1), f(2)] == [4, 4, 7]
    assert calls == [1, 2]
    ns["SCALE"] = 10
    assert f(1) == 11
    ns["len"] = lambda s: 0  # a global now shadows the builtin
    assert f(1) == 10
    del ns["len"]
    assert f(1) == 11
    assert calls == [1, 2, 1, 1, 1]


def test_own_globals_and_nested_code():
    ns = define(
        """
G = 1
H = 10
def f():
    inner = lambda: G
    return inner() + sum(H for _ in range(1))
"""
    )
    f = depwatch.cached(ns["f"])
    assert f() == 11
    ns["G"] = 2
    assert f() == 12
    ns["H"] = 20
    assert f() == 22
    assert f.cache_info().hits == 0


def test_class_attributes_per_attribute():
    class Config:
        rate = 2
        other = 0

    ns = define("def price(q):\n    return q * Config.rate\n", Config=Config)
    price = depwatch.cached(ns["price"])
    assert price(3) == 6
    Config.other = 1  # an unrelated attribute: the result stays
    assert price(3) == 6 and price.cache_info().hits == 1
    Config.rate = 5
    assert price(3) == 15


def test_module_attributes():
    m = types.ModuleType("m")
    m.sub = types.ModuleType("m.sub")
    m.sub.k = 1
    m.j = 2
    ns = define("def f():\n    return m.sub.k + m.j\n", m=m)
    f = depwatch.cached(ns["f"])
    assert f() == 3
    m.sub.k = 10
    assert f() == 12
    m.j = 20
    assert f() == 30
    m.unrelated = 0
    assert f() == 30 and f.cache_info().hits == 1


def test_declared_dependencies_and_uses():
    settings = {"mode": "a"}
    ns = define("N = 1\ndef helper():\n    return N\n")
    helper = ns["helper"]

    def f():
        return settings["mode"] + str(helper())

    cf = depwatch.cached(f, deps=[(settings, "mode")], uses=[helper])
    assert cf() == "a1"
    settings["mode"] = "b"
    assert cf() == "b1"
    ns["N"] = 2  # helper's global: seen through uses=
    assert cf() == "b2"


def test_code_and_defaults():
    def f(x, y=1):
        return x + y

    cf = depwatch.cached(f)
    assert cf(1) == 2
    f.__defaults__ = (10,)
    assert cf(1) == 11
    f.__code__ = (lambda x, y=1: x * y).__code__
    assert cf(2) == 20


def test_arguments_keyword_arguments_and_exceptions():
    calls = []

    def f(a, b=0, *, c=0):
        calls.append((a, b, c))
        if a < 0:
            raise ValueError(a)
        return a + b + c

    cf = depwatch.cached(f)
    assert cf(1, c=2) == cf(1, c=2) == 3
    assert cf(1, 2) == 3 and cf(1, b=2) == 3
    assert len(calls) == 3, "positional and keyword calls are keyed apart, like lru_cache"
    for _ in range(2):
        with pytest.raises(ValueError):
            cf(-1)
    assert calls.count((-1, 0, 0)) == 2, "exceptions are not cached"
    with pytest.raises(TypeError):
        cf([1])


def test_maxsize_drops_the_oldest():
    cf = depwatch.cached(lambda x: x * 2, maxsize=2)
    for x in (1, 2, 3):
        cf(x)
    assert cf.cache_info().currsize == 2
    cf(3)
    cf(1)
    assert cf.cache_info().hits == 1
    with pytest.raises(ValueError):
        depwatch.cached(lambda: 0, maxsize=0)


def test_a_global_that_keeps_changing_stops_the_caching():
    ns = define("HOT = 0\ndef f():\n    return HOT\n")
    f = depwatch.cached(ns["f"])
    for i in range(20):
        assert f() == i
        ns["HOT"] = i + 1
    assert f.disabled, "the storm policy refused HOT"
    assert f() == 20
    f.cache_clear()
    assert not f.disabled


def test_recursion():
    ns = define("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n")
    fib = depwatch.cached(ns["fib"], maxsize=None)
    ns["fib"] = fib
    assert fib(30) == 832040
    info = fib.cache_info()
    assert info.misses == 31 and info.currsize == 31


def test_the_wrapper_looks_like_the_function():
    def documented(x):
        """Doc."""
        return x

    cf = depwatch.cached(documented)
    assert cf.__name__ == "documented" and cf.__doc__ == "Doc." and cf.__wrapped__ is documented
    assert "specialize" not in depwatch.__all__ and not hasattr(depwatch, "specialize")


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.12+")
def test_a_class_body_name_load_counts():
    # Code nested in the function's own (a class body) loads globals with LOAD_NAME.
    ns = define(
        """
V = 1
def f():
    class K:
        w = V
    return K.w
"""
    )
    f = depwatch.cached(ns["f"])
    assert f() == 1
    ns["V"] = 2
    assert f() == 2


def test_a_cached_method_binds_its_instance():
    ns = define(
        """
import depwatch
class Shop:
    rate = 2
    def __init__(self, n):
        self.n = n
    def __hash__(self):
        return hash(self.n)
    def __eq__(self, other):
        return self.n == other.n
    @depwatch.cached
    def total(self, q):
        return self.n * q * Shop.rate
""",
        depwatch=depwatch,
    )
    Shop = ns["Shop"]
    a, b = Shop(1), Shop(2)
    assert a.total(3) == 6 and b.total(3) == 12 and a.total(3) == 6
    assert Shop.total.cache_info().hits == 1
    Shop.rate = 10  # Shop is a global of the method's module: (Shop, "rate")
    assert a.total(3) == 30


def test_a_closure_cell_is_not_seen():
    # Documented: closure cells are not watched. A class defined in the enclosing
    # function is a free variable of the cached function, not a global.
    class Local:
        rate = 2

    f = depwatch.cached(lambda q: q * Local.rate)
    assert f(3) == 6
    Local.rate = 10
    assert f(3) == 6, "the documented limit: declare it with deps=[(Local, 'rate')]"
    g = depwatch.cached(lambda q: q * Local.rate, deps=[(Local, "rate")])
    assert g(3) == 30
    Local.rate = 1
    assert g(3) == 3
