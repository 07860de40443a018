/// \file
/// The CUDA contraction template and its matmul and convolution instances
/// (CudaGemm.h).
///
/// Each block computes a bm x bn tile of C for one z. Per step of bk along
/// K, the threads stage A's bm x bk and B's bk x bn tiles in shared memory
/// (A transposed, so both are read along rows), then each thread
/// accumulates its tm x tn register tile from tm + tn shared loads per k:
/// thread (tr, tc) owns rows tr + r*(bm/tm) and columns tc + c*(bn/tn), so
/// a warp reads consecutive shared words (no bank conflicts) and stores
/// consecutive columns of C (coalesced).
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CudaGemm.h"

#include "codegen/Gemm.h"
#include "ir/Error.h"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <vector>

namespace kiln::codegen {

CudaTile choose_cuda_tile(int64_t m, int64_t n, int64_t batch) {
  if (const char *env = std::getenv("KILN_CUDA_TILE")) {
    std::string v = env;
    for (CudaTile t : {CudaTile{128, 128, 8, 8, 8}, CudaTile{128, 64, 16, 8, 4},
                       CudaTile{64, 128, 16, 4, 8}, CudaTile{64, 64, 16, 4, 4}})
      if (v == std::to_string(t.bm) + "x" + std::to_string(t.bn))
        return t;
    if (!v.empty())
      throw Error("KILN_CUDA_TILE=" + v +
                  ": expected 128x128, 128x64, 64x128 or 64x64");
  }
  // The largest tile (most reuse per shared load) whose grid still gives
  // every SM of a large GPU (132 on an H100) a block and whose padding
  // (rows or columns past m or n) is at most 1/8 more than 64's; split-K
  // then adds blocks along K where the grid is still small
  // (choose_cuda_split).
  constexpr int64_t kFill = 132;
  auto pad_ok = [](int64_t x, int b) {
    return (x + b - 1) / b * b * 8 <= (x + 63) / 64 * 64 * 9;
  };
  const CudaTile tiles[] = {{128, 128, 8, 8, 8},
                            m >= n ? CudaTile{128, 64, 16, 8, 4}
                                   : CudaTile{64, 128, 16, 4, 8}};
  for (const CudaTile &t : tiles)
    if ((m + t.bm - 1) / t.bm * ((n + t.bn - 1) / t.bn) * batch >= kFill &&
        pad_ok(m, t.bm) && pad_ok(n, t.bn))
      return t;
  return {64, 64, 16, 4, 4};
}

namespace {

std::string s(int64_t v) { return std::to_string(v); }

/// Padding of each shared row (floats): the transposed stores of a tile
/// loaded along K hit distinct banks, and rows stay 16-byte aligned.
constexpr int kPad = 4;

/// One operand of the template: how its tile goes from global memory to
/// registers (`reg`, the next tile, loaded while the current one is
/// multiplied) and from there to its shared array `smem[2][bk][bx + kPad]`.
struct Operand {
  const char *smem, *reg, *x, *base; ///< "As", "ra", "i", "i0"
  int64_t extent;                    ///< m (n)
  int bx;                            ///< bm (bn)
  bool fast_k;
  const std::string &load, &vec;
  int width() const { return vec.empty() ? 1 : 4; }
  /// Elements per thread.
  int per(const CudaTile &t) const { return bx * t.bk / t.threads(); }
};

/// `const int g = ..., f = ..., w = ...;` — the fast and slow tile indices
/// of the thread's group s.
std::string group(const Operand &o, const CudaTile &t) {
  int fw = (o.fast_k ? t.bk : o.bx) / o.width();
  return "const int g = tid + s * " + s(t.threads()) + ", f = g % " + s(fw) +
         " * " + s(o.width()) + ", w = g / " + s(fw) + ";";
}

/// Loads the tile of \p o at k0 into its registers (zero outside).
void load_tile(std::ostream &os, const Operand &o, const CudaContraction &c,
               const CudaTile &t, const std::string &T) {
  int w = o.width();
  os << "#pragma unroll\n      for (int s = 0; s < " << o.per(t) / w
     << "; ++s) {\n        " << group(o, t) << "\n        const kiln_ix " << o.x
     << " = " << o.base << " + " << (o.fast_k ? "w" : "f") << ", k = k0 + "
     << (o.fast_k ? "f" : "w") << ";\n";
  std::string in = std::string("if (") + o.x + " < " + s(o.extent) +
                   " && k < " + s(c.k) + ") { ";
  if (w == 1) {
    os << "        " << T << " v = 0;\n        " << in << o.load
       << " }\n        " << o.reg << "[s] = v;\n      }\n";
    return;
  }
  os << "        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);\n        " << in
     << o.vec << " v = KILN_LD4(vp); }\n        " << o.reg << "[s * 4] = v.x; "
     << o.reg << "[s * 4 + 1] = v.y; " << o.reg << "[s * 4 + 2] = v.z; "
     << o.reg << "[s * 4 + 3] = v.w;\n      }\n";
}

/// Stores \p o's registers into shared buffer \p buf.
void store_tile(std::ostream &os, const Operand &o, const CudaTile &t,
                const std::string &buf) {
  int w = o.width();
  std::string at = std::string(o.smem) + "[" + buf + "]";
  os << "#pragma unroll\n      for (int s = 0; s < " << o.per(t) / w
     << "; ++s) {\n        " << group(o, t) << "\n        ";
  if (w == 1)
    os << at << (o.fast_k ? "[f][w]" : "[w][f]") << " = " << o.reg << "[s];";
  else if (o.fast_k)
    for (int e = 0; e < 4; ++e)
      os << (e ? " " : "") << at << "[f + " << e << "][w] = " << o.reg
         << "[s * 4 + " << e << "];";
  else
    os << "KILN_ST4(&" << at << "[w][f], make_float4(" << o.reg << "[s * 4], "
       << o.reg << "[s * 4 + 1], " << o.reg << "[s * 4 + 2], " << o.reg
       << "[s * 4 + 3]));";
  os << "\n      }\n";
}

/// `dst[0..3] = src[0..3];` from shared memory: one 16-byte load for f32.
std::string read4(const std::string &T, const std::string &dst,
                  const std::string &src) {
  if (T == "float")
    return "{ const float4 t4 = KILN_LD4(&" + src + "); " + dst +
           "[0] = t4.x; " + dst + "[1] = t4.y; " + dst + "[2] = t4.z; " + dst +
           "[3] = t4.w; }";
  std::string r = "{ const " + T + " *t4 = &" + src + ";";
  for (int e = 0; e < 4; ++e)
    r += " " + dst + "[" + s(e) + "] = t4[" + s(e) + "];";
  return r + " }";
}

} // namespace

bool contraction_uses_z(const CudaContraction &c) {
  static const std::regex z("\\bz\\b");
  for (const std::string *t : {&c.load_a, &c.load_b, &c.vec_a, &c.vec_b})
    if (std::regex_search(*t, z))
      return true;
  return false;
}

std::string emit_cuda_contraction(const CudaContraction &c, const CudaTile &t,
                                  int split) {
  KILN_CHECK(c.m > 0 && c.n > 0 && c.k > 0 && c.batch > 0)
      << "contraction " << c.name << " has an empty size";
  const std::string &T = c.type;
  Operand a{"As", "ra", "i", "i0", c.m, t.bm, c.a_fast_k, c.load_a, c.vec_a};
  Operand b{"Bs", "rb", "j", "j0", c.n, t.bn, c.b_fast_k, c.load_b, c.vec_b};
  int nt = t.threads(), cols = t.bn / t.tn;
  for (const Operand *o : {&a, &b})
    KILN_CHECK(t.tm % 4 == 0 && t.tn % 4 == 0 && t.bm % t.tm == 0 &&
               t.bn % t.tn == 0 && nt <= 1024 && split >= 1 &&
               o->per(t) * nt == o->bx * t.bk && o->per(t) % o->width() == 0 &&
               (o->width() == 1 || T == "float"))
        << "bad CUDA tile " << t.bm << "x" << t.bn << "x" << t.bk;
  int64_t tiles = (c.k + t.bk - 1) / t.bk;
  // Thread (tr, tc) owns rows g*(bm/(tm/4)) + tr*4 + 0..3 for g < tm/4, and
  // columns likewise: each group of 4 is one 16-byte shared load.
  int rstep = t.bm * 4 / t.tm, cstep = t.bn * 4 / t.tn;
  std::ostringstream os;
  os << "extern \"C\" __global__ void __launch_bounds__(" << nt << ") "
     << c.name << "(" << c.params;
  if (split > 1)
    os << ", " << T << " *__restrict__ kiln_part";
  os << ") {\n"
     << "  __shared__ __align__(16) " << T << " As[2][" << t.bk << "]["
     << t.bm + kPad << "];\n"
     << "  __shared__ __align__(16) " << T << " Bs[2][" << t.bk << "]["
     << t.bn + kPad << "];\n";
  if (split > 1)
    os << (contraction_uses_z(c)
               ? "  const kiln_ix z = blockIdx.z / " + s(split) + ";\n"
               : "")
       << "  const int slice = blockIdx.z % " << split
       << ", kt0 = (int)((long long)slice * " << tiles << " / " << split
       << "), kt1 = (int)((long long)(slice + 1) * " << tiles << " / " << split
       << ");\n";
  else
    os << "  const kiln_ix z = blockIdx.z;\n"
       << "  const int kt0 = 0, kt1 = " << tiles << ";\n";
  os << "  const int tid = threadIdx.x, tr = tid / " << cols << ", tc = tid % "
     << cols << ";\n"
     << "  const kiln_ix i0 = (kiln_ix)blockIdx.y * " << t.bm
     << ", j0 = (kiln_ix)blockIdx.x * " << t.bn << ";\n"
     << "  " << T << " accs[" << t.tm << "][" << t.tn << "];\n"
     << "#pragma unroll\n  for (int r = 0; r < " << t.tm << "; ++r)\n"
     << "#pragma unroll\n    for (int q = 0; q < " << t.tn
     << "; ++q) accs[r][q] = 0;\n"
     << "  " << T << " ra[" << a.per(t) << "], rb[" << b.per(t)
     << "];\n"
     // Per step: the tile loaded into registers goes to shared buffer cur,
     // one barrier, the next tile's global loads are issued, and the
     // current tile is multiplied while they are in flight. Buffer cur was
     // last read two steps ago, before the previous step's barrier. Step
     // kt0 - 1 only loads the first tile (one copy of each piece of code).
     << "  for (int kt = kt0 - 1; kt < kt1; ++kt) {\n"
     << "    const int cur = (kt - kt0) & 1;\n"
     << "    if (kt >= kt0) {\n";
  store_tile(os, a, t, "cur");
  store_tile(os, b, t, "cur");
  os << "      __syncthreads();\n    }\n"
     << "    if (kt + 1 < kt1) {\n"
     << "      const kiln_ix k0 = (kiln_ix)(kt + 1) * " << t.bk << ";\n";
  load_tile(os, a, c, t, T);
  load_tile(os, b, c, t, T);
  os << "    }\n"
     << "    if (kt < kt0)\n      continue;\n"
     << "#pragma unroll\n    for (int kk = 0; kk < " << t.bk << "; ++kk) {\n"
     << "      " << T << " a[" << t.tm << "], b[" << t.tn << "];\n"
     << "#pragma unroll\n      for (int g = 0; g < " << t.tm / 4 << "; ++g) "
     << read4(T, "(a + g * 4)", "As[cur][kk][g * " + s(rstep) + " + tr * 4]")
     << "\n#pragma unroll\n      for (int g = 0; g < " << t.tn / 4 << "; ++g) "
     << read4(T, "(b + g * 4)", "Bs[cur][kk][g * " + s(cstep) + " + tc * 4]")
     << "\n#pragma unroll\n      for (int r = 0; r < " << t.tm << "; ++r)\n"
     << "#pragma unroll\n        for (int q = 0; q < " << t.tn
     << "; ++q) accs[r][q] += a[r] * b[q];\n"
     << "    }\n  }\n"
     << "#pragma unroll\n  for (int r = 0; r < " << t.tm << "; ++r)\n"
     << "#pragma unroll\n    for (int q = 0; q < " << t.tn << "; ++q) {\n"
     << "      const kiln_ix i = i0 + r / 4 * " << rstep
     << " + tr * 4 + r % 4, j = j0 + q / 4 * " << cstep
     << " + tc * 4 + q % 4;\n"
     << "      if (i < " << c.m << " && j < " << c.n << ") {\n";
  if (split > 1)
    os << "        kiln_part[((kiln_ix)blockIdx.z * " << c.m << " + i) * "
       << c.n << " + j] = accs[r][q];\n";
  else
    os << "        const " << T << " acc = accs[r][q];\n        " << c.store
       << "\n";
  os << "      }\n    }\n}\n\n";
  return os.str();
}

int choose_cuda_split(const CudaContraction &c, const CudaTile &t) {
  // Two blocks of 256 threads fit an SM (registers), so 2 * 132 blocks
  // fill an H100 once; aim for two such waves.
  constexpr int64_t kTargetBlocks = 4 * 132, kMaxSplit = 32, kMinSliceK = 512,
                    kMaxScratch = int64_t(1) << 26;
  if (c.type != "float")
    return 1;
  int64_t blocks =
      (c.m + t.bm - 1) / t.bm * ((c.n + t.bn - 1) / t.bn) * c.batch;
  int64_t tiles = (c.k + t.bk - 1) / t.bk;
  int64_t split = std::min({(kTargetBlocks + blocks - 1) / blocks, kMaxSplit,
                            tiles * t.bk / kMinSliceK});
  if (const char *env = std::getenv("KILN_CUDA_SPLIT_K"); env && *env) {
    char *end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (*end || v < 1 || v > 64)
      throw Error(std::string("KILN_CUDA_SPLIT_K=") + env +
                  ": expected a slice count from 1 to 64");
    split = std::min<int64_t>(v, tiles); // every slice at least one tile
  }
  // Grid z's limit, and the scratch's (which keeps its indices in 32 bits).
  split = std::min<int64_t>(split, 65535 / c.batch);
  while (split > 1 && split * c.batch * c.m * c.n > kMaxScratch)
    --split;
  return int(std::max<int64_t>(split, 1));
}

std::string emit_cuda_split_sum(const CudaContraction &c, int split) {
  const std::string &T = c.type;
  int64_t mn = c.m * c.n;
  std::ostringstream os;
  os << "extern \"C\" __global__ void __launch_bounds__(256) " << c.name << "("
     << c.params << ", const " << T << " *__restrict__ kiln_part) {\n"
     << "  for (kiln_ix e = (kiln_ix)blockIdx.x * blockDim.x + threadIdx.x; "
        "e < "
     << c.batch * mn << "; e += (kiln_ix)gridDim.x * blockDim.x) {\n"
     << "    const kiln_ix z = e / " << mn << ", i = e / " << c.n << " % "
     << c.m << ", j = e % " << c.n << ";\n"
     << "    const " << T << " *part = kiln_part + z * " << split * mn
     << " + e % " << mn << ";\n"
     << "    " << T << " sum = 0;\n"
     << "    for (int s = 0; s < " << split << "; ++s) sum += part[s * " << mn
     << "];\n"
     << "    const " << T << " acc = sum;\n    " << c.store << "\n  }\n}\n\n";
  return os.str();
}

namespace {

/// buf[off + (batch offset of z) + i * is + k * ks], the batch offset
/// summed over \p g's levels with the strides \p stride_of picks.
template <typename Stride>
std::string strided(const loop::GemmDesc &g, const std::string &buf,
                    int64_t off, Stride stride_of, const char *i, int64_t is,
                    const char *k, int64_t ks) {
  std::string r = buf + "[" + std::to_string(off);
  for (size_t d = 0; d < g.batch.size(); ++d)
    if (int64_t st = stride_of(g.batch[d]))
      r += " + " + batch_level_index("z", g.batch_extents(), d) + " * " +
           std::to_string(st);
  return r + " + " + i + " * " + std::to_string(is) + " + " + k + " * " +
         std::to_string(ks) + "]";
}

} // namespace

CudaContraction cuda_gemm(const loop::Program &p, const loop::GemmDesc &g,
                          ExprPrinter &ep) {
  DType t = p.buffers[size_t(g.c)].dtype;
  CudaContraction c;
  c.type = compute_type(t);
  c.batch = g.batch_count();
  c.m = g.m;
  c.n = g.n;
  c.k = g.k;
  std::string a = strided(
      g, ep.buf(g.a), g.a_offset, [](auto &d) { return d.a_stride; }, "i",
      g.a_row_stride, "k", g.a_col_stride);
  std::string b = strided(
      g, ep.buf(g.b), g.b_offset, [](auto &d) { return d.b_stride; }, "k",
      g.b_row_stride, "j", g.b_col_stride);
  c.load_a = "v = " + a + ";";
  c.load_b = "v = " + b + ";";
  // Consecutive threads walk the operand's unit-stride dimension.
  c.a_fast_k = g.a_col_stride == 1 || g.a_row_stride != 1;
  c.b_fast_k = g.b_row_stride == 1 && g.b_col_stride != 1;
  // 16-byte loads (4 f32 or 8 f16/bf16) when every index of a group of w
  // along that dimension is a multiple of w (buffers are 16-byte aligned:
  // arena offsets are multiples of 64, device allocations of 256).
  DType ot = p.buffers[size_t(g.a)].dtype; // f16/bf16 with an f32 C too
  int64_t w = ot == DType::F32 && t == DType::F32     ? 4
              : ot == DType::F16 || ot == DType::BF16 ? 8
                                                      : 0;
  auto aligned = [&](int buf, int64_t off, int64_t slow, int64_t extent,
                     auto stride_of) {
    bool ok = w > 0 && p.buffers[size_t(buf)].dtype == ot && off % w == 0 &&
              slow % w == 0 && extent % w == 0;
    for (const auto &d : g.batch)
      ok = ok && stride_of(d) % w == 0;
    return ok;
  };
  std::string vp = std::string("const ") + storage_type(ot) + " *vp = &";
  if (aligned(g.a, g.a_offset, c.a_fast_k ? g.a_row_stride : g.a_col_stride,
              c.a_fast_k ? g.k : g.m, [](auto &d) { return d.a_stride; }) &&
      (c.a_fast_k ? g.a_col_stride : g.a_row_stride) == 1)
    c.vec_a = vp + a + ";";
  if (aligned(g.b, g.b_offset, c.b_fast_k ? g.b_col_stride : g.b_row_stride,
              c.b_fast_k ? g.k : g.n, [](auto &d) { return d.b_stride; }) &&
      (c.b_fast_k ? g.b_row_stride : g.b_col_stride) == 1)
    c.vec_b = vp + b + ";";
  for (size_t d = 0; d < g.batch.size(); ++d)
    if (g.batch[d].var >= 0)
      ep.subst[g.batch[d].var] = batch_level_index("z", g.batch_extents(), d);
  ep.subst[g.i_var] = "i";
  ep.subst[g.j_var] = "j";
  ep.subst[g.acc_var] = "acc";
  c.store = ep.buf(g.c) + "[z * " + std::to_string(g.m * g.n) + " + i * " +
            std::to_string(g.n) +
            " + j] = " + ExprPrinter::store_value(ep(g.epilogue), t) + ";";
  return c;
}

namespace {

/// `const kiln_ix a = IDX / (e1*e2...) % e0, ...;` for the row-major
/// decomposition of \p idx over \p names with extents \p ext.
std::string split(const std::string &idx, std::vector<const char *> names,
                  std::vector<int64_t> ext) {
  std::string r = "const kiln_ix ";
  int64_t stride = 1;
  std::vector<std::string> parts(names.size());
  for (size_t d = names.size(); d-- > 0;) {
    std::string v = idx;
    if (stride > 1)
      v = "(" + v + " / " + s(stride) + ")";
    if (d > 0)
      v += " % " + s(ext[d]);
    parts[d] = std::string(names[d]) + " = " + v;
    stride *= ext[d];
  }
  for (size_t d = 0; d < parts.size(); ++d)
    r += (d ? ", " : "") + parts[d];
  return r + ";";
}

/// The x element of the forward convolution at image n, channel ch of group
/// z, output position (oh, ow) and tap (kh, kw), zero outside the image.
std::string image_load(const loop::Conv2dDesc &d, const std::string &x,
                       int64_t cg) {
  return "const kiln_ix ih = oh * " + s(d.stride_h) + " - " + s(d.pad_h) +
         " + kh * " + s(d.dil_h) + ", iw = ow * " + s(d.stride_w) + " - " +
         s(d.pad_w) + " + kw * " + s(d.dil_w) + "; if (ih >= 0 && ih < " +
         s(d.H) + " && iw >= 0 && iw < " + s(d.W) + ") v = " + x + "[" +
         s(d.x_offset) + " + ((n * " + s(d.C) + " + z * " + s(cg) +
         " + ch) * " + s(d.H) + " + ih) * " + s(d.W) + " + iw];";
}

} // namespace

CudaContraction cuda_conv2d(const loop::Program &p, const loop::Conv2dDesc &d,
                            ExprPrinter &ep) {
  int64_t oh = (d.H + 2 * d.pad_h - d.dil_h * (d.KH - 1) - 1) / d.stride_h + 1;
  int64_t ow = (d.W + 2 * d.pad_w - d.dil_w * (d.KW - 1) - 1) / d.stride_w + 1;
  KILN_CHECK(oh > 0 && ow > 0) << "conv2d with an empty output";
  int64_t og = d.O / d.groups, cg = d.C / d.groups, kk = d.KH * d.KW;
  std::string x = ep.buf(d.x), w = ep.buf(d.w), out = ep.buf(d.out);
  CudaContraction c;
  c.type = "float";
  c.batch = d.groups;
  DType t = p.buffers[size_t(d.out)].dtype;
  bool f32 = p.buffers[size_t(d.w)].dtype == DType::F32;
  KILN_CHECK(d.kind == loop::ConvKind::Forward ||
             (d.epilogue->op == loop::Op::Var && d.epilogue->var == d.acc_var))
      << "a gradient Conv2d node with an epilogue";
  if (d.kind == loop::ConvKind::InputGrad) {
    // out[n][z*cg + i][h][w] = sum over k = (o, kh, kw) of
    // w[z*og + o][i][kh][kw] * gy[n][z*og + o][oh][ow] at the output
    // position that reads (h, w) through tap (kh, kw). x holds gy.
    c.m = cg;
    c.n = d.N * d.H * d.W;
    c.k = og * kk;
    c.load_a = split("k", {"o", "kh", "kw"}, {og, d.KH, d.KW}) + " v = " + w +
               "[" + s(d.w_offset) + " + ((z * " + s(og) + " + o) * " + s(cg) +
               " + i) * " + s(kk) + " + kh * " + s(d.KW) + " + kw];";
    c.load_b = split("k", {"o", "kh", "kw"}, {og, d.KH, d.KW}) + " " +
               split("j", {"n", "h", "w"}, {d.N, d.H, d.W}) +
               " const kiln_ix th = h + " + s(d.pad_h) + " - kh * " +
               s(d.dil_h) + ", tw = w + " + s(d.pad_w) + " - kw * " +
               s(d.dil_w) + "; if (th >= 0 && tw >= 0 && th % " +
               s(d.stride_h) + " == 0 && tw % " + s(d.stride_w) +
               " == 0 && th / " + s(d.stride_h) + " < " + s(oh) + " && tw / " +
               s(d.stride_w) + " < " + s(ow) + ") v = " + x + "[" +
               s(d.x_offset) + " + ((n * " + s(d.O) + " + z * " + s(og) +
               " + o) * " + s(oh) + " + th / " + s(d.stride_h) + ") * " +
               s(ow) + " + tw / " + s(d.stride_w) + "];";
    c.store = split("j", {"n", "h", "w"}, {d.N, d.H, d.W}) + " " + out +
              "[((n * " + s(d.C) + " + z * " + s(cg) + " + i) * " + s(d.H) +
              " + h) * " + s(d.W) +
              " + w] = " + ExprPrinter::store_value("acc", t) + ";";
    return c;
  }
  if (d.kind == loop::ConvKind::WeightGrad) {
    // out[z*og + i][j = (ch, kh, kw)] = sum over k = (n, oh, ow) of
    // gy[n][z*og + i][oh][ow] * x[n][z*cg + ch][ih][iw]. w holds gy.
    c.m = og;
    c.n = cg * kk;
    c.k = d.N * oh * ow;
    c.load_a = split("k", {"n", "oh", "ow"}, {d.N, oh, ow}) + " v = " + w +
               "[" + s(d.w_offset) + " + ((n * " + s(d.O) + " + z * " + s(og) +
               " + i) * " + s(oh) + " + oh) * " + s(ow) + " + ow];";
    c.load_b = split("k", {"n", "oh", "ow"}, {d.N, oh, ow}) + " " +
               split("j", {"ch", "kh", "kw"}, {cg, d.KH, d.KW}) + " " +
               image_load(d, x, cg);
    c.store = out + "[(z * " + s(og) + " + i) * " + s(cg * kk) +
              " + j] = " + ExprPrinter::store_value("acc", t) + ";";
    // Both operands are contiguous along (oh, ow): threads walk K, and the
    // output gradient takes float4 loads when OH*OW is a multiple of 4.
    c.b_fast_k = true;
    if (f32 && (oh * ow) % 4 == 0 && d.w_offset % 4 == 0)
      c.vec_a = "const kiln_ix n = k / " + s(oh * ow) +
                "; const float *vp = " + w + " + " + s(d.w_offset) +
                " + (n * " + s(d.O) + " + z * " + s(og) + " + i) * " +
                s(oh * ow) + " + k % " + s(oh * ow) + ";";
    return c;
  }
  c.m = og;
  c.n = d.N * oh * ow;
  c.k = cg * kk;
  c.load_a = "v = " + w + "[" + s(d.w_offset) + " + (z * " + s(og) +
             " + i) * " + s(cg * kk) + " + k];";
  if (f32 && (cg * kk) % 4 == 0 && d.w_offset % 4 == 0)
    c.vec_a = "const float *vp = &" + c.load_a.substr(4);
  // The im2col element (k, j) of group z, zero outside the image.
  std::string pos = split("j", {"n", "oh", "ow"}, {d.N, oh, ow});
  c.load_b = pos + " " + split("k", {"ch", "kh", "kw"}, {cg, d.KH, d.KW}) +
             " " + image_load(d, x, cg);
  ep.subst[d.n_var] = "n";
  ep.subst[d.o_var] = "o";
  ep.subst[d.oh_var] = "oh";
  ep.subst[d.ow_var] = "ow";
  ep.subst[d.acc_var] = "acc";
  c.store = pos + " const kiln_ix o = z * " + s(og) + " + i; " + out +
            "[((n * " + s(d.O) + " + o) * " + s(oh) + " + oh) * " + s(ow) +
            " + ow] = " + ExprPrinter::store_value(ep(d.epilogue), t) + ";";
  return c;
}

} // namespace kiln::codegen
