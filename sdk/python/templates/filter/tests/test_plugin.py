"""Tests of {{name}} on plain CPython, through the SDK's harness (the component's codec):

    python3 -m unittest discover -s tests
"""

import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "vendor", "sdk", "python")]

import vessel_plugin as vp  # noqa: E402
from plugin import MinQty  # noqa: E402


class MinQtyTest(unittest.TestCase):
    def test_keeps_rows_with_enough_quantity(self):
        h = vp.Harness(MinQty, {"min_qty": 10}, [("qty", vp.INT), ("name", vp.STRING)])
        out = h.process([{"qty": q, "name": "x"} for q in (5, 10, 20, -3)])
        self.assertEqual(out.keep, [False, True, True, False])

    def test_rejects_a_bad_minimum(self):
        with self.assertRaisesRegex(vp.InvalidParams, "min_qty must be an integer"):
            vp.Harness(MinQty, {"min_qty": 1.5}, [("qty", vp.INT)])


if __name__ == "__main__":
    unittest.main()
