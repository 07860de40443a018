/// \file
/// Private to codegen/: tensor-core contractions. The same contractions as
/// CudaGemm.h (load statements, fused epilogue store) on warp-level
/// `mma.sync` tiles: f16 and bf16 operands (m16n8k16, f32 accumulation)
/// and, when CudaEmitOptions::tf32 allows it, f32 operands rounded to TF32
/// (m16n8k8). The mma instructions sit in the prelude functions
/// kiln_mma_f16/bf16/tf32 (kCudaMmaPrelude), which the tests' CUDA
/// emulator replaces with a warp collective following the PTX ISA's
/// fragment layouts.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/CudaGemm.h"

namespace kiln::codegen {

/// The tensor-core instruction of a contraction; None: the SIMT template.
enum class MmaKind { None, F16, BF16, TF32 };

/// "f16", "bf16", "tf32" (launch descriptions, messages).
const char *mma_name(MmaKind k);

/// The block tile (bm x bn, a step of 16 32-bit words of K: 32 f16/bf16
/// or 16 TF32 elements) over a grid of wm x wn warps; each warp owns a
/// (bm/wm) x (bn/wn) tile of 16x8 accumulator fragments.
struct CudaMmaTile {
  int bm, bn, wm, wn;
  int threads() const { return 32 * wm * wn; }
};

/// 128x128 with 8 warps (64x32 each) when that grid has at least 132
/// blocks (an H100's SMs), else 64x64 with 4 warps (32x32 each).
CudaMmaTile choose_mma_tile(int64_t m, int64_t n, int64_t batch);

/// The tensor-core kind for the Gemm or Conv2d statement \p s of \p p:
/// f16/bf16 matmul operands on sm_80 and newer; f32 (matmul or convolution)
/// when \p o allows TF32, on sm_80 and newer; else None.
MmaKind cuda_mma_kind(const loop::Program &p, const loop::Stmt &s,
                      const CudaEmitOptions &o);

/// K elements per staged tile: 32 f16/bf16, 16 TF32.
int mma_tile_k(MmaKind k);

/// The `extern "C" __global__` kernel of \p c on tensor cores: its loads
/// set `v` (`vp`: vec_a, vec_b) to an operand's f16/bf16 bits (F16, BF16)
/// or f32 value (TF32); its store sees the f32 sum as `acc` (F16/BF16:
/// cuda_round_acc first, as the CPU's loop nest rounds the sum). Launch:
/// grid (ceil(n/bn), ceil(m/bm), batch * split), t.threads() threads;
/// split-K (\p split > 1) as emit_cuda_contraction's: partial tiles to
/// `kiln_part`, stored by emit_cuda_split_sum's kernel.
std::string emit_cuda_mma(const CudaContraction &c, MmaKind k,
                          const CudaMmaTile &t, int split = 1);

/// Makes \p c's store see `acc` rounded to \p t (f16 or bf16) first.
void cuda_round_acc(CudaContraction &c, DType t);

/// Adapts the contraction of an f16/bf16 Gemm (loads of raw 16-bit
/// values) to the f32 SIMT template, for GPUs without bf16/f16 mma: the
/// loads convert to float, the store sees `acc` rounded to \p t.
void cuda_half_to_float(CudaContraction &c, DType t);

} // namespace kiln::codegen
