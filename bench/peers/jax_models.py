# SPDX-License-Identifier: Apache-2.0
"""The BENCHMARKS.md workloads in plain JAX (no flax/optax): parameters as
dicts, forward functions, and the optimizers of the rows (PyTorch's
semantics). Shapes match bench/models/ exactly; initial values are
Kaiming-uniform weights and zero biases (they change no work)."""
import jax
import jax.numpy as jnp
from jax import lax


def _uniform(key, shape, fan_in):
    bound = (6.0 / fan_in) ** 0.5 / 2 ** 0.5  # kaiming_uniform(a=sqrt(5))
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


class Init:
    def __init__(self, seed=0):
        self.key = jax.random.PRNGKey(seed)

    def next(self):
        self.key, k = jax.random.split(self.key)
        return k

    def linear(self, i, o, bias=True):
        p = {"w": _uniform(self.next(), (i, o), i)}
        if bias:
            p["b"] = jnp.zeros((o,), jnp.float32)
        return p

    def conv(self, i, o, k):
        return _uniform(self.next(), (o, i, k, k), i * k * k)

    def bn(self, c):
        return {"g": jnp.ones((c,)), "b": jnp.zeros((c,))}


def linear(p, x):
    y = x @ p["w"]
    return y + p["b"] if "b" in p else y


def conv(x, w, stride=1, pad=0):
    return lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad)] * 2,
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"))


def conv_t(x, w, stride, pad):
    """ConvTranspose2d as a dilated convolution (w: [out, in, k, k])."""
    k = w.shape[-1]
    q = k - 1 - pad
    return lax.conv_general_dilated(x, w, (1, 1), [(q, q)] * 2,
                                    lhs_dilation=(stride, stride),
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"))


def bn_train(p, x, eps=1e-5):
    m = x.mean((0, 2, 3), keepdims=True)
    v = x.var((0, 2, 3), keepdims=True)
    y = (x - m) / jnp.sqrt(v + eps)
    return y * p["g"][None, :, None, None] + p["b"][None, :, None, None]


def bn_infer(p, x, eps=1e-5):
    # running mean 0 and variance 1 (the initial running statistics)
    y = x / jnp.sqrt(1.0 + eps)
    return y * p["g"][None, :, None, None] + p["b"][None, :, None, None]


def cross_entropy(logits, labels):
    lse = jax.nn.logsumexp(logits, -1)
    picked = jnp.take_along_axis(logits, labels[:, None], -1)[:, 0]
    return (lse - picked).mean()


def bce_logits(x, target):
    return jnp.mean(jnp.maximum(x, 0) - x * target + jnp.log1p(jnp.exp(-jnp.abs(x))))


# --- MLP ------------------------------------------------------------------
def mlp_init(ini, sizes):
    return [ini.linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def mlp(ps, x):
    for p in ps[:-1]:
        x = jax.nn.relu(linear(p, x))
    return linear(ps[-1], x)


# --- ResNet-18 (CIFAR) ----------------------------------------------------
def resnet_init(ini, widths=(64, 128, 256, 512), classes=10):
    p = {"conv1": ini.conv(3, 64, 3), "bn1": ini.bn(64), "blocks": []}
    cin = 64
    for s, w in enumerate(widths):
        for b in range(2):
            stride = 2 if (s > 0 and b == 0) else 1
            blk = {"c1": ini.conv(cin, w, 3), "b1": ini.bn(w),
                   "c2": ini.conv(w, w, 3), "b2": ini.bn(w), "stride": stride}
            if stride != 1 or cin != w:
                blk["sc"] = ini.conv(cin, w, 1)
                blk["sb"] = ini.bn(w)
            p["blocks"].append(blk)
            cin = w
    p["fc"] = ini.linear(512, classes)
    return p


def split_static(p):
    """Strides are static: keep them out of the traced pytree."""
    strides = [b.pop("stride") for b in p["blocks"]]
    return p, strides


def resnet(p, strides, x, train):
    bn = bn_train if train else bn_infer
    x = jax.nn.relu(bn(p["bn1"], conv(x, p["conv1"], 1, 1)))
    for blk, s in zip(p["blocks"], strides):
        y = jax.nn.relu(bn(blk["b1"], conv(x, blk["c1"], s, 1)))
        y = bn(blk["b2"], conv(y, blk["c2"], 1, 1))
        sc = bn(blk["sb"], conv(x, blk["sc"], s, 0)) if "sc" in blk else x
        x = jax.nn.relu(y + sc)
    return linear(p["fc"], x.mean((2, 3)))


# --- GPT --------------------------------------------------------------------
def ln_init(d):
    return {"g": jnp.ones((d,)), "b": jnp.zeros((d,))}


def layer_norm(p, x, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = x.var(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + eps) * p["g"] + p["b"]


def gpt_init(ini, vocab=1024, d=256, layers=4, hidden=1024, seq=128):
    p = {"tok": jax.random.normal(ini.next(), (vocab, d)),
         "pos": jax.random.normal(ini.next(), (seq, d)), "blocks": []}
    for _ in range(layers):
        p["blocks"].append({
            "ln1": ln_init(d), "q": ini.linear(d, d), "k": ini.linear(d, d),
            "v": ini.linear(d, d), "o": ini.linear(d, d), "ln2": ln_init(d),
            "fc": ini.linear(d, hidden), "proj": ini.linear(hidden, d)})
    p["lnf"] = ln_init(d)
    p["head"] = ini.linear(d, vocab, bias=False)
    return p


def attention(blk, x, heads):
    b, t, d = x.shape
    hd = d // heads
    def split(y):
        return y.reshape(b, t, heads, hd).transpose(0, 2, 1, 3)
    q, k, v = (split(linear(blk[n], x)) for n in ("q", "k", "v"))
    s = q @ k.transpose(0, 1, 3, 2) / hd ** 0.5
    mask = jnp.tril(jnp.ones((t, t), bool))
    s = jnp.where(mask, s, -jnp.inf)
    y = jax.nn.softmax(s, -1) @ v
    return linear(blk["o"], y.transpose(0, 2, 1, 3).reshape(b, t, d))


def gpt_loss(p, tokens, targets, heads=4):
    x = p["tok"][tokens] + p["pos"][None, :tokens.shape[1]]
    for blk in p["blocks"]:
        x = x + attention(blk, layer_norm(blk["ln1"], x), heads)
        h = jax.nn.gelu(linear(blk["fc"], layer_norm(blk["ln2"], x)),
                        approximate=True)
        x = x + linear(blk["proj"], h)
    logits = linear(p["head"], layer_norm(p["lnf"], x))
    return cross_entropy(logits.reshape(-1, logits.shape[-1]),
                         targets.reshape(-1))


# --- LSTM -------------------------------------------------------------------
def lstm_init(ini, inp=128, hidden=256, layers=2, classes=10):
    ls = []
    for l in range(layers):
        i = inp if l == 0 else hidden
        ls.append({"ih": ini.linear(i, 4 * hidden), "hh": ini.linear(hidden, 4 * hidden)})
    return {"layers": ls, "head": ini.linear(hidden, classes)}


def lstm_loss(p, x, labels):
    seq, batch, _ = x.shape
    hs = [x[t] for t in range(seq)]  # unrolled, as the static graph
    for lp in p["layers"]:
        hid = lp["hh"]["w"].shape[0]
        h = jnp.zeros((batch, hid))
        c = jnp.zeros((batch, hid))
        out = []
        for xt in hs:
            g = linear(lp["ih"], xt) + linear(lp["hh"], h)
            i, f, gg, o = jnp.split(g, 4, -1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            out.append(h)
        hs = out
    return cross_entropy(linear(p["head"], hs[-1]), labels)


# --- DCGAN --------------------------------------------------------------------
def dcgan_init(ini, nz=100, ngf=64, ndf=64, ch=3):
    gen = {"w": [ini.conv(nz, ngf * 4, 4), ini.conv(ngf * 4, ngf * 2, 4),
                 ini.conv(ngf * 2, ngf, 4), ini.conv(ngf, ch, 4)],
           "bn": [ini.bn(ngf * 4), ini.bn(ngf * 2), ini.bn(ngf)]}
    disc = {"w": [ini.conv(ch, ndf, 4), ini.conv(ndf, ndf * 2, 4),
                  ini.conv(ndf * 2, ndf * 4, 4), ini.conv(ndf * 4, 1, 4)],
            "bn": [ini.bn(ndf * 2), ini.bn(ndf * 4)]}
    return gen, disc


def generator(p, z):
    x = jax.nn.relu(bn_train(p["bn"][0], conv_t(z, p["w"][0], 1, 0)))
    x = jax.nn.relu(bn_train(p["bn"][1], conv_t(x, p["w"][1], 2, 1)))
    x = jax.nn.relu(bn_train(p["bn"][2], conv_t(x, p["w"][2], 2, 1)))
    return jnp.tanh(conv_t(x, p["w"][3], 2, 1))


def discriminator(p, x):
    x = jax.nn.leaky_relu(conv(x, p["w"][0], 2, 1), 0.2)
    x = jax.nn.leaky_relu(bn_train(p["bn"][0], conv(x, p["w"][1], 2, 1)), 0.2)
    x = jax.nn.leaky_relu(bn_train(p["bn"][1], conv(x, p["w"][2], 2, 1)), 0.2)
    return conv(x, p["w"][3], 1, 0).reshape(-1)


# --- optimizers (PyTorch semantics) -----------------------------------------
def sgd(lr, momentum=0.0, wd=0.0):
    def init(p):
        return jax.tree_util.tree_map(jnp.zeros_like, p)
    def update(p, g, buf, step):
        g = jax.tree_util.tree_map(lambda g, p: g + wd * p, g, p)
        if momentum:
            buf = jax.tree_util.tree_map(lambda b, g: momentum * b + g, buf, g)
            g = buf
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, p, g), buf
    return init, update


def adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    def init(p):
        z = jax.tree_util.tree_map(jnp.zeros_like, p)
        return (z, z)
    def update(p, g, state, step):
        m, v = state
        if decoupled:
            p = jax.tree_util.tree_map(lambda p: p * (1 - lr * wd), p)
        elif wd:
            g = jax.tree_util.tree_map(lambda g, p: g + wd * p, g, p)
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1 ** step, 1 - b2 ** step
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), p, m, v)
        return p, (m, v)
    return init, update
