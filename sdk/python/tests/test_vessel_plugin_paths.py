"""Tests of vessel_plugin's column-at-a-time paths (decoding, rows made without the decimal2
and datetime fields no row has read yet, outputs converted when the batch ends), on plain
CPython:

    python3 -m unittest discover -s sdk/python/tests
"""

import json
import os
import sys
import unittest
from datetime import datetime, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import vessel_plugin as vp  # noqa: E402

UTC = timezone.utc
SCHEMA = [("n", vp.INT), ("s", vp.STRING), ("d", vp.DECIMAL2), ("t", vp.DATETIME)]
T0 = datetime(2024, 2, 29, 12, 30, tzinfo=UTC)


def rows(count):
    return [[i, "é%d" % i if i % 3 else "a%d" % i, Decimal(i * 101) / 100, T0]
            for i in range(count)]


def plugin(kind=vp.MAP, outputs=(), reads=("n", "s", "d", "t")):
    """A processor class whose process_row is the function given to it."""

    def wrap(fn):
        class P(vp.Processor):
            name = "p"

            def open(self, ctx):
                return vp.Binding(reads=list(reads), outputs=list(outputs))

            def process_row(self, row, emit):
                fn(row, emit)

        P.kind = kind
        return P

    return wrap


class DecodingTest(unittest.TestCase):
    def test_bits_and_strings_round_trip_at_every_length(self):
        for n in (0, 1, 7, 8, 9, 63, 64, 65, 1000):
            bits = [i % 3 == 0 or i % 7 == 0 for i in range(n)]
            self.assertEqual(vp._bits(vp._pack_bits(bits), n, "b"), bits)
            strs = ["" if i % 5 == 0 else ("日本" if i % 2 else "ab") * (i % 4) for i in range(n)]
            b = vp.ColumnBuilder(vp.STRING)
            for s in strs:
                b.append(s)
            w = b.finish()
            self.assertEqual(vp.Column.decode("s", vp.STRING, n, w.values, w.offsets).raw, strs)

    def test_a_string_cut_inside_a_character_names_its_row(self):
        data = "aé".encode()  # 3 bytes: the é is 2
        offs = b"".join(o.to_bytes(4, "little") for o in (0, 2, 3))
        with self.assertRaises(vp.Failed) as cm:
            vp.Column.decode("s", vp.STRING, 2, data, offs)
        self.assertIn("row 0 is not UTF-8", str(cm.exception))

    def test_column_values_are_python_values_with_nulls(self):
        bb = vp.BatchBuilder([("d", vp.DECIMAL2), ("t", vp.DATETIME)])
        bb.push([Decimal("1.50"), None])
        bb.push([None, T0])
        n, cols = bb.finish()
        b = vp.Batch.decode([("d", vp.DECIMAL2), ("t", vp.DATETIME)], n, cols)
        self.assertEqual(b.column("d").values(), [Decimal("1.50"), None])
        self.assertEqual(b.column("t").to_list(), [None, T0])
        self.assertEqual(str(b.column("d")[0]), "1.50")


class PartialRowTest(unittest.TestCase):
    def test_rows_read_fields_whenever_they_first_need_them(self):
        seen = []

        @plugin(outputs=[("x", vp.STRING)])
        def P(row, emit):
            if row.index == 1:
                seen.append(("get", row.get("d"), "t" in row, len(row), list(row)))
            if row.index == 2:
                seen.append(("dict", dict(row), {**row}, row.to_dict() == dict(row)))
            if row.index == 3:
                seen.append(("json", json.loads(json.dumps(row, default=str))))
            if row.index >= 4:
                seen.append(("read", row["d"], row["t"], row == row.to_dict()))
            emit["x"] = row["s"]

        h = vp.Harness(P, {}, SCHEMA)
        out = h.process(rows(6))
        self.assertEqual([r["x"] for r in out.batch], ["a0", "é1", "é2", "a3", "é4", "é5"])
        full = {"n": 2, "s": "é2", "d": Decimal("2.02"), "t": T0}
        self.assertEqual(seen[0], ("get", Decimal("1.01"), True, 4, ["n", "s", "d", "t"]))
        self.assertEqual(seen[1], ("dict", full, full, True))
        self.assertEqual(seen[2][1]["d"], "3.03")
        self.assertEqual(seen[3], ("read", Decimal("4.04"), T0, True))
        self.assertEqual(seen[4], ("read", Decimal("5.05"), T0, True))
        # The next batch's rows hold the fields that rows have read.
        self.assertEqual(h.runtime._wanted, {"d", "t"})
        self.assertEqual(len(h.process(rows(3)).batch), 3)

    def test_typed_readers_and_missing_fields(self):
        @plugin(outputs=[("c", vp.INT)])
        def P(row, emit):
            emit["c"] = row.hundredths("d") + row.micros("t") % 7
            with self.assertRaises(KeyError):
                row["nope"]
            self.assertIsNone(row.get("nope"))
            self.assertNotIn("nope", row)

        out = vp.Harness(P, {}, SCHEMA).process(rows(2))
        us = vp.datetime_to_micros(T0) % 7
        self.assertEqual([r["c"] for r in out.batch], [us, 101 + us])


class OutputTest(unittest.TestCase):
    def test_values_are_converted_a_column_at_a_time(self):
        outs = [("i", vp.INT), ("f", vp.FLOAT), ("d", vp.DECIMAL2), ("s", vp.STRING),
                ("b", vp.BOOL), ("t", vp.DATETIME)]

        @plugin(outputs=outs)
        def P(row, emit):
            n = row["n"]
            emit["i"] = n
            emit["f"] = n if n % 2 else n / 2  # ints and floats mixed
            emit["d"] = [row["d"] * 3, n, 1.005, None][n % 4]
            emit["s"] = row["s"]
            emit["b"] = n > 1
            if n != 2:
                emit["t"] = row["t"]

        out = vp.Harness(P, {}, SCHEMA).process(rows(4)).rows()
        self.assertEqual([r["d"] for r in out], [Decimal("0.00"), Decimal("1.00"),
                                                 Decimal("1.01"), None])
        self.assertEqual([r["f"] for r in out], [0.0, 1.0, 1.0, 3.0])
        self.assertEqual(out[2]["t"], datetime(1, 1, 1, tzinfo=UTC))  # not set: zero
        self.assertEqual(out[3], {"i": 3, "f": 3.0, "d": None, "s": "a3", "b": True, "t": T0})

    def test_values_out_of_range_name_their_row(self):
        for ty, bad, msg in ((vp.INT, 1 << 63, "does not fit in a 64-bit int"),
                             (vp.DECIMAL2, Decimal("NaN"), "NaN is not a decimal2"),
                             (vp.DECIMAL2, Decimal("1e30"), "too large for a decimal2"),
                             (vp.FLOAT, 1 << 1100, "too large")):
            @plugin(outputs=[("x", ty)])
            def P(row, emit):
                emit["x"] = bad if row["n"] == 2 else 1

            with self.assertRaises(vp.Failed) as cm:
                vp.Harness(P, {}, SCHEMA).process(rows(3))
            self.assertIn("plugin bug at input row 2: cannot set `x` (%s)" % ty,
                          str(cm.exception))
            self.assertIn(msg, str(cm.exception))

    def test_raw_rows_and_later_sets_combine(self):
        @plugin(outputs=[("d", vp.DECIMAL2), ("s", vp.STRING)])
        def P(row, emit):
            emit["s"] = "before"
            emit.set_all_raw([row["n"] * 100, "raw"])
            if row["n"] == 1:
                emit["s"] = "after"
            if row["n"] == 2:
                emit.set_raw("d", None)

        out = vp.Harness(P, {}, SCHEMA).process(rows(3)).rows()
        self.assertEqual(out, [{"d": Decimal("0.00"), "s": "raw"},
                               {"d": Decimal("1.00"), "s": "after"},
                               {"d": None, "s": "raw"}])

    def test_flat_map_rows_and_errors(self):
        @plugin(kind=vp.FLAT_MAP, outputs=[("k", vp.INT)])
        def P(row, emit):
            for k in range(row["n"]):
                emit.push({"k": k})
            if row["n"] == 2:
                raise vp.RowError("two")

        out = vp.Harness(P, {}, SCHEMA).process(rows(4))
        self.assertEqual([r["k"] for r in out.batch], [0, 0, 1, 2])
        self.assertEqual(out.parents, [1, 3, 3, 3])
        self.assertEqual(out.row_errors, [(2, None, "two")])

        @plugin(kind=vp.FLAT_MAP, outputs=[("k", vp.INT)])
        def Early(row, emit):
            emit["k"] = 1

        with self.assertRaises(vp.Failed) as cm:
            vp.Harness(Early, {}, SCHEMA).process(rows(1))
        self.assertIn("call push() to start an output row", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
