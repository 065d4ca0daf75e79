"""``depwatch.specialize``: run a copy of a function with the globals and builtins it
reads folded into constants, for as long as depwatch says they are unchanged.

The copy is built by rewriting the function's bytecode in place: each ``LOAD_GLOBAL``
(10 bytes with its inline caches on 3.12 and 3.13) becomes ``LOAD_CONST`` of the value
read at specialization time, plus ``PUSH_NULL`` where the call convention wants one,
then a ``JUMP_FORWARD`` over the remaining slots (which hold ``NOP``). Offsets do not move, so jumps, the exception table and the line
table stay valid. The copy depends on exactly the dict keys it folded, plus the
function's ``__code__``, ``__defaults__`` and ``__kwdefaults__``. When any of them
changes, calls fall back to the original function, and the next call specializes again,
until depwatch's storm policy refuses because the same key keeps changing.
"""

import dis
import functools
import sys
import types

from ._native import Registry, StaleTicket, Unstable

_LOAD_GLOBAL = dis.opmap["LOAD_GLOBAL"]
_LOAD_CONST = dis.opmap["LOAD_CONST"]
_PUSH_NULL = dis.opmap["PUSH_NULL"]
_NOP = dis.opmap["NOP"]
_JUMP_FORWARD = dis.opmap["JUMP_FORWARD"]
# 3.12 pushes NULL before the callable ("NULL + g"); 3.13 after it ("g + NULL").
_NULL_FIRST = sys.version_info < (3, 13)

_default_registry = None


def _registry():
    global _default_registry
    if _default_registry is None:
        _default_registry = Registry()
    return _default_registry


def _builtins_dict(func):
    b = func.__globals__.get("__builtins__", __builtins__)
    return b if isinstance(b, dict) else vars(b)


def fold_globals(func):
    """Returns ``(copy, deps)``: a copy of ``func`` with every global and builtin it
    loads folded into a constant, and the ``(dict, name)`` dependencies that keep the
    copy right. Names that are not defined yet, or whose load needs ``EXTENDED_ARG``,
    are left as generic loads."""
    code = func.__code__
    g = func.__globals__
    b = _builtins_dict(func)
    raw = bytearray(code.co_code)
    consts = list(code.co_consts)
    deps = []
    instrs = list(dis.get_instructions(code))
    for i, ins in enumerate(instrs):
        if ins.opcode != _LOAD_GLOBAL or ins.arg is None or ins.arg > 255:
            continue
        if i > 0 and instrs[i - 1].opname == "EXTENDED_ARG":
            continue
        name = ins.argval
        if name in g:
            value = g[name]
            deps.append((g, name))
        elif name in b:
            value = b[name]
            # A builtin stays right while globals lacks the name and builtins keeps it.
            deps.append((g, name))
            deps.append((b, name))
        else:
            continue
        index = len(consts)
        if index > 255:
            break
        consts.append(value)
        width = instrs[i + 1].offset - ins.offset
        seq = [(_LOAD_CONST, index)]
        if ins.arg & 1:
            seq = [(_PUSH_NULL, 0)] + seq if _NULL_FIRST else seq + [(_PUSH_NULL, 0)]
        # Skip the rest of the old instruction's slots with one jump, not a run of NOPs.
        rest = width // 2 - len(seq)
        if rest >= 2:
            seq.append((_JUMP_FORWARD, rest - 1))
            rest -= 1
        seq += [(_NOP, 0)] * rest
        for k, (op, arg) in enumerate(seq):
            raw[ins.offset + 2 * k] = op
            raw[ins.offset + 2 * k + 1] = arg
    folded = code.replace(co_code=bytes(raw), co_consts=tuple(consts))
    copy = types.FunctionType(folded, g, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    return copy, deps


class _Specialized:
    def __init__(self, func, registry):
        functools.update_wrapper(self, func)
        self._func = func
        self._registry = registry
        self._fast = None
        self._unit = None
        self.disabled = False
        self.specializations = 0

    @property
    def unit(self):
        """The depwatch unit guarding the current specialized copy, if any."""
        return self._unit

    def _specialize(self):
        # The first attempt on objects depwatch was not watching yet is refused (it
        # cannot vouch for their past); they are watched from then on, so retry once.
        for _ in range(2):
            ticket = self._registry.ticket()
            fast, deps = fold_globals(self._func)
            f = self._func
            deps += [(f, "__code__"), (f, "__defaults__"), (f, "__kwdefaults__")]
            try:
                self._unit = self._registry.unit(deps, ticket=ticket)
            except Unstable:
                # Something it reads keeps changing: stop speculating on this function.
                self.disabled = True
                self._unit = None
                return
            except StaleTicket:
                self._unit = None
                continue
            self._fast = fast
            self.specializations += 1
            return

    def __call__(self, *args, **kwargs):
        unit = self._unit
        if unit is None or not unit.valid:
            if self.disabled:
                return self._func(*args, **kwargs)
            self._specialize()
            unit = self._unit
            if unit is None:
                return self._func(*args, **kwargs)
        return self._fast(*args, **kwargs)

    def __get__(self, obj, objtype=None):
        return self if obj is None else types.MethodType(self, obj)


def specialize(func=None, *, registry=None):
    """Decorator: see the module documentation."""
    if func is None:
        return lambda f: specialize(f, registry=registry)
    return _Specialized(func, registry or _registry())
