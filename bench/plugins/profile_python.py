"""Runs the benchmark's Python plugin (bench/plugins/python_map) on plain CPython, through the
SDK's own runtime and codec (`vessel_plugin.Harness`), to profile the SDK without Wasm:

    python3 bench/plugins/profile_python.py [--rows 100000] [--batch 1000] [--profile]

It prints rows/s of CPU time (best of five rounds), and with --profile the functions that took
the most time (cProfile). Inside the component the same Python code runs on a Wasm build of
CPython, about 2.5 times slower; where the time goes is much the same.
"""

import argparse
import cProfile
import pathlib
import pstats
import random
import sys
import time
from decimal import Decimal

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "sdk/python"), str(HERE / "python_map")]

import vessel_plugin as vp  # noqa: E402
from plugin import BenchPythonMap  # noqa: E402

SCHEMA = [("id", vp.INT), ("name", vp.STRING), ("price", vp.DECIMAL2), ("qty", vp.INT)]


def batches(rows, size):
    """Wire batches (row count, columns) of generated rows, as the host sends them."""
    rng = random.Random(20261121)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    out = []
    for start in range(0, rows, size):
        bb = vp.BatchBuilder(SCHEMA)
        for i in range(start, min(rows, start + size)):
            bb.push([i, "%s%d" % (rng.choice(words), rng.randrange(1000)),
                     Decimal(rng.randrange(1, 100000)) / 100, rng.randrange(1, 20)])
        out.append(bb.finish())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000, help="rows per batch (rowset_size)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one round")
    args = ap.parse_args()
    work = batches(args.rows, args.batch)
    runtime = vp.Harness(BenchPythonMap, {}, SCHEMA).runtime

    def one_round():
        for n, cols in work:
            runtime.process(n, cols)

    one_round()  # warm up
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        one_round()
        best = min(best, time.process_time() - t)
    print("%s rows in batches of %d: %.0f rows/s (CPU time, best of 5)"
          % (f"{args.rows:,}", args.batch, args.rows / best))
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(one_round)
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
