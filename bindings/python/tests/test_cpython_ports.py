"""Behaviours of CPython's own tests, ported to depwatch units.

* ``Lib/test/test_capi/test_watchers.py`` (3.12.1 and 3.13.0 have the same tests): what
  each dict, type, function and code event does, event aggregation and its reset by a
  lookup, subclasses, unwatching, and other watchers (including ones that raise) on the
  same objects. Where CPython asserts an event, the port asserts that exactly the units
  depending on what changed are invalidated, with the event as the reason.
* The executor-invalidation tests of ``Lib/test/test_capi/test_opt.py`` (3.13):
  ``test_invalidate_object`` (units depending on objects with an equal or lower index,
  invalidated in reverse), ``test_uop_optimizer_invalidation`` (a code object) and
  ``test_promote_globals_to_constants`` (a builtin folded into a constant, the fact
  ``depwatch.cached`` relies on). ``test_sys__clear_internal_caches`` has no
  counterpart: depwatch keeps no cache that call clears.
"""

import builtins
import gc
import sys

import pytest

import depwatch

_testcapi = pytest.importorskip("_testcapi")


# ----- TestDictWatchers -----------------------------------------------------------------


def test_dict_set_new_item(registry):
    d = {}
    u = registry.unit([(d, "foo")])
    d["foo"] = "bar"
    assert not u.valid and u.reasons == ["dict.ADDED foo"]


def test_dict_set_existing_item(registry):
    d = {"foo": "bar"}
    u = registry.unit([(d, "foo")])
    d["foo"] = "baz"
    assert not u.valid and u.reasons == ["dict.MODIFIED foo"]


def test_dict_clone(registry):
    d = {}
    u = registry.unit([(d, "foo")])
    d.update({"foo": "bar"})
    assert not u.valid and u.reasons == ["dict.CLONED"]


def test_dict_no_event_if_not_watched(registry):
    d, other = {}, {}
    u = registry.unit([(other, "foo")])
    before = registry.stats()["events"]
    d["foo"] = "bar"
    assert u.valid and registry.stats()["events"] == before


@pytest.mark.parametrize(
    "delete",
    [lambda d: d.__delitem__("foo"), lambda d: d.pop("foo"), lambda d: d.popitem()],
    ids=["del", "pop", "popitem"],
)
def test_dict_del_and_pop(registry, delete):
    d = {"foo": "bar"}
    u = registry.unit([(d, "foo")])
    delete(d)
    assert not u.valid and u.reasons == ["dict.DELETED foo"]


def test_dict_clear(registry):
    d = {"foo": "bar"}
    u = registry.unit([(d, "other")])
    d.clear()
    assert not u.valid and u.reasons == ["dict.CLEARED"]


def test_dict_dealloc(registry):
    d = {"foo": "bar"}
    u = registry.unit([(d, "foo")])
    del d
    assert not u.valid and u.reasons == ["destroyed"]


def test_dict_unwatch(registry):
    d = {}
    u = registry.unit([(d, "foo")])
    u.unregister()
    registry.flush()  # the last unit went: depwatch unwatches the dict
    before = registry.stats()["events"]
    d["foo"] = "bar"
    assert registry.stats()["events"] == before


def test_dict_two_watchers_and_an_erroring_one(registry):
    events = _testcapi.add_dict_watcher(0)  # EVENTS: records (event, dict, key, value)
    error = _testcapi.add_dict_watcher(1)  # ERROR: raises from the callback
    try:
        d = {}
        _testcapi.watch_dict(events, d)
        _testcapi.watch_dict(error, d)
        u = registry.unit([(d, "foo")])
        seen = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda args: seen.append(str(args.exc_value))
        try:
            d["foo"] = "bar"
        finally:
            sys.unraisablehook = old_hook
        assert seen == ["boom!"], "the other watcher raised"
        assert _testcapi.get_dict_watcher_events() == ["new:foo:bar"]
        assert not u.valid and u.reasons == ["dict.ADDED foo"]
        _testcapi.unwatch_dict(events, d)
        _testcapi.unwatch_dict(error, d)
    finally:
        _testcapi.clear_dict_watcher(error)
        _testcapi.clear_dict_watcher(events)


# ----- TestTypeWatchers -----------------------------------------------------------------


def test_type_watch(registry):
    class C:
        pass

    u = registry.unit([(C, "foo")])
    C.foo = "bar"
    assert not u.valid and u.reasons == ["type.MODIFIED foo"]


def test_type_event_aggregation(registry):
    class C:
        pass

    u = registry.unit([(C, "foo"), (C, "bar")])
    C.foo = "bar"
    C.bar = "baz"  # CPython reports one event for both
    assert not u.valid
    assert u.reasons in (["type.MODIFIED foo"], ["type.MODIFIED foo", "type.MODIFIED bar"])


def test_type_lookup_resets_aggregation(registry):
    class C:
        pass

    u = registry.unit([(C, "bar")])
    C.foo = "bar"
    assert C.foo == "bar"  # the lookup gives C a new version tag
    assert u.valid
    C.bar = "baz"
    assert not u.valid


def test_type_aggregation_without_a_lookup_is_not_silent_for_depwatch(registry):
    class C:
        pass

    u = registry.unit([(C, "bar")])
    C.foo = "bar"  # the only event CPython sends until C gets a new tag
    C.bar = "baz"
    assert not u.valid


def test_type_unwatch(registry):
    class C:
        pass

    u = registry.unit([(C, "foo")])
    assert u.unregister()
    C.foo = "bar"
    assert not u.valid and u.reasons == []


def test_type_watch_subclass(registry):
    class C:
        pass

    class D(C):
        pass

    u = registry.unit([(D, "foo")])
    C.foo = "bar"
    assert not u.valid


def test_type_two_watchers_and_an_erroring_one(registry):
    types_ = _testcapi.add_type_watcher(0)  # TYPES: records modified types
    error = _testcapi.add_type_watcher(1)  # ERROR: raises
    try:

        class C:
            pass

        _testcapi.watch_type(types_, C)
        _testcapi.watch_type(error, C)
        u = registry.unit([(C, "foo")])
        seen = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda args: seen.append(str(args.exc_value))
        try:
            C.foo = "bar"
        finally:
            sys.unraisablehook = old_hook
        assert seen == ["boom!"]
        assert _testcapi.get_type_modified_events() == [C]
        assert not u.valid
        _testcapi.unwatch_type(types_, C)
        _testcapi.unwatch_type(error, C)
    finally:
        _testcapi.clear_type_watcher(error)
        _testcapi.clear_type_watcher(types_)


# ----- TestCodeObjectWatchers -----------------------------------------------------------


def test_code_object_destroyed(registry):
    co = _testcapi.code_newempty("test_watchers", "dummy", 0)
    other = _testcapi.code_newempty("test_watchers", "other", 0)
    u = registry.unit([co])
    keep = registry.unit([other])
    del co
    gc.collect()
    assert not u.valid and u.reasons == ["destroyed"]
    assert keep.valid


# ----- TestFuncWatchers -----------------------------------------------------------------


def test_func_events_dispatched(registry):
    def myfunc():
        pass

    new_code = test_func_events_dispatched.__code__
    on_code = registry.unit([(myfunc, "__code__")])
    on_defaults = registry.unit([(myfunc, "__defaults__")])
    on_kw = registry.unit([(myfunc, "__kwdefaults__")])
    whole = registry.unit([myfunc])
    myfunc.__code__ = new_code
    assert not on_code.valid and on_code.reasons == ["func.MODIFY_CODE"]
    assert on_defaults.valid and on_kw.valid and not whole.valid
    myfunc.__defaults__ = (123,)
    assert not on_defaults.valid and on_defaults.reasons == ["func.MODIFY_DEFAULTS"]
    again = registry.unit([(myfunc, "__defaults__")])
    _testcapi.set_func_defaults_via_capi(myfunc, (456,))
    assert not again.valid and again.reasons == ["func.MODIFY_DEFAULTS"]
    myfunc.__kwdefaults__ = {"self": 123}
    assert not on_kw.valid and on_kw.reasons == ["func.MODIFY_KWDEFAULTS"]
    again = registry.unit([(myfunc, "__kwdefaults__")])
    _testcapi.set_func_kwdefaults_via_capi(myfunc, {"self": 456})
    assert not again.valid
    dies = registry.unit([(myfunc, "__code__")])
    del myfunc
    gc.collect()
    assert not dies.valid and dies.reasons == ["destroyed"]


def test_func_multiple_watchers_and_a_raising_one(registry):
    events = []
    seen = []

    def record(event, func, new_value):
        events.append(event)

    def boom(event, func, new_value):
        raise RuntimeError("boom!")

    def hook(args):
        seen.append(str(args.exc_value))

    def f():
        pass

    u = registry.unit([(f, "__defaults__")])
    old_hook = sys.unraisablehook
    sys.unraisablehook = hook
    # Added just around the mutation: a watcher that raises on every function created
    # would also raise inside pytest.
    w1 = _testcapi.add_func_watcher(record)
    w2 = _testcapi.add_func_watcher(boom)
    try:
        f.__defaults__ = (1,)
    finally:
        _testcapi.clear_func_watcher(w2)
        _testcapi.clear_func_watcher(w1)
        sys.unraisablehook = old_hook
    assert "boom!" in seen
    assert _testcapi.PYFUNC_EVENT_MODIFY_DEFAULTS in events
    assert not u.valid and u.reasons == ["func.MODIFY_DEFAULTS"]


# ----- test_opt.TestExecutorInvalidation ---------------------------------------------------


@pytest.mark.parametrize("kind", ["dict", "class", "function"])
def test_invalidate_object(registry, kind):
    def make(i):
        if kind == "dict":
            return {"k": i}
        if kind == "class":
            return type(f"T{i}", (), {})
        ns = {}
        exec(f"def f{i}():\n    pass\n", ns)
        return ns[f"f{i}"]

    def change(obj):
        if kind == "dict":
            obj["k"] = -1
        elif kind == "class":
            obj.k = -1
        else:
            obj.__code__ = (lambda: 1).__code__

    objects = [make(i) for i in range(5)]
    # Each unit depends on the objects with an equal or lower index.
    units = [registry.unit(objects[: i + 1]) for i in range(5)]
    assert all(u.valid for u in units)
    # Invalidate in reverse, each object twice: nothing breaks.
    for i in (4, 3, 2, 1, 0):
        change(objects[i])
        change(objects[i])
        assert not any(u.valid for u in units[i:])
        assert all(u.valid for u in units[:i])


def test_uop_optimizer_invalidation(registry):
    ns = {}
    exec("def f():\n    for i in range(1000):\n        pass\n", ns)
    f = ns["f"]
    on_code = registry.unit([f.__code__])
    on_attr = registry.unit([(f, "__code__")])
    f.__code__ = (lambda: None).__code__  # the old code object dies with its last reference
    gc.collect()
    assert not on_attr.valid and not on_code.valid
    assert on_code.reasons == ["destroyed"]


def test_promote_globals_to_constants():
    ns = {}
    exec("def testfunc(n):\n    for i in range(n):\n        x = range(i)\n    return x\n", ns)
    f = depwatch.cached(ns["testfunc"])
    assert f(64) == range(63)
    assert f.unit is not None and f.unit.valid
    real = builtins.range
    try:
        builtins.range = lambda *a: real(*a)  # another object: the folded fact stops holding
        assert not f.unit.valid
        assert f(3) == range(2)
    finally:
        builtins.range = real
    assert not f.unit.valid
    assert f(3) == range(2)
