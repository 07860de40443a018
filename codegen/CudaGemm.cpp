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

#include <sstream>
#include <vector>

namespace kiln::codegen {

CudaTile choose_cuda_tile(int64_t m, int64_t n) {
  if (m >= 512 && n >= 512)
    return {128, 128, 8, 8, 8};
  return {64, 64, 16, 4, 4};
}

std::string emit_cuda_contraction(const CudaContraction &c, const CudaTile &t) {
  KILN_CHECK(c.m > 0 && c.n > 0 && c.k > 0 && c.batch > 0)
      << "contraction " << c.name << " has an empty size";
  KILN_CHECK(t.bm % t.tm == 0 && t.bn % t.tn == 0 && t.threads() <= 1024)
      << "bad CUDA tile";
  const std::string &T = c.type;
  int rows = t.bm / t.tm, cols = t.bn / t.tn, nt = t.threads();
  std::ostringstream os;
  os << "extern \"C\" __global__ void __launch_bounds__(" << nt << ") "
     << c.name << "(" << c.params << ") {\n"
     << "  __shared__ " << T << " As[" << t.bk << "][" << t.bm << "];\n"
     << "  __shared__ " << T << " Bs[" << t.bk << "][" << t.bn << "];\n"
     << "  const kiln_ix z = blockIdx.z;\n"
     << "  const int tid = threadIdx.x, tr = tid / " << cols << ", tc = tid % "
     << cols << ";\n"
     << "  const kiln_ix i0 = (kiln_ix)blockIdx.y * " << t.bm
     << ", j0 = (kiln_ix)blockIdx.x * " << t.bn << ";\n"
     << "  " << T << " accs[" << t.tm << "][" << t.tn << "];\n"
     << "#pragma unroll\n  for (int r = 0; r < " << t.tm << "; ++r)\n"
     << "#pragma unroll\n    for (int q = 0; q < " << t.tn
     << "; ++q) accs[r][q] = 0;\n"
     << "  for (kiln_ix k0 = 0; k0 < " << c.k << "; k0 += " << t.bk
     << ") {\n"
     // A tile: consecutive threads take consecutive k of one row.
     << "    for (int e = tid; e < " << t.bm * t.bk << "; e += " << nt
     << ") {\n"
     << "      const int rr = e / " << t.bk << ", kk = e % " << t.bk << ";\n"
     << "      const kiln_ix i = i0 + rr, k = k0 + kk;\n"
     << "      " << T << " v = 0;\n"
     << "      if (i < " << c.m << " && k < " << c.k << ") {\n"
     << "        " << c.load_a << "\n      }\n"
     << "      As[kk][rr] = v;\n    }\n"
     // B tile: consecutive threads take consecutive j of one k.
     << "    for (int e = tid; e < " << t.bk * t.bn << "; e += " << nt
     << ") {\n"
     << "      const int kk = e / " << t.bn << ", cc = e % " << t.bn << ";\n"
     << "      const kiln_ix k = k0 + kk, j = j0 + cc;\n"
     << "      " << T << " v = 0;\n"
     << "      if (k < " << c.k << " && j < " << c.n << ") {\n"
     << "        " << c.load_b << "\n      }\n"
     << "      Bs[kk][cc] = v;\n    }\n"
     << "    __syncthreads();\n"
     << "#pragma unroll\n    for (int kk = 0; kk < " << t.bk << "; ++kk) {\n"
     << "      " << T << " a[" << t.tm << "], b[" << t.tn << "];\n"
     << "#pragma unroll\n      for (int r = 0; r < " << t.tm
     << "; ++r) a[r] = As[kk][tr + r * " << rows << "];\n"
     << "#pragma unroll\n      for (int q = 0; q < " << t.tn
     << "; ++q) b[q] = Bs[kk][tc + q * " << cols << "];\n"
     << "#pragma unroll\n      for (int r = 0; r < " << t.tm << "; ++r)\n"
     << "#pragma unroll\n        for (int q = 0; q < " << t.tn
     << "; ++q) accs[r][q] += a[r] * b[q];\n"
     << "    }\n    __syncthreads();\n  }\n"
     << "#pragma unroll\n  for (int r = 0; r < " << t.tm << "; ++r)\n"
     << "#pragma unroll\n    for (int q = 0; q < " << t.tn << "; ++q) {\n"
     << "      const kiln_ix i = i0 + tr + r * " << rows
     << ", j = j0 + tc + q * " << cols << ";\n"
     << "      if (i < " << c.m << " && j < " << c.n << ") {\n"
     << "        const " << T << " acc = accs[r][q];\n"
     << "        " << c.store << "\n      }\n    }\n}\n\n";
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
  c.load_a = "v = " +
             strided(
                 g, ep.buf(g.a), g.a_offset, [](auto &d) { return d.a_stride; },
                 "i", g.a_row_stride, "k", g.a_col_stride) +
             ";";
  c.load_b = "v = " +
             strided(
                 g, ep.buf(g.b), g.b_offset, [](auto &d) { return d.b_stride; },
                 "k", g.b_row_stride, "j", g.b_col_stride) +
             ";";
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

std::string s(int64_t v) { return std::to_string(v); }

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
    return c;
  }
  c.m = og;
  c.n = d.N * oh * ow;
  c.k = cg * kk;
  c.load_a = "v = " + w + "[" + s(d.w_offset) + " + (z * " + s(og) +
             " + i) * " + s(cg * kk) + " + k];";
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
