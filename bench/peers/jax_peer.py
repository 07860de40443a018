#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The BENCHMARKS.md workloads in JAX (jax.jit on the CPU), timed by the
same rules as kiln_bench; writes bench/results/jax.json.
  usage: jax_peer.py [--workloads a,b] [--runs N] [--threads T] [--json F]

--threads sets XLA's intra-op thread count before JAX starts (0: all)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ARGS = common.parse_args("bench/results/jax.json")
if ARGS.threads:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen=true"
                               f" intra_op_parallelism_threads={ARGS.threads}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax_models as M  # noqa: E402


def inputs(seed, *specs):
    """specs: (shape, None) for N(0,1) floats, (shape, bound) for ints."""
    key = jax.random.PRNGKey(seed)
    out = []
    for shape, bound in specs:
        key, k = jax.random.split(key)
        out.append(jax.random.normal(k, shape) if bound is None
                   else jax.random.randint(k, shape, 0, bound))
    return out


def train(loss_fn, params, data, opt):
    """A jitted step (value_and_grad + update), params and state donated."""
    init, update = opt
    state = [params, init(params), 1]

    @jax.jit
    def step(p, s, n, *d):
        loss, g = jax.value_and_grad(loss_fn)(p, *d)
        p, s = update(p, g, s, n)
        return loss, p, s

    def run():
        loss, state[0], state[1] = step(state[0], state[1], state[2], *data)
        state[2] += 1
        loss.block_until_ready()
    return run


def infer(fn, data):
    f = jax.jit(fn)
    return lambda: f(*data).block_until_ready()


def mlp_rows(name):
    ini = M.Init(0)
    ps = M.mlp_init(ini, [784, 1024, 1024, 10])
    if name == "mlp_train":
        x, y = inputs(1, ((256, 784), None), ((256,), 10))
        return train(lambda p, x, y: M.cross_entropy(M.mlp(p, x), y), ps,
                     (x, y), M.sgd(0.01, 0.9, 1e-4))
    (x,) = inputs(1, ((1 if name == "mlp_infer_b1" else 256, 784), None))
    return infer(lambda x: M.mlp(ps, x), (x,))


def resnet_rows(name):
    p, strides = M.split_static(M.resnet_init(M.Init(0)))
    x, y = inputs(1, ((16, 3, 32, 32), None), ((16,), 10))
    if name == "resnet18_infer":
        return infer(lambda x: M.resnet(p, strides, x, False), (x,))
    return train(lambda p, x, y: M.cross_entropy(M.resnet(p, strides, x, True), y),
                 p, (x, y), M.sgd(0.1, 0.9))


def dcgan_row():
    gen, disc = M.dcgan_init(M.Init(0))
    z, real = inputs(1, ((64, 100, 1, 1), None), ((64, 3, 32, 32), None))
    ginit, gupd = M.adam(2e-4, 0.5)
    state = [gen, disc, ginit(gen), ginit(disc), 1]

    def d_loss(dp, gp, z, real):
        fake = jax.lax.stop_gradient(M.generator(gp, z))
        return (M.bce_logits(M.discriminator(dp, real), 1.0) +
                M.bce_logits(M.discriminator(dp, fake), 0.0))

    def g_loss(gp, dp, z):
        return M.bce_logits(M.discriminator(dp, M.generator(gp, z)), 1.0)

    @jax.jit
    def step(gp, dp, gs, ds, n, z, real):
        # PyTorch's DCGAN example: D step, then G step through the new D.
        ld, g = jax.value_and_grad(d_loss)(dp, gp, z, real)
        dp, ds = gupd(dp, g, ds, n)
        lg, g = jax.value_and_grad(g_loss)(gp, dp, z)
        gp, gs = gupd(gp, g, gs, n)
        return ld + lg, gp, dp, gs, ds

    def run():
        loss, *state[:4] = step(*state, z, real)
        state[4] += 1
        loss.block_until_ready()
    return run


def make_step(name):
    if name.startswith("mlp"):
        return mlp_rows(name)
    if name.startswith("resnet18"):
        return resnet_rows(name)
    if name == "gpt_train":
        p = M.gpt_init(M.Init(0))
        tok, tgt = inputs(1, ((8, 128), 1024), ((8, 128), 1024))
        return train(M.gpt_loss, p, (tok, tgt), M.adam(3e-4, wd=0.01, decoupled=True))
    if name == "lstm_train":
        p = M.lstm_init(M.Init(0))
        x, y = inputs(1, ((64, 32, 128), None), ((32,), 10))
        return train(M.lstm_loss, p, (x, y), M.sgd(0.1))
    if name == "dcgan_step":
        return dcgan_row()
    if name == "deep_mlp_memory":
        ps = M.mlp_init(M.Init(0), [256] * 17)
        x, t = inputs(1, ((4096, 256), None), ((4096, 256), None))
        def loss(ps, x, t):
            for p in ps:
                x = jax.nn.relu(M.linear(p, x))
            return jnp.mean((x - t) ** 2)
        return train(loss, ps, (x, t), M.sgd(0.01))
    raise ValueError(f"unknown workload {name}")


def bench(name):
    t0 = time.perf_counter()
    step = make_step(name)
    r = common.time_step(step, ARGS.runs, ARGS.max_step_s)
    r["setup_s"] = time.perf_counter() - t0
    return r


if __name__ == "__main__":
    common.run_all(f"jax {jax.__version__} jit", ARGS, bench)
