"""Tests of the py_calc plugin logic on plain CPython, through the SDK's harness (the same
codec the component uses):

    python3 -m unittest discover -s plugins/py_calc/tests
"""

import os
import sys
import unittest
from datetime import datetime, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path[:0] = [os.path.join(ROOT, "sdk", "python"), os.path.dirname(HERE)]

import vessel_plugin as vp  # noqa: E402
from py_calc import PyCalc  # noqa: E402

UTC = timezone.utc
CONFORMANCE = os.path.join(ROOT, "tests", "conformance", "py_calc")
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "testdata", "capillaries"))

ORDER_ITEMS = [("order_id", vp.STRING), ("order_item_id", vp.INT),
               ("shipping_limit_date", vp.DATETIME), ("price", vp.DECIMAL2),
               ("freight_value", vp.DECIMAL2), ("value", vp.DECIMAL2)]


def conformance_params():
    """The `p` section of taxed_order_items_py with the code file's text, as the host
    passes it."""
    with open(os.path.join(CONFORMANCE, "py", "calc_order_items_code.py")) as f:
        code = f.read()
    fields = {
        "order_id": ("r.order_id", "string"),
        "order_item_id": ("r.order_item_id", "int"),
        "taxed_value": ("increase_by_ten_percent(r.value)", "decimal2"),
        "taxed_value_divided_by_nine_float":
            ("divide_by_three(divide_by_three(p.taxed_value))", "float"),
        "taxed_value_divided_by_nine_decimal":
            ("divide_by_three(divide_by_three(p.taxed_value))", "decimal2"),
        "shipping_limit_date_monday": ("next_local_monday(r.shipping_limit_date)", "datetime"),
        "shipping_limit_day_of_week": ("day_of_week(r.shipping_limit_date)", "string"),
        "shipping_limit_is_weekend": ("is_weekend(r.shipping_limit_date)", "bool"),
    }
    return {
        "python_code_urls": ["py/calc_order_items_code.py"],
        "python_code_urls_content": [code],
        "calculated_fields": {k: {"expression": e, "type": t} for k, (e, t) in fields.items()},
    }


def params(fields, code="", **extra):
    p = {"python_code_urls": ["code.py"], "python_code_urls_content": [code],
         "calculated_fields": {k: {"expression": e, "type": t}
                               for k, (e, t) in fields.items()}}
    p.update(extra)
    return p


def harness(fields, code="", schema=None):
    return vp.Harness(PyCalc, params(fields, code), schema or [("a", vp.INT),
                                                              ("s", vp.STRING)])


class ConformanceTest(unittest.TestCase):
    def test_binding(self):
        h = vp.Harness(PyCalc, conformance_params(), ORDER_ITEMS)
        # reads: the r.* fields used, in input order; outputs: declaration order
        self.assertEqual(h.reads, ["order_id", "order_item_id", "shipping_limit_date", "value"])
        self.assertEqual([f.name for f in h.outputs], list(
            conformance_params()["calculated_fields"]))

    def test_spec_sample_row(self):
        h = vp.Harness(PyCalc, conformance_params(), ORDER_ITEMS)
        t = datetime(2020, 1, 30, 20, 43, 11, tzinfo=UTC)
        out = h.process([["00195612797a6fef264a80cebd6925cf", 1, t, Decimal("85.96"),
                          Decimal("15.82"), Decimal("101.78")]])
        row = out.rows()[0]
        self.assertEqual(row["taxed_value"], Decimal("111.95"))
        self.assertEqual("%f" % row["taxed_value_divided_by_nine_float"], "12.438889")
        self.assertEqual(row["taxed_value_divided_by_nine_decimal"], Decimal("12.44"))
        self.assertEqual(row["shipping_limit_date_monday"],
                         datetime(2020, 2, 3, 23, 59, 59, 999000, tzinfo=UTC))
        self.assertEqual(row["shipping_limit_day_of_week"], "Thursday")
        self.assertIs(row["shipping_limit_is_weekend"], False)

    @unittest.skipUnless(os.path.isdir(os.path.join(DATA, "in", "py_calc")),
                         "shared Capillaries test data not found")
    def test_whole_data_set_matches_the_baseline(self):
        rows = []
        for i in range(5):
            path = os.path.join(DATA, "in", "py_calc", "olist_order_items_dataset%02d.csv" % i)
            with open(path) as f:
                for line in f.read().splitlines()[1:]:
                    c = line.split(",")
                    price = vp.hundredths_to_decimal(vp.decimal_to_hundredths(float(c[5])))
                    freight = vp.hundredths_to_decimal(vp.decimal_to_hundredths(float(c[6])))
                    t = datetime.strptime(c[4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                    rows.append([c[0], int(c[1]), t, price, freight, price + freight])
        self.assertEqual(len(rows), 1100)
        h = vp.Harness(PyCalc, conformance_params(), ORDER_ITEMS)
        lines = []
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            out = h.process(chunk)
            for r, o in zip(chunk, out.batch):
                lines.append(",".join([
                    r[0], "%05d" % r[1], r[2].strftime("%Y-%m-%d %H:%M:%S"), str(r[3]),
                    str(r[4]), str(r[5]), str(o["taxed_value"]),
                    "%f" % o["taxed_value_divided_by_nine_float"],
                    str(o["taxed_value_divided_by_nine_decimal"]),
                    o["shipping_limit_date_monday"].strftime("%Y-%m-%d %H:%M:%S"),
                    o["shipping_limit_day_of_week"],
                    "true" if o["shipping_limit_is_weekend"] else "false"]))
        with open(os.path.join(DATA, "out", "py_calc",
                               "taxed_order_items_py_baseline.csv")) as f:
            want = f.read().splitlines()[1:]
        self.assertEqual(sorted(lines), want)


class ValidationTest(unittest.TestCase):
    CODE = "def f(x):\n    return x\n\ndef g(x, y=1, *rest):\n    return x\n\ndef z():\n" \
           "    return 0\n"

    def rejects(self, fields, msg, code=CODE, error=vp.InvalidParams, schema=None):
        with self.assertRaises(error) as cm:
            harness(fields, code, schema)
        self.assertIn(msg, cm.exception.message)
        return cm.exception.message

    def test_expression_shapes(self):
        ok = harness({"a": ("f(r.a)", "int"), "b": ("p.a", "int"),
                      "c": ("g(f(r.a), 'x', -1.5, None, z(), Exception, 2)", "int"),
                      "d": ("str(r.s)", "string"), "e": ("z()", "int")}, self.CODE)
        self.assertEqual(ok.reads, ["a", "s"])
        m = self.rejects({"x": ("r.a + 1", "int")}, "must be a function call")
        self.assertIn("calculated field `x` = `r.a + 1`", m)
        self.rejects({"x": ("1", "int")}, "must be a function call")
        self.rejects({"x": ("f(r.a + 1)", "int")}, "argument 1 of `f(r.a + 1)` is `r.a + 1`")
        self.rejects({"x": ("f(x=1)", "int")}, "keyword arguments")
        self.rejects({"x": ("math.floor(r.a)", "int")}, "call a function by its name")
        self.rejects({"x": ("f(r)", "int")}, "`r` alone is not a field")
        self.rejects({"x": ("f(q.a)", "int")}, "`q.a` is not a field")
        self.rejects({"x": ("f(", "int")}, "not an expression")

    def test_calls_must_be_defined_with_their_arity(self):
        self.rejects({"x": ("h(r.a)", "int")}, "`h(...)` is not defined")
        self.rejects({"x": ("f(r.a, r.a)", "int")}, "passes 2 arguments, but f() takes "
                                                    "1 argument")
        self.rejects({"x": ("g()", "int")}, "g() takes at least 1 argument")
        self.rejects({"x": ("round(r.a, 2)", "int")}, "built-in round() may be called "
                                                      "with 1 argument only")
        self.rejects({"x": ("max(r.a)", "int")}, "`max(...)` is not defined")
        self.rejects({"x": ("f(r.a)", "int")}, "keyword-only parameters",
                     code="def f(x, *, kw):\n    pass\n")
        # a definition shadows the built-in rule
        harness({"x": ("round(r.a, 2)", "int")}, "def round(a, b):\n    return a\n")

    def test_fields(self):
        self.rejects({"x": ("f(r.nope)", "int")}, "r.nope is not a field of the input "
                                                  "(it has a, s)", error=vp.SchemaMismatch)
        self.rejects({"x": ("f(p.nope)", "int")}, "p.nope is not a calculated field")
        self.rejects({"x": ("f(p.x)", "int")}, "refers to itself")
        m = self.rejects({"a": ("f(p.c)", "int"), "b": ("f(r.a)", "int"),
                          "c": ("g(p.b, p.a)", "int")}, "cycle")
        self.assertIn("p.a (`f(p.c)`) -> p.c (`g(p.b, p.a)`) -> p.a", m)
        self.rejects({"x": ("f(r.a)", "decimal")}, "type 'decimal' is not one of")
        self.rejects({"x y": ("f(r.a)", "int")}, "calculated field `x y`: the name")
        self.rejects({"x": ("", "int")}, "has no expression")

    def test_params(self):
        with self.assertRaises(vp.InvalidParams) as cm:
            vp.Harness(PyCalc, {"calculated_fields": {}}, [])
        self.assertIn("python_code_urls is required", cm.exception.message)
        with self.assertRaises(vp.InvalidParams) as cm:
            vp.Harness(PyCalc, {"python_code_urls": ["a.py"],
                                "calculated_fields": {"x": {"expression": "z()",
                                                            "type": "int"}}}, [])
        self.assertIn("python_code_urls_content is missing", cm.exception.message)
        with self.assertRaises(vp.InvalidParams) as cm:
            vp.Harness(PyCalc, params({}, "x = 1"), [])
        self.assertIn("calculated_fields must be a non-empty object", cm.exception.message)

    def test_code_errors_name_the_file_and_line(self):
        p = params({"x": ("f(r.a)", "int")})
        p["python_code_urls"] = ["one.py", "two.py"]
        p["python_code_urls_content"] = ["def f(x):\r\n    return x\r\n", "a = 1\nb = (\n"]
        with self.assertRaises(vp.InvalidParams) as cm:
            vp.Harness(PyCalc, p, [("a", vp.INT)])
        self.assertIn("does not compile", cm.exception.message)
        self.assertIn("two.py line", cm.exception.message)
        p["python_code_urls_content"][1] = "a = 1\nb = 1 / 0\n"
        with self.assertRaises(vp.InvalidParams) as cm:
            vp.Harness(PyCalc, p, [("a", vp.INT)])
        self.assertIn("failed when run at two.py line 2: ZeroDivisionError",
                      cm.exception.message)


class EvaluationTest(unittest.TestCase):
    def test_values_reach_python_as_capillaries_passes_them(self):
        code = "def show(x):\n    return '%s:%r' % (type(x).__name__, x)\n"
        schema = [("i", vp.INT), ("f", vp.FLOAT), ("d", vp.DECIMAL2), ("s", vp.STRING),
                  ("b", vp.BOOL), ("t", vp.DATETIME)]
        fields = {n: ("show(r.%s)" % n, "string") for n, _ in schema}
        h = vp.Harness(PyCalc, params(fields, code), schema)
        out = h.process([[-3, 1.23456789, Decimal("28.50"), "it's", True,
                          datetime(2020, 1, 30, 20, 43, 11, 123456, tzinfo=UTC)]])
        self.assertEqual(out.rows(), [{
            "i": "int:-3", "f": "float:1.234568", "d": "float:28.5", "s": "str:\"it's\"",
            "b": "bool:True", "t": "str:'2020-01-30T20:43:11.123+00:00'"}])

    def test_results_convert_by_declared_type(self):
        code = "def v(x):\n    return x\n"
        fields = {
            "i1": ("v(3.99)", "int"), "i2": ("v(-3.99)", "int"), "i3": ("v(7)", "int"),
            "f1": ("v(2)", "float"), "d1": ("v(0.125)", "decimal2"),
            "d2": ("v(-2.675)", "decimal2"), "d3": ("v(12)", "decimal2"),
            "t1": ("v('2007-03-05T23:59:59.999+02:00')", "datetime"),
            "b1": ("v(False)", "bool"), "s1": ("v('x')", "string"),
        }
        out = harness(fields, code).process([[1, "a"]]).rows()[0]
        self.assertEqual(out, {
            "i1": 3, "i2": -3, "i3": 7, "f1": 2.0, "d1": Decimal("0.13"),
            "d2": Decimal("-2.68"), "d3": Decimal("12.00"),
            "t1": datetime(2007, 3, 5, 21, 59, 59, 999000, tzinfo=UTC), "b1": False,
            "s1": "x"})

    def test_p_values_are_raw_python_and_computed_in_dependency_order(self):
        code = "def half(x):\n    return x / 2\n\ndef show(x):\n    return repr(x)\n"
        h = harness({"shown": ("show(p.halved)", "string"),
                     "halved": ("half(r.a)", "decimal2")}, code)
        self.assertEqual([f.name for f in h.outputs], ["shown", "halved"])
        self.assertEqual(h.process([[3, ""]]).rows(),
                         [{"shown": "1.5", "halved": Decimal("1.50")}])

    def test_user_code_sees_r_and_p_as_globals(self):
        # As in Capillaries' generated program; only the r.* fields the expressions use are
        # read, so only those are bound.
        code = "def peek():\n    return r_s + str(p_first)\n\ndef one(x):\n    return 1\n"
        h = harness({"first": ("one(r.s)", "int"), "second": ("peek()", "string")}, code)
        self.assertEqual(h.process([[5, "s"]]).rows(), [{"first": 1, "second": "s1"}])

    def test_row_failures_fail_the_batch_with_row_field_and_message(self):
        code = "def inv(x):\n    return 1 / x\n"
        h = harness({"ok": ("str(r.s)", "string"), "inv": ("inv(r.a)", "float")}, code)
        self.assertEqual(len(h.process([[1, "x"], [2, "y"]]).batch), 2)
        with self.assertRaises(vp.Failed) as cm:
            h.process([[1, "x"], [0, "y"]])
        m = cm.exception.message
        self.assertIn("input row 1: calculated field `inv` (float) = `inv(r.a)`: "
                      "ZeroDivisionError: division by zero", m)
        self.assertIn("(at code.py line 2)", m)
        self.assertIn("r.a=0, r.s='y'", m)

    def test_bad_results_fail_the_batch(self):
        code = "def v(x):\n    return x\n"
        for expr, ty, msg in (("v('1')", "int", "an int needs a number, not str '1'"),
                              ("v(True)", "decimal2", "a decimal2 needs a number"),
                              ("v(1)", "bool", "a bool needs True or False"),
                              ("v(1)", "string", "a string needs a str"),
                              ("v('2020-01-01 00:00:00')", "datetime",
                               "not a datetime in the form"),
                              ("v(1e300)", "decimal2", "too large")):
            with self.assertRaises(vp.Failed, msg=expr) as cm:
                harness({"x": (expr, ty)}, code).process([[1, "a"]])
            self.assertIn("calculated field `x` (%s)" % ty, cm.exception.message)
            self.assertIn(msg, cm.exception.message)

    def test_no_read_fields(self):
        h = harness({"zero": ("z()", "int")}, "def z():\n    return 0\n")
        self.assertEqual(h.reads, [])
        self.assertEqual(h.process([[1, "a"], [2, "b"]]).rows(), [{"zero": 0}, {"zero": 0}])


if __name__ == "__main__":
    unittest.main()
