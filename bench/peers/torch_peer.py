#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The BENCHMARKS.md workloads in PyTorch, eager and torch.compile (the
model forward and loss compiled; backward through AOTAutograd; optimizer
eager), timed by the same rules as kiln_bench. Writes
bench/results/torch_eager.json or torch_compile.json.
  usage: torch_peer.py [--compile] [--workloads a,b] [--runs N] [--threads T]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

COMPILE = "--compile" in sys.argv
if COMPILE:
    sys.argv.remove("--compile")
ARGS = common.parse_args("bench/results/torch_%s.json" %
                         ("compile" if COMPILE else "eager"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads or os.cpu_count())


def maybe_compile(m):
    return torch.compile(m) if COMPILE else m


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.down(x) if self.down is not None else x))


def resnet18():
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for s, w in enumerate([64, 128, 256, 512]):
        for b in range(2):
            layers.append(BasicBlock(cin, w, 2 if s > 0 and b == 0 else 1))
            cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, d=256, heads=4, hidden=1024):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc, self.proj = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln_1(x)
        q, k, v = (m(h).view(b, t, self.heads, -1).transpose(1, 2)
                   for m in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(y.transpose(1, 2).reshape(b, t, d))
        return x + self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab=1024, d=256, layers=4, seq=128):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.blocks = nn.Sequential(*[Block(d) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, tokens, targets):
        x = self.tok(tokens) + self.pos.weight[: tokens.shape[1]]
        logits = self.head(self.ln_f(self.blocks(x)))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(128, 256, 2)
        self.head = nn.Linear(256, 10)

    def forward(self, x, labels):
        out, _ = self.lstm(x)
        return F.cross_entropy(self.head(out[-1]), labels)


def mlp(depth_sizes):
    layers = []
    for a, b in zip(depth_sizes[:-1], depth_sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class WithLoss(nn.Module):
    def __init__(self, net, loss):
        super().__init__()
        self.net, self.loss = net, loss

    def forward(self, x, y):
        return self.loss(self.net(x), y)


def train(model, data, opt):
    fwd = maybe_compile(model)

    def step():
        opt.zero_grad(set_to_none=True)
        fwd(*data).backward()
        opt.step()
    return step


def infer(model, x):
    fwd = maybe_compile(model.eval())

    def step():
        with torch.no_grad():
            fwd(x)
    return step


def dcgan():
    def g_layer(i, o, s, p):
        return [nn.ConvTranspose2d(i, o, 4, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    G = nn.Sequential(*g_layer(100, 256, 1, 0), *g_layer(256, 128, 2, 1),
                      *g_layer(128, 64, 2, 1),
                      nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh())
    lr = nn.LeakyReLU(0.2)
    D = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1, bias=False), lr,
                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), lr,
                      nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), lr,
                      nn.Conv2d(256, 1, 4, 1, 0, bias=False), nn.Flatten(0))
    oD = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    oG = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    g, d = maybe_compile(G), maybe_compile(D)
    z, real = torch.randn(64, 100, 1, 1), torch.randn(64, 3, 32, 32)
    ones, zeros = torch.ones(64), torch.zeros(64)
    bce = F.binary_cross_entropy_with_logits

    def step():  # PyTorch's DCGAN example: D on real + fake, then G
        oD.zero_grad(set_to_none=True)
        fake = g(z)
        (bce(d(real), ones) + bce(d(fake.detach()), zeros)).backward()
        oD.step()
        oG.zero_grad(set_to_none=True)
        bce(d(fake), ones).backward()
        oG.step()
    return step


def make_step(name):
    torch.manual_seed(0)
    sgd = torch.optim.SGD
    if name in ("mlp_infer", "mlp_infer_b1"):
        return infer(mlp([784, 1024, 1024, 10]),
                     torch.randn(1 if name == "mlp_infer_b1" else 256, 784))
    if name == "mlp_train":
        m = WithLoss(mlp([784, 1024, 1024, 10]), F.cross_entropy)
        data = (torch.randn(256, 784), torch.randint(0, 10, (256,)))
        return train(m, data, sgd(m.parameters(), 0.01, 0.9, weight_decay=1e-4))
    if name == "resnet18_infer":
        return infer(resnet18(), torch.randn(16, 3, 32, 32))
    if name == "resnet18_train":
        m = WithLoss(resnet18(), F.cross_entropy)
        data = (torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,)))
        return train(m, data, sgd(m.parameters(), 0.1, 0.9))
    if name == "gpt_train":
        m = Gpt()
        data = (torch.randint(0, 1024, (8, 128)), torch.randint(0, 1024, (8, 128)))
        return train(m, data, torch.optim.AdamW(m.parameters(), 3e-4, weight_decay=0.01))
    if name == "lstm_train":
        m = Lstm()
        data = (torch.randn(64, 32, 128), torch.randint(0, 10, (32,)))
        return train(m, data, sgd(m.parameters(), 0.1))
    if name == "dcgan_step":
        return dcgan()
    if name == "deep_mlp_memory":
        m = WithLoss(mlp([256] * 17), F.mse_loss)
        m.net.append(nn.ReLU())  # every block is Linear + ReLU
        data = (torch.randn(4096, 256), torch.randn(4096, 256))
        return train(m, data, sgd(m.parameters(), 0.01))
    raise ValueError(f"unknown workload {name}")


def bench(name):
    t0 = time.perf_counter()
    step = make_step(name)
    r = common.time_step(step, ARGS.runs, ARGS.max_step_s)
    r["setup_s"] = time.perf_counter() - t0
    return r


if __name__ == "__main__":
    mode = "torch.compile" if COMPILE else "eager"
    common.run_all(f"torch {torch.__version__} {mode}", ARGS, bench)
