"""Tests of {{name}} on plain CPython, through the SDK's harness (the component's codec):

    python3 -m unittest discover -s tests
"""

import os
import sys
import unittest
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "vendor", "sdk", "python")]

import vessel_plugin as vp  # noqa: E402
from plugin import AddVat  # noqa: E402


class AddVatTest(unittest.TestCase):
    def test_adds_vat_rounded_to_cents(self):
        h = vp.Harness(AddVat, {"vat_percent": 20}, [("name", vp.STRING), ("price", vp.DECIMAL2)])
        self.assertEqual(h.reads, ["price"])
        out = h.process([{"name": "a", "price": Decimal(p)}
                         for p in ("10.00", "3.33", "-1.00", "0.01")])
        self.assertEqual([r["price_with_vat"] for r in out.rows()],
                         [Decimal("12.00"), Decimal("4.00"), Decimal("0.01")])
        self.assertEqual(out.row_errors, [(2, "price", "negative price")])

    def test_rejects_bad_params_and_input(self):
        with self.assertRaisesRegex(vp.InvalidParams, "vat_percent must be a number"):
            vp.Harness(AddVat, {}, [("price", vp.DECIMAL2)])
        with self.assertRaisesRegex(vp.SchemaMismatch, "price"):
            vp.Harness(AddVat, {"vat_percent": 5}, [("price", vp.FLOAT)])


if __name__ == "__main__":
    unittest.main()
