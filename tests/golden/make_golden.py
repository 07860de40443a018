#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Computes the golden results of one training step, independently of kiln.

For each tests/golden/data/<workload>.init (written by kiln_golden_export:
config, seeded inputs, initial parameters and batch-norm buffers, in the text
format of tests/golden/GoldenFormat.h), this script rebuilds the model in JAX
from ../shared/BENCHMARKS.md and the PyTorch semantics of docs/frontend.md,
runs ONE training step in float64 (JAX autodiff for the gradients, the
optimizer written out as torch.optim.SGD / AdamW compute it), and writes
tests/golden/data/<workload>.golden: the loss, then every updated parameter,
batch-norm running statistic and optimizer state buffer by kiln's name.

Nothing here is used by the build or the tests; run it by hand (with
`pip install jax jaxlib numpy`) only to regenerate the goldens:

    python3 tests/golden/make_golden.py tests/golden/data
"""

import argparse
import glob
import os
import sys

import numpy as np
import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402  (after enabling float64)
from jax import lax  # noqa: E402

# ----------------------------------------------------------------- file format


def read_init(path):
    """Returns (meta: key -> str, tensors: name -> np.ndarray) in file order.
    f32 values are rounded to float32 first (the exact values kiln starts
    from), then held as float64."""
    meta, tensors = {}, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                key, _, rest = line[1:].partition(" ")
                meta[key] = rest
                continue
            tok = line.split()
            name, dtype, rank = tok[0], tok[1], int(tok[2])
            shape = tuple(int(d) for d in tok[3:3 + rank])
            vals = tok[3 + rank:]
            if dtype == "i64":
                a = np.array([int(v) for v in vals], dtype=np.int64)
            else:
                a = np.array([float(v) for v in vals], dtype=np.float64)
                if dtype == "f32":
                    a = a.astype(np.float32).astype(np.float64)
            assert a.size == int(np.prod(shape)), name
            tensors[name] = a.reshape(shape)
    return meta, tensors


def write_golden(path, header, tensors):
    with open(path, "w") as f:
        for h in header:
            f.write("# " + h + "\n")
        for name, a in tensors.items():
            a = np.asarray(a, dtype=np.float64)
            dims = " ".join(str(d) for d in a.shape)
            vals = " ".join("%.17g" % v for v in a.reshape(-1))
            f.write(" ".join(s for s in (name, "f64", str(a.ndim), dims, vals)
                             if s) + "\n")


# ------------------------------------------------------------------- layers
# PyTorch's semantics, as docs/frontend.md states them for kiln.


def linear(x, w, b=None):
    """nn.Linear: x @ w^T + b, w [out, in]."""
    y = jnp.matmul(x, w.T)
    return y if b is None else y + b


def cross_entropy(logits, labels):
    """F.cross_entropy, mean over the batch."""
    lse = jax.scipy.special.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(lse - picked)


def conv2d(x, w, stride, pad):
    """F.conv2d, NCHW input, OIHW weight, no bias."""
    return lax.conv_general_dilated(
        x, w, (stride, stride), [(pad, pad), (pad, pad)],
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=lax.Precision.HIGHEST)


def batch_norm_train(x, w, b, rm, rv, momentum=0.1, eps=1e-5):
    """F.batch_norm(training=True): normalizes with the batch mean and the
    biased variance; the running variance takes the unbiased one."""
    axes = (0, 2, 3)
    n = x.size // x.shape[1]
    mean = jnp.mean(x, axis=axes)
    var = jnp.mean((x - mean[None, :, None, None]) ** 2, axis=axes)
    xhat = (x - mean[None, :, None, None]) / jnp.sqrt(
        var[None, :, None, None] + eps)
    y = xhat * w[None, :, None, None] + b[None, :, None, None]
    new_rm = (1 - momentum) * rm + momentum * lax.stop_gradient(mean)
    new_rv = (1 - momentum) * rv + momentum * lax.stop_gradient(var) * n / (
        n - 1)
    return y, new_rm, new_rv


def layer_norm(x, w, b, eps=1e-5):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * w + b


def gelu_tanh(x):
    """F.gelu(approximate="tanh")."""
    return 0.5 * x * (1 + jnp.tanh(
        np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def causal_self_attention(x, p, pre, heads):
    """Batch-first multi-head self-attention with four projections (kiln's
    q_proj, k_proj, v_proj, out_proj) and the causal mask of
    F.scaled_dot_product_attention(is_causal=True)."""
    B, T, E = x.shape
    dh = E // heads

    def proj(name, t):
        return linear(t, p[pre + name + ".weight"], p[pre + name + ".bias"])

    def split(t):
        return t.reshape(B, T, heads, dh).transpose(0, 2, 1, 3)

    q, k, v = (split(proj(n, x)) for n in ("q_proj", "k_proj", "v_proj"))
    s = jnp.matmul(q, k.transpose(0, 1, 3, 2)) / np.sqrt(dh)
    keep = np.tril(np.ones((T, T), dtype=bool))
    s = jnp.where(keep, s, -jnp.inf)
    a = jax.nn.softmax(s, axis=-1)
    o = jnp.matmul(a, v).transpose(0, 2, 1, 3).reshape(B, T, E)
    return proj("out_proj", o)


# ------------------------------------------------------------------- models
# Each forward(params, buffers, inputs, meta) -> (loss, new buffers).


def mlp_forward(p, bufs, inp, meta):
    h = jax.nn.relu(linear(inp["x"], p["fc1.weight"], p["fc1.bias"]))
    h = jax.nn.relu(linear(h, p["fc2.weight"], p["fc2.bias"]))
    logits = linear(h, p["fc3.weight"], p["fc3.bias"])
    return cross_entropy(logits, inp["labels"]), {}


def resnet_forward(p, bufs, inp, meta):
    new = {}

    def bn(x, pre):
        y, rm, rv = batch_norm_train(x, p[pre + ".weight"], p[pre + ".bias"],
                                     bufs[pre + ".running_mean"],
                                     bufs[pre + ".running_var"])
        new[pre + ".running_mean"], new[pre + ".running_var"] = rm, rv
        return y

    x = jax.nn.relu(bn(conv2d(inp["x"], p["conv1.weight"], 1, 1), "bn1"))
    for stage in range(1, 5):
        for blk in range(int(meta["blocks_per_stage"])):
            pre = "layer%d.%d." % (stage, blk)
            stride = 2 if stage > 1 and blk == 0 else 1
            y = jax.nn.relu(bn(conv2d(x, p[pre + "conv1.weight"], stride, 1),
                               pre + "bn1"))
            y = bn(conv2d(y, p[pre + "conv2.weight"], 1, 1), pre + "bn2")
            if pre + "downsample.0.weight" in p:
                x = bn(conv2d(x, p[pre + "downsample.0.weight"], stride, 0),
                       pre + "downsample.1")
            x = jax.nn.relu(y + x)
    logits = linear(jnp.mean(x, axis=(2, 3)), p["fc.weight"], p["fc.bias"])
    return cross_entropy(logits, inp["labels"]), new


def gpt_forward(p, bufs, inp, meta):
    tokens, targets = inp["tokens"], inp["targets"]
    B, T = tokens.shape
    heads = int(meta["heads"])
    x = p["tok_emb.weight"][tokens] + p["pos_emb.weight"][jnp.arange(T)]
    for i in range(int(meta["layers"])):
        pre = "blocks.%d." % i
        h = layer_norm(x, p[pre + "ln_1.weight"], p[pre + "ln_1.bias"])
        x = x + causal_self_attention(h, p, pre + "attn.", heads)
        h = layer_norm(x, p[pre + "ln_2.weight"], p[pre + "ln_2.bias"])
        h = gelu_tanh(linear(h, p[pre + "mlp.fc.weight"],
                             p[pre + "mlp.fc.bias"]))
        x = x + linear(h, p[pre + "mlp.proj.weight"], p[pre + "mlp.proj.bias"])
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    logits = linear(x, p["lm_head.weight"])
    V = logits.shape[-1]
    return cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T)), {}


# --------------------------------------------------------------- optimizers
# One step from zero state, written out as torch.optim computes it.


def sgd_step(p, g, lr, momentum, weight_decay):
    """torch.optim.SGD (no Nesterov): the first step's momentum buffer is the
    gradient itself."""
    new_p, state = {}, {}
    for name in p:
        d = g[name] + weight_decay * p[name]
        buf = d  # momentum * 0 + d on the first step
        state["optim.%s.momentum_buffer" % name] = buf
        new_p[name] = p[name] - lr * (buf if momentum != 0 else d)
    return new_p, state


def adamw_step(p, g, lr, weight_decay, beta1=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.AdamW at step 1: p *= 1 - lr*wd, then the Adam update."""
    t = 1
    new_p, state = {}, {"optim.step": np.float64(t)}
    for name in p:
        m = (1 - beta1) * g[name]
        v = (1 - beta2) * g[name] ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        q = p[name] * (1 - lr * weight_decay)
        new_p[name] = q - lr * m_hat / (jnp.sqrt(v_hat) + eps)
        state["optim.%s.exp_avg" % name] = m
        state["optim.%s.exp_avg_sq" % name] = v
    return new_p, state


# BENCHMARKS.md rows: forward, input names, optimizer and the optimizer line
# kiln_golden_export must have written for the same settings.
WORKLOADS = {
    "mlp_train": (mlp_forward, ("x", "labels"),
                  lambda p, g: sgd_step(p, g, 0.01, 0.9, 1e-4),
                  "sgd lr=0.01 momentum=0.9 weight_decay=0.0001"),
    "resnet18_train": (resnet_forward, ("x", "labels"),
                       lambda p, g: sgd_step(p, g, 0.1, 0.9, 0.0),
                       "sgd lr=0.1 momentum=0.9 weight_decay=0"),
    "gpt_train": (gpt_forward, ("tokens", "targets"),
                  lambda p, g: adamw_step(p, g, 3e-4, 0.01),
                  "adamw lr=0.0003 momentum=0 weight_decay=0.01 beta1=0.9 "
                  "beta2=0.999 eps=1e-08"),
}


def check_optimizer(path, written, expected):
    """Exits unless the exporter's optimizer line has BENCHMARKS.md's kind
    and every hyper-parameter listed in \p expected (compared as floats)."""
    def parse(line):
        kind, *kvs = line.split()
        return kind, {k: float(v) for k, v in (kv.split("=") for kv in kvs)}

    (wk, wv), (ek, ev) = parse(written), parse(expected)
    if wk != ek or any(wv.get(k) != v for k, v in ev.items()):
        sys.exit("%s: optimizer '%s' differs from BENCHMARKS.md's '%s'"
                 % (path, written, expected))


def golden_step(init_path, out_path):
    meta, t = read_init(init_path)
    workload = meta["workload"]
    forward, input_names, optimizer, opt_line = WORKLOADS[workload]
    check_optimizer(init_path, meta["optimizer"], opt_line)
    inputs = {n: jnp.asarray(t[n]) for n in input_names}
    bufs = {n: jnp.asarray(a) for n, a in t.items()
            if n.endswith((".running_mean", ".running_var"))}
    params = {n: jnp.asarray(a) for n, a in t.items()
              if n not in inputs and n not in bufs}

    def loss_fn(p):
        return forward(p, bufs, inputs, meta)

    (loss, new_bufs), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params)
    assert set(new_bufs) == set(bufs), "every BN buffer must be updated"
    new_params, state = optimizer(params, grads)
    out = {"loss": loss}
    out.update(new_params)
    out.update(new_bufs)
    out.update(state)
    header = [
        "One %s training step from %s, computed in float64 by" % (
            workload, os.path.basename(init_path)),
        "tests/golden/make_golden.py (JAX %s, NumPy %s): the loss, then"
        % (jax.__version__, np.__version__),
        "updated params, BN running statistics and optimizer state.",
    ]
    write_golden(out_path, header, out)
    print("wrote %s (loss %.10f)" % (out_path, float(loss)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", help="tests/golden/data")
    args = ap.parse_args()
    inits = sorted(glob.glob(os.path.join(args.data_dir, "*.init")))
    if not inits:
        sys.exit("no .init files in %s: run kiln_golden_export first"
                 % args.data_dir)
    for path in inits:
        golden_step(path, path[:-len(".init")] + ".golden")


if __name__ == "__main__":
    main()
