"""depwatch for CPython 3.12+: exact invalidation of optimized code, driven by
CPython's real dict, type, function and code watchers.

    import depwatch
    registry = depwatch.Registry()
    unit = registry.unit([(globals(), "LIMIT"), (MyClass, "method"), (f, "__code__")])
    LIMIT = 10          # the watcher fires before the store completes
    assert not unit.valid and unit.reasons == ["dict.MODIFIED LIMIT"]

``unit.valid`` turns False inside the watcher callback, so it is already False when
the mutating statement finishes. ``on_invalidate(unit, reasons)`` callbacks run
later, at the interpreter's next safe point (``Py_AddPendingCall``) or at the next
depwatch call, whichever comes first; an exception they raise is reported as
unraisable. ``specialize`` is a decorator built on top.
"""

from ._native import DepwatchError, Registry, StaleTicket, Ticket, Unit, Unstable
from ._specialize import specialize

__all__ = [
    "DepwatchError",
    "Registry",
    "StaleTicket",
    "Ticket",
    "Unit",
    "Unstable",
    "specialize",
]
