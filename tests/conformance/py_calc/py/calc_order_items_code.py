# User code of the py_calc node taxed_order_items_py (Vessel's rebuild of the Capillaries
# py_calc test, spec/conformance-tests.md §3.3). Each function receives the values the way
# py_calc passes them: decimal2 as float, datetime as "YYYY-MM-DDThh:mm:ss.mmm+hh:mm".
from datetime import datetime, timedelta
from math import floor


def vanilla_function_with_no_params_for_testing_only():
    # A zero-argument call, added to increase_by_ten_percent's result.
    return 0


def increase_by_ten_percent(x):
    # 10% tax, always rounded down to the cent (double arithmetic, left to right).
    cents = floor(float(x) * 1.10 * 100)
    return cents / 100 + vanilla_function_with_no_params_for_testing_only()


def divide_by_three(x):
    return float(x) / 3


def next_local_monday(s):
    # Same day for a Monday, else the next Monday; time of day 23:59:59.999, same offset.
    t = datetime.fromisoformat(s)
    days_ahead = (7 - t.weekday()) % 7
    end_of_day = t.replace(hour=23, minute=59, second=59, microsecond=999000)
    return (end_of_day + timedelta(days=days_ahead)).isoformat(timespec="milliseconds")


def day_of_week(s):
    return datetime.fromisoformat(s).strftime("%A")


def is_weekend(s):
    return datetime.fromisoformat(s).weekday() >= 5
