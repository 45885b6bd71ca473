"""Benchmarks Vessel against DuckDB on the Capillaries `lookup` pipeline, scaled up.

    python3 bench/lookup/run.py [--items 1000000] [--batches 10] [--workers N] [--check]
                                [--distributed N]

In one invocation:

1. generates the Olist-like input for `--items` order items into bench/data/lookup_<N>/ if it
   is not there yet (generate.py; not timed);
2. runs `target/release/vessel run tests/conformance/lookup/script_quick.yaml` on it with a
   fresh keyspace in a temporary data dir and `--workers N`, timed end to end (the binary is
   built with `cargo build --release -p vessel-cli` first if it is missing, or with `--build`);
3. does the same work with DuckDB in-process (load both CSVs, the date window, value =
   price + freight_value, the four joins, four sorted CSV files), timed end to end, with
   `threads = N`;
4. with `--distributed N`, runs the same pipeline on N `vessel daemon` processes with one
   worker each, on the RabbitMQ at 127.0.0.1:5672 (guest/guest, a queue prefix of its own) and
   a shared SQLite store: the daemons are started first (not timed), then `vessel start-run`
   + `vessel wait` are timed end to end;
5. prints per-node throughput of Vessel, the wall times and the ratios (vessel/duckdb, and
   distributed/embedded);
6. with `--check`, compares the row counts (and reports whether the bytes match) of the four
   output files of Vessel and DuckDB, and whether the distributed run's files equal the
   embedded run's byte for byte.

DuckDB comes from the PyPI package `duckdb`; if it is not importable, a venv is created in
bench/.venv, duckdb is installed there and this script re-runs itself with it. Outputs go to
bench/out/lookup_<N>/{vessel,distributed,duckdb}/ (gitignored). Vessel's progress bars go to stderr.
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = pathlib.Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
SCRIPT = ROOT / "tests/conformance/lookup/script_quick.yaml"
VESSEL = ROOT / "target/release/vessel"
VENV = BENCH / ".venv"
REEXEC_ENV = "VESSEL_BENCH_IN_VENV"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2f"

OUTPUTS = [
    "order_item_date_inner",
    "order_item_date_left_outer",
    "order_date_value_grouped_inner",
    "order_date_value_grouped_left_outer",
]

# The values of the Capillaries lookup quick test (script_params_quick_fs_one.yaml).
PARAMS = {
    "start_date": "2016-01-01 00:00:00",
    "end_date": "2018-12-31 23:23:59",
    "default_shipping_limit_date": "1980-02-03T04:05:06.777+00:00",
    "default_order_item_id": "999",
    "default_order_item_value": "999.00",
    "manual_if_multi": "auto",
}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ensure_duckdb() -> None:
    """Makes `import duckdb` work, re-executing this script inside bench/.venv if needed."""
    try:
        import duckdb  # noqa: F401

        return
    except ImportError:
        pass
    if os.environ.get(REEXEC_ENV):
        sys.exit(f"duckdb is still not importable with {sys.executable}; remove {VENV} and retry")
    py = VENV / "bin" / "python"
    if not py.exists():
        log(f"duckdb not importable: creating a venv in {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(py), "-c", "import duckdb"], capture_output=True).returncode != 0:
        log("installing duckdb into the venv (pip install duckdb)")
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "duckdb"], check=True)
    env = dict(os.environ, **{REEXEC_ENV: "1"})
    os.execve(str(py), [str(py), str(pathlib.Path(__file__).resolve()), *sys.argv[1:]], env)


# ---------------------------------------------------------------------------------------------
# Input


def ensure_data(args) -> pathlib.Path:
    if args.data:
        return args.data.resolve()
    sys.path.insert(0, str(HERE))
    import generate

    out = generate.default_out(args.items)
    manifest = out / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if m.get("items") == args.items and m.get("seed") == args.seed:
            log(f"using existing input in {out}")
            return out
    log(f"generating {args.items:,} order items into {out} (not timed)")
    generate.main(["--items", str(args.items), "--seed", str(args.seed), "--out", str(out)])
    return out


def count_rows(path: pathlib.Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
    return max(0, n - 1)  # header


# ---------------------------------------------------------------------------------------------
# Vessel


def ensure_vessel(force_build: bool) -> None:
    if VESSEL.exists() and not force_build:
        return
    why = "--build given" if force_build else f"{VESSEL.relative_to(ROOT)} is missing"
    log(f"{why}: building it with `cargo build --release -p vessel-cli` (not timed)")
    r = subprocess.run(["cargo", "build", "--release", "-p", "vessel-cli"], cwd=ROOT)
    if r.returncode != 0 or not VESSEL.exists():
        sys.exit("cargo build failed; fix the build, or run with --skip-vessel for DuckDB alone")


def write_params(args, data: pathlib.Path, out: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    dir_out = out / name
    shutil.rmtree(dir_out, ignore_errors=True)
    dir_out.mkdir(parents=True)
    params = dict(PARAMS, lookup_node_batches_total=args.batches, dir_in=str(data), dir_out=str(dir_out))
    params_file = out / f"params_{name}.yaml"
    # JSON scalars are valid YAML; the batch count stays a bare number.
    params_file.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in params.items()))
    return dir_out, params_file


def run_vessel(args, data: pathlib.Path, out: pathlib.Path) -> dict:
    dir_out, params_file = write_params(args, data, out, "vessel")

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vessel-bench-", dir=args.tmp))
    cmd = [
        str(VESSEL), "run", str(SCRIPT),
        "--params", str(params_file),
        "--keyspace", "bench_lookup",
        "--data-dir", str(tmp),
        "--workers", str(args.workers),
        "--json",
    ]  # fmt: skip
    log("$ " + " ".join(cmd))
    try:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE)  # stderr: progress bars
        wall = time.perf_counter() - t0
        db_bytes = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    finally:
        if args.keep:
            log(f"kept Vessel's data dir {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        summary = json.loads(r.stdout)
    except json.JSONDecodeError:
        summary = None
    if r.returncode != 0 or summary is None:
        sys.stdout.write(r.stdout.decode(errors="replace"))
        log(f"vessel exited with {r.returncode}")
    return {"wall": wall, "rc": r.returncode, "summary": summary, "dir_out": dir_out, "db_bytes": db_bytes}


def rabbitmq_queues(prefix: str) -> list[str]:
    r = subprocess.run(["rabbitmqctl", "list_queues", "-q", "name"], capture_output=True, text=True)
    return [q.strip() for q in r.stdout.splitlines() if q.strip().startswith(prefix + ".")]


def run_distributed(args, data: pathlib.Path, out: pathlib.Path) -> dict:
    """N daemons with one worker each on RabbitMQ and a shared SQLite store."""
    dir_out, params_file = write_params(args, data, out, "distributed")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vessel-bench-dist-", dir=args.tmp))
    prefix = f"vessel-bench-{os.getpid()}"
    backend = ["--store", f"sqlite:{tmp}", "--queue", AMQP_URL, "--queue-prefix", prefix]
    daemons = []
    try:
        for i in range(args.distributed):
            log_file = open(out / f"daemon_{i}.log", "w")
            daemons.append(subprocess.Popen(
                [str(VESSEL), "daemon", "--workers", "1", *backend],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file,
            ))  # fmt: skip
        # A daemon prints its first line once it consumes; give them that long.
        deadline = time.time() + 60
        for i in range(args.distributed):
            while "vessel daemon " not in (out / f"daemon_{i}.log").read_text():
                if daemons[i].poll() is not None or time.time() > deadline:
                    sys.exit(f"daemon {i} did not start; see {out / f'daemon_{i}.log'}")
                time.sleep(0.05)
        log(f"{args.distributed} daemons with 1 worker each on queue prefix {prefix}")
        start = [
            str(VESSEL), "start-run", str(SCRIPT), "--params", str(params_file),
            "--keyspace", "bench_lookup", *backend,
        ]  # fmt: skip
        log("$ " + " ".join(start))
        t0 = time.perf_counter()
        r = subprocess.run(start, cwd=ROOT, stdout=subprocess.PIPE, check=True)
        run_id = r.stdout.decode().strip()
        wait = [str(VESSEL), "wait", "--keyspace", "bench_lookup", "--run-id", run_id, "--json", *backend]
        r = subprocess.run(wait, cwd=ROOT, stdout=subprocess.PIPE)
        wall = time.perf_counter() - t0
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            try:
                d.wait(timeout=60)
            except subprocess.TimeoutExpired:
                d.kill()
        for q in rabbitmq_queues(prefix):
            subprocess.run(["rabbitmqctl", "delete_queue", "-q", q], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        summary = json.loads(r.stdout)
    except json.JSONDecodeError:
        summary = None
    if r.returncode != 0 or summary is None:
        sys.stdout.write(r.stdout.decode(errors="replace"))
        log(f"vessel wait exited with {r.returncode}")
    return {"wall": wall, "rc": r.returncode, "summary": summary, "dir_out": dir_out}


# ---------------------------------------------------------------------------------------------
# DuckDB


def go_default_datetime(text: str) -> str:
    """A Capillaries datetime default (layout `2006-01-02T15:04:05.000-07:00`) as a UTC
    `YYYY-MM-DD HH:MM:SS.ffffff` literal."""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def duckdb_steps(data: pathlib.Path, dir_out: pathlib.Path) -> list[tuple[str, str]]:
    """The lookup pipeline as DuckDB statements, one per Vessel stage, with the same params."""
    p = PARAMS
    orders_csv = str(data / "olist_orders_dataset.csv")
    items_csv = str(data / "olist_order_items_dataset.csv")
    ts_fmt = "'%Y-%m-%d %H:%M:%S'"
    default_ship = go_default_datetime(p["default_shipping_limit_date"])
    default_item = int(p["default_order_item_id"])
    # decimal2 defaults are parsed as a float and rounded to cents.
    default_value = f"{round(float(p['default_order_item_value']) * 100) / 100:.2f}"

    def copy(name: str, select: str) -> tuple[str, str]:
        return name, f"COPY ({select}) TO '{dir_out / (name + '.csv')}' (FORMAT csv, HEADER true)"

    non_grouped = """
        SELECT o.order_id,
               printf('%05d', {item_id}) AS order_item_id,
               i.product_id,
               i.seller_id,
               strftime({ship}, {ts_fmt}) AS shipping_limit_date,
               CAST({value} AS VARCHAR) AS value
        FROM orders o {join} order_items i ON i.order_id = o.order_id
        ORDER BY o.order_id, {item_id}
    """
    # avg: exact sum / count rounded half away from zero to cents, in integers (DuckDB's
    # DECIMAL / INTEGER is a DOUBLE); min/max of strings compare byte-wise.
    grouped = """
        WITH g AS (
            SELECT o.order_id, o.order_purchase_timestamp AS ts,
                   coalesce(sum(i.value), 0)::DECIMAL(18,2) AS total,
                   count(i.order_id) AS n,
                   coalesce(min(i.value), 0)::DECIMAL(18,2) AS min_value,
                   coalesce(max(i.value), 0)::DECIMAL(18,2) AS max_value,
                   min(i.product_id) AS min_product_id,
                   max(i.product_id) AS max_product_id
            FROM orders o {join} order_items i ON i.order_id = o.order_id
            GROUP BY o.order_id, o.order_purchase_timestamp
        ), c AS (
            SELECT *, CAST(total * 100 AS BIGINT) AS cents FROM g
        )
        SELECT printf('%10s', CAST(total AS VARCHAR)) AS total_value,
               strftime(ts, {ts_fmt}) AS order_purchase_timestamp,
               order_id,
               CAST(CASE WHEN n = 0 THEN 0::DECIMAL(18,2)
                    ELSE (sign(cents) * ((2 * abs(cents) + n) // (2 * n)))::DECIMAL(18,0) * 0.01
                    END AS DECIMAL(18,2))::VARCHAR AS avg_value,
               min_value::VARCHAR AS min_value,
               max_value::VARCHAR AS max_value,
               min_product_id,
               max_product_id,
               n AS item_count
        FROM c
        ORDER BY total DESC, ts DESC, order_id DESC
    """
    return [
        (
            "read_orders",
            f"""CREATE TABLE orders AS
                SELECT order_id, order_status, order_purchase_timestamp
                FROM read_csv('{orders_csv}', header = true, timestampformat = {ts_fmt},
                    columns = {{'order_id': 'VARCHAR', 'customer_id': 'VARCHAR',
                        'order_status': 'VARCHAR', 'order_purchase_timestamp': 'TIMESTAMP',
                        'order_approved_at': 'VARCHAR', 'order_delivered_carrier_date': 'VARCHAR',
                        'order_delivered_customer_date': 'VARCHAR',
                        'order_estimated_delivery_date': 'VARCHAR'}})
                WHERE order_purchase_timestamp >= TIMESTAMP '{p["start_date"]}'
                  AND order_purchase_timestamp <= TIMESTAMP '{p["end_date"]}'""",
        ),
        (
            "read_order_items",
            f"""CREATE TABLE order_items AS
                SELECT order_id, order_item_id, product_id, seller_id, shipping_limit_date,
                       (price + freight_value)::DECIMAL(18,2) AS value
                FROM read_csv('{items_csv}', header = true, timestampformat = {ts_fmt},
                    columns = {{'order_id': 'VARCHAR', 'order_item_id': 'INTEGER',
                        'product_id': 'VARCHAR', 'seller_id': 'VARCHAR',
                        'shipping_limit_date': 'TIMESTAMP', 'price': 'DECIMAL(18,2)',
                        'freight_value': 'DECIMAL(18,2)'}})""",
        ),
        copy(
            "order_item_date_inner",
            non_grouped.format(
                join="JOIN", item_id="i.order_item_id", ship="i.shipping_limit_date",
                value="i.value", ts_fmt=ts_fmt,
            ),
        ),  # fmt: skip
        copy(
            "order_item_date_left_outer",
            non_grouped.format(
                join="LEFT JOIN",
                item_id=f"coalesce(i.order_item_id, {default_item})",
                ship=f"coalesce(i.shipping_limit_date, TIMESTAMP '{default_ship}')",
                value=f"coalesce(i.value, {default_value}::DECIMAL(18,2))",
                ts_fmt=ts_fmt,
            ),
        ),
        copy("order_date_value_grouped_inner", grouped.format(join="JOIN", ts_fmt=ts_fmt)),
        copy("order_date_value_grouped_left_outer", grouped.format(join="LEFT JOIN", ts_fmt=ts_fmt)),
    ]


def run_duckdb(args, data: pathlib.Path, out: pathlib.Path) -> dict:
    import duckdb

    dir_out = out / "duckdb"
    shutil.rmtree(dir_out, ignore_errors=True)
    dir_out.mkdir(parents=True)
    steps = duckdb_steps(data, dir_out)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="duckdb-bench-", dir=args.tmp))
    db = str(tmp / "bench.duckdb") if args.duckdb_on_disk else ":memory:"
    log(f"DuckDB {duckdb.__version__}, {'database ' + db if args.duckdb_on_disk else 'in-memory'}, "
        f"threads={args.workers}")  # fmt: skip
    times = []
    try:
        t0 = time.perf_counter()
        con = duckdb.connect(db, config={"threads": args.workers})
        for name, sql in steps:
            s0 = time.perf_counter()
            con.execute(sql)
            times.append((name, time.perf_counter() - s0))
        con.close()
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"wall": wall, "steps": times, "dir_out": dir_out, "version": duckdb.__version__}


# ---------------------------------------------------------------------------------------------
# Report


def fmt_rate(rows, secs) -> str:
    if not isinstance(rows, (int, float)) or not secs:
        return "-"
    return f"{rows / secs:,.0f}"


def table(headers: list[str], rows: list[list], left: int = 1) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(r))
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(args, vessel: dict | None, duck: dict | None, dist: dict | None = None) -> None:
    print()
    what = f"input {args.data}" if args.data else f"{args.items:,} order items"
    print(f"lookup benchmark: {what}, {args.batches} lookup batches, {args.workers} workers/threads")
    if vessel:
        summary = vessel["summary"] or {}
        rows = []
        for n in summary.get("nodes", []):
            secs = n.get("seconds")
            rows.append([
                n.get("node"), n.get("status"),
                f"{n.get('batches_ok')}/{n.get('batches_total')}",
                f"{n.get('rows_in'):,}" if isinstance(n.get("rows_in"), int) else n.get("rows_in"),
                f"{n.get('rows_out'):,}" if isinstance(n.get("rows_out"), int) else n.get("rows_out"),
                f"{secs:.2f}" if isinstance(secs, (int, float)) else secs,
                fmt_rate(n.get("rows_in"), secs), fmt_rate(n.get("rows_out"), secs),
            ])  # fmt: skip
        print()
        print(f"Vessel run {summary.get('run_id')} of {summary.get('keyspace')}: "
              f"{summary.get('run_status', 'no summary')} (exit code {vessel['rc']}); "
              f"nodes overlap in time, so their seconds do not add up to the wall time")  # fmt: skip
        print(table(["node", "status", "batches", "rows_in", "rows_out", "seconds", "rows_in/s", "rows_out/s"], rows, 2))
        print(f"keyspace size on disk after the run: {vessel['db_bytes'] / 1e6:,.0f} MB")
    if duck:
        print()
        print(f"DuckDB {duck['version']} steps (sequential, each a whole Vessel stage):")
        print(table(["step", "seconds"], [[n, f"{s:.2f}"] for n, s in duck["steps"]]))
    print()
    if vessel:
        print(f"Vessel wall time : {vessel['wall']:8.2f} s  (vessel run --workers {args.workers})")
    if dist:
        print(f"Vessel distributed: {dist['wall']:7.2f} s  ({args.distributed} daemons x 1 worker, "
              f"RabbitMQ, shared SQLite; exit code {dist['rc']})")  # fmt: skip
    if duck:
        print(f"DuckDB wall time : {duck['wall']:8.2f} s")
    if vessel and duck and duck["wall"] > 0:
        print(f"ratio vessel/duckdb: {vessel['wall'] / duck['wall']:.2f}  (lower is better; 1 = as fast as DuckDB)")
    if dist and duck and duck["wall"] > 0:
        print(f"ratio distributed/duckdb: {dist['wall'] / duck['wall']:.2f}")
    if dist and vessel and vessel["wall"] > 0:
        print(f"ratio distributed/embedded: {dist['wall'] / vessel['wall']:.2f}  (goal <= 1.3)")


def same_lines(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Byte equality, except that a CRLF header (upstream's writer) equals an LF one."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        if fa.readline().rstrip(b"\r\n") != fb.readline().rstrip(b"\r\n"):
            return False
        while True:
            ca, cb = fa.read(1 << 22), fb.read(1 << 22)
            if ca != cb:
                return False
            if not ca:
                return True


def check(vessel: dict, duck: dict) -> bool:
    ok = True
    rows = []
    for name in OUTPUTS:
        v, d = vessel["dir_out"] / f"{name}.csv", duck["dir_out"] / f"{name}.csv"
        nv = count_rows(v) if v.exists() else None
        nd = count_rows(d)
        same = nv is not None and same_lines(v, d)
        ok &= nv == nd
        rows.append([name, "missing" if nv is None else f"{nv:,}", f"{nd:,}",
                     "yes" if nv == nd else "NO", "yes" if same else "no"])  # fmt: skip
    print()
    print("--check: data rows of the four outputs")
    print(table(["output", "vessel", "duckdb", "counts match", "identical bytes"], rows))
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000, help="order items (default 1,000,000)")
    ap.add_argument("--batches", type=int, default=10, help="lookup_node_batches_total (default 10)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="Vessel --workers and DuckDB threads (default: number of cores)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=20260501, help="generator seed (default 20260501)")
    ap.add_argument("--data", type=pathlib.Path, help="use this input dir instead of generating one")
    ap.add_argument("--check", action="store_true", help="compare the outputs' row counts")
    ap.add_argument("--build", action="store_true", help="run `cargo build --release -p vessel-cli` first")
    ap.add_argument("--tmp", type=pathlib.Path, help="parent dir for the temporary databases (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep Vessel's keyspace data dir")
    ap.add_argument("--duckdb-on-disk", action="store_true", help="DuckDB in a temp file instead of in memory")
    ap.add_argument("--skip-vessel", action="store_true", help="run DuckDB only")
    ap.add_argument("--skip-duckdb", action="store_true", help="run Vessel only")
    ap.add_argument("--distributed", type=int, default=0, metavar="N",
                    help="also run on N daemons (1 worker each) over RabbitMQ at 127.0.0.1:5672")  # fmt: skip
    args = ap.parse_args()
    if args.items < 1 or args.batches < 1 or args.workers < 1:
        ap.error("--items, --batches and --workers must be at least 1")

    if not args.skip_duckdb:
        ensure_duckdb()
    if not args.skip_vessel:
        ensure_vessel(args.build)
        if not SCRIPT.exists():
            sys.exit(f"{SCRIPT} does not exist")
    data = ensure_data(args)
    out = BENCH / "out" / (data.name if args.data else f"lookup_{args.items}")
    out.mkdir(parents=True, exist_ok=True)

    vessel = None if args.skip_vessel else run_vessel(args, data, out)
    if vessel:
        os.sync()  # so that DuckDB's timing does not pay for writing back Vessel's dirty pages
    dist = None
    if args.distributed > 0 and not args.skip_vessel:
        dist = run_distributed(args, data, out)
        os.sync()
    duck = None if args.skip_duckdb else run_duckdb(args, data, out)
    report(args, vessel, duck, dist)
    ok = (vessel is None or vessel["rc"] == 0) and (dist is None or dist["rc"] == 0)
    if args.check and vessel and dist:
        same = all(same_lines(vessel["dir_out"] / f"{n}.csv", dist["dir_out"] / f"{n}.csv") for n in OUTPUTS)
        print(f"\n--check: distributed outputs identical to the embedded run's: {'yes' if same else 'NO'}")
        ok &= same
    if args.check:
        if vessel and duck:
            ok &= check(vessel, duck)
        else:
            print("--check needs both Vessel and DuckDB runs")
    print(f"\noutputs in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
