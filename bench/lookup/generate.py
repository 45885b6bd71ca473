"""Writes Olist-like input for the `lookup` benchmark, scaled to N order items (deterministic).

    python3 bench/lookup/generate.py [--items N] [--seed S] [--out DIR]

Writes `olist_orders_dataset.csv` and `olist_order_items_dataset.csv` with the headers and
formats of the Capillaries `lookup` sample (../shared/testdata/capillaries/in/lookup/), plus
`manifest.json` (written last, so its presence means the set is complete). Shape:

* about N/1.4 orders with unique 32-hex ids; purchase timestamps spread over 2016..2018, except
  ~5% in 2019 (which the script's `having` drops);
* N items: ~95% belong to existing orders, 0-4 per order (so some orders have none), numbered
  `00001`, `00002`, ... within their order; ~5% reference orders that do not exist;
* a product catalogue with fixed price and seller per product (as in Olist), freight per item;
  prices and freight have at most 2 decimals, written like the sample (`28.5`, `267.8`, `57.31`).

Default output dir: bench/data/lookup_<N>/ (gitignored). Plain Python, no numpy.
"""

import argparse
import json
import os
import pathlib
import random
import sys
import time

ORDERS_HEADER = (
    "order_id,customer_id,order_status,order_purchase_timestamp,order_approved_at,"
    "order_delivered_carrier_date,order_delivered_customer_date,order_estimated_delivery_date"
)
ITEMS_HEADER = "order_id,order_item_id,product_id,seller_id,shipping_limit_date,price,freight_value"

# Proportions of the sample (1409 orders).
STATUSES = ["delivered", "canceled", "shipped", "unavailable", "invoiced", "approved"]
STATUS_WEIGHTS = [1265, 34, 30, 30, 29, 21]

# Items per existing order. Mean ≈ 1.33 = 0.95 × 1.4 items per order; the exact total is
# adjusted afterwards.
COUNT_WEIGHTS = [27, 36, 20, 11, 6]

ORDERS_PER_ITEM = 1 / 1.4
ORPHAN_SHARE = 0.05
LATE_SHARE = 0.05  # orders in 2019, outside the script's date window

T2016 = 1451606400  # 2016-01-01 00:00:00 UTC
T2019 = 1546300800  # 2019-01-01 00:00:00 UTC
T2020 = 1577836800  # 2020-01-01 00:00:00 UTC
# The lookup test's window ends at 2018-12-31 23:23:59 (sic); keep in-window orders clear of
# the 36-minute gap, as the sample does.
IN_WINDOW_END = T2019 - 36 * 60

DAY = 86400


def default_out(items: int) -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parent.parent / "data" / f"lookup_{items}"


class TsFormatter:
    """Formats UTC epoch seconds as `YYYY-MM-DD HH:MM:SS`, caching the date and time parts."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}
        self.tod = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
        self.sec = [f"{s:02d}" for s in range(60)]

    def __call__(self, t: int) -> str:
        d, r = divmod(t, DAY)
        day = self.days.get(d)
        if day is None:
            day = time.strftime("%Y-%m-%d ", time.gmtime(d * DAY))
            self.days[d] = day
        m, s = divmod(r, 60)
        return day + self.tod[m] + self.sec[s]


def money(cents: int) -> str:
    """`2853` → `28.53`, `2850` → `28.5`, `2800` → `28` (like the sample's float-ish text)."""
    s = "%d.%02d" % divmod(cents, 100)
    return s.rstrip("0").rstrip(".") if s[-1] == "0" else s


def hex32(rng: random.Random) -> str:
    return "%032x" % rng.getrandbits(128)


def generate(items: int, seed: int, out: pathlib.Path) -> dict:
    rng = random.Random(seed)
    fmt = TsFormatter()
    out.mkdir(parents=True, exist_ok=True)

    n_orders = max(1, round(items * ORDERS_PER_ITEM))
    n_orphans = round(items * ORPHAN_SHARE)
    n_matched = items - n_orphans

    # Catalogue: ~1 product per 3 items (Olist: 33k products for 113k items), ~1 seller per
    # 10 products; each product has a fixed price.
    n_products = max(10, min(100_000, items // 3))
    sellers = [hex32(rng) for _ in range(max(3, n_products // 10))]
    products = []
    for _ in range(n_products):
        price = min(673500, max(85, round(rng.lognormvariate(4.4, 1.0) * 100)))
        products.append((hex32(rng), rng.choice(sellers), money(price)))

    # Orders.
    ids: set[str] = set()
    order_ids: list[str] = []
    order_ts: list[int] = []
    while len(order_ids) < n_orders:
        oid = hex32(rng)
        if oid not in ids:
            ids.add(oid)
            order_ids.append(oid)
    statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=n_orders)
    late = 0
    in_window = IN_WINDOW_END - T2016
    late_span = T2020 - T2019
    tmp = out / "olist_orders_dataset.csv.tmp"
    with open(tmp, "w", newline="") as f:
        buf = [ORDERS_HEADER]
        rnd = rng.random
        for i, oid in enumerate(order_ids):
            if rnd() < LATE_SHARE:
                ts = T2019 + int(rnd() * late_span)
                late += 1
            else:
                ts = T2016 + int(rnd() * in_window)
            order_ts.append(ts)
            approved = ts + int(rnd() * 10800)
            carrier = approved + int(rnd() * 10800)
            delivered = carrier + int(rnd() * 4 * DAY)
            estimated = ts + DAY + int(rnd() * 10 * DAY)
            buf.append(
                f"{oid},{hex32(rng)},{statuses[i]},{fmt(ts)},{fmt(approved)},"
                f"{fmt(carrier)},{fmt(delivered)},{fmt(estimated)}"
            )
            if len(buf) >= 50_000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    os.replace(tmp, out / "olist_orders_dataset.csv")

    # How many items each order gets: sample 0..4, then nudge to exactly n_matched.
    counts = rng.choices(range(5), COUNT_WEIGHTS, k=n_orders)
    total = sum(counts)
    while total != n_matched:
        j = rng.randrange(n_orders)
        if total < n_matched and counts[j] < 4:
            counts[j] += 1
            total += 1
        elif total > n_matched and counts[j] > 0:
            counts[j] -= 1
            total -= 1

    # (order index or -1 for an orphan, item number) pairs, shuffled like the sample.
    refs: list[int] = []
    for j, c in enumerate(counts):
        for k in range(1, c + 1):
            refs.append(j * 8 + k)
    orphan_ids: list[str] = []
    k = 0
    while k < n_orphans:
        oid = hex32(rng)
        if oid in ids:
            continue
        ids.add(oid)
        per = min(n_orphans - k, rng.choice((1, 1, 1, 2)))
        for m in range(1, per + 1):
            refs.append(-(len(orphan_ids) * 8 + m) - 1)
        orphan_ids.append(oid)
        k += per
    rng.shuffle(refs)

    pad = ["%05d" % i for i in range(9)]
    tmp = out / "olist_order_items_dataset.csv.tmp"
    with open(tmp, "w", newline="") as f:
        buf = [ITEMS_HEADER]
        rnd = rng.random
        span = T2019 - T2016
        for ref in refs:
            if ref >= 0:
                j, num = divmod(ref, 8)
                oid = order_ids[j]
                ship = order_ts[j] + DAY + int(rnd() * 6 * DAY)
            else:
                j, num = divmod(-ref - 1, 8)
                oid = orphan_ids[j]
                ship = T2016 + int(rnd() * span)
            pid, sid, price = products[int(rnd() * n_products)]
            freight = money(200 + int(rnd() * rnd() * 8000))
            buf.append(f"{oid},{pad[num]},{pid},{sid},{fmt(ship)},{price},{freight}")
            if len(buf) >= 50_000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    os.replace(tmp, out / "olist_order_items_dataset.csv")

    manifest = {
        "items": items,
        "seed": seed,
        "orders": n_orders,
        "orders_in_window": n_orders - late,
        "orders_without_items": counts.count(0),
        "orphan_items": n_orphans,
        "products": n_products,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000, help="order items to write (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=20260501, help="random seed (default 20260501)")
    ap.add_argument("--out", type=pathlib.Path, help="output dir (default bench/data/lookup_<N>/)")
    args = ap.parse_args(argv)
    if args.items < 1:
        ap.error("--items must be at least 1")
    out = args.out or default_out(args.items)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest_path.unlink()  # regenerate: the set is incomplete until the end
    t0 = time.perf_counter()
    m = generate(args.items, args.seed, out)
    print(
        f"wrote {m['orders']:,} orders ({m['orders_in_window']:,} in the date window, "
        f"{m['orders_without_items']:,} without items) and {m['items']:,} items "
        f"({m['orphan_items']:,} without an order) to {out} in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
