"""Writes the example's input files: customers.csv and orders.csv (deterministic)."""

import csv
import datetime
import pathlib
import random

rng = random.Random(20261121)
here = pathlib.Path(__file__).parent / "data"
here.mkdir(exist_ok=True)

countries = ["Brazil", "Canada", "Chile", "France", "Germany", "India", "Japan", "Kenya", "Peru", "Spain"]
first = ["Ana", "Bruno", "Chen", "Dara", "Elif", "Farid", "Gita", "Hugo", "Ines", "Jonas", "Kai", "Lena"]
last = ["Silva", "Moreau", "Tanaka", "Okafor", "Novak", "Garcia", "Kumar", "Berg", "Rossi", "Lee"]

with open(here / "customers.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["customer_id", "name", "country", "signup_date"])
    for i in range(1, 301):
        d = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randrange(1500))
        w.writerow([f"C{i:04d}", f"{rng.choice(first)} {rng.choice(last)}", rng.choice(countries), d.isoformat()])

statuses = ["delivered"] * 8 + ["shipped", "cancelled"]
with open(here / "orders.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["order_id", "customer_id", "purchased_at", "amount", "status"])
    for i in range(1, 5001):
        # A few customers never order: ids above 280 are skipped.
        cust = rng.randrange(1, 281)
        ts = datetime.datetime(2023, 1, 1) + datetime.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        amount = round(rng.uniform(3, 400), 2)
        w.writerow([f"O{i:05d}", f"C{cust:04d}", ts.strftime("%Y-%m-%d %H:%M:%S"), f"{amount:.2f}", rng.choice(statuses)])
