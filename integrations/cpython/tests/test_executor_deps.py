"""What tier-2 executors depend on, and what invalidates them, in both builds.

Run with either interpreter that integrations/cpython/build.sh prints:

    PYTHON -m unittest discover -s integrations/cpython/tests -v

Every test runs on both builds. Where the builds differ, the test asserts each
build's own behaviour and its docstring says what the stock build does. The
patched build is recognised by its extra counters (``bloom_only``).
"""

import builtins
import gc
import sys
import textwrap
import types
import unittest

import _opcode
import _testinternalcapi

COUNTERS = _testinternalcapi.get_executor_counters
PATCHED = "bloom_only" in COUNTERS()
LOOPS = 200  # well past the tier-2 threshold of a backward jump


def executors(func):
    """The executors attached to func's code, in bytecode order."""
    code = func.__code__
    found = []
    for offset in range(0, len(code.co_code), 2):
        try:
            found.append(_opcode.get_executor(code, offset))
        except (ValueError, RuntimeError):
            pass
    return found


def first_executor(testcase, func, *args):
    """Runs func until its code has an executor, and returns that executor."""
    for _ in range(3):
        func(*args)
        found = executors(func)
        if found:
            testcase.assertTrue(found[0].is_valid())
            return found[0]
    testcase.fail(f"no executor for {func.__name__}: is tier 2 on?")


def make(source, name="f", ns=None):
    """Defines the function `name` from source in a fresh globals dict."""
    ns = {} if ns is None else ns
    exec(textwrap.dedent(source), ns)
    return ns[name], ns


class Base(unittest.TestCase):
    def setUp(self):
        if _testinternalcapi.get_optimizer() is None:
            self.skipTest("tier 2 is off (PYTHON_JIT=0?)")
        gc.collect()
        _testinternalcapi.reset_executor_counters()

    def delta(self, key):
        return COUNTERS()[key]


class TestInvalidatedWhenDependencyChanges(Base):
    """Both builds: an executor dies when what it depends on changes."""

    def test_global(self):
        f, ns = make("""
            LIMIT = 3
            def f():
                t = 0
                for i in range(%d):
                    t += LIMIT
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        ns["LIMIT"] = 4
        self.assertFalse(ex.is_valid())
        self.assertEqual(f(), 4 * LOOPS)  # and the new value is seen

    def test_global_deleted(self):
        f, ns = make("""
            LIMIT = 3
            def f():
                t = 0
                for i in range(%d):
                    t += LIMIT
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        del ns["LIMIT"]
        self.assertFalse(ex.is_valid())
        with self.assertRaises(NameError):
            f()

    def test_builtin(self):
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += len("ab")
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        old = builtins.len
        try:
            builtins.len = lambda s: 10
            self.assertFalse(ex.is_valid())
            self.assertEqual(f(), 10 * LOOPS)
        finally:
            builtins.len = old

    def test_builtin_shadowed_by_global(self):
        f, ns = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += len("ab")
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        ns["len"] = lambda s: 7
        self.assertFalse(ex.is_valid())
        self.assertEqual(f(), 7 * LOOPS)

    def test_module_attribute(self):
        mod = types.ModuleType("m")
        mod.STEP = 2
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += m.STEP
                return t
        """ % LOOPS, ns={"m": mod})
        ex = first_executor(self, f)
        mod.STEP = 5
        self.assertFalse(ex.is_valid())
        self.assertEqual(f(), 5 * LOOPS)

    def test_code_object_of_callee(self):
        # The executor traces into g; invalidating g's code invalidates it.
        f, ns = make("""
            def g(x):
                return x + 1
            def f():
                t = 0
                for i in range(%d):
                    t = g(t)
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        _testinternalcapi.invalidate_executors(ns["g"].__code__)
        self.assertFalse(ex.is_valid())


class TestUnrelatedGlobalWrite(Base):
    def test_survives_write_to_global_it_did_not_load(self):
        """Stock: any write to the module's globals invalidates every executor
        that promoted one of them (one watcher per dict). Patched: only the
        executors that loaded the written name."""
        f, ns = make("""
            LIMIT = 3
            OTHER = 0
            def f():
                t = 0
                for i in range(%d):
                    t += LIMIT
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        ns["OTHER"] = 1
        ns["NEW_NAME"] = 2
        if PATCHED:
            self.assertTrue(ex.is_valid())
            self.assertEqual(self.delta("executors_invalidated"), 0)
        else:
            self.assertFalse(ex.is_valid())
        ns["LIMIT"] = 5
        self.assertFalse(ex.is_valid())
        self.assertEqual(f(), 5 * LOOPS)

    def test_same_value_stored_again(self):
        """Both builds: storing the same object again in a module's (combined)
        dict sends no dict event, so nothing is invalidated."""
        f, ns = make("""
            LIMIT = 3
            def f():
                t = 0
                for i in range(%d):
                    t += LIMIT
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        ns["LIMIT"] = ns["LIMIT"]
        self.assertTrue(ex.is_valid())


class TestBuiltinsChange(Base):
    def test_only_executors_that_loaded_the_name(self):
        """Stock: a builtins change invalidates every executor in the interpreter
        (the first three times). Patched: only those that loaded that name."""
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += len("ab")
                return t
        """ % LOOPS)
        g, _ = make("""
            def g():
                t = 0
                for i in range(%d):
                    t += abs(-1)
                return t
        """ % LOOPS, name="g")
        exf = first_executor(self, f)
        exg = first_executor(self, g)
        _testinternalcapi.reset_rare_event_counters()
        old = builtins.abs
        try:
            builtins.abs = lambda x: 9
            self.assertFalse(exg.is_valid())
            self.assertEqual(exf.is_valid(), PATCHED)
            self.assertEqual(g(), 9 * LOOPS)
        finally:
            builtins.abs = old
        self.assertFalse(exg.is_valid())

    def test_new_builtin_name(self):
        """Stock: adding any builtin invalidates everything (the first three
        times). Patched: nothing loaded the new name, nothing is invalidated."""
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += len("ab")
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        _testinternalcapi.reset_rare_event_counters()
        try:
            builtins.depwatch_test_name = 1
            self.assertEqual(ex.is_valid(), PATCHED)
        finally:
            del builtins.depwatch_test_name


class TestObjectDeathAndAddressReuse(Base):
    SOURCE = """
        G = 1
        def f():
            t = 0
            for i in range(%d):
                t += G
            return t
    """ % LOOPS

    def test_dict_dies_new_dict_same_address(self):
        """Both builds: an executor depending on a dict dies with it (the dict
        watcher's DEALLOCATED event), and a new dict at the same address is
        watched afresh: no missed invalidation. Stock keys the bloom filter
        by address; patched retires the dead dict's ID."""
        for attempt in range(50):
            f, ns = make(self.SOURCE)
            code = f.__code__
            ex = first_executor(self, f)
            address = id(ns)
            del f, ns
            gc.collect()
            self.assertFalse(ex.is_valid())  # its globals died
            # Allocate dicts until one lands at the dead one's address.
            keep = [{} for _ in range(200)]
            found = [d for d in keep if id(d) == address]
            if found:
                break
        else:
            self.skipTest("no dict was allocated at the old address")
        d = found[0]
        d["G"] = 2
        exec(textwrap.dedent(self.SOURCE), d)
        self.assertEqual(id(d), address)
        f2 = d["f"]
        ex2 = first_executor(self, f2)
        d["G"] = 3  # the new dict's dependents see its events
        self.assertFalse(ex2.is_valid())
        self.assertEqual(f2(), 3 * LOOPS)
        del code, keep

    def test_code_dies_new_code_same_address(self):
        """A callee's code object dies while an executor that traced through it
        lives on (its guards protect it), then an event hits a new code object
        at the same address. Stock: the bloom filter still holds the old
        address, so the event invalidates the unrelated executor (spurious).
        Patched: the dead code's ID was retired and the executor's edge to it
        dropped; the new code's event invalidates nothing."""
        g_source = "def g(x):\n    return x + 1\n"
        ns = {}
        exec(g_source, ns)
        f, ns = make("""
            def f():
                t = 0
                for i in range(%d):
                    t = g(t)
                return t
        """ % LOOPS, ns=ns)
        ex = first_executor(self, f)
        address = id(ns["g"].__code__)
        ns["g"].__code__ = (lambda x: x + 1).__code__  # the old code dies
        gc.collect()
        self.assertTrue(ex.is_valid())  # both builds
        self.assertEqual(COUNTERS()["invalidated_by_death"] if PATCHED else 0, 0)
        keep = []
        for _ in range(20000):
            c = compile(g_source, "<string>", "exec").co_consts[0]
            if id(c) == address:
                break
            keep.append(c)
        else:
            self.skipTest("no code object was allocated at the old address")
        _testinternalcapi.invalidate_executors(c)
        self.assertEqual(ex.is_valid(), PATCHED)
        self.assertEqual(f(), LOOPS)


class TestManyExecutors(Base):
    N = 10_000

    def test_event_invalidates_only_its_dependents(self):
        """10,000 executors, each depending on its own globals dict. Both builds
        invalidate the one that depends on the changed dict. Stock scans all
        10,000 bloom filters to find it (and may hit false positives);
        patched looks up the key's dependents."""
        src = textwrap.dedent("""
            K = 1
            def f():
                t = 0
                for i in range(40):
                    t += K
                return t
        """)
        funcs = []
        for i in range(self.N):
            ns = {}
            exec(src, ns)  # compiled again: each f has its own code object
            funcs.append((ns["f"], ns))
            ns["f"]()
        live = [f for f, _ in funcs if executors(f)]
        self.assertGreater(len(live), self.N * 0.9)
        target_f, target_ns = funcs[self.N // 2]
        ex = first_executor(self, target_f)
        _testinternalcapi.reset_executor_counters()
        target_ns["K"] = 2
        self.assertFalse(ex.is_valid())
        counters = COUNTERS()
        if PATCHED:
            self.assertEqual(counters["executors_invalidated"], 1)
        else:
            self.assertGreaterEqual(counters["executors_invalidated"], 1)
        still_valid = sum(1 for f, _ in funcs if any(e.is_valid() for e in executors(f)))
        self.assertGreaterEqual(still_valid, len(live) - counters["executors_invalidated"])


class TestHotGlobal(Base):
    def test_only_the_hot_name_becomes_unstable(self):
        """A loop writes the global COUNT on every iteration and reads STEP.
        Stock: after 6 writes the whole module's globals are never promoted
        again, so a later write to STEP invalidates nothing (STEP is read
        through a guard). Patched: COUNT alone becomes unstable; STEP stays
        promoted, and a write to it invalidates the executor."""
        f, ns = make("""
            COUNT = 0
            STEP = 1
            def f():
                global COUNT
                t = 0
                for i in range(%d):
                    COUNT += 1
                    t += STEP
                return t
        """ % LOOPS)
        for _ in range(40):
            f()
        ex = first_executor(self, f)
        for _ in range(20):  # more writes to COUNT
            f()
        self.assertTrue(ex.is_valid())
        ns["STEP"] = 2
        self.assertEqual(ex.is_valid(), not PATCHED)
        self.assertEqual(f(), 2 * LOOPS)
        if PATCHED:
            self.assertGreater(COUNTERS()["unstable_refused"], 0)


class TestHotNameNothingDependsOn(Base):
    SOURCE = """
        A = 1
        HOT = 0
        def f():
            t = 0
            for i in range(%d):
                t += A
            return t
        def g():
            t = 0
            for i in range(%d):
                t += HOT
            return t
    """ % (LOOPS, LOOPS)

    def test_written_before_anything_reads_it(self):
        """f reads A, which keeps the module's globals watched; then HOT is
        written 10 times while nothing depends on it, and only then does g
        read it in a loop. Stock: the first write to HOT invalidates f's
        executor and unwatches the dict; g, optimized later, promotes HOT
        (1 watched write is under the cap of 6), and the next write to HOT
        invalidates g's executor. Patched: every write counts toward HOT's
        storm counter, so HOT is never promoted; f's executor survives, and
        g's reads HOT through a guard and survives writes to it."""
        f, ns = make(self.SOURCE)
        exf = first_executor(self, f)
        for i in range(10):
            ns["HOT"] = i
        self.assertEqual(exf.is_valid(), PATCHED)
        exg = first_executor(self, ns["g"])
        ns["HOT"] = 100
        self.assertEqual(exg.is_valid(), PATCHED)
        self.assertEqual(ns["g"](), 100 * LOOPS)
        if PATCHED:
            self.assertGreater(COUNTERS()["unstable_refused"], 0)
            self.assertEqual(COUNTERS()["executors_invalidated"], 0)

    @unittest.skipUnless(PATCHED, "the patched build's quiet keys")
    def test_quiet_key_skips_the_graph_and_hides_nothing(self):
        """Writes to an unstable key that nothing depends on skip the graph
        (quiet_keys_skipped). That never hides an event that matters: a write
        to another key of the same dict still invalidates, and so does a write
        to the same name in a new dict at the dead dict's address."""
        for attempt in range(50):
            f, ns = make(self.SOURCE)
            exf = first_executor(self, f)
            for i in range(10):
                ns["HOT"] = i
            before = COUNTERS()["quiet_keys_skipped"]
            ns["HOT"] = -1
            ns["HOT"] = -2
            self.assertGreater(COUNTERS()["quiet_keys_skipped"], before)
            self.assertTrue(exf.is_valid())
            ns["A"] = 2
            self.assertFalse(exf.is_valid())
            address = id(ns)
            del f, ns, exf
            gc.collect()
            keep = [{} for _ in range(200)]
            found = [d for d in keep if id(d) == address]
            if found:
                break
        else:
            self.skipTest("no dict was allocated at the old address")
        d = found[0]
        exec(textwrap.dedent(self.SOURCE), d)
        exg = first_executor(self, d["g"])
        d["HOT"] = 7  # HOT is a fresh, stable key of a new object
        self.assertFalse(exg.is_valid())
        self.assertEqual(d["g"](), 7 * LOOPS)
        del keep


class TestAsInStock(Base):
    """Both builds behave the same."""

    def test_frame_f_locals_write(self):
        f, _ = make("""
            def f():
                x = 1
                t = 0
                for i in range(%d):
                    t += x
                    if i == %d:
                        yield t
                yield t
        """ % (LOOPS, LOOPS // 2))
        gen = f()
        self.assertEqual(next(gen), (LOOPS // 2 + 1))
        ex = executors(f)
        self.assertTrue(ex and ex[0].is_valid())
        gen.gi_frame.f_locals["x"] = 100
        self.assertFalse(ex[0].is_valid())
        self.assertEqual(next(gen), (LOOPS // 2 + 1) + 100 * (LOOPS - LOOPS // 2 - 1))

    def test_sys_monitoring(self):
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += i
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        mon = sys.monitoring
        tool = 5
        mon.use_tool_id(tool, "depwatch-test")
        seen = []
        try:
            mon.register_callback(tool, mon.events.LINE, lambda code, line: seen.append(line))
            mon.set_local_events(tool, f.__code__, mon.events.LINE)
            self.assertFalse(ex.is_valid())
            f()
            self.assertTrue(seen)
        finally:
            mon.set_local_events(tool, f.__code__, 0)
            mon.register_callback(tool, mon.events.LINE, None)
            mon.free_tool_id(tool)

    def test_pep523_hook(self):
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += i
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        frames = []
        try:
            _testinternalcapi.set_eval_frame_record(frames)
            self.assertFalse(ex.is_valid())
            f()
        finally:
            _testinternalcapi.set_eval_frame_default()
        self.assertIn("f", frames)

    def test_sys_clear_internal_caches(self):
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += i
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        sys._clear_internal_caches()
        self.assertFalse(ex.is_valid())
        self.assertEqual(executors(f), [])


class TestCounters(Base):
    def test_counters_move(self):
        f, ns = make("""
            LIMIT = 3
            def f():
                t = 0
                for i in range(%d):
                    t += LIMIT
                return t
        """ % LOOPS)
        held = COUNTERS()["globals_promoted_live"]
        ex = first_executor(self, f)
        c = COUNTERS()
        self.assertGreaterEqual(c["executors_created"], 1)
        self.assertGreaterEqual(c["globals_promoted"], 1)
        self.assertGreaterEqual(c["executors_live"], 1)
        self.assertGreater(c["executor_bytes_live"], 0)
        # LIMIT (and range) are held as constants by a linked executor
        self.assertGreaterEqual(c["globals_promoted_live"], held + 1)
        held = c["globals_promoted_live"]
        _testinternalcapi.reset_executor_counters()  # keeps the live counts
        self.assertEqual(COUNTERS()["globals_promoted_live"], held)
        ns["LIMIT"] = 4
        self.assertFalse(ex.is_valid())
        c = COUNTERS()
        self.assertGreaterEqual(c["invalidation_events"], 1)
        self.assertGreaterEqual(c["executors_invalidated"], 1)
        self.assertLess(c["globals_promoted_live"], held)

    @unittest.skipUnless(PATCHED, "the patched build's counters")
    def test_shadow_bloom_counts_spurious(self):
        f, ns = make("""
            A = 1
            B = 2
            def f():
                t = 0
                for i in range(%d):
                    t += A
                return t
            def g():
                t = 0
                for i in range(%d):
                    t += B
                return t
        """ % (LOOPS, LOOPS))
        _testinternalcapi.set_executor_shadow_bloom(True)
        try:
            exf = first_executor(self, f)
            exg = first_executor(self, ns["g"])
            _testinternalcapi.reset_executor_counters()
            ns["A"] = 10
            c = COUNTERS()
        finally:
            _testinternalcapi.set_executor_shadow_bloom(False)
        self.assertFalse(exf.is_valid())
        self.assertTrue(exg.is_valid())
        self.assertEqual(c["executors_invalidated"], 1)
        self.assertEqual(c["bloom_also"], 1)  # the scan would have hit f too
        self.assertGreaterEqual(c["bloom_only"], 1)  # and g, spuriously
        self.assertGreater(c["depwatch_bytes"], 0)


class TestSubinterpreters(Base):
    def test_each_interpreter_has_its_own_graph(self):
        try:
            import _interpreters
        except ImportError:
            self.skipTest("no _interpreters")
        before = COUNTERS()
        interp = _interpreters.create()
        try:
            _interpreters.run_string(interp, textwrap.dedent("""
                import _testinternalcapi, _opcode
                def f():
                    t = 0
                    for i in range(%d):
                        t += LIMIT
                    return t
                LIMIT = 1
                for _ in range(3):
                    f()
                c = _testinternalcapi.get_executor_counters()
                assert c["executors_created"] >= 1, c
                LIMIT = 2
                assert f() == 2 * %d
                c = _testinternalcapi.get_executor_counters()
                assert c["executors_invalidated"] >= 1, c
            """ % (LOOPS, LOOPS)))
        finally:
            _interpreters.destroy(interp)
        after = COUNTERS()
        self.assertEqual(after["executors_invalidated"], before["executors_invalidated"])


    @unittest.skipUnless(PATCHED, "the patched build's graph")
    def test_interpreter_teardown_frees_its_graph(self):
        """A subinterpreter makes 300 executors on distinct dicts, and its graph
        grows the library's heap (depwatch_bytes counts every graph in the
        process). Destroying the interpreter frees its graph: the heap comes
        back down to what it was, give or take the main graph's own churn."""
        try:
            import _interpreters
        except ImportError:
            self.skipTest("no _interpreters")
        gc.collect()
        before = COUNTERS()["depwatch_bytes"]
        interp = _interpreters.create()
        try:
            _interpreters.run_string(interp, textwrap.dedent("""
                import _testinternalcapi
                src = "K = 1\\ndef f():\\n    t = 0\\n    for i in range(40):\\n        t += K\\n    return t\\n"
                keep = []
                for i in range(300):
                    ns = {}
                    exec(src, ns)
                    ns["f"]()
                    keep.append(ns)
                c = _testinternalcapi.get_executor_counters()
                assert c["executors_live"] >= 250, c
                assert c["depwatch_bytes"] > %d + 250 * 100, (c, %d)
            """ % (before, before)))
        finally:
            _interpreters.destroy(interp)
        gc.collect()
        self.assertLess(COUNTERS()["depwatch_bytes"], before + 16 * 1024)

    def test_builtins_change_stays_in_its_interpreter(self):
        """Both builds: each interpreter has its own builtins. A subinterpreter
        that replaces its len invalidates nothing in the main interpreter."""
        try:
            import _interpreters
        except ImportError:
            self.skipTest("no _interpreters")
        f, _ = make("""
            def f():
                t = 0
                for i in range(%d):
                    t += len("ab")
                return t
        """ % LOOPS)
        ex = first_executor(self, f)
        interp = _interpreters.create()
        try:
            _interpreters.run_string(interp, "import builtins; builtins.len = lambda s: 10")
        finally:
            _interpreters.destroy(interp)
        self.assertTrue(ex.is_valid())
        self.assertEqual(f(), 2 * LOOPS)

if __name__ == "__main__":
    unittest.main()
