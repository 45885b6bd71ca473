"""Tests of {{name}} on plain CPython: the functions directly, and through the SDK's
harness (the component's codec):

    python3 -m unittest discover -s tests
"""

import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "vendor", "sdk", "python")]

import vessel_functions as vf  # noqa: E402
from functions import Functions, add_one, upper  # noqa: E402


class FunctionsTest(unittest.TestCase):
    def test_plain_calls(self):
        self.assertEqual(upper("tea"), "TEA")
        self.assertEqual(add_one(41), 42)

    def test_through_the_codec(self):
        h = vf.Harness(Functions)
        self.assertEqual([s.name for s in h.signatures()], ["upper", "add_one"])
        self.assertEqual(h.call("upper", [("tea",), ("été",), ("",)]), ["TEA", "ÉTÉ", ""])
        self.assertEqual(h.call("add_one", [(1,), (-1,)]), [2, 0])
        with self.assertRaisesRegex(vf.Failed, "function `add_one`, row 0: .*64-bit"):
            h.call("add_one", [((1 << 63) - 1,)])


if __name__ == "__main__":
    unittest.main()
