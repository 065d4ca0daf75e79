"""depwatch for CPython 3.12+: exact invalidation of optimized code, driven by
CPython's real dict, type, function and code watchers.

    import depwatch
    registry = depwatch.Registry()
    unit = registry.unit([(globals(), "LIMIT"), (MyClass, "method"), (f, "__code__")])
    LIMIT = 10          # the watcher fires before the store completes
    assert not unit.valid and unit.reasons == ["dict.MODIFIED LIMIT"]

``unit.valid`` turns False inside the watcher callback, so it is already False when
the mutating statement finishes; a class change is re-checked per attribute the first
time ``valid`` is read after it, or at the next safe point. ``on_invalidate(unit,
reasons)`` callbacks run later, at the interpreter's next safe point
(``Py_AddPendingCall``) or at the next depwatch call, whichever comes first; an
exception they raise is reported as unraisable. ``cached`` is a memoizing decorator
built on top.
"""

from ._cached import CacheInfo, cached
from ._native import DepwatchError, Registry, StaleTicket, Ticket, Unit, Unstable

__all__ = [
    "CacheInfo",
    "DepwatchError",
    "Registry",
    "StaleTicket",
    "Ticket",
    "Unit",
    "Unstable",
    "cached",
]
