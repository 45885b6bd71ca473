"""Benchmarks a map transform (three derived fields) as built-in expressions and as plugins.

    python3 bench/plugins/run.py [--rows 1000000] [--batches 10] [--workers N] [--build]

In one invocation:

1. writes bench/data/plugins_<N>/rows.csv (id, name, price, qty) if it is not there (not timed);
2. builds what is missing or stale: target/release/vessel, and the plugin components of
   bench/plugins/<lang>_map: Rust with cargo for wasm32-wasip2, JavaScript with
   `vessel plugin build`, Python with `vessel plugin build` or, where that does not build
   Python yet, with componentize-py directly (the way `vessel` builds py_calc). A variant
   whose toolchain is missing is left out with a note;
3. loads the rows once (run 1), then runs each transform node alone in a run of its own, in the
   same keyspace, and takes the node's time from the run summary;
4. writes every variant's output table to CSV sorted by id and checks that they are identical
   to the expressions' output (exit status 1 if not);
5. prints rows/s per variant and the ratio of its time to the built-in expressions' time;
6. measures each component's load time cold (empty compile cache: compile to native code) and
   cached (a second process, native code read from the cache) with
   `vessel plugin test --cache-dir`; the load is read, deserialize, instantiate and `describe`.

Goals (issue 3): Rust plugin ≤ 1.5× the expressions' time, Python ≤ 10×, cached load of the
Python component < 100 ms.

Runs share a compile cache in target/wasm-bench/components (VESSEL_CACHE_DIR of the runs), so
only the first invocation after a component changes compiles it.
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
WASM_DIR = ROOT / "target/wasm-bench"
LANGS = ["rust", "python", "js"]


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


def last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "(no output)"


def newer(target: pathlib.Path, sources) -> bool:
    """Whether `target` exists and is newer than every file in `sources`."""
    if not target.is_file():
        return False
    t = target.stat().st_mtime
    return all(s.stat().st_mtime <= t for s in sources)


def componentize_py() -> str | None:
    """componentize-py as `vessel` finds it: VESSEL_COMPONENTIZE_PY, PATH, the venv vessel
    creates in its cache folder, the venv building Vessel creates under target/ (for py_calc),
    or target/py-tools (a venv some checkouts keep there)."""
    env = os.environ.get("VESSEL_COMPONENTIZE_PY")
    if env:
        return env
    found = shutil.which("componentize-py")
    if found:
        return found
    cache = os.environ.get("VESSEL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vessel")
    for cand in (pathlib.Path(cache) / "python-tools/bin/componentize-py",
                 ROOT / "target/py-builtins/python-tools/bin/componentize-py",
                 ROOT / "target/py-tools/bin/componentize-py"):
        if cand.is_file():
            return str(cand)
    return None


def build_python_direct(project: pathlib.Path, out: pathlib.Path) -> None:
    """Stages the plugin, the SDK and the WIT files and runs componentize-py with the flags
    of host/plugin-build/src/python.rs."""
    tool = componentize_py()
    if tool is None:
        raise RuntimeError("no componentize-py (set VESSEL_COMPONENTIZE_PY or put it on PATH)")
    with tempfile.TemporaryDirectory(prefix="vessel-bench-py-") as stage:
        stage = pathlib.Path(stage)
        shutil.copytree(project, stage / "app",
                        ignore=shutil.ignore_patterns("*.wasm", "__pycache__", "tests", ".*"))
        (stage / "sdk").mkdir()
        shutil.copy(ROOT / "sdk/python/vessel_plugin.py", stage / "sdk")
        shutil.copytree(ROOT / "wit", stage / "wit")
        r = subprocess.run([tool, "-d", "wit", "-w", "processor-plugin", "componentize",
                            "--stub-wasi", "-p", "app", "-p", "sdk", "processor",
                            "-o", "component.wasm"], cwd=stage, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"componentize-py failed: {r.stdout}{r.stderr}"[-2000:])
        shutil.copy(stage / "component.wasm", out)


def build_components() -> dict:
    """Component per variant; a variant whose build fails is reported and left out."""
    comps = {}
    log("building the Rust plugin (cargo, wasm32-wasip2)")
    run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
         HERE / "rust_map/Cargo.toml", "--target-dir", WASM_DIR])
    comps["rust"] = WASM_DIR / "wasm32-wasip2/release/bench_rust_map.wasm"

    project = HERE / "js_map"
    log("building the JavaScript plugin (vessel plugin build)")
    r = subprocess.run([str(VESSEL), "plugin", "build", str(project)],
                       capture_output=True, text=True)
    if r.returncode == 0:
        comps["js"] = project / "js_map.wasm"
    else:
        log(f"JavaScript plugin not built, left out: {last_line(r.stderr)}")

    project = HERE / "python_map"
    out = project / "python_map.wasm"
    sources = [p for p in project.rglob("*.py")] + [ROOT / "sdk/python/vessel_plugin.py"] + \
        list((ROOT / "wit").glob("*.wit"))
    if newer(out, sources):
        log("Python plugin is up to date")
        comps["python"] = out
    else:
        log("building the Python plugin (vessel plugin build)")
        r = subprocess.run([str(VESSEL), "plugin", "build", str(project)],
                           capture_output=True, text=True)
        if r.returncode == 0 and newer(out, sources):
            comps["python"] = out
        else:
            log(f"`vessel plugin build` did not build it ({last_line(r.stderr)}); "
                "building with componentize-py directly (about 20 s)")
            try:
                build_python_direct(project, out)
                comps["python"] = out
            except (RuntimeError, OSError) as e:
                log(f"Python plugin not built, left out: {last_line(str(e))}")
    return comps


def node_seconds(summary: dict, node: str) -> float:
    for n in summary["nodes"]:
        if n["node"] == node:
            if n["status"] != "success":
                sys.exit(f"{node} did not succeed: {n}")
            return float(n["seconds"])
    sys.exit(f"{node} missing from the run summary")


def load_times(component: pathlib.Path, tmp: pathlib.Path, repeat: int) -> tuple:
    """(cold ms, best cached ms over `repeat` processes)."""
    sample = tmp / "sample.csv"
    sample.write_text("id,name,price:decimal2,qty\n1,a,1.50,3\n")
    cache = tmp / f"cache-{component.stem}"
    shutil.rmtree(cache, ignore_errors=True)
    out = []
    for _ in range(1 + repeat):
        r = subprocess.run([str(VESSEL), "plugin", "test", str(component), "--input", str(sample),
                            "--cache-dir", str(cache)], capture_output=True, text=True)
        m = re.search(r"loaded in (\d+) ms", r.stderr)
        if not m:
            log(f"{component.name}: no load time: {last_line(r.stderr)}")
        out.append(float(m.group(1)) if m else float("nan"))
    shutil.rmtree(cache, ignore_errors=True)
    return out[0], min(out[1:])


def compare_outputs(out_dir: pathlib.Path, langs) -> list:
    """Differences between each variant's CSV and the expressions' (empty when identical)."""
    problems = []
    expected = (out_dir / "expr.csv").read_bytes()
    rows = expected.count(b"\n") - 1
    for lang in langs:
        got = (out_dir / f"{lang}.csv").read_bytes()
        if got == expected:
            continue
        e_lines, g_lines = expected.splitlines(), got.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(e_lines, g_lines)) if a != b),
                     min(len(e_lines), len(g_lines)))
        problems.append(
            f"{lang}: output differs from the expressions' ({len(g_lines) - 1} rows vs "
            f"{len(e_lines) - 1}); first difference at line {first + 1}:\n"
            f"  expressions: {e_lines[first] if first < len(e_lines) else b'(end)'!r}\n"
            f"  {lang + ':':<12} {g_lines[first] if first < len(g_lines) else b'(end)'!r}")
    if rows <= 0:
        problems.append("the expressions' output is empty")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--load-repeat", type=int, default=3,
                    help="cached loads per component (the best is reported)")
    ap.add_argument("--only", default="",
                    help="comma-separated plugin variants to run (rust,python,js); default all")
    ap.add_argument("--no-check", action="store_true", help="skip the output comparison")
    ap.add_argument("--no-load-times", action="store_true", help="skip the load times")
    ap.add_argument("--build", action="store_true",
                    help="cargo build --release -p vessel-cli first (vessel embeds the SDKs "
                    "that `vessel plugin build` uses: rebuild it after changing them)")
    args = ap.parse_args()

    data = ROOT / f"bench/data/plugins_{args.rows}"
    if not (data / "rows.csv").exists():
        log(f"generating {args.rows:,} rows")
        generate(data / "rows.csv", args.rows)
    if args.build or not VESSEL.exists():
        log("building target/release/vessel")
        run(["cargo", "build", "--release", "-p", "vessel-cli"], cwd=ROOT)
    built = build_components()
    comps = built
    if args.only:
        wanted = set(args.only.split(","))
        comps = {k: v for k, v in built.items() if k in wanted}

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vessel-bench-plugins-"))
    out_dir = tmp / "out"
    out_dir.mkdir()
    params = tmp / "params.yaml"
    lines = [f"dir_in: {json.dumps(str(data))}", f"dir_out: {json.dumps(str(out_dir))}",
             f"batches: {args.batches}"]
    for lang in LANGS:
        # Every plugin node is opened when a run starts; a variant left out gets the Rust
        # component, so that the script stays valid (its node is never run).
        comp = built.get(lang, built["rust"])
        lines.append(f"{lang}_component: {json.dumps(str(comp))}")
    params.write_text("\n".join(lines) + "\n")
    common = ["--params", params, "--keyspace", "bench_plugins", "--data-dir", tmp / "data",
              "--workers", args.workers, "--json"]
    env = dict(os.environ, VESSEL_CACHE_DIR=str(WASM_DIR / "components"))

    def vessel_run(start: str) -> dict:
        r = subprocess.run([str(c) for c in [VESSEL, "run", SCRIPT, "--start-nodes", start,
                                             *common]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if r.returncode != 0:
            sys.exit(f"vessel run --start-nodes {start} failed ({r.returncode}):\n"
                     f"{r.stderr[-3000:]}{r.stdout[-2000:]}")
        return json.loads(r.stdout)

    log("run 1: load (and compile the components into the cache, if needed)")
    t = time.monotonic()
    vessel_run("load")
    log(f"run 1 took {time.monotonic() - t:.1f} s")
    variants = [("expressions", "expr", "expr_map")] + [
        (f"{lang} plugin", lang, f"{lang}_map") for lang in LANGS if lang in comps
    ]
    results = []
    for label, key, node in variants:
        log(f"{label}: {node}")
        secs = node_seconds(vessel_run(node), node)
        results.append((label, key, secs))

    failed = False
    if not args.no_check:
        keys = [key for _, key, _ in results]
        log("writing the outputs sorted by id and comparing them")
        vessel_run(",".join(f"file_{k}" for k in keys))
        problems = compare_outputs(out_dir, keys[1:])
        for p in problems:
            print(f"MISMATCH {p}", file=sys.stderr)
        failed = bool(problems)

    base = results[0][2]
    print(f"\nmap transform, 3 derived fields, {args.rows:,} rows, {args.batches} batches, "
          f"{args.workers} workers")
    print(f"{'variant':<18} {'seconds':>8} {'rows/s':>12} {'ratio':>7}")
    for label, _, secs in results:
        print(f"{label:<18} {secs:>8.2f} {args.rows / secs:>12,.0f} {secs / base:>7.2f}")
    if not args.no_check:
        print("outputs: " + ("DIFFERENT (see above)" if failed else
                             f"identical ({', '.join(k for _, k, _ in results)})"))
    if not args.no_load_times:
        print(f"\n{'component':<18} {'cold load ms':>12} {'cached load ms':>15} {'size KiB':>9}")
        for lang, comp in comps.items():
            cold, cached = load_times(comp, tmp, args.load_repeat)
            print(f"{lang:<18} {cold:>12.0f} {cached:>15.0f} {comp.stat().st_size // 1024:>9}")
    shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
