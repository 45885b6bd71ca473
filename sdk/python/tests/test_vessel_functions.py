"""Tests of vessel_functions on plain CPython (no componentize-py needed):

    python3 -m unittest discover -s sdk/python/tests
"""

import importlib.util
import os
import sys
import tempfile
import textwrap
import unittest
from datetime import datetime, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
sys.path.insert(0, SDK)

import vessel_functions as vf  # noqa: E402
import vessel_plugin as vp  # noqa: E402

UTC = timezone.utc


@vf.function(params=[vf.STRING], returns=vf.STRING)
def upper(s):
    """The text in upper case.

    More lines are not part of the description."""
    return s.upper()


@vf.function
def add_one(n: int) -> int:
    """The integer plus one."""
    return n + 1


@vf.function(params=[vf.DECIMAL2, vf.FLOAT], returns=vf.DECIMAL2, description="Scaled.")
def scale(d, f):
    return d * Decimal(repr(f))


@vf.function
def next_day(t: datetime, keep: bool) -> "datetime":
    return t if keep else t.replace(day=t.day + 1)


def wire(ty, values):
    b = vp.ColumnBuilder(ty)
    for v in values:
        b.append(v)
    return b.finish()


class DeclarationTest(unittest.TestCase):
    def test_signatures_from_arguments_annotations_and_docstrings(self):
        self.assertEqual(upper.vessel_function.signature,
                         vf.Signature("upper", [vf.STRING], vf.STRING, "The text in upper case."))
        self.assertEqual(add_one.vessel_function.signature,
                         ("add_one", (vf.INT,), vf.INT, "The integer plus one."))
        self.assertEqual(scale.vessel_function.signature.description, "Scaled.")
        self.assertEqual(next_day.vessel_function.signature.params, (vf.DATETIME, vf.BOOL))
        self.assertEqual(next_day.vessel_function.signature.returns, vf.DATETIME)

    def test_decorated_functions_stay_plain_functions(self):
        self.assertEqual(upper("ab"), "AB")
        self.assertEqual(add_one(41), 42)

    def test_bad_declarations_say_what_to_fix(self):
        with self.assertRaisesRegex(TypeError, "annotate n, return"):
            @vf.function
            def f(n):
                return n
        with self.assertRaisesRegex(ValueError, "parameter 1 has type 'text'"):
            @vf.function(params=["text"], returns=vf.STRING)
            def g(s):
                return s
        with self.assertRaisesRegex(ValueError, r"result has type <class 'list'>"):
            @vf.function
            def h(s: str) -> list:
                return [s]
        with self.assertRaisesRegex(TypeError, "must be a list of field types"):
            @vf.function(params=vf.INT, returns=vf.INT)
            def i(n):
                return n
        with self.assertRaisesRegex(ValueError, "not usable in expressions"):
            @vf.function(name="Bad-Name", params=[], returns=vf.INT)
            def j():
                return 1
        with self.assertRaisesRegex(ValueError, "two functions are named `upper`"):
            vf.export(upper, vf.function(name="upper", params=[], returns=vf.INT)(lambda: 1))
        with self.assertRaisesRegex(TypeError, "not declared with @vessel_functions.function"):
            vf.export(len)
        with self.assertRaisesRegex(ValueError, "at least one function"):
            vf.export()


class CallTest(unittest.TestCase):
    def setUp(self):
        self.h = vf.Harness(upper, add_one, scale, next_day)

    def test_values_of_every_type_go_through_the_codec(self):
        self.assertEqual(self.h.call("upper", [("tea",), ("été",), ("",)]), ["TEA", "ÉTÉ", ""])
        self.assertEqual(self.h.call("add_one", [(1,), (-1,), (2 ** 40,)]), [2, 0, 2 ** 40 + 1])
        self.assertEqual(self.h.call("scale", [(Decimal("10.00"), 1.5), (Decimal("0.03"), 0.5)]),
                         [Decimal("15.00"), Decimal("0.02")])
        t = datetime(2024, 2, 28, 12, 30, tzinfo=UTC)
        self.assertEqual(self.h.call("next_day", [(t, False), (t, True)]),
                         [datetime(2024, 2, 29, 12, 30, tzinfo=UTC), t])
        self.assertEqual(self.h.call("add_one", []), [])

    def test_failures_name_the_function_and_the_row(self):
        with self.assertRaisesRegex(vf.Failed, r"function `add_one`, row 1: returned "
                                               r"9223372036854775808, which is not an int: "
                                               r".*64-bit"):
            self.h.call("add_one", [(1,), ((1 << 63) - 1,)])
        with self.assertRaisesRegex(vf.Failed,
                                    r"function `next_day`, row 0: ValueError: day is out"):
            self.h.call("next_day", [(datetime(2024, 2, 29, tzinfo=UTC), False)])
        with self.assertRaisesRegex(vf.Failed, "no function `lower` in this component; it has "
                                               "add_one, next_day, scale, upper"):
            self.h.call("lower", [])

        @vf.function(params=[vf.INT], returns=vf.STRING)
        def nothing(n):
            return None if n else "zero"

        with self.assertRaisesRegex(vf.Failed, "row 1: returned None; it must return a string"):
            vf.Harness(nothing).call("nothing", [(0,), (1,)])

    def test_wire_level_errors(self):
        fset = vf.export(upper, add_one).vessel_functions
        with self.assertRaisesRegex(vf.Failed, "takes 1 arguments, the call passed 2"):
            fset.call("add_one", [wire(vf.INT, [1]), wire(vf.INT, [2])], 1)
        with self.assertRaisesRegex(vf.Failed, "function `add_one`: column `argument 1` values "
                                               "holds 8 bytes, expected 16"):
            fset.call("add_one", [wire(vf.INT, [1])], 2)

    def test_nulls_arrive_as_none(self):
        @vf.function
        def is_null(n: int) -> bool:
            return n is None

        col = wire(vf.INT, [1, None, 3])
        out = vf.export(is_null).vessel_functions.call("is_null", [col], 3)
        self.assertEqual(vp.Column.decode("r", vf.BOOL, 3, out.values).to_list(),
                         [False, True, False])

    def test_functions_without_arguments_run_once_per_row(self):
        @vf.function
        def seven() -> int:
            return 7

        self.assertEqual(vf.Harness(vf.export(seven)).call("seven", [(), ()]), [7, 7])

    def test_export_on_plain_cpython(self):
        F = vf.export(upper, add_one)
        self.assertEqual(F.__name__, "Functions")
        self.assertEqual([s.name for s in F().list_functions()], ["upper", "add_one"])
        out = F().call("upper", [wire(vf.STRING, ["ab"])], 1)
        self.assertEqual(out.values, b"AB")

    def test_sealing_imports_waits_for_a_component(self):
        finders = list(sys.meta_path)
        vf.seal_imports("hint")
        self.assertEqual(sys.meta_path, finders)

    def test_log_outside_a_component(self):
        del vf.local_log[:]
        vf.log.info("hello")
        self.assertEqual(vf.local_log, [("info", "hello")])
        with self.assertRaises(ValueError):
            vf.log.write("loud", "x")


# ---------------------------------------------------------------------------------------
# Export glue, against stand-in bindings shaped like componentize-py 0.25.1's for the
# function-plugin world


FAKE_BINDINGS = {
    "componentize_py_types.py": """
        from dataclasses import dataclass
        @dataclass(frozen=True)
        class Err(Exception):
            value: object
    """,
    "wit_world/__init__.py": "",
    "wit_world/imports/__init__.py": "",
    "wit_world/imports/types.py": """
        from dataclasses import dataclass
        from enum import Enum
        from typing import Optional
        class FieldType(Enum):
            INT = 0; FLOAT = 1; DECIMAL2 = 2; STRING = 3; BOOL = 4; DATETIME = 5
        class LogLevel(Enum):
            TRACE = 0; DEBUG = 1; INFO = 2; WARN = 3; ERROR = 4
        @dataclass
        class Column:
            validity: Optional[bytes]
            offsets: Optional[bytes]
            values: bytes
        @dataclass
        class Error_InvalidParams:
            value: str
        @dataclass
        class Error_SchemaMismatch:
            value: str
        @dataclass
        class Error_Failed:
            value: str
    """,
    "wit_world/imports/host.py": """
        LINES = []
        def log(level, message): LINES.append((level.name, message))
        def log_enabled(level): return level.name != "TRACE"
        def counter_add(name, delta): pass
    """,
    "wit_world/exports/__init__.py": """
        class Functions:
            pass
    """,
    "wit_world/exports/functions.py": """
        from dataclasses import dataclass
        from typing import List
        from ..imports import types
        @dataclass
        class Signature:
            name: str
            params: List[types.FieldType]
            returns: types.FieldType
            description: str
    """,
}


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        for rel, text in FAKE_BINDINGS.items():
            path = os.path.join(self.dir.name, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(textwrap.dedent(text))
        sys.path.insert(0, self.dir.name)
        # vessel_plugin is imported again too: inside a component it sees the bindings.
        self.saved = {k: sys.modules.pop(k) for k in list(sys.modules)
                      if k.startswith(("wit_world", "componentize_py_types", "vessel_plugin"))}
        spec = importlib.util.spec_from_file_location(
            "vessel_functions_in_component", os.path.join(SDK, "vessel_functions.py"))
        self.vf = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.vf)
        self.stdout, self.stderr = sys.stdout, sys.stderr

    def tearDown(self):
        sys.stdout, sys.stderr = self.stdout, self.stderr
        sys.path.remove(self.dir.name)
        for k in [k for k in sys.modules if k.startswith(("wit_world", "componentize_py_types",
                                                           "vessel_plugin"))]:
            del sys.modules[k]
        sys.modules.update(self.saved)
        self.dir.cleanup()

    def test_glue_round_trip(self):
        vf2 = self.vf
        from componentize_py_types import Err
        from wit_world.exports import Functions as Protocol
        from wit_world.exports import functions as wf
        from wit_world.imports import host, types as wt

        @vf2.function
        def shout(s: str) -> str:
            """Upper case, logged."""
            print("shouting", s)
            vf2.log.debug("debug line")
            return s.upper() + "!"

        @vf2.function
        def half(d: Decimal) -> Decimal:
            return d / 2

        F = vf2.export(shout, half)
        self.assertTrue(issubclass(F, Protocol))
        self.assertEqual(F.__name__, "Functions")
        self.assertEqual(F().list_functions(), [
            wf.Signature("shout", [wt.FieldType.STRING], wt.FieldType.STRING,
                         "Upper case, logged."),
            wf.Signature("half", [wt.FieldType.DECIMAL2], wt.FieldType.DECIMAL2, ""),
        ])
        strings = wire(vf.STRING, ["a", "bc"])
        out = F().call("shout", [wt.Column(strings.validity, strings.offsets, strings.values)], 2)
        self.assertIsInstance(out, wt.Column)
        self.assertEqual(out.values, b"A!BC!")
        self.assertEqual(out.offsets, bytes([0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0]))
        self.assertEqual(host.LINES, [("INFO", "shouting a"), ("DEBUG", "debug line"),
                                      ("INFO", "shouting bc"), ("DEBUG", "debug line")])
        self.assertFalse(vf2.log_enabled("trace"))

        cents = wire(vf.DECIMAL2, [Decimal("0.05"), Decimal("-0.05")])
        out = F().call("half", [wt.Column(None, None, cents.values)], 2)
        self.assertEqual(vp.Column.decode("r", vf.DECIMAL2, 2, out.values).to_list(),
                         [Decimal("0.03"), Decimal("-0.03")])

        with self.assertRaises(Err) as cm:
            F().call("shout", [], 1)
        self.assertIsInstance(cm.exception.value, wt.Error_Failed)
        self.assertIn("takes 1 arguments", cm.exception.value.value)
        with self.assertRaises(Err) as cm:
            F().call("half", [wt.Column(None, None, b"short")], 1)
        self.assertIn("function `half`: column `argument 1`", cm.exception.value.value)

    def test_sealing_imports_inside_a_component(self):
        finders = list(sys.meta_path)
        try:
            self.vf.seal_imports("only the standard modules loaded at build time")
            self.assertIn("random", sys.modules)  # componentize-py imports it after the app
            sys.modules.pop("xdrlib_not_loaded", None)
            with self.assertRaisesRegex(ImportError, "'xdrlib_not_loaded' is not available.*"
                                                     "only the standard modules"):
                __import__("xdrlib_not_loaded")
        finally:
            sys.meta_path[:] = finders


if __name__ == "__main__":
    unittest.main()
