"""Benchmarks a map transform (three derived fields) as built-in expressions and as plugins.

    python3 bench/plugins/run.py [--rows 1000000] [--batches 10] [--workers N]

In one invocation:

1. writes bench/data/plugins_<N>/rows.csv (id, name, price, qty) if it is not there (not timed);
2. builds what is missing: target/release/vessel, and the plugin components of
   bench/plugins/<lang>_map (Rust with cargo for wasm32-wasip2; Python and JavaScript with
   `vessel plugin build`, skipped with a note when their toolchain is not available);
3. loads the rows once (run 1), then runs each transform node alone in a run of its own, in the
   same keyspace, and takes the node's time from the run summary;
4. prints rows/s per variant and the ratio of its time to the built-in expressions' time;
5. measures each component's load time cold (empty compile cache) and cached (second process,
   compiled code read from the cache) with `vessel plugin test --cache-dir`.

Goals (issue 3): Rust plugin ≤ 1.5× the expressions' time, Python ≤ 10×, cached load of the
Python component < 100 ms.
"""

import argparse
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VESSEL = pathlib.Path(os.environ.get("VESSEL_BIN", ROOT / "target/release/vessel"))
SCRIPT = HERE / "script.yaml"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def generate(path: pathlib.Path, rows: int) -> None:
    rng = random.Random(20261121)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        f.write("id,name,price,qty\n")
        for i in range(rows):
            name = f"{rng.choice(words)}{rng.randrange(1000)}"
            price = f"{rng.randrange(1, 100000) / 100:.2f}"
            f.write(f"{i},{name},{price},{rng.randrange(1, 20)}\n")
    tmp.rename(path)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def build_components() -> dict:
    """Component per variant; a variant whose build fails is reported and left out."""
    comps = {}
    target = ROOT / "target/wasm-bench"
    log("building the Rust plugin (cargo, wasm32-wasip2)")
    run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
         HERE / "rust_map/Cargo.toml", "--target-dir", target])
    comps["rust"] = target / "wasm32-wasip2/release/bench_rust_map.wasm"
    for lang in ["python", "js"]:
        project = HERE / f"{lang}_map"
        if not project.is_dir():
            continue
        log(f"building the {lang} plugin (vessel plugin build)")
        r = subprocess.run([str(VESSEL), "plugin", "build", str(project)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log(f"{lang} plugin not built, left out: {r.stderr.strip().splitlines()[-1:]}")
            continue
        comps[lang] = project / f"{lang}_map.wasm"
    return comps


def node_seconds(summary: dict, node: str) -> float:
    for n in summary["nodes"]:
        if n["node"] == node:
            if n["status"] != "success":
                sys.exit(f"{node} did not succeed: {n}")
            return float(n["seconds"])
    sys.exit(f"{node} missing from the run summary")


def load_times(component: pathlib.Path, tmp: pathlib.Path) -> tuple:
    sample = tmp / "sample.csv"
    sample.write_text("id,name,price:decimal2,qty\n1,a,1.50,3\n")
    cache = tmp / f"cache-{component.stem}"
    shutil.rmtree(cache, ignore_errors=True)
    out = []
    for _ in range(2):
        r = subprocess.run([str(VESSEL), "plugin", "test", str(component), "--input", str(sample),
                            "--cache-dir", str(cache)], capture_output=True, text=True)
        m = re.search(r"loaded in (\d+) ms", r.stderr)
        out.append(float(m.group(1)) if m else float("nan"))
    return tuple(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    data = ROOT / f"bench/data/plugins_{args.rows}"
    if not (data / "rows.csv").exists():
        log(f"generating {args.rows:,} rows")
        generate(data / "rows.csv", args.rows)
    if not VESSEL.exists():
        log("building target/release/vessel")
        run(["cargo", "build", "--release", "-p", "vessel-cli"], cwd=ROOT)
    comps = build_components()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vessel-bench-plugins-"))
    params = tmp / "params.yaml"
    lines = [f"dir_in: {json.dumps(str(data))}", f"batches: {args.batches}"]
    for lang in ["rust", "python", "js"]:
        lines.append(f"{lang}_component: {json.dumps(str(comps.get(lang, '')))}")
    params.write_text("\n".join(lines) + "\n")
    common = ["--params", params, "--keyspace", "bench_plugins", "--data-dir", tmp / "data",
              "--workers", args.workers, "--json"]

    def vessel_run(start: str) -> dict:
        r = run([VESSEL, "run", SCRIPT, "--start-nodes", start, *common],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return json.loads(r.stdout)

    log("run 1: load")
    vessel_run("load")
    variants = [("expressions", "expr_map")] + [
        (f"{lang} plugin", f"{lang}_map") for lang in ["rust", "python", "js"] if lang in comps
    ]
    results = []
    for label, node in variants:
        log(f"{label}: {node}")
        secs = node_seconds(vessel_run(node), node)
        results.append((label, secs))

    base = results[0][1]
    print(f"\nmap transform, 3 derived fields, {args.rows:,} rows, {args.batches} batches, "
          f"{args.workers} workers")
    print(f"{'variant':<18} {'seconds':>8} {'rows/s':>12} {'ratio':>7}")
    for label, secs in results:
        print(f"{label:<18} {secs:>8.2f} {args.rows / secs:>12,.0f} {secs / base:>7.2f}")
    print(f"\n{'component':<18} {'cold load ms':>12} {'cached load ms':>15} {'size KiB':>9}")
    for lang, comp in comps.items():
        cold, cached = load_times(comp, tmp)
        print(f"{lang:<18} {cold:>12.0f} {cached:>15.0f} {comp.stat().st_size // 1024:>9}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
