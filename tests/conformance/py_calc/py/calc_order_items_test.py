"""Checks of calc_order_items_code.py on plain Python (the examples of the spec):
python3 -m unittest discover -s tests/conformance/py_calc/py -p '*_test.py'"""
import unittest

from calc_order_items_code import (day_of_week, divide_by_three, increase_by_ten_percent,
                                   is_weekend, next_local_monday)


class CalcOrderItemsTest(unittest.TestCase):
    def test_increase_by_ten_percent_floors_to_the_cent(self):
        self.assertEqual(increase_by_ten_percent(10.1), 11.11)
        self.assertEqual(increase_by_ten_percent(101.78), 111.95)

    def test_divide_by_three(self):
        self.assertEqual(divide_by_three(3.12), 1.04)

    def test_next_local_monday(self):
        self.assertEqual(next_local_monday("2007-03-05T21:08:12.123+02:00"),
                         "2007-03-05T23:59:59.999+02:00")
        self.assertEqual(next_local_monday("2007-03-06T21:08:12.123+02:00"),
                         "2007-03-12T23:59:59.999+02:00")

    def test_day_of_week_and_weekend(self):
        self.assertEqual(day_of_week("2007-03-12T23:59:59.999+02:00"), "Monday")
        self.assertFalse(is_weekend("2007-03-12T23:59:59.999+02:00"))
        self.assertTrue(is_weekend("2007-03-11T23:59:59.999+02:00"))


if __name__ == "__main__":
    unittest.main()
