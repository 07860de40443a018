#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch's peer of bench/remat.cpp: deep_mlp_memory (N blocks of
Linear(256 -> 256) + ReLU, batch 4096, MSE to a random target, SGD lr 0.01)
without checkpointing and with torch.utils.checkpoint.checkpoint_sequential
in round(sqrt(N)) segments. For each: the bytes of the tensors autograd
saves for the backward pass, at the end of the forward pass (counted with
saved_tensors_hooks, each storage once: the memory kept across the
forward/backward boundary; a recomputed segment's own tensors during the
backward pass are not counted), and the step time (median of interleaved
runs after a warm-up). Writes bench/results/remat_torch.json.
  usage: remat_peer.py [--depths 16,64,256] [--runs N] [--threads T]
                       [--batch B] [--json FILE]
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint_sequential

p = argparse.ArgumentParser()
p.add_argument("--depths", default="16,64,256")
p.add_argument("--runs", type=int, default=3)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--batch", type=int, default=4096)
p.add_argument("--json", default="bench/results/remat_torch.json")
ARGS = p.parse_args()
torch.set_num_threads(ARGS.threads or os.cpu_count())
WIDTH = 256


def model(depth):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    return nn.Sequential(*layers)


class SavedBytes:
    """Counts the distinct storages autograd saves during a forward pass,
    parameters left out (kiln keeps them outside the arena too)."""

    def __init__(self, net):
        self.params = {q.untyped_storage().data_ptr() for q in net.parameters()}
        self.seen = {}

    def pack(self, t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in self.params:
            self.seen[ptr] = t.untyped_storage().nbytes()
        return t

    def total(self):
        return sum(self.seen.values())


def step_fn(net, x, target, segments):
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def forward():
        if segments:
            return checkpoint_sequential(net, segments, x, use_reentrant=False)
        return net(x)

    def step(counter=None):
        opt.zero_grad(set_to_none=True)
        if counter:
            with torch.autograd.graph.saved_tensors_hooks(counter.pack,
                                                          lambda t: t):
                loss = nn.functional.mse_loss(forward(), target)
        else:
            loss = nn.functional.mse_loss(forward(), target)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main():
    rows = []
    torch.manual_seed(0)
    print("%-16s %4s %-22s %12s %8s %10s %7s" %
          ("workload", "N", "policy", "saved MiB", "of none", "median ms",
           "extra"))
    for depth in [int(d) for d in ARGS.depths.split(",")]:
        net = model(depth)
        x = torch.randn(ARGS.batch, WIDTH)
        target = torch.randn(ARGS.batch, WIDTH)
        segs = max(1, round(math.sqrt(depth)))
        policies = [("none", 0), ("checkpoint_sequential/%d" % segs, segs)]
        steps, saved = [], []
        for _, s in policies:
            fn = step_fn(net, x, target, s)
            c = SavedBytes(net)
            fn(c)  # warm-up, counting saved tensors
            steps.append(fn)
            saved.append(c.total())
        ts = [[] for _ in policies]
        for _ in range(ARGS.runs):
            for i, fn in enumerate(steps):
                t0 = time.perf_counter()
                fn()
                ts[i].append(time.perf_counter() - t0)
        for i, (name, s) in enumerate(policies):
            med = statistics.median(ts[i])
            base = statistics.median(ts[0])
            print("%-16s %4d %-22s %12.1f %7.1f%% %10.1f %+6.1f%%" %
                  ("deep_mlp_memory", depth, name, saved[i] / 2**20,
                   100.0 * saved[i] / saved[0], med * 1e3,
                   100 * (med / base - 1)), flush=True)
            rows.append({"workload": "deep_mlp_memory", "depth": depth,
                         "policy": name, "segments": s,
                         "saved_bytes": saved[i], "median_s": med,
                         "min_s": min(ts[i]), "max_s": max(ts[i]),
                         "runs": ARGS.runs})
    os.makedirs(os.path.dirname(ARGS.json) or ".", exist_ok=True)
    with open(ARGS.json, "w") as f:
        json.dump({"tool": "torch %s" % torch.__version__,
                   "threads": torch.get_num_threads(), "rows": rows}, f,
                  indent=2)
    print("wrote", ARGS.json)


main()
