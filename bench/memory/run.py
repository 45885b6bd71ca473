"""Peak memory of `vessel run` at two input sizes ten times apart.

    python3 bench/memory/run.py [--rows 1000000] [--shop-orders 100000] [--build]

Two workloads, each run at N and 10×N:

* `load_sort`: one CSV file of N rows loaded by one `file_table` batch into a table with a
  non-unique index, then written back by one `table_file` batch sorted by `top` (all N rows
  in one sort);
* `shop`: the example pipeline `examples/shop/script.yaml` (loads, lookups, distinct, sorted
  writers) on generated customers and orders, N orders.

Each run is a fresh `target/release/vessel run` in a temporary data dir; its peak resident set
size (the kernel's ru_maxrss of the child, the same figure as `/usr/bin/time -v`) is printed
with the ratio larger/smaller. The goal is a ratio of at most 1.5: memory bounded by the
budget, not by the input. Inputs are generated once per size into bench/data/memory_*/.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
VESSEL = TARGET / "release" / "vessel"
SHOP_SCRIPT = ROOT / "examples/shop/script.yaml"

LOAD_SORT_SCRIPT = """\
nodes:
  load_rows:
    type: file_table
    r:
      urls: ["{dir_in}/rows.csv"]
      csv: {hdr_line_idx: 0, first_data_line_idx: 1}
      columns:
        col_id: {csv: {col_hdr: id, col_format: "%d"}, col_type: int}
        col_customer: {csv: {col_hdr: customer}, col_type: string}
        col_amount: {csv: {col_hdr: amount, col_format: "%f"}, col_type: decimal2}
        col_ts: {csv: {col_hdr: ts, col_format: "2006-01-02 15:04:05"}, col_type: datetime}
        col_note: {csv: {col_hdr: note}, col_type: string}
    w:
      name: rows
      fields:
        id: {expression: r.col_id, type: int}
        customer: {expression: r.col_customer, type: string}
        amount: {expression: r.col_amount, type: decimal2}
        ts: {expression: r.col_ts, type: datetime}
        note: {expression: r.col_note, type: string}
      indexes:
        idx_rows_id_to_check_uniq: unique(id)
  write_sorted:
    type: table_file
    r: {table: rows, expected_batches_total: 1}
    w:
      url_template: "{dir_out}/sorted.csv"
      top: {order: "amount(desc),id"}
      columns:
        - {name: id, type: int, expression: r.id, csv: {header: id, format: "%d"}}
        - {name: customer, type: string, expression: r.customer, csv: {header: customer, format: "%s"}}
        - {name: amount, type: decimal2, expression: r.amount, csv: {header: amount, format: "%s"}}
        - {name: ts, type: datetime, expression: r.ts, csv: {header: ts, format: "2006-01-02 15:04:05"}}
        - {name: note, type: string, expression: r.note, csv: {header: note, format: "%s"}}
"""

NOTES = ["", "gift", "express delivery", "\"leave at the door, ring twice\"", "fragile"]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def build(force: bool) -> None:
    if VESSEL.exists() and not force:
        return
    log("cargo build --release -p vessel-cli")
    subprocess.run(["cargo", "build", "--release", "-p", "vessel-cli"], cwd=ROOT, check=True)


def gen_rows(n: int) -> pathlib.Path:
    """rows.csv with n rows: ids in a scattered order, amounts with many ties."""
    d = BENCH / "data" / f"memory_rows_{n}"
    f = d / "rows.csv"
    if f.exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    log(f"generating {f}")
    tmp = f.with_suffix(".tmp")
    with open(tmp, "w") as out:
        out.write("id,customer,amount,ts,note\n")
        lines = []
        for i in range(n):
            k = (i * 2654435761) % 4294967291
            lines.append(
                f"{k},C{k % 200003:06d},{(k % 1000003) / 100:.2f},"
                f"2024-{1 + k % 12:02d}-{1 + k % 28:02d} {k % 24:02d}:{k % 60:02d}:{k % 59:02d},"
                f"{NOTES[k % len(NOTES)]}\n"
            )
            if len(lines) == 100_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    tmp.rename(f)
    return d


def gen_shop(orders: int) -> pathlib.Path:
    """customers.csv (orders/16 customers) and orders.csv as examples/shop/generate.py makes them."""
    d = BENCH / "data" / f"memory_shop_{orders}"
    if (d / "orders.csv").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    log(f"generating {d}")
    countries = ["Brazil", "Canada", "Chile", "France", "Germany", "India", "Japan", "Kenya", "Peru", "Spain"]
    names = ["Ana Silva", "Bruno Moreau", "Chen Tanaka", "Dara Okafor", "Elif Novak", "Farid Garcia"]
    customers = max(orders // 16, 10)
    with open(d / "customers.csv", "w") as out:
        out.write("customer_id,name,country,signup_date\n")
        for i in range(1, customers + 1):
            out.write(
                f"C{i:08d},{names[i % len(names)]},{countries[(i * 7) % len(countries)]},"
                f"{2020 + i % 4}-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
            )
    statuses = ["delivered"] * 8 + ["shipped", "cancelled"]
    tmp = d / "orders.tmp"
    with open(tmp, "w") as out:
        out.write("order_id,customer_id,purchased_at,amount,status\n")
        lines = []
        for i in range(1, orders + 1):
            k = (i * 2654435761) % 4294967291
            cust = 1 + k % (customers - customers // 16)
            lines.append(
                f"O{i:09d},C{cust:08d},{2023 + k % 3}-{1 + k % 12:02d}-{1 + k % 28:02d} "
                f"{k % 24:02d}:{k % 60:02d}:{k % 59:02d},{3 + (k % 39700) / 100:.2f},"
                f"{statuses[k % len(statuses)]}\n"
            )
            if len(lines) == 100_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    tmp.rename(d / "orders.csv")
    return d


def run_vessel(script: pathlib.Path, params: dict, args, label: str) -> tuple[int, float]:
    """Runs one pipeline in a fresh data dir; returns (peak RSS in KiB, seconds)."""
    out = BENCH / "out" / "memory" / label
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    params = dict(params, dir_out=str(out))
    params_file = out / "params.yaml"
    params_file.write_text("".join(f"{k}: {v}\n" for k, v in params.items()))
    with tempfile.TemporaryDirectory(prefix="vessel-bench-mem-", dir=args.tmp) as data_dir:
        cmd = [
            str(VESSEL), "run", str(script), "--params", str(params_file),
            "--keyspace", "bench_memory", "--data-dir", data_dir,
            "--workers", str(args.workers), "--json",
        ]
        if args.memory_budget is not None:
            cmd += ["--memory-budget", str(args.memory_budget)]
        if args.lookup_cache_mb is not None:
            cmd += ["--lookup-cache-mb", str(args.lookup_cache_mb)]
        log(" ".join(cmd))
        start = time.monotonic()
        with open(out / "summary.json", "w") as summary:
            proc = subprocess.Popen(cmd, stdout=summary, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{label}: vessel exited with {code}; see {out / 'summary.json'}")
    return usage.ru_maxrss, seconds


def measure(name: str, small: int, make, args) -> None:
    results = []
    for n in (small, small * 10):
        script, params = make(n)
        rss, secs = run_vessel(script, params, args, f"{name}_{n}")
        results.append((n, rss, secs))
        print(f"{name:10} {n:>11,} rows  peak RSS {rss / 1024:8.1f} MiB  {secs:8.1f} s", flush=True)
    ratio = results[1][1] / results[0][1]
    verdict = "ok" if ratio <= 1.5 else "over the 1.5 goal"
    print(f"{name:10} ratio larger/smaller: {ratio:.2f} ({verdict})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the smaller load_sort run")
    p.add_argument("--shop-orders", type=int, default=100_000, help="orders of the smaller shop run")
    p.add_argument("--skip-load-sort", action="store_true")
    p.add_argument("--skip-shop", action="store_true")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--memory-budget", type=int, help="vessel run --memory-budget (MiB)")
    p.add_argument("--lookup-cache-mb", type=int, help="vessel run --lookup-cache-mb")
    p.add_argument("--tmp", help="where the temporary data dirs go (default $TMPDIR)")
    p.add_argument("--build", action="store_true", help="cargo build --release -p vessel-cli first")
    p.add_argument("--vessel", type=pathlib.Path, help="use this vessel binary instead of building one")
    args = p.parse_args()
    global VESSEL
    if args.vessel:
        VESSEL = args.vessel.resolve()
    else:
        build(args.build)

    script = BENCH / "out" / "memory" / "load_sort.yaml"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(LOAD_SORT_SCRIPT)
    if not args.skip_load_sort:
        measure("load_sort", args.rows, lambda n: (script, {"dir_in": gen_rows(n)}), args)
    if not args.skip_shop:
        measure(
            "shop",
            args.shop_orders,
            lambda n: (SHOP_SCRIPT, {"dir_in": gen_shop(n), "batches": 4}),
            args,
        )


if __name__ == "__main__":
    main()
