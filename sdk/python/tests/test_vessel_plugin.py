"""Tests of vessel_plugin on plain CPython (no componentize-py needed):

    python3 -m unittest discover -s sdk/python/tests
"""

import importlib
import importlib.util
import os
import struct
import sys
import tempfile
import textwrap
import unittest
from datetime import datetime, timedelta, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import vessel_plugin as vp  # noqa: E402

UTC = timezone.utc


class Wire:
    """A wire column as the bindings hand it over."""

    def __init__(self, values, offsets=None, validity=None):
        self.values = values
        self.offsets = offsets
        self.validity = validity


def roundtrip(schema, rows):
    bb = vp.BatchBuilder(schema)
    for r in rows:
        bb.push(r)
    n, cols = bb.finish()
    return vp.Batch.decode(schema, n, cols)


class CodecTest(unittest.TestCase):
    SCHEMA = [("i", vp.INT), ("f", vp.FLOAT), ("d", vp.DECIMAL2), ("s", vp.STRING),
              ("b", vp.BOOL), ("t", vp.DATETIME)]

    def test_every_type_round_trips(self):
        t0 = datetime(2020, 1, 30, 20, 43, 11, 123000, tzinfo=UTC)
        rows = [
            [1, 1.5, Decimal("85.96"), "héllo", True, t0],
            [-(1 << 63), -0.0, Decimal("-0.01"), "", False, datetime(1, 1, 1, tzinfo=UTC)],
            [(1 << 63) - 1, 1e300, Decimal("12345678901234.56"), "日本", True, t0],
        ]
        b = roundtrip(self.SCHEMA, rows)
        self.assertEqual(len(b), 3)
        self.assertEqual([r.values() for r in b], rows)
        self.assertEqual(b.row(0)["d"], Decimal("85.96"))
        self.assertEqual(b.row(0).hundredths("d"), 8596)
        self.assertEqual(b.row(0).micros("t"), vp.datetime_to_micros(t0))
        self.assertEqual(b.row(2).str("s"), "日本")

    def test_wire_layout_matches_types_wit(self):
        bb = vp.BatchBuilder([("i", vp.INT), ("s", vp.STRING), ("b", vp.BOOL)])
        for i in range(9):
            bb.push([i - 1, "ab" if i % 2 else "", i in (0, 8)])
        n, (ci, cs, cb) = bb.finish()
        self.assertEqual(n, 9)
        self.assertEqual(ci.values[:16], (-1).to_bytes(8, "little", signed=True) +
                         (0).to_bytes(8, "little"))
        self.assertIsNone(ci.offsets)
        self.assertEqual(cs.values, b"ab" * 4)
        self.assertEqual(cs.offsets[:12], bytes([0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]))
        self.assertEqual(len(cs.offsets), 40)
        self.assertEqual(cb.values, bytes([0b00000001, 0b00000001]))
        self.assertIsNone(cb.validity)

    def test_buffers_may_be_bytes_bytearray_or_int_lists(self):
        raw = (7).to_bytes(8, "little") + (-2).to_bytes(8, "little", signed=True)
        for buf in (raw, bytearray(raw), list(raw), memoryview(raw)):
            col = vp.Column.decode("x", vp.INT, 2, buf)
            self.assertEqual(col.to_list(), [7, -2])
        floats = vp.Column.decode("f", vp.FLOAT, 1, struct.pack("<d", 2.5))
        self.assertEqual(floats[0], 2.5)

    def test_unaligned_buffer(self):
        raw = b"\x00" + (5).to_bytes(8, "little")
        col = vp.Column.decode("x", vp.INT, 1, memoryview(raw)[1:])
        self.assertEqual(col[0], 5)

    def test_empty_batch(self):
        b = roundtrip(self.SCHEMA, [])
        self.assertEqual(len(b), 0)
        self.assertEqual(list(b), [])

    def test_nulls(self):
        bb = vp.BatchBuilder([("i", vp.INT), ("s", vp.STRING)])
        bb.push([1, None])
        bb.push([None, "x"])
        n, cols = bb.finish()
        self.assertEqual(cols[0].validity, bytes([0b01]))
        self.assertEqual(cols[1].validity, bytes([0b10]))
        b = vp.Batch.decode([("i", vp.INT), ("s", vp.STRING)], n, cols)
        self.assertEqual([r.values() for r in b], [[1, None], [None, "x"]])
        self.assertTrue(b.column("i").is_null(1))

    def test_malformed_buffers_fail(self):
        cases = [
            (vp.INT, 2, Wire(b"\x00" * 15), "holds 15 bytes"),
            (vp.BOOL, 9, Wire(b"\x00"), "expected 2"),
            (vp.STRING, 1, Wire(b"ab"), "without offsets"),
            (vp.STRING, 2, Wire(b"ab", bytes([0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0])),
             "do not span"),
            (vp.STRING, 2, Wire(b"ab", bytes([0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0])),
             "decrease"),
            (vp.STRING, 1, Wire(b"\xff", bytes([0, 0, 0, 0, 1, 0, 0, 0])), "not UTF-8"),
            (vp.INT, 1, Wire(b"\x00" * 8, b"\x00" * 8), "with offsets"),
        ]
        for ty, n, w, msg in cases:
            with self.assertRaises(vp.Failed) as cm:
                vp.Column.decode("c", ty, n, w.values, w.offsets, w.validity)
            self.assertIn(msg, str(cm.exception))
        with self.assertRaises(vp.Failed):
            vp.Batch.decode([("a", vp.INT)], 0, [])

    def test_row_is_dict_like_and_typed(self):
        b = roundtrip([("a", vp.INT), ("s", vp.STRING)], [[3, "x"]])
        r = b.row(0)
        self.assertEqual(r.to_dict(), {"a": 3, "s": "x"})
        self.assertEqual(list(r), ["a", "s"])
        self.assertIn("a", r)
        self.assertIsNone(r.get("zz"))
        with self.assertRaises(TypeError):
            r.str("a")
        with self.assertRaises(KeyError):
            r["zz"]

    def test_builder_checks_values(self):
        for ty, bad in ((vp.INT, 1.5), (vp.INT, True), (vp.INT, 1 << 63), (vp.FLOAT, "1"),
                        (vp.DECIMAL2, "1"), (vp.DECIMAL2, float("nan")), (vp.STRING, 1),
                        (vp.BOOL, 1), (vp.DATETIME, "2020-01-01")):
            with self.assertRaises((TypeError, ValueError), msg="%s %r" % (ty, bad)):
                vp.ColumnBuilder(ty).append(bad)
        b = vp.ColumnBuilder(vp.DATETIME)
        b.append(datetime(1970, 1, 1, 0, 0, 1))  # naive: UTC
        b.append(datetime(1970, 1, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=2))))
        self.assertEqual(vp.Column.decode("t", vp.DATETIME, 2, b.finish().values).raw.tolist(),
                         [1000000, 0])


class ValueTest(unittest.TestCase):
    def test_decimal_rounding_is_half_away_from_zero_on_the_shortest_decimal(self):
        cases = [(0.125, 13), (-0.125, -13), (1.005, 101), (2.675, 268), (111.95, 11195),
                 (12.438888888888888, 1244), (1e-7, 0), (-0.004, 0), (28.5, 2850), (3, 300),
                 (1.5e16, 1500000000000000000), (Decimal("0.005"), 1), (Decimal("-0.015"), -2)]
        for x, c in cases:
            self.assertEqual(vp.decimal_to_hundredths(x), c, x)
        self.assertEqual(vp.hundredths_to_decimal(-5), Decimal("-0.05"))

    def test_iso_millis(self):
        us = vp.parse_iso_millis("2007-03-05T23:59:59.999+02:00")
        self.assertEqual(vp.micros_to_datetime(us),
                         datetime(2007, 3, 5, 21, 59, 59, 999000, tzinfo=UTC))
        self.assertEqual(vp.format_iso_millis(us), "2007-03-05T21:59:59.999+00:00")
        self.assertEqual(vp.format_iso_millis(vp.parse_iso_millis(
            "0001-01-01T00:00:00.000+00:00")), "0001-01-01T00:00:00.000+00:00")
        for bad in ("2007-03-05T23:59:59.999Z", "2007-03-05T23:59:59+02:00",
                    "2007-03-05T23:59:59.9999+02:00", "2007-03-05T23:59:59.999+0200",
                    "2007-02-30T23:59:59.999+02:00", "2007-03-05T24:00:00.000+00:00", 5):
            with self.assertRaises(ValueError, msg=bad):
                vp.parse_iso_millis(bad)


# ---------------------------------------------------------------------------------------
# Processors through the harness


class AddVat(vp.Processor):
    """Adds VAT."""

    name = "add-vat"
    kind = vp.MAP

    def open(self, ctx):
        ctx.require("price", vp.DECIMAL2)
        self.factor = 1 + Decimal(ctx.params["vat_percent"]) / 100
        return vp.Binding(reads=["price"], outputs=[("with_vat", vp.DECIMAL2),
                                                    ("label", vp.STRING)])

    def process_row(self, row, emit):
        if row["price"] < 0:
            emit["label"] = "emitted before the error is dropped"
            raise vp.RowError("negative price", field="price")
        emit["with_vat"] = row["price"] * self.factor
        if row.index == 0:
            emit["label"] = "first"
        vp.counter_add("rows")


class Splitter(vp.Processor):
    name = "splitter"
    kind = vp.FLAT_MAP

    def open(self, ctx):
        return vp.Binding(reads=["s"], outputs={"word": vp.STRING, "n": vp.INT})

    def process_row(self, row, emit):
        for i, w in enumerate(row["s"].split()):
            emit.push()
            emit.set("word", w).set("n", i)


class ProcessorTest(unittest.TestCase):
    def test_map_with_row_error(self):
        h = vp.Harness(AddVat, '{"vat_percent": 20}', [("name", vp.STRING),
                                                       ("price", vp.DECIMAL2)])
        self.assertEqual(h.reads, ["price"])
        out = h.process([["a", Decimal("10.00")], ["b", Decimal("-1.00")],
                         ["c", Decimal("0.05")]])
        self.assertEqual(out.rows(), [{"with_vat": Decimal("12.00"), "label": "first"},
                                      {"with_vat": Decimal("0.06"), "label": ""}])
        self.assertEqual(out.row_errors, [(1, "price", "negative price")])
        self.assertIsNone(out.keep)
        self.assertIsNone(out.parents)

    def test_open_errors(self):
        with self.assertRaises(vp.SchemaMismatch):
            vp.Harness(AddVat, {"vat_percent": 1}, [("price", vp.INT)])
        with self.assertRaises(vp.InvalidParams):
            vp.Harness(AddVat, "[1]", [("price", vp.DECIMAL2)])
        with self.assertRaises(vp.InvalidParams):
            vp.Harness(AddVat, "{", [("price", vp.DECIMAL2)])

    def test_flat_map_parents(self):
        h = vp.Harness(Splitter, {}, [("s", vp.STRING)])
        out = h.process([["a b"], [""], ["c"]])
        self.assertEqual([(r["word"], r["n"]) for r in out.batch], [("a", 0), ("b", 1),
                                                                   ("c", 0)])
        self.assertEqual(out.parents, [0, 0, 2])

    def test_misuse_and_exceptions_fail_the_batch(self):
        class Bad(vp.Processor):
            name = "bad"

            def open(self, ctx):
                return vp.Binding(reads=["n"], outputs=[("x", vp.INT)])

            def process_row(self, row, emit):
                if row["n"] == 1:
                    emit["x"] = "text"
                if row["n"] == 2:
                    emit["nope"] = 1
                if row["n"] == 3:
                    emit.push()
                if row["n"] == 4:
                    return 1 // 0
                emit["x"] = row["n"]

        h = vp.Harness(Bad, {}, [("n", vp.INT)])
        self.assertEqual(h.process([[0], [5]]).rows(), [{"x": 0}, {"x": 5}])
        for n, msg in ((1, "cannot set `x` (int)"), (2, "declares no such output"),
                       (3, "push() is for flat-map"),
                       (4, "input row 1: ZeroDivisionError: integer division")):
            with self.assertRaises(vp.Failed) as cm:
                h.process([[0], [n]])
            self.assertIn(msg, str(cm.exception))

    def test_decorators(self):
        @vp.map_rows(reads=["a"], outputs={"double": vp.INT})
        def doubler(row):
            return {"double": row["a"] * 2}

        @vp.filter_rows(reads=["a"])
        def odd(row):
            return row["a"] % 2 == 1

        @vp.filter_map_rows(outputs={"half": vp.FLOAT})
        def halves(row, ctx):
            if row["a"] % ctx.params["m"]:
                return None
            return {"half": row["a"] / 2}

        @vp.flat_map_rows(outputs={"i": vp.INT})
        def repeat(row):
            for i in range(row["a"]):
                yield {"i": i}

        schema = [("a", vp.INT), ("b", vp.STRING)]
        rows = [[1, "x"], [2, "y"], [3, "z"]]
        self.assertEqual(doubler.name, "doubler")
        self.assertEqual(doubler.kind, vp.MAP)
        self.assertEqual(vp.Harness(doubler, {}, schema).process(rows).rows(),
                         [{"double": 2}, {"double": 4}, {"double": 6}])
        out = vp.Harness(odd, {}, schema).process(rows)
        self.assertEqual(out.keep, [True, False, True])
        self.assertEqual(len(out.batch), 2)
        h = vp.Harness(halves, {"m": 2}, schema)
        self.assertEqual(h.reads, ["a", "b"])
        out = h.process(rows)
        self.assertEqual(out.keep, [False, True, False])
        self.assertEqual(out.rows(), [{"half": 1.0}])
        out = vp.Harness(repeat, {}, schema).process(rows)
        self.assertEqual(out.parents, [0, 1, 1, 2, 2, 2])

    def test_raw_setters(self):
        class Raw(vp.Processor):
            name = "raw"

            def open(self, ctx):
                return vp.Binding(reads=["n"], outputs=[("d", vp.DECIMAL2), ("t", vp.DATETIME)])

            def process_row(self, row, emit):
                if row["n"] == 0:
                    emit.set_all_raw([row["n"] + 150, 1000000])
                elif row["n"] == 1:
                    emit.set_raw("d", 5)
                else:
                    emit.set_all_raw([1])

        h = vp.Harness(Raw, {}, [("n", vp.INT)])
        self.assertEqual(h.process([[0], [1]]).rows(), [
            {"d": Decimal("1.50"), "t": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)},
            {"d": Decimal("0.05"), "t": datetime(1, 1, 1, tzinfo=UTC)}])
        with self.assertRaises(vp.Failed) as cm:
            h.process([[2]])
        self.assertIn("set_all_raw needs an open output row and 2 values", str(cm.exception))

    def test_plugin_names_are_checked(self):
        class NoName(vp.Processor):
            def open(self, ctx):
                return vp.Binding()

        with self.assertRaises(ValueError):
            vp.Harness(NoName, {}, [])

    def test_sealed_imports_raise_instead_of_trapping(self):
        sys.modules.pop("this_module_does_not_exist", None)
        vp.seal_imports("try json")
        vp.seal_imports()  # once only
        try:
            self.assertEqual(sum(isinstance(f, vp._SealedImports) for f in sys.meta_path), 1)
            with self.assertRaises(ImportError) as cm:
                importlib.import_module("wsgiref.simple_server")  # not loaded by these tests
            self.assertIn("only modules loaded when it was built can be imported; try json",
                          str(cm.exception))
            importlib.import_module("json")  # already loaded: still fine
            importlib.import_module("_imp")  # built in: still fine
        finally:
            sys.meta_path[:] = [f for f in sys.meta_path
                                if not isinstance(f, vp._SealedImports)]

    def test_export_needs_the_bindings(self):
        with self.assertRaises(RuntimeError):
            vp.export(AddVat)


# ---------------------------------------------------------------------------------------
# Export glue, against stand-in bindings shaped like componentize-py 0.25.1's


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
        from typing import Optional, List
        class FieldType(Enum):
            INT = 0; FLOAT = 1; DECIMAL2 = 2; STRING = 3; BOOL = 4; DATETIME = 5
        class LogLevel(Enum):
            TRACE = 0; DEBUG = 1; INFO = 2; WARN = 3; ERROR = 4
        @dataclass
        class Field:
            name: str
            ty: FieldType
        @dataclass
        class Column:
            validity: Optional[bytes]
            offsets: Optional[bytes]
            values: bytes
        @dataclass
        class Batch:
            row_count: int
            columns: List[Column]
        @dataclass
        class RowError:
            row: int
            field: Optional[str]
            message: str
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
        COUNTERS = []
        def log(level, message): LINES.append((level.name, message))
        def log_enabled(level): return True
        def counter_add(name, delta): COUNTERS.append((name, delta))
    """,
    "wit_world/exports/__init__.py": """
        class Processor:
            pass
    """,
    "wit_world/exports/processor.py": """
        from dataclasses import dataclass
        from enum import Enum
        from typing import Optional, List
        from ..imports import types
        class Kind(Enum):
            MAP = 0; FILTER = 1; FILTER_MAP = 2; FLAT_MAP = 3
        @dataclass
        class PluginInfo:
            name: str
            version: str
            kind: Kind
            description: str
            params_schema: Optional[str]
        @dataclass
        class OpenArgs:
            params_json: str
            input_schema: list
            keyspace: str
            run_id: int
            node_name: str
        @dataclass
        class Binding:
            output_schema: list
            reads: List[str]
        @dataclass
        class BatchResult:
            output: types.Batch
            keep: Optional[bytes]
            parents: Optional[bytes]
            row_errors: list
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
        self.saved = {k: sys.modules.pop(k) for k in list(sys.modules)
                      if k.startswith(("wit_world", "componentize_py_types"))}
        spec = importlib.util.spec_from_file_location(
            "vessel_plugin_in_component", os.path.join(os.path.dirname(HERE),
                                                       "vessel_plugin.py"))
        self.vp = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.vp)
        self.stdout, self.stderr = sys.stdout, sys.stderr

    def tearDown(self):
        sys.stdout, sys.stderr = self.stdout, self.stderr
        sys.path.remove(self.dir.name)
        for k in [k for k in sys.modules if k.startswith(("wit_world",
                                                           "componentize_py_types"))]:
            del sys.modules[k]
        sys.modules.update(self.saved)
        self.dir.cleanup()

    def test_glue_round_trip(self):
        vp2 = self.vp
        from componentize_py_types import Err
        from wit_world.exports import processor as wp
        from wit_world.imports import host, types as wt

        class Tagger(vp2.Processor):
            name = "tagger"
            kind = vp2.FILTER_MAP

            def open(self, ctx):
                ctx.require("n", vp2.INT)
                print("opened for", ctx.node_name)
                return vp2.Binding(reads=["n"], outputs=[("tag", vp2.STRING)])

            def process_row(self, row, emit):
                if row["n"] < 0:
                    raise vp2.RowError("negative")
                emit.keep(row["n"] > 0)
                emit["tag"] = "n%d" % row["n"]
                vp2.counter_add("seen")

        P, I = vp2.export(Tagger)
        self.assertEqual((P.__name__, I.__name__), ("Processor", "Instance"))
        info = P().describe()
        self.assertEqual((info.name, info.kind), ("tagger", wp.Kind.FILTER_MAP))
        schema = [wt.Field("s", wt.FieldType.STRING), wt.Field("n", wt.FieldType.INT)]
        inst = I.open(wp.OpenArgs("{}", schema, "ks", 1, "node1"))
        self.assertEqual(host.LINES, [("INFO", "opened for node1")])
        b = inst.binding()
        self.assertEqual(b.reads, ["n"])
        self.assertEqual(b.output_schema, [wt.Field("tag", wt.FieldType.STRING)])
        vals = b"".join(n.to_bytes(8, "little", signed=True) for n in (1, 0, -1, 2))
        r = inst.process(wt.Batch(4, [wt.Column(None, None, vals)]))
        self.assertEqual(r.keep, bytes([0b1001]))
        self.assertEqual(r.output.row_count, 2)
        self.assertEqual(r.output.columns[0].values, b"n1n2")
        self.assertEqual(r.row_errors, [wt.RowError(2, None, "negative")])
        self.assertEqual(host.COUNTERS, [("seen", 1), ("seen", 1), ("seen", 1)])

        with self.assertRaises(Err) as cm:
            I.open(wp.OpenArgs("{}", [wt.Field("n", wt.FieldType.FLOAT)], "ks", 1, "x"))
        self.assertIsInstance(cm.exception.value, wt.Error_SchemaMismatch)
        with self.assertRaises(Err) as cm:
            inst.process(wt.Batch(4, [wt.Column(None, None, b"short")]))
        self.assertIsInstance(cm.exception.value, wt.Error_Failed)
        self.assertIn("holds 5 bytes", cm.exception.value.value)


if __name__ == "__main__":
    unittest.main()
