# SPDX-License-Identifier: Apache-2.0
"""Shared timing and JSON output of the peer benchmarks (bench/peers/).

The rules of ../shared/BENCHMARKS.md: warm up (compile, first run) outside
the timed region, then the median of >= 20 timed runs (5 for runs over
1 s), with min and max. Never needed by the build or the tests.
"""
import argparse
import json
import os
import platform
import statistics
import time

WORKLOADS = ["mlp_infer", "mlp_infer_b1", "mlp_train", "resnet18_infer",
             "resnet18_train", "gpt_train", "lstm_train", "dcgan_step",
             "deep_mlp_memory"]

GFLOP = {"mlp_infer": 0.953, "mlp_infer_b1": 0.0037, "mlp_train": 2.86,
         "resnet18_infer": 17.8, "resnet18_train": 53.3, "gpt_train": 22.5,
         "lstm_train": 11.3, "dcgan_step": 27.1, "deep_mlp_memory": 25.8}


def parse_args(default_json):
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--runs", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=default_json)
    p.add_argument("--max-step-s", type=float, default=30.0)
    return p.parse_args()


def time_step(step, min_runs=0, max_step_s=30.0):
    """Warm-up (timed separately as 'first_s'), then the timed runs.

    `step` runs one step and blocks until its results are ready."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    step()  # a second warm-up, without compilation: it sets the run count
    second = time.perf_counter() - t0
    if second > max_step_s:
        return {"first_run_s": first, "skipped": True,
                "note": f"one step took {second:.1f} s; not timed"}
    runs = max(5 if second > 1.0 else 20, min_runs)
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    return {"first_run_s": first, "runs": runs,
            "median_s": statistics.median(ts), "min_s": min(ts),
            "max_s": max(ts), "skipped": False}


def run_all(tool, args, bench_fn):
    """Runs bench_fn(name) -> dict for each workload, prints, writes JSON."""
    rows = []
    print(f"{tool}: threads {args.threads or os.cpu_count()}")
    for name in args.workloads.split(","):
        try:
            r = bench_fn(name)
        except Exception as e:  # report and go on, as kiln_bench does
            r = {"skipped": True, "note": f"failed: {type(e).__name__}: {e}"}
        r["workload"] = name
        if not r.get("skipped"):
            r["gflops"] = GFLOP[name] / r["median_s"]
            print(f"{name:16s} first {r['first_run_s']:8.3f} s  median "
                  f"{r['median_s'] * 1e3:10.3f} ms  min {r['min_s'] * 1e3:10.3f}"
                  f"  max {r['max_s'] * 1e3:10.3f}  ({r['runs']} runs)",
                  flush=True)
        else:
            print(f"{name:16s} skipped: {r.get('note')}", flush=True)
        rows.append(r)
        write(tool, args, rows)  # after each row: a timeout keeps the rest
    print(f"wrote {args.json}")


def write(tool, args, rows):
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"tool": tool, "threads": args.threads,
                   "python": platform.python_version(), "rows": rows}, f,
                  indent=2)
        f.write("\n")
