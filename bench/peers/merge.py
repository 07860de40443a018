#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Merges kiln_bench's JSON with the peers' into one side-by-side table:
median step time (ms) of each tool and the ratio kiln / peer (< 1: kiln is
faster). Missing files or rows are shown as '-'.
  usage: merge.py kiln.json [peer.json ...] [--markdown]"""
import json
import os
import sys


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        d = json.load(f)
    return d["tool"], {r["workload"]: r for r in d["rows"]}


def median(row):
    if row is None or row.get("skipped") or "median_s" not in row:
        return None
    return row["median_s"]


def main():
    md = "--markdown" in sys.argv
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    tools = [t for t in (load(p) for p in paths) if t]
    if not tools:
        sys.exit("merge.py: no result files")
    kiln_name, kiln = tools[0]
    peers = tools[1:]
    head = ["workload", "kiln ms", "kiln GFLOP/s", "peak", "cold s", "warm s"]
    for name, _ in peers:
        head += [f"{name} ms", "kiln/" + name.split()[0] +
                 ("(c)" if "compile" in name else "")]
    rows = []
    for w, r in kiln.items():
        k = median(r)
        line = [w, f"{k * 1e3:.3f}" if k else "skipped",
                f"{r['gflops']:.1f}" if "gflops" in r else "-",
                f"{100 * r['fraction_of_peak']:.1f}%" if "fraction_of_peak" in r else "-",
                f"{r.get('compile_cold_s', 0):.2f}", f"{r.get('compile_warm_s', 0):.3f}"]
        for _, prow in peers:
            p = median(prow.get(w))
            line += [f"{p * 1e3:.3f}" if p else "-",
                     f"{k / p:.2f}" if (p and k) else "-"]
        rows.append(line)
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in rows:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    for line in [head] + rows:
        print("  ".join(c.rjust(wd) for c, wd in zip(line, widths)))
    print("peers: " + "; ".join(n for n, _ in peers) if peers else "no peers")


if __name__ == "__main__":
    main()
