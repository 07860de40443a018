/// \file
/// Tensor-core contractions (CudaMma.h).
///
/// A block computes a bm x bn tile of C for one z. Per step along K it
/// stages A's bm x 16-word and B's bn x 16-word tiles in shared memory as
/// 32-bit words (loaded into registers one step ahead, so the global loads
/// of the next tile are in flight while the warps multiply this one), K
/// innermost in both (B transposed): two f16/bf16 values
/// per word (the lower k in the low half, as an .f16x2 register holds
/// them), or one TF32 value. In words, a fragment register of either kind
/// is then one shared load: the PTX ISA's m16n8k16 (f16/bf16) and m16n8k8
/// (tf32) layouts both give lane (g = lane / 4, t = lane % 4)
///   a = {A[g][t], A[g+8][t], A[g][t+4], A[g+8][t+4]},
///   b = {B[g][t], B[g][t+4]},  c = {C[g][2t], C[g][2t+1], C[g+8][2t],
///   C[g+8][2t+1]}
/// for an 8-word step (A, B in words, row g of B being column g of the
/// operand), so one k-step loop serves all three kinds. Rows are padded by
/// 4 words: the 32 lanes' fragment loads hit 32 distinct banks.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CudaMma.h"

#include "ir/Error.h"

#include <sstream>

namespace kiln::codegen {

namespace {

constexpr int kWords = 16;         ///< K words per shared tile row
constexpr int kPad = 4;            ///< padding words per shared row
constexpr int kLd = kWords + kPad; ///< words per shared row

bool is_half(MmaKind k) { return k == MmaKind::F16 || k == MmaKind::BF16; }

} // namespace

const char *mma_name(MmaKind k) {
  switch (k) {
  case MmaKind::F16:
    return "f16";
  case MmaKind::BF16:
    return "bf16";
  case MmaKind::TF32:
    return "tf32";
  case MmaKind::None:
    break;
  }
  return "none";
}

CudaMmaTile choose_mma_tile(int64_t m, int64_t n, int64_t batch) {
  constexpr int64_t kSms = 132; // an H100's SMs: fill them with big tiles
  if ((m + 127) / 128 * ((n + 127) / 128) * batch >= kSms)
    return {128, 128, 2, 4};
  return {64, 64, 2, 2};
}

MmaKind cuda_mma_kind(const loop::Program &p, const loop::Stmt &s,
                      const CudaEmitOptions &o) {
  if (o.sm < 80)
    return MmaKind::None;
  if (s.op == loop::StmtOp::Conv2d)
    return o.tf32 ? MmaKind::TF32 : MmaKind::None;
  if (s.op != loop::StmtOp::Gemm)
    return MmaKind::None;
  switch (p.buffers[size_t(s.gemm->a)].dtype) {
  case DType::F16:
    return MmaKind::F16;
  case DType::BF16:
    return MmaKind::BF16;
  case DType::F32:
    return o.tf32 ? MmaKind::TF32 : MmaKind::None;
  default:
    return MmaKind::None;
  }
}

namespace {

/// One operand's share of the staged tile: rows x kWords words, loaded by
/// the threads in units of `words()` words (unit u of a thread is element
/// e = tid + u * nt of the tile's units) into the registers `regs`, then
/// stored into `tile`. Consecutive threads walk the operand's unit-stride
/// dimension (CudaContraction::a_fast_k, b_fast_k), so global loads
/// coalesce; with a vector statement (CudaContraction::vec_a, vec_b) a
/// unit is one 16-byte load along K (4 words), or two (f16/bf16: rows at
/// k and k + 1, interleaved into words) or one (TF32) 16-byte loads along
/// the rows (one word of 8 or 4 rows).
struct Operand {
  const char *tile, *regs, *row_var, *row0;
  int rows;
  int64_t row_end;
  const std::string *load; ///< sets `v` from row_var and `k`
  const std::string *vec;  ///< sets `vp` from row_var and `k`, or empty
  bool fast_k, half;

  bool vector() const { return !vec->empty(); }
  /// Words per unit and the step between them (along the row or down it).
  int words() const { return !vector() ? 1 : fast_k || !half ? 4 : 8; }
  bool down() const { return vector() && !fast_k; }
  int units(int nt) const { return rows * kWords / (words() * nt); }
  /// `const int rr = ..., w = ...;`: unit e's first row and word.
  std::string position() const {
    std::string r = std::to_string(rows), kw = std::to_string(kWords);
    if (!vector())
      return fast_k ? "const int rr = e / " + kw + ", w = e % " + kw + ";"
                    : "const int w = e / " + r + ", rr = e % " + r + ";";
    if (fast_k)
      return "const int rr = e / 4, w = e % 4 * 4;";
    return "const int rr = e / " + kw + " * " + std::to_string(words()) +
           ", w = e % " + kw + ";";
  }
};

/// The bounds test of element (row_var, k) of \p o.
std::string in_range(const Operand &o, const CudaContraction &c) {
  return std::string("if (") + o.row_var + " < " + std::to_string(o.row_end) +
         " && k < " + std::to_string(c.k) + ") {\n            ";
}

/// One unit's vector loads into `regs[u * words + q]`.
void fetch_vector(std::ostringstream &os, const Operand &o,
                  const CudaContraction &c, MmaKind k) {
  const char *word = is_half(k) ? "__float_as_uint" : "kiln_f2tf32";
  std::string at = std::string("        ") + o.regs + "[u * " +
                   std::to_string(o.words()) + " + ";
  if (o.fast_k || !is_half(k)) {
    // 8 f16/bf16 or 4 TF32 values along K (4 words), or one TF32 value of
    // 4 rows (one word of each).
    os << "        const kiln_ix k = k0 + w" << (is_half(k) ? " * 2" : "")
       << ";\n        float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);\n"
       << "        " << in_range(o, c) << *o.vec
       << " x = KILN_LD4((const float *)vp);\n        }\n";
    int q = 0;
    for (const char *f : {"x", "y", "z", "w"})
      os << at << q++ << "] = " << word << "(x." << f << ");\n";
    return;
  }
  // 8 rows at k and at k + 1: word q of row r packs (k, r) low, (k + 1, r)
  // high.
  os << "        float4 x[2];\n"
     << "#pragma unroll\n        for (int h = 0; h < 2; ++h) {\n"
     << "          const kiln_ix k = k0 + 2 * w + h;\n"
     << "          x[h] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);\n"
     << "          " << in_range(o, c) << "  " << *o.vec
     << " x[h] = KILN_LD4((const float *)vp);\n          }\n        }\n";
  int q = 0;
  for (const char *f : {"x", "y", "z", "w"}) {
    std::string lo = std::string("__float_as_uint(x[0].") + f + ")",
                hi = std::string("__float_as_uint(x[1].") + f + ")";
    os << at << q << "] = (" << lo << " & 0xffffu) | (" << hi << " << 16);\n"
       << at << q + 1 << "] = (" << lo << " >> 16) | (" << hi
       << " & 0xffff0000u);\n";
    q += 2;
  }
}

/// Loads \p o's units of the tile at k0 into its registers (zero outside
/// the operand), converted to the mma's operand format.
void fetch(std::ostringstream &os, const Operand &o, const CudaContraction &c,
           MmaKind k, int nt) {
  os << "#pragma unroll\n      for (int u = 0; u < " << o.units(nt)
     << "; ++u) {\n"
     << "        const int e = tid + u * " << nt << ";\n"
     << "        " << o.position() << "\n"
     << "        const kiln_ix " << o.row_var << " = " << o.row0 << " + rr;\n";
  if (o.vector()) {
    fetch_vector(os, o, c, k);
    os << "      }\n";
    return;
  }
  os << "        kiln_u32 word = 0;\n";
  if (is_half(k))
    os << "#pragma unroll\n        for (int h = 0; h < 2; ++h) {\n"
       << "          const kiln_ix k = k0 + 2 * w + h;\n"
       << "          kiln_u16 v = 0;\n";
  else
    os << "        {\n          const kiln_ix k = k0 + w;\n"
       << "          float v = 0;\n";
  os << "          " << in_range(o, c) << *o.load << "\n          }\n";
  if (is_half(k))
    os << "          word |= (kiln_u32)v << (16 * h);\n";
  else
    os << "          word = kiln_f2tf32(v);\n";
  os << "        }\n        " << o.regs << "[u] = word;\n      }\n";
}

/// Stores \p o's registers into its shared tile.
void put(std::ostringstream &os, const Operand &o, int nt) {
  os << "#pragma unroll\n      for (int u = 0; u < " << o.units(nt)
     << "; ++u) {\n"
     << "        const int e = tid + u * " << nt << ";\n"
     << "        " << o.position() << "\n"
     << "#pragma unroll\n        for (int q = 0; q < " << o.words() << "; ++q) "
     << o.tile << (o.down() ? "[rr + q][w]" : "[rr][w + q]") << " = " << o.regs
     << "[u * " << o.words() << " + q];\n      }\n";
}

/// The warp's mma over the staged tile: per 8-word step, its fragments of
/// A (mi 16-row blocks) and B (ni 8-column blocks) from shared memory, then
/// mi * ni mma (the layouts in the file comment). Each fragment set is one
/// ldmatrix.x4 (four 8x8 matrices of 16-bit pairs, i.e. 8 rows of 4 words:
/// lane l gives the address of row l % 8 of matrix l / 8 and receives word
/// l % 4 of row l / 4 of each), for TF32 too, as the word layouts agree:
/// A's matrices are rows +0/+8 at words +0/+4 (a0..a3), two column blocks
/// of B words +0/+4 of columns +0/+8 (b[y], b[y + 1]).
void multiply(std::ostringstream &os, MmaKind k, int mi, int ni) {
  os << "#pragma unroll\n    for (int ks = 0; ks < " << kWords
     << "; ks += 8) {\n"
     << "      kiln_u32 a[" << mi << "][4], b[" << ni << "][2];\n"
     << "#pragma unroll\n      for (int x = 0; x < " << mi << "; ++x)\n"
     << "        kiln_ldsm4(a[x], &As[wm + x * 16 + lm + (lq & 1) * 8][ks + "
        "(lq >> 1) * 4]);\n"
     << "#pragma unroll\n      for (int y = 0; y < " << ni << "; y += 2)\n"
     << "        kiln_ldsm4(b[y], &Bs[wn + y * 8 + lm + (lq >> 1) * 8][ks + "
        "(lq & 1) * 4]);\n"
     << "#pragma unroll\n      for (int x = 0; x < " << mi << "; ++x)\n"
     << "#pragma unroll\n        for (int y = 0; y < " << ni
     << "; ++y) kiln_mma_" << mma_name(k) << "(accs[x][y], a[x], b[y]);\n"
     << "    }\n";
}

/// `z` and the block's K range [kb, ke): with split-K, block z * split + s
/// multiplies the K tiles of slice s (the SIMT template's slices).
void k_range(std::ostringstream &os, const CudaContraction &c, int split,
             int64_t tiles, int bk) {
  if (split == 1) {
    os << "  const kiln_ix z = blockIdx.z, kb = 0, ke = " << c.k << ";\n";
    return;
  }
  if (contraction_uses_z(c))
    os << "  const kiln_ix z = blockIdx.z / " << split << ";\n";
  os << "  const int slice = blockIdx.z % " << split << ";\n"
     << "  const kiln_ix kb = (kiln_ix)slice * " << tiles << " / " << split
     << " * " << bk << ", ke = ((kiln_ix)slice + 1) * " << tiles << " / "
     << split << " * " << bk << ";\n";
}

/// Each accumulator at its fragment position (rows g, g + 8, columns 2t,
/// 2t + 1) through the store, or with split-K into the partial tile.
void epilogue(std::ostringstream &os, const CudaContraction &c, int mi, int ni,
              int split) {
  os << "#pragma unroll\n  for (int x = 0; x < " << mi << "; ++x)\n"
     << "#pragma unroll\n    for (int y = 0; y < " << ni << "; ++y)\n"
     << "#pragma unroll\n      for (int q = 0; q < 4; ++q) {\n"
     << "        const kiln_ix i = i0 + wm + x * 16 + g + (q >> 1) * 8, j = j0 "
        "+ wn + y * 8 + 2 * t + (q & 1);\n"
     << "        if (i < " << c.m << " && j < " << c.n << ") {\n";
  if (split > 1)
    os << "          kiln_part[((kiln_ix)blockIdx.z * " << c.m << " + i) * "
       << c.n << " + j] = accs[x][y][q];\n";
  else
    os << "          const float acc = accs[x][y][q];\n          " << c.store
       << "\n";
  os << "        }\n      }\n}\n\n";
}

} // namespace

int mma_tile_k(MmaKind k) { return is_half(k) ? 2 * kWords : kWords; }

std::string emit_cuda_mma(const CudaContraction &c, MmaKind k,
                          const CudaMmaTile &t, int split) {
  KILN_CHECK(k != MmaKind::None) << "emit_cuda_mma without an mma kind";
  KILN_CHECK(c.m > 0 && c.n > 0 && c.k > 0 && c.batch > 0)
      << "contraction " << c.name << " has an empty size";
  const int wtm = t.bm / t.wm, wtn = t.bn / t.wn;
  KILN_CHECK(wtm % 16 == 0 && wtn % 16 == 0 && t.threads() <= 1024 &&
             t.bm * kWords % (8 * t.threads()) == 0 &&
             t.bn * kWords % (8 * t.threads()) == 0)
      << "bad mma tile";
  KILN_CHECK(split >= 1) << "split-K of " << split;
  const int mi = wtm / 16, ni = wtn / 8, nt = t.threads();
  const int bk = mma_tile_k(k);
  const int64_t tiles = (c.k + bk - 1) / bk;
  std::ostringstream os;
  os << "extern \"C\" __global__ void __launch_bounds__(" << nt << ") "
     << c.name << "(" << c.params
     << (split > 1 ? ", float *__restrict__ kiln_part" : "") << ") {\n"
     << "  __shared__ kiln_u32 As[" << t.bm << "][" << kLd << "];\n"
     << "  __shared__ kiln_u32 Bs[" << t.bn << "][" << kLd << "];\n";
  k_range(os, c, split, tiles, bk);
  os << "  const int tid = threadIdx.x, warp = tid >> 5, g = (tid & 31) >> 2,"
     << " t = tid & 3, lq = (tid & 31) >> 3, lm = tid & 7;\n"
     << "  const int wm = warp / " << t.wn << " * " << wtm << ", wn = warp % "
     << t.wn << " * " << wtn << ";\n"
     << "  const kiln_ix i0 = (kiln_ix)blockIdx.y * " << t.bm
     << ", j0 = (kiln_ix)blockIdx.x * " << t.bn << ";\n"
     << "  float accs[" << mi << "][" << ni << "][4];\n"
     << "#pragma unroll\n  for (int x = 0; x < " << mi << "; ++x)\n"
     << "#pragma unroll\n    for (int y = 0; y < " << ni << "; ++y)\n"
     << "#pragma unroll\n      for (int q = 0; q < 4; ++q) accs[x][y][q] = "
        "0.0f;\n"
     << "  kiln_u32 ra[" << t.bm * kWords / nt << "], rb[" << t.bn * kWords / nt
     << "];\n"
     // One pass per K tile plus one: pass p loads tile p into registers
     // (its global loads in flight) while the warps multiply tile p - 1
     // from shared memory, then stores it there.
     << "  for (kiln_ix k0 = kb; k0 < ke + " << bk << "; k0 += " << bk
     << ") {\n"
     << "    if (k0 < ke) {\n";
  Operand a{"As", "ra",      "i",      "i0",       t.bm,
            c.m,  &c.load_a, &c.vec_a, c.a_fast_k, is_half(k)};
  Operand b{"Bs", "rb",      "j",      "j0",       t.bn,
            c.n,  &c.load_b, &c.vec_b, c.b_fast_k, is_half(k)};
  fetch(os, a, c, k, nt);
  fetch(os, b, c, k, nt);
  os << "    }\n"
     << "    if (k0 > kb) {\n";
  multiply(os, k, mi, ni);
  os << "    }\n    __syncthreads();\n"
     << "    if (k0 < ke) {\n";
  put(os, a, nt);
  put(os, b, nt);
  os << "    }\n    __syncthreads();\n  }\n";
  epilogue(os, c, mi, ni, split);
  return os.str();
}

void cuda_half_to_float(CudaContraction &c, DType t) {
  KILN_CHECK(t == DType::F16 || t == DType::BF16)
      << "cuda_half_to_float of a " << dtype_name(t) << " contraction";
  const char *to_f = t == DType::F16 ? "kiln_h2f" : "kiln_bf2f";
  // The loads set `v` to raw 16-bit values: give them a kiln_u16 `v` of
  // their own, then convert into the template's float `v`.
  auto wrap = [&](const std::string &load) {
    return "kiln_u16 kiln_h = 0; { kiln_u16 v = 0; " + load +
           " kiln_h = v; } v = " + to_f + "(kiln_h);";
  };
  c.load_a = wrap(c.load_a);
  c.load_b = wrap(c.load_b);
  c.vec_a.clear(); // 16-bit vectors: the SIMT template's are f32
  c.vec_b.clear();
  cuda_round_acc(c, t);
}

void cuda_round_acc(CudaContraction &c, DType t) {
  KILN_CHECK(t == DType::F16 || t == DType::BF16)
      << "cuda_round_acc to " << dtype_name(t);
  c.store = "{ const float kiln_acc = " +
            std::string(t == DType::F16 ? "kiln_h2f(kiln_f2h(acc))"
                                        : "kiln_bf2f(kiln_f2bf(acc))") +
            "; { const float acc = kiln_acc; " + c.store + " } }";
  c.type = "float";
}

} // namespace kiln::codegen
