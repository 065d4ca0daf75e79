"""``depwatch.specialize``: run a copy of a function with the globals and builtins it
reads folded into constants, for as long as depwatch says they are unchanged.

The copy is built by rewriting the function's bytecode: each ``LOAD_GLOBAL`` (5 code
units with its inline caches on 3.12 and 3.13) becomes ``LOAD_CONST`` of the value
read at specialization time, plus ``PUSH_NULL`` where the call convention wants one,
with no caches. The code shrinks, so every relative jump, the exception table and the
location table are rebuilt for the new offsets. The copy depends on exactly the dict keys it folded, plus the
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
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]
_RELATIVE_JUMPS = frozenset(dis.hasjrel)
_CACHE_ENTRIES = dis._inline_cache_entries
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


def _caches(op):
    """Inline cache code units after opcode ``op``."""
    if isinstance(_CACHE_ENTRIES, dict):  # 3.13: by name
        return _CACHE_ENTRIES.get(dis.opname[op], 0)
    return _CACHE_ENTRIES[op]  # 3.12: by opcode


def _instructions(raw):
    """``[start, op, arg, size, prefix]`` per instruction of ``raw`` bytecode, in code
    units; ``arg`` includes any ``EXTENDED_ARG`` prefix, whose instructions are listed
    too and named (by index) in ``prefix``."""
    out = []
    i, ext, prefix = 0, 0, []
    while i < len(raw) // 2:
        op, arg = raw[2 * i], raw[2 * i + 1]
        size = 1 + _caches(op)
        out.append([i, op, ext << 8 | arg, size, prefix])
        if op == _EXTENDED_ARG:
            ext, prefix = ext << 8 | arg, prefix + [len(out) - 1]
        else:
            ext, prefix = 0, []
        i += size
    return out


def _varint_le(v, out):
    # Location-table varint: 6-bit chunks, least significant first, 0x40 = more.
    while v >= 64:
        out.append(64 | (v & 63))
        v >>= 6
    out.append(v)


def _encode_locations(positions, firstlineno):
    """A location table (``co_linetable``) for one ``(line, end_line, col, end_col)``
    per code unit, in the long form (CPython's Objects/locations.md)."""
    out = bytearray()
    line = firstlineno
    i = 0
    while i < len(positions):
        pos = positions[i]
        n = 1
        while i + n < len(positions) and n < 8 and positions[i + n] == pos:
            n += 1
        lineno, end_line, col, end_col = pos
        if lineno is None:
            out.append(0x80 | (15 << 3) | (n - 1))  # no location
        else:
            long_form = None not in (end_line, col, end_col)
            out.append(0x80 | ((14 if long_form else 13) << 3) | (n - 1))  # 13: line only
            delta = lineno - line
            _varint_le(((-delta) << 1) | 1 if delta < 0 else delta << 1, out)
            if long_form:
                _varint_le(end_line - lineno, out)
                _varint_le(col + 1, out)
                _varint_le(end_col + 1, out)
            line = lineno
        i += n
    return bytes(out)


def _encode_exception_table(entries):
    """``co_exceptiontable`` for ``(start, end, target, depth, lasti)`` in code units
    (CPython's InternalDocs/exception_handling.md): 6-bit chunks, most significant
    first, 0x40 = more, 0x80 marks an entry's first byte."""
    out = bytearray()

    def item(v, msb):
        chunks = [v & 63]
        v >>= 6
        while v:
            chunks.append(v & 63)
            v >>= 6
        for k, c in enumerate(reversed(chunks)):
            out.append(c | (64 if k < len(chunks) - 1 else 0) | (msb if k == 0 else 0))

    for start, end, target, depth, lasti in entries:
        item(start, 128)
        item(end - start, 0)
        item(target, 0)
        item(depth << 1 | lasti, 0)
    return bytes(out)


def fold_globals(func):
    """Returns ``(copy, deps)``: a copy of ``func`` with every global and builtin it
    loads folded into a constant, and the ``(dict, name)`` dependencies that keep the
    copy right. Names that are not defined yet, or whose load needs ``EXTENDED_ARG``,
    are left as generic loads."""
    code = func.__code__
    g = func.__globals__
    b = _builtins_dict(func)
    raw = code.co_code
    consts = list(code.co_consts)
    deps = []
    instrs = _instructions(raw)
    folded = {}  # instruction index -> replacement [(op, arg)]
    for k, (start, op, arg, size, prefix) in enumerate(instrs):
        if op != _LOAD_GLOBAL or prefix:
            continue
        name = code.co_names[arg >> 1]
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
        seq = [(_LOAD_CONST, index)]
        if arg & 1:
            seq = [(_PUSH_NULL, 0)] + seq if _NULL_FIRST else seq + [(_PUSH_NULL, 0)]
        folded[k] = seq
    # New offsets (in code units) of every instruction start, and of the end.
    new_at = {}
    at = 0
    for k, (start, op, arg, size, prefix) in enumerate(instrs):
        new_at[start] = at
        at += len(folded[k]) if k in folded else size
    new_at[len(raw) // 2] = at
    out = bytearray()
    args = {}  # instruction index -> new full arg, for relocated jumps
    for k, (start, op, arg, size, prefix) in enumerate(instrs):
        if op in _RELATIVE_JUMPS:
            after = start + size
            if dis.opname[op].startswith("JUMP_BACKWARD"):
                target = after - arg
                args[k] = new_at[after] - new_at[target]
            else:
                target = after + arg
                args[k] = new_at[target] - new_at[after]
            for depth, p in enumerate(reversed(prefix), start=1):
                args[p] = (args[k] >> (8 * depth)) & 0xFF
    for k, (start, op, arg, size, prefix) in enumerate(instrs):
        if k in folded:
            for o, a in folded[k]:
                out += bytes((o, a))
            continue
        unit = raw[2 * start : 2 * (start + size)]
        if k in args:
            unit = bytes((op, args[k] & 0xFF)) + unit[2:]
        out += unit
    positions = list(code.co_positions())
    new_positions = []
    for k, (start, op, arg, size, prefix) in enumerate(instrs):
        if k in folded:
            new_positions += [positions[start]] * len(folded[k])
        else:
            new_positions += positions[start : start + size]
    table = [
        (new_at[e.start // 2], new_at[e.end // 2], new_at[e.target // 2], e.depth, int(e.lasti))
        for e in dis._parse_exception_table(code)
    ]
    new_code = code.replace(
        co_code=bytes(out),
        co_consts=tuple(consts),
        co_linetable=_encode_locations(new_positions, code.co_firstlineno),
        co_exceptiontable=_encode_exception_table(table),
    )
    return _make_function(new_code, func), deps


def _make_function(code, like):
    """A function running ``code`` with the globals, defaults, keyword defaults and
    closure of ``like``.

    On 3.13, a function made by ``types.FunctionType``, or changed after it was made,
    has no function version, so no call site can specialize calls to it (``CALL``
    stays generic, about 8 ns slower per call). So the copy is made the way the
    compiler makes functions: ``MAKE_FUNCTION`` and ``SET_FUNCTION_ATTRIBUTE`` in a
    small factory running with ``like``'s globals."""
    if sys.version_info < (3, 13):
        copy = types.FunctionType(code, like.__globals__, like.__name__, like.__defaults__, like.__closure__)
        copy.__kwdefaults__ = like.__kwdefaults__
        copy.__qualname__ = like.__qualname__
        return copy
    op = dis.opmap
    attrs = [(0, like.__defaults__, 1), (1, like.__kwdefaults__, 2), (2, like.__closure__, 8)]
    present = [(slot, flag) for slot, value, flag in attrs if value is not None]
    seq = [(op["RESUME"], 0)]
    seq += [(op["LOAD_FAST"], slot) for slot, _ in present]
    seq += [(op["LOAD_CONST"], 0), (op["MAKE_FUNCTION"], 0)]
    seq += [(op["SET_FUNCTION_ATTRIBUTE"], flag) for _, flag in reversed(present)]
    seq += [(op["RETURN_VALUE"], 0)]
    assert all(_caches(o) == 0 for o, _ in seq)
    factory = _FACTORY.replace(
        co_code=bytes(b for pair in seq for b in pair),
        co_consts=(code,),
        co_stacksize=len(present) + 1,
        co_linetable=b"",
        co_exceptiontable=b"",
    )
    make = types.FunctionType(factory, like.__globals__)
    return make(like.__defaults__, like.__kwdefaults__, like.__closure__)


def _factory_template(defaults, kwdefaults, closure):
    return None


_FACTORY = _factory_template.__code__


def _specialized(func, registry):
    """The wrapper ``specialize`` returns: a plain function (a closure, which CPython
    calls faster than an instance with ``__call__``) that runs the folded copy while
    its unit is valid. Its attributes report the state: ``unit`` (the unit guarding the
    current copy, if any), ``disabled`` (the storm policy refused), ``specializations``
    and ``_fast`` (the current copy)."""
    # [unit, copy]: read by every call, replaced by each specialization.
    current = [None, None]

    def specialize_now():
        # The first attempt on objects depwatch was not watching yet is refused (it
        # cannot vouch for their past); they are watched from then on, so retry once.
        for _ in range(2):
            ticket = registry.ticket()
            fast, deps = fold_globals(func)
            deps += [(func, "__code__"), (func, "__defaults__"), (func, "__kwdefaults__")]
            try:
                unit = registry.unit(deps, ticket=ticket)
            except Unstable:
                # Something it reads keeps changing: stop speculating on this function.
                wrapper.disabled = True
                break
            except StaleTicket:
                continue
            current[:] = [unit, fast]
            wrapper.unit, wrapper._fast = unit, fast
            wrapper.specializations += 1
            return True
        current[:] = [None, None]
        wrapper.unit = None
        return False

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        unit, fast = current
        if unit is not None and unit.valid:
            return fast(*args, **kwargs)
        if wrapper.disabled or not specialize_now():
            return func(*args, **kwargs)
        return current[1](*args, **kwargs)

    wrapper.unit = None
    wrapper._fast = None
    wrapper.disabled = False
    wrapper.specializations = 0
    return wrapper


def specialize(func=None, *, registry=None):
    """Decorator: see the module documentation."""
    if func is None:
        return lambda f: specialize(f, registry=registry)
    return _specialized(func, registry or _registry())
