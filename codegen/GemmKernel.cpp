/// \file
/// Prints the packed, register-tiled f32 kernel of a Contraction (BLIS loop
/// order: NC panel of B packed once and shared by the threads, MC x KC block
/// of A packed per thread, an MR x NR micro-kernel of vector FMAs) and the
/// unpacked kernel for small shapes, GEMV and f64.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/GemmContraction.h"

#include <sstream>

namespace kiln::codegen::detail {

std::string
fill(std::string tmpl,
     std::initializer_list<std::pair<const char *, std::string>> subs) {
  for (const auto &[key, value] : subs) {
    const std::string pat = std::string("@") + key + "@";
    for (size_t at = tmpl.find(pat); at != std::string::npos;
         at = tmpl.find(pat, at + value.size()))
      tmpl.replace(at, pat.size(), value);
  }
  return tmpl;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

/// Declarations every kernel needs: no headers, so declare them.
std::string prelude(const Contraction &c) {
  return fill(R"(typedef float v@VW@f __attribute__((vector_size(@VB@)));
typedef float v@VW@fu __attribute__((vector_size(@VB@), aligned(4)));
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
void *aligned_alloc(unsigned long, unsigned long);
void free(void *);
static inline long @N@_min(long a, long b) { return a < b ? a : b; }
)",
              {{"VW", str(c.vw)}, {"VB", str(c.vw * 4)}, {"N", c.name}}) +
         c.helpers;
}

/// The name of the micro-kernel of \p c's tile: it depends on the tile and
/// the vector width alone.
std::string ukernel_name(const Contraction &c) {
  return "kiln_uk" + str(c.t.mr) + "x" + str(c.t.nr) + "v" + str(c.vw);
}

/// The MR x NR micro-kernel: c[MR][NR] (row stride ldc) = or += a-panel
/// (kc x MR) times b-panel (kc x NR), accumulators in registers. Shared by
/// every contraction of a translation unit with the same tile (a guard
/// skips the repeats; it is not inlined), so LLVM compiles one copy per
/// tile shape rather than one per contraction.
std::string micro_kernel(const Contraction &c) {
  const int mr = c.t.mr, nv = c.t.nr / c.vw;
  std::ostringstream decl, body, store, add;
  for (int r = 0; r < mr; ++r)
    for (int v = 0; v < nv; ++v)
      decl << "  v@VW@f c" << r << "_" << v << " = {0};\n";
  for (int v = 0; v < nv; ++v)
    body << "    v@VW@f b" << v << " = *(const v@VW@f *)(b + " << v * c.vw
         << ");\n";
  for (int r = 0; r < mr; ++r) {
    body << "    { float a = a_[" << r << "];";
    for (int v = 0; v < nv; ++v)
      body << " c" << r << "_" << v << " += a * b" << v << ";";
    body << " }\n";
  }
  std::ostringstream pfc; // the C tile: needed after the k loop
  for (int r = 0; r < mr; ++r)
    for (int v = 0; v < c.t.nr; v += 16)
      pfc << "  __builtin_prefetch(c + " << r << " * ldc + " << v << ", 1);\n";
  for (int r = 0; r < mr; ++r)
    for (int v = 0; v < nv; ++v) {
      std::string p =
          "*(v@VW@fu *)(c + " + str(r) + " * ldc + " + str(v * c.vw) + ")";
      store << "    " << p << " = c" << r << "_" << v << ";\n";
      add << "    " << p << " += c" << r << "_" << v << ";\n";
    }
  return fill(R"(#ifndef @UK@_defined
#define @UK@_defined
__attribute__((min_vector_width(@VBITS@), noinline))
static void @UK@(long kc, const float *restrict a_,
    const float *restrict b, float *restrict c, long ldc, int accum) {
@DECL@@PFC@  for (long k = 0; k < kc; ++k) {
    __builtin_prefetch(a_ + @PFA@);
@BODY@    a_ += @MR@;
    b += @NR@;
  }
  if (accum) {
@ADD@  } else {
@STORE@  }
}
#endif
)",
              {{"DECL", decl.str()},
               {"PFC", pfc.str()},
               {"BODY", body.str()},
               {"ADD", add.str()},
               {"STORE", store.str()},
               {"PFA", str(8 * c.t.mr)},
               {"MR", str(c.t.mr)},
               {"NR", str(c.t.nr)},
               {"VBITS", str(c.vw * 32)},
               {"VW", str(c.vw)},
               {"UK", ukernel_name(c)}});
}

/// Full A micro-panels packed by register transposes: A's rows are
/// a_row_stride apart and contiguous along k, and a panel has at least VW
/// rows.
bool transposes_a(const Contraction &c) {
  return c.a_row_stride > 0 && c.t.mr >= c.vw;
}

std::string transpose_block(const Contraction &c);

/// Packs rows [ic, ic+mc) x depth [pc, pc+kc) of A into MR-row micro-panels
/// (k-major inside a panel), zero-padding the last panel's missing rows.
std::string pack_a(const Contraction &c) {
  // A full panel unrolls the MR rows so that LLVM vectorizes along k with
  // an interleaved (factor MR) store group; a partial one is a plain loop.
  std::string full = "    if (mr == @MR@) {\n"
                     "      for (long k = 0; k < kc; ++k) {\n";
  if (transposes_a(c)) {
    // Rows VW apart along k: vw x vw register transposes of rows [r0,
    // r0+VW) for r0 = 0, VW, ... and MR-VW (overlapping blocks store the
    // same values), then the k tail element by element.
    std::string blocks;
    for (int r0 = 0; r0 < c.t.mr; r0 += c.vw) {
      const int r = std::min(r0, c.t.mr - c.vw);
      blocks += "        @N@_tr(a0 + " + std::to_string(r) +
                " * @LDS@L + k0, @LDS@L, p + k0 * @MR@ + " + std::to_string(r) +
                ", @MR@);\n";
    }
    full = "    if (mr == @MR@) {\n"
           "      const float *restrict a0 = &" +
           c.a_at("b_", "ic + ir", "pc") +
           ";\n"
           "      long kv = kc / @VW@ * @VW@;\n"
           "      for (long k0 = 0; k0 < kv; k0 += @VW@) {\n" +
           blocks +
           "      }\n"
           "      for (long k = kv; k < kc; ++k) {\n";
  }
  for (int r = 0; r < c.t.mr; ++r)
    full += "        p[k * @MR@ + " + std::to_string(r) +
            "] = " + c.a_at("b_", "ic + ir + " + std::to_string(r), "pc + k") +
            ";\n";
  full += "      }\n      continue;\n    }\n";
  std::string copy =
      full + (c.a_k_unit ? "    for (long r = 0; r < mr; ++r)\n"
                           "@NOVEC@      for (long k = 0; k < kc; ++k)\n"
                           "        p[k * @MR@ + r] = @AT@;\n"
                         : "    for (long k = 0; k < kc; ++k)\n"
                           "@NOVEC@      for (long r = 0; r < mr; ++r)\n"
                           "        p[k * @MR@ + r] = @AT@;\n");
  return fill(
      R"(@TR@__attribute__((noinline)) static void @N@_pack_a(long b_, long ic, long mc, long pc,
    long kc, @PARAMS@, float *restrict ap) {
  for (long ir = 0; ir < mc; ir += @MR@) {
    long mr = @N@_min(@MR@, mc - ir);
    float *restrict p = ap + ir * kc;
@COPY@    for (long r = mr; r < @MR@; ++r)
@NOVEC@      for (long k = 0; k < kc; ++k)
        p[k * @MR@ + r] = 0.0f;
  }
}
)",
      {{"TR", transposes_a(c) ? transpose_block(c) : ""},

       {"COPY", copy},
       {"LDS", str(c.a_row_stride)},
       {"VW", str(c.vw)},
       {"AT", c.a_at("b_", "ic + ir + r", "pc + k")},
       {"PARAMS", c.params},
       {"MR", str(c.t.mr)},
       {"N", c.name}});
}

/// A VW x VW transpose in registers: row i of src (stride lds, contiguous)
/// becomes column i of dst (stride ldd). log2(VW) stages each swap one bit
/// of the row index with the same bit of the column index (two-source
/// shuffles: vpermt2ps with AVX-512).
std::string transpose_block(const Contraction &c) {
  const int vw = c.vw;
  std::ostringstream body;
  for (int i = 0; i < vw; ++i)
    body << "  v@VW@f r" << i << " = *(const v@VW@fu *)(src + " << i
         << " * lds);\n";
  for (int h = 1; h < vw; h *= 2) {
    std::string lo, hi;
    for (int j = 0; j < vw; ++j) {
      lo += (j ? ", " : "") + str((j & h) ? vw + j - h : j);
      hi += (j ? ", " : "") + str((j & h) ? vw + j : j + h);
    }
    for (int i = 0; i < vw; ++i)
      if (!(i & h))
        body << "  { v@VW@f l = __builtin_shufflevector(r" << i << ", r"
             << (i + h) << ", " << lo << "), u = __builtin_shufflevector(r" << i
             << ", r" << (i + h) << ", " << hi << "); r" << i << " = l; r"
             << (i + h) << " = u; }\n";
  }
  for (int i = 0; i < vw; ++i)
    body << "  *(v@VW@fu *)(dst + " << i << " * ldd) = r" << i << ";\n";
  return fill(R"(__attribute__((min_vector_width(@VBITS@)))
static inline void @N@_tr(const float *restrict src, long lds,
    float *restrict dst, long ldd) {
@BODY@}
)",
              {{"BODY", body.str()},
               {"VBITS", str(vw * 32)},
               {"VW", str(vw)},
               {"N", c.name}});
}

/// The packing loop of a B contiguous along k (x @ W^T): full VW x VW
/// blocks transposed in registers, the k and n edges copied along k.
std::string pack_b_transposed(const Contraction &c) {
  return fill(R"(  long nv_ = nr / @VW@ * @VW@, kv_ = kc / @VW@ * @VW@;
  for (long n0 = 0; n0 < nv_; n0 += @VW@)
    for (long k0 = 0; k0 < kv_; k0 += @VW@)
      @N@_tr(&@SRC@, @LDS@L, p + k0 * @NR@ + n0, @NR@);
  for (long n = 0; n < nr; ++n)
    for (long k = n < nv_ ? kv_ : 0; k < kc; ++k)
      p[k * @NR@ + n] = @AT@;
)",
              {{"SRC", c.b_at("b_", "pc + k0", "j0 + n0")},
               {"AT", c.b_at("b_", "pc + k", "j0 + n")},
               {"LDS", str(c.b_n_stride)},
               {"VW", str(c.vw)},
               {"NR", str(c.t.nr)},
               {"N", c.name}});
}

/// Packs depth [pc, pc+kc) x columns [j0, j0+nr) of B into one NR-column
/// micro-panel (row k holds NR consecutive columns), zero-padded.
std::string pack_b(const Contraction &c) {
  std::string copy = c.b_n_unit ? "  for (long k = 0; k < kc; ++k)\n"
                                  "    for (long n = 0; n < nr; ++n)\n"
                                  "      p[k * @NR@ + n] = @AT@;\n"
                                : "  for (long n = 0; n < nr; ++n)\n"
                                  "    for (long k = 0; k < kc; ++k)\n"
                                  "      p[k * @NR@ + n] = @AT@;\n";
  if (!c.b_pack_body.empty())
    copy = c.b_pack_body;
  else if (c.b_n_stride > 0)
    copy = pack_b_transposed(c);
  return fill(
      R"(@TR@__attribute__((noinline, min_vector_width(@VBITS@))) static void @N@_pack_b(long b_, long pc, long kc, long j0,
    long nr, @PARAMS@, float *restrict p) {
@COPY@  if (nr < @NR@)
    for (long k = 0; k < kc; ++k)
@NOVEC@      for (long n = nr; n < @NR@; ++n)
        p[k * @NR@ + n] = 0.0f;
}
)",
      {{"TR",
        ((c.b_n_stride > 0 && c.b_pack_body.empty()) || c.b_pack_transposes) &&
                !transposes_a(c)
            ? transpose_block(c)
            : ""},
       {"COPY", copy},
       {"AT", c.b_at("b_", "pc + k", "j0 + n")},
       {"PARAMS", c.params},
       {"VBITS", str(c.vw * 32)},
       {"NR", str(c.t.nr)},
       {"N", c.name}});
}

std::string param_names(const std::string &params);

/// The epilogue of one output row of a tile, `NAME_epi(params, b_, i_, j0,
/// nr, cr)`: a function of restrict pointers, so that once inlined into
/// the OpenMP region (whose captured pointers carry no restrict) LLVM knows
/// that the row does not alias the epilogue's operands and hoists per-row
/// loads and math (BN's rsqrt of the variance, say) out of the loop. ""
/// without an epilogue.
std::string epilogue_function(const Contraction &c) {
  if (!c.epilogue)
    return "";
  std::string row =
      c.epilogue_row
          ? c.epilogue_row("i_")
          : fill(R"(#pragma omp simd
                for (long jj = 0; jj < nr; ++jj) {
                  float acc = cr[jj];
                  cr[jj] = @EXPR@;
                }
)",
                 {{"EXPR", c.epilogue("b_", "i_", "(j0 + jj)", "acc")}});
  return fill(R"(static inline void @N@_epi(@PARAMS@, long b_, long i_, long j0,
    long nr, float *restrict cr) {
@ROW@}
)",
              {{"ROW", row}, {"PARAMS", c.params}, {"N", c.name}});
}

/// The C statements applying the epilogue to the mr x nr tile at cp (rows
/// i0.., columns j0..) after its last KC block, or "" without an epilogue.
std::string epilogue_pass(const Contraction &c) {
  if (!c.epilogue)
    return "";
  return fill(R"(            if (pc + kc == @K@)
              for (long ii = 0; ii < mr; ++ii)
                @N@_epi(@ARGS@, b_, i0 + ii, j0, nr, cp + ii * @LDC@);
)",
              {{"ARGS", param_names(c.params)},
               {"K", str(c.K)},
               {"LDC", str(c.ldc)},
               {"N", c.name}});
}

/// The micro-tile loops of one (A block, B column range) task.
/// \p bpanel: the C expression of the packed B micro-panel of column
/// panel jr.
std::string tile_loops(const Contraction &c, const std::string &bpanel) {
  return fill(R"(        for (long jr = jr0; jr < jr1; ++jr)
          for (long ir = 0; ir < mc; ir += @MR@) {
            long mr = @N@_min(@MR@, mc - ir), j0 = jc + jr * @NR@;
            long nr = @N@_min(@NR@, jc + nc - j0), i0 = ic + ir;
            float *cp = (@CBASE@) + i0 * @LDC@ + @CCOL@;
            const float *a = ap + ir * kc, *bq = @BPANEL@;
            if (mr == @MR@ && nr == @NR@) {
              @UK@(kc, a, bq, cp, @LDC@, pc > 0);
            } else {
              @UK@(kc, a, bq, tile_, @NR@, 0);
              for (long ii = 0; ii < mr; ++ii)
@NOVEC@                for (long jj = 0; jj < nr; ++jj)
                  cp[ii * @LDC@ + jj] = (pc > 0 ? cp[ii * @LDC@ + jj] : 0.0f)
                      + tile_[ii * @NR@ + jj];
            }
@EPI@          }
)",
              {{"EPI", epilogue_pass(c)},
               {"UK", ukernel_name(c)},
               {"CCOL", c.c_col ? c.c_col("j0") : std::string("j0")},
               {"BPANEL", bpanel},
               {"CBASE", c.c_base("b_")},
               {"LDC", str(c.ldc)},
               {"MR", str(c.t.mr)},
               {"NR", str(c.t.nr)},
               {"N", c.name}});
}

/// Names of the parameters in a C parameter list ("const float *restrict
/// x, int n, float b2[4]" -> "x, n, b2").
std::string param_names(const std::string &params) {
  std::string out;
  std::stringstream ss(params);
  for (std::string p; std::getline(ss, p, ',');) {
    size_t e = p.find_last_not_of(" \t\n");
    for (size_t open; e != std::string::npos && p[e] == ']';) {
      open = p.rfind('[', e);
      e = open == std::string::npos || open == 0
              ? std::string::npos
              : p.find_last_not_of(" \t\n", open - 1);
    }
    size_t s = p.find_last_of(" \t\n*", e);
    out += (out.empty() ? "" : ", ") + p.substr(s + 1, e - s);
  }
  return out;
}

/// The exported function: a parallel region in which, per batch and per
/// (NC, KC) panel, the threads pack B together, then split the M blocks
/// (balanced to a micro-panel; a multiple of the thread count when there
/// are enough rows, else each block's columns are split as well).
std::string driver(const Contraction &c) {
  const int64_t panels = (c.M + c.t.mr - 1) / c.t.mr;
  const int64_t nic = (panels * c.t.mr + c.t.mc - 1) / c.t.mc;
  const int64_t ncp = (c.t.nc + c.t.nr - 1) / c.t.nr * c.t.nr;
  const int64_t mcp = (panels + nic - 1) / nic * c.t.mr;
  return fill(R"(void @N@(@PARAMS@) {
  float *bp = aligned_alloc(64, @KC@ * @NCP@ * 4);
  float *ap_all_ = aligned_alloc(64, omp_get_max_threads() * @KC@ * @MCP@ * 4L);
#pragma omp parallel
  {
    long nt = omp_get_num_threads(), nic = (@NIC@ + nt - 1) / nt * nt;
    if (nic > @P@)
      nic = @P@;
    long g_ = nt, h_ = nic;
    while (h_) { long r_ = g_ % h_; g_ = h_; h_ = r_; }
    long nsplit_ = nt / g_;
    float *ap = ap_all_ + omp_get_thread_num() * @KC@ * @MCP@;
    float tile_[@MR@ * @NR@] __attribute__((aligned(64)));
    for (long b_ = 0; b_ < @BATCH@; ++b_)
    for (long jc = 0; jc < @NN@; jc += @NC@) {
      long nc = @N@_min(@NC@, @NN@ - jc), njr = (nc + @NR@ - 1) / @NR@;
      for (long pc = 0; pc < @K@; pc += @KC@) {
        long kc = @N@_min(@KC@, @K@ - pc);
#pragma omp for schedule(static)
        for (long jr = 0; jr < njr; ++jr)
          @N@_pack_b(b_, pc, kc, jc + jr * @NR@, @N@_min(@NR@, nc - jr * @NR@),
              @ARGS@, bp + jr * @NR@ * kc);
#pragma omp for schedule(static)
        for (long task_ = 0; task_ < nic * nsplit_; ++task_) {
        long blk = task_ / nsplit_, s = task_ % nsplit_;
        long ic = @P@ * blk / nic * @MR@;
        long mc = @N@_min(@P@ * (blk + 1) / nic * @MR@, @M@) - ic;
        long jr0 = njr * s / nsplit_, jr1 = njr * (s + 1) / nsplit_;
        @N@_pack_a(b_, ic, mc, pc, kc, @ARGS@, ap);
@TILES@        }
      }
    }
  }
  free(bp);
  free(ap_all_);
}
)",
              {{"TILES", tile_loops(c, "bp + jr * " + str(c.t.nr) + " * kc")},
               {"ARGS", param_names(c.params)},
               {"PARAMS", c.params},
               {"NIC", str(nic)},
               {"P", str(panels)},
               {"NCP", str(ncp)},
               {"MCP", str(mcp)},
               {"BATCH", str(c.batch)},
               {"M", str(c.M)},
               {"NN", str(c.N)},
               {"K", str(c.K)},
               {"NC", str(c.t.nc)},
               {"KC", str(c.t.kc)},
               {"MR", str(c.t.mr)},
               {"NR", str(c.t.nr)},
               {"N", c.name}});
}

/// The exported function when all of A fits one L2 block and B has many
/// column panels (e.g. 128 x 4096 x 1024): each thread packs all of A (small)
/// and, for each of its column panels, one B micro-panel into a buffer that
/// stays in L2, then sweeps every row. B is read once and never written out
/// as a whole; a thread owns its columns across the KC blocks, so no barrier.
std::string driver_small_m(const Contraction &c) {
  const int64_t mp = (c.M + c.t.mr - 1) / c.t.mr * c.t.mr;
  return fill(R"(void @N@(@PARAMS@) {
#pragma omp parallel
  {
    float *ap = aligned_alloc(64, @KC@ * @MP@ * 4);
    float *bq_ = aligned_alloc(64, @KC@ * @NR@ * 4);
    float tile_[@MR@ * @NR@] __attribute__((aligned(64)));
    const long ic = 0, mc = @M@, jc = 0, nc = @NN@;
    for (long b_ = 0; b_ < @BATCH@; ++b_)
      for (long pc = 0; pc < @K@; pc += @KC@) {
        long kc = @N@_min(@KC@, @K@ - pc);
        @N@_pack_a(b_, 0, @M@, pc, kc, @ARGS@, ap);
#pragma omp for schedule(static) nowait
        for (long jp = 0; jp < @NJR@; ++jp) {
          long jr0 = jp, jr1 = jp + 1;
          @N@_pack_b(b_, pc, kc, jp * @NR@, @N@_min(@NR@, @NN@ - jp * @NR@),
              @ARGS@, bq_);
@TILES@        }
      }
    free(ap);
    free(bq_);
  }
}
)",
              {{"TILES", tile_loops(c, "bq_")},
               {"ARGS", param_names(c.params)},
               {"PARAMS", c.params},
               {"MP", str(mp)},
               {"NJR", str((c.N + c.t.nr - 1) / c.t.nr)},
               {"BATCH", str(c.batch)},
               {"M", str(c.M)},
               {"NN", str(c.N)},
               {"K", str(c.K)},
               {"KC", str(c.t.kc)},
               {"MR", str(c.t.mr)},
               {"NR", str(c.t.nr)},
               {"N", c.name}});
}

/// The exported function for many small products (attention's [B, H]
/// batches): the threads split the batch, each running whole products with
/// its own packed A and B, so there is no barrier per product.
std::string driver_batches(const Contraction &c) {
  const int64_t ncp = (c.t.nc + c.t.nr - 1) / c.t.nr * c.t.nr;
  return fill(R"(void @N@(@PARAMS@) {
#pragma omp parallel
  {
    float *ap = aligned_alloc(64, @KC@ * @MC@ * 4);
    float *bp = aligned_alloc(64, @KC@ * @NCP@ * 4);
    float tile_[@MR@ * @NR@] __attribute__((aligned(64)));
#pragma omp for schedule(static)
    for (long b_ = 0; b_ < @BATCH@; ++b_)
      for (long jc = 0; jc < @NN@; jc += @NC@) {
        long nc = @N@_min(@NC@, @NN@ - jc), njr = (nc + @NR@ - 1) / @NR@;
        for (long pc = 0; pc < @K@; pc += @KC@) {
          long kc = @N@_min(@KC@, @K@ - pc);
          for (long jr = 0; jr < njr; ++jr)
            @N@_pack_b(b_, pc, kc, jc + jr * @NR@,
                @N@_min(@NR@, nc - jr * @NR@), @ARGS@, bp + jr * @NR@ * kc);
          for (long ic = 0; ic < @M@; ic += @MC@) {
            long mc = @N@_min(@MC@, @M@ - ic), jr0 = 0, jr1 = njr;
            @N@_pack_a(b_, ic, mc, pc, kc, @ARGS@, ap);
@TILES@          }
        }
      }
    free(ap);
    free(bp);
  }
}
)",
              {{"TILES", tile_loops(c, "bp + jr * " + str(c.t.nr) + " * kc")},
               {"ARGS", param_names(c.params)},
               {"PARAMS", c.params},
               {"NCP", str(ncp)},
               {"BATCH", str(c.batch)},
               {"M", str(c.M)},
               {"NN", str(c.N)},
               {"K", str(c.K)},
               {"MC", str(c.t.mc)},
               {"NC", str(c.t.nc)},
               {"KC", str(c.t.kc)},
               {"MR", str(c.t.mr)},
               {"NR", str(c.t.nr)},
               {"N", c.name}});
}

} // namespace

std::string emit_packed(const Contraction &c) {
  // Small M: all of A (up to 512 KiB) in L2 and >= 16 column panels to share.
  const bool small_m = c.M * c.t.kc <= 128 * 1024 && c.N >= 16 * c.t.nr;
  const bool batches =
      c.split_batches && c.batch >= 8 && c.M * c.N * c.K <= (int64_t(1) << 23);
  // Edge loops (partial panels, zero padding, edge tiles) run rarely:
  // vectorizing them only adds code for LLVM to compile.
  return fill(prelude(c) + micro_kernel(c) + pack_a(c) + pack_b(c) +
                  epilogue_function(c) +
                  (batches   ? driver_batches(c)
                   : small_m ? driver_small_m(c)
                             : driver(c)),
              {{"NOVEC", "#pragma clang loop vectorize(disable)\n"}});
}

namespace {

/// The body of one direct-path task: rows i0..i0+mi of output columns
/// j0..j0+nj accumulated in acc[4][JB], as axpys along contiguous B rows or
/// as dot products along contiguous B columns.
std::string direct_body(const Contraction &c) {
  if (c.b_n_unit)
    return fill(R"(      for (long k = 0; k < @K@; ++k)
        for (long r = 0; r < mi; ++r) {
          @T@ a = @AAT@;
#pragma omp simd
          for (long jj = 0; jj < nj; ++jj)
            acc[r][jj] += a * @BAT@;
        }
)",
                {{"AAT", c.a_at("b_", "i0 + r", "k")},
                 {"BAT", c.b_at("b_", "k", "j0 + jj")},
                 {"K", str(c.K)},
                 {"T", c.elem}});
  return fill(R"(      for (long r = 0; r < mi; ++r)
        for (long jj = 0; jj < nj; ++jj) {
          @T@ s = 0;
#pragma omp simd reduction(+ : s)
          for (long k = 0; k < @K@; ++k)
            s += @AAT@ * @BAT@;
          acc[r][jj] = s;
        }
)",
              {{"AAT", c.a_at("b_", "i0 + r", "k")},
               {"BAT", c.b_at("b_", "k", "j0 + jj")},
               {"K", str(c.K)},
               {"T", c.elem}});
}

} // namespace

std::string emit_direct(const Contraction &c) {
  const int64_t jb = c.N < 256 ? c.N : 256, njb = (c.N + jb - 1) / jb;
  const int64_t work = c.batch * c.M * c.N * c.K;
  std::string epi = c.epilogue
                        ? c.epilogue("b_", "(i0 + r)", "(j0 + jj)", "acc_")
                        : std::string("acc_");
  return prelude(c) + fill(R"(void @N@(@PARAMS@) {
#pragma omp parallel for schedule(static) if (@WORK@L > 262144L)
  for (long t = 0; t < @BATCH@L * @NJB@; ++t) {
    long b_ = t / @NJB@, j0 = t % @NJB@ * @JB@, nj = @N@_min(@JB@, @NN@ - j0);
    for (long i0 = 0; i0 < @M@; i0 += 4) {
      long mi = @N@_min(4, @M@ - i0);
      @T@ acc[4][@JB@];
      for (long r = 0; r < mi; ++r)
        for (long jj = 0; jj < nj; ++jj)
          acc[r][jj] = 0;
@BODY@      for (long r = 0; r < mi; ++r) {
        @T@ *restrict cp = (@CBASE@) + (i0 + r) * @LDC@ + j0;
#pragma omp simd
        for (long jj = 0; jj < nj; ++jj) {
          @T@ acc_ = acc[r][jj];
          cp[jj] = @EPI@;
        }
      }
    }
  }
}
)",
                           {{"BODY", direct_body(c)},
                            {"EPI", epi},
                            {"CBASE", c.c_base("b_")},
                            {"PARAMS", c.params},
                            {"WORK", str(work)},
                            {"BATCH", str(c.batch)},
                            {"NJB", str(njb)},
                            {"JB", str(jb)},
                            {"NN", str(c.N)},
                            {"M", str(c.M)},
                            {"LDC", str(c.ldc)},
                            {"T", c.elem},
                            {"N", c.name}});
}

bool use_direct_path(const Contraction &c) {
  return c.elem != "float" || c.M <= 4 || c.M * c.N * c.K <= 16 * 16 * 16;
}

} // namespace kiln::codegen::detail
