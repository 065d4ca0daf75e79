"""``depwatch.cached``: a memoizing decorator like ``functools.lru_cache`` whose results
are dropped when anything they were computed from changes.

What a result depends on:

* every name the function's code loads with ``LOAD_GLOBAL`` (also ``LOAD_NAME`` and
  ``LOAD_FROM_DICT_OR_GLOBALS``), in its own code and in every code object nested in it
  (lambdas, generator expressions, inner functions). A name found in the function's
  globals depends on that key; a name not found there depends on the key's absence and
  on the key in ``func.__builtins__`` (the builtins CPython fixed when the function was
  made, not ``globals()["__builtins__"]``);
* ``NAME.attr`` loaded right after such a name, when ``NAME`` is a class (the attribute
  as the class's lookup finds it) or a module (the key in the module's dict), and so on
  along ``module.sub.attr`` chains of modules;
* the function's ``__code__``, ``__defaults__`` and ``__kwdefaults__``;
* whatever the user declares: ``deps=`` takes any ``Registry.unit`` spec, and
  ``uses=`` takes functions whose global, builtin and class-attribute reads count too
  (callees, say).

What it does not see (declare it, or do not cache): the contents of arguments, the
globals of callees not listed in ``uses``, closure cells, attributes of instances and of
anything else that is not a class or module reached from a global, and anything outside
Python objects (files, time, randomness).

A result computed while one of its dependencies changed is never stored: the wrapper
takes a compile ticket before the call and registers the new guard unit after it, and the
ticket refuses if an event touched any object the unit depends on meanwhile (any key of
those dicts, so a function that writes to its own module's globals is never cached). The
result is still returned. If the storm policy refuses a dependency that keeps changing,
the wrapper stops caching and calls the function every time.
"""

import collections
import dis
import threading
import types

from ._native import Registry, StaleTicket, Unstable, _Memo

_default_registry = None


def _registry():
    global _default_registry
    if _default_registry is None:
        _default_registry = Registry()
    return _default_registry


# Opcode numbers, read once at import: nothing below calls anything a user can
# monkeypatch (builtins are bound as default arguments at definition time).
_OP = dis.opmap
_LOAD_GLOBAL = _OP["LOAD_GLOBAL"]
_NAME_LOADS = frozenset(_OP[n] for n in ("LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS") if n in _OP)
_LOAD_ATTR = _OP["LOAD_ATTR"]
_EXTENDED_ARG = _OP["EXTENDED_ARG"]
_CACHE = _OP.get("CACHE", 0)
_CodeType = types.CodeType
_ModuleType = types.ModuleType
_GENERATORS = 0x20 | 0x80 | 0x100 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR

CacheInfo = collections.namedtuple("CacheInfo", "hits misses maxsize currsize refused")


def _scan(code, out, _len=len, _type=type):
    """Appends to ``out`` one ``[name, attr, attr, ...]`` chain per global load in
    ``code`` and its nested code objects: the name, and the attributes loaded from it
    right after."""
    raw = code.co_code
    names = code.co_names
    ext = 0
    chain = None
    i = 0
    n = _len(raw)
    while i < n:
        op = raw[i]
        arg = raw[i + 1] | ext
        i += 2
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op == _CACHE:
            continue
        if op == _LOAD_GLOBAL:
            chain = [names[arg >> 1]]
            out.append(chain)
        elif op in _NAME_LOADS:
            chain = [names[arg]]
            out.append(chain)
        elif op == _LOAD_ATTR and chain is not None:
            chain.append(names[arg >> 1])
        else:
            chain = None
    for c in code.co_consts:
        if _type(c) is _CodeType:
            _scan(c, out)
    return out


def _reads(func, deps, seen, scans, _type=type, _isinstance=isinstance, _id=id, _class=type):
    """Appends the dependencies of what ``func``'s code reads now (see the module
    docs) to ``deps``, skipping those in ``seen``. ``scans`` caches each function's
    scan, by function, with the code object it was made from."""

    def add(obj, name):
        k = (_id(obj), name)
        if k not in seen:
            seen[k] = obj
            deps.append((obj, name))

    g = func.__globals__
    b = func.__builtins__
    code = func.__code__
    scan = scans.get(_id(func))
    if scan is None or scan[0] is not code:
        scan = scans[_id(func)] = (code, _scan(code, []))
    for chain in scan[1]:
        name = chain[0]
        add(g, name)
        if name in g:
            value = g[name]
        else:
            add(b, name)
            if name not in b:
                continue
            value = b[name]
        for attr in chain[1:]:
            if _isinstance(value, _class):
                add(value, attr)
                break  # what the class attribute is, is not followed further
            if _type(value) is not _ModuleType and not _isinstance(value, _ModuleType):
                break
            d = value.__dict__
            add(d, attr)
            if attr not in d:
                break
            value = d[attr]
    for attr in ("__code__", "__defaults__", "__kwdefaults__"):
        add(func, attr)


def _check(func, what, type=type, dict=dict):
    if not _isfunction(func):
        raise TypeError(f"depwatch.cached needs a Python function for {what}, not {type(func).__name__}")
    if type(func.__globals__) is not dict:
        raise TypeError(
            f"depwatch.cached cannot watch {func.__qualname__}: its globals are a "
            f"{type(func.__globals__).__name__}, not a dict, and LOAD_GLOBAL calls its "
            "__getitem__, which no dict watcher sees"
        )
    if type(func.__builtins__) is not dict:
        raise TypeError(
            f"depwatch.cached cannot watch {func.__qualname__}: its __builtins__ is a "
            f"{type(func.__builtins__).__name__}, not a dict"
        )


def _isfunction(f, _type=type):
    return _type(f) is types.FunctionType


def cached(func=None, *, maxsize=128, deps=(), uses=(), registry=None):
    """Memoizes ``func``'s results by its (hashable) arguments, like
    ``functools.lru_cache``, and drops them all when anything they were computed from
    changes (see the module documentation). ``maxsize=None`` keeps every result;
    otherwise the oldest result goes first. The wrapper has ``cache_info()``,
    ``cache_clear()``, ``unit`` (the guard unit, or None) and ``__wrapped__``."""
    if func is None:
        return lambda f: cached(f, maxsize=maxsize, deps=deps, uses=uses, registry=registry)
    _check(func, "func")
    if func.__code__.co_flags & _GENERATORS:
        raise TypeError(
            f"depwatch.cached memoizes return values, and {func.__qualname__} is a generator "
            "or coroutine function: its result runs later, after any check"
        )
    for f in uses:
        _check(f, "uses")
    if maxsize is not None and maxsize < 1:
        raise ValueError("maxsize must be at least 1, or None")
    return _make_wrapper(func, maxsize, list(deps), list(uses), registry or _registry())


def _make_wrapper(func, maxsize, declared, uses, registry, _len=len, _next=next, _iter=iter):
    entries = {}
    guard_deps = [None]  # the dependencies the guard unit was registered with
    counts = [0, 0]  # misses, refused
    lock = threading.Lock()

    scans = {}  # id(function) -> (code, chains); the functions are kept alive by the closure

    def dependencies():
        deps, seen = [], {}
        _reads(func, deps, seen, scans)
        for f in uses:
            _reads(f, deps, seen, scans)
        return deps + declared

    def miss(key, args, kwargs):
        if kwargs is None:
            kwargs = {}
        counts[0] += 1
        if memo.disabled:
            return func(*args, **kwargs)
        unit, deps = memo.unit, guard_deps[0]
        seed = None
        try:
            if unit is None or not unit.valid:
                # Watch everything first, so the ticket can vouch for it.
                deps = dependencies()
                seed = registry.unit(deps)
            ticket = registry.ticket()
            if seed is not None:
                deps = dependencies()  # read after the ticket: a change now is caught
        except Unstable:
            memo.disabled = True
            drop()
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
            try:
                new = registry.unit(deps, ticket=ticket)
            except StaleTicket:
                counts[1] += 1
                return result
            except Unstable:
                memo.disabled = True
                drop()
                return result
        finally:
            del ticket
            if seed is not None:
                seed.unregister()
        with lock:
            old = memo.unit
            if old is not None and old.valid:
                old.unregister()
            else:
                entries.clear()
            memo.unit, guard_deps[0] = new, deps
            if maxsize is not None and _len(entries) >= maxsize:
                del entries[_next(_iter(entries))]
            entries[key] = result
        return result

    def drop():
        with lock:
            entries.clear()
            old = memo.unit
            memo.unit = guard_deps[0] = None
            if old is not None:
                old.unregister()

    def cache_info():
        return CacheInfo(memo.hits, counts[0], maxsize, _len(entries), counts[1])

    def cache_clear():
        drop()
        counts[:] = [0, 0]
        memo._reset_hits()
        memo.disabled = False

    memo = _Memo(entries, miss)
    memo.__module__ = func.__module__
    memo.__name__ = func.__name__
    memo.__qualname__ = func.__qualname__
    memo.__doc__ = func.__doc__
    memo.__dict__.update(func.__dict__)
    memo.__wrapped__ = func
    memo.cache_info = cache_info
    memo.cache_clear = cache_clear
    memo.disabled = False
    return memo
